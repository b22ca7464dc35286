package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/wallet"
)

func withdraw(env *gatewaytest.Env, t *testing.T, c customer, key string, body map[string]any) gatewaytest.Response {
	t.Helper()
	return env.Do(t, "POST", "/v1/wallet/withdrawals", body, c.Idem(key)...)
}

// accountBalance is the balance of the ledger account of kind and owner.
func accountBalance(t *testing.T, env *gatewaytest.Env, owner, kind string) int64 {
	t.Helper()
	var b int64
	err := env.Pool.QueryRow(context.Background(), `SELECT coalesce(sum(balance), 0)::bigint FROM accounts WHERE owner = $1 AND kind = $2`, owner, kind).Scan(&b)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWithdrawalsNeverOverdraw sends ten withdrawals of 3000 at once from a
// wallet holding 10000: exactly three go through, the others are refused
// for funds, and the balance never goes below zero (the ledger's check).
func TestWithdrawalsNeverOverdraw(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p := newPayer(t, env, 10000)
	clearingBefore := accountBalance(t, env, "issuer", "clearing")
	body := map[string]any{"card_id": p.card.ID, "amount": 3000, "pin": gatewaytest.PIN}
	rs := concurrently(t, env, 10, "POST", "/v1/wallet/withdrawals",
		func(int) any { return body }, func(i int) []string { return p.Idem(fmt.Sprint("w-", i)) })
	created := 0
	for i, r := range rs {
		// More PIN checks at once than MAX_ATTEMPTS are turned away before
		// the PIN is checked: those are sent again, with their key.
		for r.Code() == "rate_limited" {
			time.Sleep(100 * time.Millisecond)
			r = withdraw(env, t, p.customer, fmt.Sprint("w-", i), body)
		}
		switch {
		case r.Status == http.StatusCreated:
			created++
			var mv wallet.Movement
			r.JSON(t, &mv)
			if mv.Type != wallet.TypeWithdrawal || mv.Amount != -3000 || mv.BalanceAfter < 0 || mv.Card != p.card.Masked {
				t.Errorf("withdrawal = %+v; want -3000 to %s", mv, p.card.Masked)
			}
		case r.Code() == "insufficient_funds":
		default:
			t.Errorf("withdrawal = %d %s; want 201 or insufficient_funds", r.Status, r.Body)
		}
	}
	if created != 3 {
		t.Errorf("withdrawals through = %d; want 3", created)
	}
	if got := balance(t, env, p.customer); got != 1000 {
		t.Errorf("balance = %d; want 1000", got)
	}
	if got := countTransfers(t, env, "withdrawal_settle"); got != 3 {
		t.Errorf("settled withdrawals = %d; want 3", got)
	}
	if got := accountBalance(t, env, "withdrawals", "transit"); got != 0 {
		t.Errorf("in transit = %d; want 0", got)
	}
	if got := accountBalance(t, env, "issuer", "clearing") - clearingBefore; got != 9000 {
		t.Errorf("clearing moved by %d; want 9000", got)
	}
	var lv wallet.LimitsView
	env.Do(t, "GET", "/v1/wallet/cards/"+p.card.ID+"/limits", nil, p.Auth()...).JSON(t, &lv)
	if lv.UsedToday.Amount != 10000+9000 || lv.UsedToday.Count != 1+3 {
		t.Errorf("card usage = %+v; want the top-up and three withdrawals", lv.UsedToday)
	}
	checkLedger(t, env)
}

// TestWithdrawalIdempotent sends one withdrawal twenty times at once with
// one key, then again after Redis lost every record: the money moves once
// and every answer is the first.
func TestWithdrawalIdempotent(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p := newPayer(t, env, 10000)
	body := map[string]any{"card_id": p.card.ID, "amount": 2500, "pin": gatewaytest.PIN}
	rs := concurrently(t, env, 20, "POST", "/v1/wallet/withdrawals",
		func(int) any { return body }, func(int) []string { return p.Idem("one") })
	var first []byte
	for _, r := range rs {
		switch {
		case r.Status == http.StatusCreated:
			if first == nil {
				first = r.Body
			} else if !bytes.Equal(first, r.Body) {
				t.Errorf("answers differ:\n%s\n%s", first, r.Body)
			}
		case r.Code() == "idempotency_in_progress":
		default:
			t.Errorf("withdrawal = %d %s", r.Status, r.Body)
		}
	}
	ctx := context.Background()
	keys, err := env.Redis.Keys(ctx, env.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Redis.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	again := withdraw(env, t, p.customer, "one", body)
	if again.Status != http.StatusCreated || (first != nil && !bytes.Equal(again.Body, first)) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay = %d %s (replayed %q); want the first answer", again.Status, again.Body, again.Header.Get("Idempotent-Replayed"))
	}
	if got := countTransfers(t, env, "withdrawal"); got != 1 {
		t.Errorf("withdrawals = %d; want 1", got)
	}
	if got := balance(t, env, p.customer); got != 7500 {
		t.Errorf("balance = %d; want 7500", got)
	}
	other := withdraw(env, t, p.customer, "one", map[string]any{"card_id": p.card.ID, "amount": 2501, "pin": gatewaytest.PIN})
	if other.Code() != "idempotency_mismatch" {
		t.Errorf("same key, other body = %d %s; want idempotency_mismatch", other.Status, other.Body)
	}
	checkLedger(t, env)
}

// TestWithdrawalIssuerRefusal: a card whose issuer does not answer, and one
// the issuer declines, receive nothing; the wallet keeps its balance, the
// card's usage is given back, and a retry of the same key says what
// happened without asking the issuer again.
func TestWithdrawalIssuerRefusal(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p := newPayer(t, env, 10000)
	clearingBefore := accountBalance(t, env, "issuer", "clearing")
	down := bindCard(t, env, p.customer, wallet.TestCardIssuerDown)
	declining := bindCard(t, env, p.customer, "5555555555554444")
	// An issuer that no longer knows the card declines every credit to it.
	if _, err := env.Pool.Exec(context.Background(), `UPDATE cards SET issuer_ref = 'bank_forgotten' WHERE id = $1`, declining.ID); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		card             wallet.Card
		status           int
		code, replayCode string
		replayStatus     int
	}{
		{down, http.StatusServiceUnavailable, "unavailable", "conflict", http.StatusConflict},
		{declining, http.StatusPaymentRequired, "card_declined", "card_declined", http.StatusPaymentRequired},
	}
	for _, tc := range cases {
		body := map[string]any{"card_id": tc.card.ID, "amount": 4000, "pin": gatewaytest.PIN}
		r := withdraw(env, t, p.customer, "refused-"+tc.card.ID, body)
		if r.Status != tc.status || r.Code() != tc.code {
			t.Errorf("withdrawal to %s = %d %s; want %d %s", tc.card.Masked, r.Status, r.Body, tc.status, tc.code)
		}
		if got := balance(t, env, p.customer); got != 10000 {
			t.Errorf("balance after a refused withdrawal = %d; want 10000", got)
		}
		again := withdraw(env, t, p.customer, "refused-"+tc.card.ID, body)
		if again.Status != tc.replayStatus || again.Code() != tc.replayCode {
			t.Errorf("retry = %d %s; want %d %s", again.Status, again.Body, tc.replayStatus, tc.replayCode)
		}
		var lv wallet.LimitsView
		env.Do(t, "GET", "/v1/wallet/cards/"+tc.card.ID+"/limits", nil, p.Auth()...).JSON(t, &lv)
		if lv.UsedToday.Amount != 0 || lv.UsedToday.Count != 0 {
			t.Errorf("usage of %s = %+v; want none", tc.card.Masked, lv.UsedToday)
		}
	}
	if got := countTransfers(t, env, "withdrawal_settle"); got != 0 {
		t.Errorf("settled withdrawals = %d; want 0", got)
	}
	if got := accountBalance(t, env, "issuer", "clearing"); got != clearingBefore {
		t.Errorf("clearing = %d; want %d", got, clearingBefore)
	}
	if got := accountBalance(t, env, "withdrawals", "transit"); got != 0 {
		t.Errorf("in transit = %d; want 0", got)
	}
	// The bills show each refused withdrawal and its return, and the
	// month's totals net to nothing.
	page := history(t, env, p.customer, "type=withdrawal,withdrawal_reversal")
	if len(page.Data) != 4 {
		t.Errorf("history = %+v; want two withdrawals and their two reversals", page.Data)
	}
	// A new key, with the issuer answering this time, goes through.
	if r := withdraw(env, t, p.customer, "fine", map[string]any{"card_id": p.card.ID, "amount": 4000, "pin": gatewaytest.PIN}); r.Status != http.StatusCreated {
		t.Errorf("withdrawal to a good card = %d %s", r.Status, r.Body)
	}
	checkLedger(t, env)
}

// TestWithdrawalRefusals: a frozen card, an amount over the card's limit,
// no PIN or a wrong one, too little money, bad input: each is refused with
// its code and moves nothing.
func TestWithdrawalRefusals(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, lowOTPThreshold)
	p := newPayer(t, env, 10000)
	frozen := bindCard(t, env, p.customer, "5555555555554444")
	if r := env.Do(t, "POST", "/v1/wallet/cards/"+frozen.ID+"/freeze", nil, p.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("freeze = %d %s", r.Status, r.Body)
	}
	if r := env.DoOTP(t, "PATCH", "/v1/wallet/cards/"+p.card.ID+"/limits", map[string]any{"per_transaction": 600}, p.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("lower limits = %d %s", r.Status, r.Body)
	}
	for i, tc := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"card_id": frozen.ID, "amount": 500, "pin": gatewaytest.PIN}, "card_frozen"},
		{map[string]any{"card_id": p.card.ID, "amount": 700, "pin": gatewaytest.PIN}, "limit_exceeded"},
		{map[string]any{"card_id": p.card.ID, "amount": 500}, "pin_required"},
		{map[string]any{"card_id": p.card.ID, "amount": 500, "pin": "000000"}, "pin_invalid"},
		{map[string]any{"card_id": p.card.ID, "amount": 0, "pin": gatewaytest.PIN}, "invalid"},
		{map[string]any{"card_id": p.card.ID, "amount": 500, "pin": gatewaytest.PIN, "currency": "USD"}, "invalid"},
		{map[string]any{"card_id": "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", "amount": 500, "pin": gatewaytest.PIN}, "not_found"},
	} {
		if r := withdraw(env, t, p.customer, fmt.Sprint("refusal-", i), tc.body); r.Code() != tc.code {
			t.Errorf("withdrawal %v = %d %s; want %s", tc.body, r.Status, r.Body, tc.code)
		}
	}
	if got := balance(t, env, p.customer); got != 10000 {
		t.Errorf("balance = %d; want 10000", got)
	}
	if got := countTransfers(t, env, "withdrawal"); got != 0 {
		t.Errorf("withdrawals = %d; want 0", got)
	}
	// Above OTP_TRANSFER_THRESHOLD (1000 here) a one-time code bound to the
	// amount is needed: a code for another amount does not do.
	big := map[string]any{"card_id": frozen.ID, "amount": 1500, "pin": gatewaytest.PIN}
	if r := env.Do(t, "POST", "/v1/wallet/cards/"+frozen.ID+"/unfreeze", nil, p.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("unfreeze = %d %s", r.Status, r.Body)
	}
	first := withdraw(env, t, p.customer, "big", big)
	ch := first.Challenge(t)
	if ch.Purpose != "withdraw" {
		t.Errorf("challenge purpose = %q; want withdraw", ch.Purpose)
	}
	other := map[string]any{"card_id": frozen.ID, "amount": 1400, "pin": gatewaytest.PIN, "otp": env.OTP(t, ch)}
	if r := withdraw(env, t, p.customer, "big-other", other); r.Code() != "otp_invalid" {
		t.Errorf("code bound to 1500 used for 1400 = %d %s; want otp_invalid", r.Status, r.Body)
	}
	if r := env.DoOTP(t, "POST", "/v1/wallet/withdrawals", big, p.Idem("big-2")...); r.Status != http.StatusCreated {
		t.Errorf("withdrawal with its code = %d %s", r.Status, r.Body)
	}
	if got := balance(t, env, p.customer); got != 8500 {
		t.Errorf("balance = %d; want 8500", got)
	}
	checkLedger(t, env)
}

// TestWithdrawAllThenClose empties a wallet to its card and closes it; the
// bills show the withdrawal as money out that is not spending.
func TestWithdrawAllThenClose(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p := newPayer(t, env, 6000)
	r := withdraw(env, t, p.customer, "all", map[string]any{"card_id": p.card.ID, "amount": 6000, "currency": "CNY", "pin": gatewaytest.PIN})
	if r.Status != http.StatusCreated {
		t.Fatalf("withdraw all = %d %s", r.Status, r.Body)
	}
	var mv wallet.Movement
	r.JSON(t, &mv)
	if mv.BalanceAfter != 0 {
		t.Errorf("balance after = %d; want 0", mv.BalanceAfter)
	}
	page := history(t, env, p.customer, "limit=10")
	if len(page.Data) != 2 || page.Data[0].ID != mv.ID || page.Data[0].Type != "withdrawal" || page.Data[0].Amount != -6000 ||
		page.Data[0].Card != p.card.Masked || page.Data[0].Category != "" {
		t.Errorf("history = %+v; want the withdrawal of 6000 to %s first", page.Data, p.card.Masked)
	}
	month := time.Now().In(shanghai).Format("2006-01")
	st := statement(t, env, p.customer, month)
	if got := byType(st.MoneyOut)["withdrawal"]; got != [2]int64{1, 6000} || st.MoneyOut.Amount != 6000 || st.ClosingBalance != 0 {
		t.Errorf("statement out = %+v closing %d; want one withdrawal of 6000, closing 0", st.MoneyOut, st.ClosingBalance)
	}
	a := analysis(t, env, p.customer, "")
	if a.Spending.Payments != 0 || a.Spending.Net != 0 || len(a.Categories) != 0 || a.Withdrawals != (wallet.Total{Count: 1, Amount: 6000}) {
		t.Errorf("analysis spending %+v, withdrawals %+v; want no spending and one withdrawal of 6000", a.Spending, a.Withdrawals)
	}
	var feed wallet.NotificationPage
	env.Do(t, "GET", "/v1/wallet/notifications", nil, p.Auth()...).JSON(t, &feed)
	if len(feed.Data) == 0 || feed.Data[0].Type != "withdrawal" || feed.Data[0].TransferID != mv.ID || feed.Data[0].Title != "Withdrawn to card "+p.card.Masked {
		t.Errorf("notifications = %+v; want the withdrawal first", feed.Data)
	}
	closed := env.DoOTP(t, "POST", "/v1/wallet/close", map[string]any{"password": gatewaytest.Password}, p.Auth()...)
	if closed.Status != http.StatusOK {
		t.Fatalf("close = %d %s", closed.Status, closed.Body)
	}
	checkLedger(t, env)
}

// heldIssuer is the simulated issuer whose credits wait for the test: each
// Credit reports itself on called and answers what the test sends on answer.
type heldIssuer struct {
	wallet.SimulatedIssuer
	called chan struct{}
	answer chan error
}

func (h heldIssuer) Credit(ctx context.Context, ref string, amount int64, currency, reference string) error {
	h.called <- struct{}{}
	select {
	case err := <-h.answer:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestWithdrawalInTransit: while the issuer has not answered, the money is
// out of the wallet and in transit, and the wallet cannot be closed; an
// answer that settles nothing (the issuer's outcome unknown) leaves it
// there, the ledger still consistent; an acceptance lets the wallet close.
func TestWithdrawalInTransit(t *testing.T) {
	t.Parallel()
	issuer := heldIssuer{called: make(chan struct{}), answer: make(chan error)}
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) { o.Issuer = issuer })
	p := newPayer(t, env, 5000)
	body := map[string]any{"card_id": p.card.ID, "amount": 5000, "pin": gatewaytest.PIN}

	done := make(chan gatewaytest.Response, 1)
	go func() { done <- env.Do(t, "POST", "/v1/wallet/withdrawals", body, p.Idem("held")...) }()
	<-issuer.called
	if got := balance(t, env, p.customer); got != 0 {
		t.Errorf("balance while the issuer is asked = %d; want 0", got)
	}
	if got := accountBalance(t, env, "withdrawals", "transit"); got != 5000 {
		t.Errorf("in transit = %d; want 5000", got)
	}
	closing := env.Do(t, "POST", "/v1/wallet/close", map[string]any{"password": gatewaytest.Password}, p.Auth()...)
	if closing.Status != http.StatusConflict || closing.Code() != "conflict" {
		t.Errorf("close with a withdrawal in transit = %d %s; want 409 conflict", closing.Status, closing.Body)
	}
	// The issuer's answer is lost: the outcome is unknown.
	issuer.answer <- context.DeadlineExceeded
	r := <-done
	var mv wallet.Movement
	if r.Status != http.StatusCreated {
		t.Fatalf("withdrawal with an unknown outcome = %d %s; want 201: the money has left the wallet", r.Status, r.Body)
	}
	r.JSON(t, &mv)
	if got := accountBalance(t, env, "withdrawals", "transit"); got != 5000 || countTransfers(t, env, "withdrawal_settle") != 0 || countTransfers(t, env, "withdrawal_reversal") != 0 {
		t.Errorf("in transit = %d; want the 5000 held, neither settled nor reversed", got)
	}
	if again := withdraw(env, t, p.customer, "held", body); again.Status != http.StatusCreated {
		t.Errorf("retry = %d %s; want the movement again", again.Status, again.Body)
	}
	if r := env.Do(t, "POST", "/v1/wallet/close", map[string]any{"password": gatewaytest.Password}, p.Auth()...); r.Code() != "conflict" {
		t.Errorf("close = %d %s; want conflict while the withdrawal is in transit", r.Status, r.Body)
	}
	checkLedger(t, env)

	// Another wallet's withdrawal that the issuer accepts: it can close.
	q := newPayer(t, env, 3000)
	go func() {
		done <- env.Do(t, "POST", "/v1/wallet/withdrawals", map[string]any{"card_id": q.card.ID, "amount": 3000, "pin": gatewaytest.PIN}, q.Idem("ok")...)
	}()
	<-issuer.called
	issuer.answer <- nil
	if r := <-done; r.Status != http.StatusCreated {
		t.Fatalf("withdrawal = %d %s", r.Status, r.Body)
	}
	if r := env.DoOTP(t, "POST", "/v1/wallet/close", map[string]any{"password": gatewaytest.Password}, q.Auth()...); r.Status != http.StatusOK {
		t.Errorf("close after the withdrawal settled = %d %s", r.Status, r.Body)
	}
	if got := accountBalance(t, env, "withdrawals", "transit"); got != 5000 {
		t.Errorf("in transit = %d; want only the first wallet's 5000", got)
	}
	checkLedger(t, env)
}
