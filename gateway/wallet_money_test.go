package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/testenv"
	"github.com/qrpay/qrpay/wallet"
)

// concurrently sends n copies of a request at once and returns the responses.
func concurrently(t *testing.T, env *gatewaytest.Env, n int, method, path string, body func(i int) any, headers func(i int) []string) []gatewaytest.Response {
	t.Helper()
	out := make([]gatewaytest.Response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	client := &http.Client{Timeout: 30 * time.Second}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := json.Marshal(body(i))
			req, _ := http.NewRequest(method, env.URL+path, bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			h := headers(i)
			for j := 0; j+1 < len(h); j += 2 {
				req.Header.Set(h[j], h[j+1])
			}
			<-start
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			out[i] = gatewaytest.Response{Status: resp.StatusCode, Header: resp.Header, Body: buf.Bytes()}
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func countTransfers(t *testing.T, env *gatewaytest.Env, kind string) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM transfers WHERE kind = $1`, kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTopUpIdempotentUnderConcurrency sends the same top-up 50 times at
// once with one key: one transfer, and every answer that is not "in
// progress" is the same answer.
func TestTopUpIdempotentUnderConcurrency(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	c := newCustomer(t, env)
	card := bindCard(t, env, c, "4111111111111111")
	body := map[string]any{"card_id": card.ID, "amount": 7300}
	rs := concurrently(t, env, 50, "POST", "/v1/wallet/topups",
		func(int) any { return body }, func(int) []string { return c.Idem("same-key") })
	var first []byte
	created, inProgress := 0, 0
	for _, r := range rs {
		switch r.Status {
		case http.StatusCreated:
			created++
			if first == nil {
				first = r.Body
			} else if !bytes.Equal(first, r.Body) {
				t.Errorf("responses differ:\n%s\n%s", first, r.Body)
			}
		case http.StatusConflict:
			if r.Code() != "idempotency_in_progress" || r.Header.Get("Retry-After") == "" {
				t.Errorf("conflict = %s; want idempotency_in_progress with Retry-After", r.Body)
			}
			inProgress++
		default:
			t.Errorf("status %d %s", r.Status, r.Body)
		}
	}
	// Retry every in-progress one until it is answered: all replay the first.
	for range inProgress {
		r := env.Do(t, "POST", "/v1/wallet/topups", body, c.Idem("same-key")...)
		if r.Status != http.StatusCreated || !bytes.Equal(r.Body, first) || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("retry = %d %s (replayed %q); want the first response replayed", r.Status, r.Body, r.Header.Get("Idempotent-Replayed"))
		}
	}
	if got := countTransfers(t, env, "topup"); got != 1 {
		t.Errorf("top-up transfers = %d; want 1", got)
	}
	if got := balance(t, env, c); got != 7300 {
		t.Errorf("balance = %d; want 7300", got)
	}
	var lv wallet.LimitsView
	env.Do(t, "GET", "/v1/wallet/cards/"+card.ID+"/limits", nil, c.Auth()...).JSON(t, &lv)
	if lv.UsedToday.Amount != 7300 || lv.UsedToday.Count != 1 {
		t.Errorf("card usage = %+v; want one top-up of 7300", lv.UsedToday)
	}
	r := env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": card.ID, "amount": 7301}, c.Idem("same-key")...)
	if r.Status != http.StatusUnprocessableEntity || r.Code() != "idempotency_mismatch" {
		t.Errorf("same key, other body = %d %s; want 422 idempotency_mismatch", r.Status, r.Body)
	}
	checkLedger(t, env)
}

// TestReplayAfterRedisLostTheRecord deletes the Redis record of a finished
// top-up: the retry is answered from the ledger, with the same body, and
// moves no money.
func TestReplayAfterRedisLostTheRecord(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	c := newCustomer(t, env)
	card := bindCard(t, env, c, "4111111111111111")
	body := map[string]any{"card_id": card.ID, "amount": 1200}
	first := env.Do(t, "POST", "/v1/wallet/topups", body, c.Idem("k")...)
	if first.Status != 201 {
		t.Fatalf("top-up = %d %s", first.Status, first.Body)
	}
	ctx := context.Background()
	if err := testenv.DeleteKeys(ctx, env.Redis, env.Prefix+"*"); err != nil { // idempotency records and limit counters alike
		t.Fatal(err)
	}
	again := env.Do(t, "POST", "/v1/wallet/topups", body, c.Idem("k")...)
	if again.Status != 201 || !bytes.Equal(again.Body, first.Body) {
		t.Errorf("retry after Redis lost everything = %d %s; want %s", again.Status, again.Body, first.Body)
	}
	if got := countTransfers(t, env, "topup"); got != 1 {
		t.Errorf("top-ups = %d; want 1", got)
	}
	// The limit counters were rebuilt from the ledger, not from zero.
	var lv wallet.LimitsView
	env.Do(t, "GET", "/v1/wallet/cards/"+card.ID+"/limits", nil, c.Auth()...).JSON(t, &lv)
	if lv.UsedToday.Amount != 1200 || lv.UsedToday.Count != 1 {
		t.Errorf("usage after the rebuild = %+v; want 1200 in 1", lv.UsedToday)
	}
}

// TestCardLimitsHoldUnderConcurrency: 20 concurrent top-ups of 30,000
// against a daily amount of 100,000 — exactly 3 succeed. (The PIN
// threshold is raised out of the way: concurrent PIN checks beyond the
// wrong guesses left are told to retry, which is not what this tests.)
func TestCardLimitsHoldUnderConcurrency(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) { o.Wallet.PINThreshold = 30000 })
	c := newCustomer(t, env)
	card := bindCard(t, env, c, "4111111111111111")
	if r := env.Do(t, "PATCH", "/v1/wallet/cards/"+card.ID+"/limits", map[string]any{"daily_amount": 100000}, c.Auth()...); r.Status != 200 {
		t.Fatalf("lower limit = %d %s", r.Status, r.Body)
	}
	rs := concurrently(t, env, 20, "POST", "/v1/wallet/topups",
		func(int) any { return map[string]any{"card_id": card.ID, "amount": 30000} },
		func(i int) []string { return c.Idem(fmt.Sprint("k", i)) })
	ok := 0
	for _, r := range rs {
		switch {
		case r.Status == 201:
			ok++
		case r.Status == 402 && r.Code() == "limit_exceeded":
		default:
			t.Errorf("top-up = %d %s", r.Status, r.Body)
		}
	}
	if ok != 3 {
		t.Errorf("successful top-ups = %d; want exactly floor(100000/30000) = 3", ok)
	}
	if got := balance(t, env, c); got != 90000 {
		t.Errorf("balance = %d; want 90000", got)
	}
}

func TestCardRules(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	c := newCustomer(t, env)
	card := bindCard(t, env, c, "4111111111111111")
	topup := func(amount int64, key string) gatewaytest.Response {
		return env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": card.ID, "amount": amount}, c.Idem(key)...)
	}
	// The same card twice is a conflict.
	if r := env.DoOTP(t, "POST", "/v1/wallet/cards", map[string]any{"number": "4111-1111-1111-1111", "exp_month": 1, "exp_year": 2098, "holder_name": "Li Lei"}, c.Auth()...); r.Status != 409 {
		t.Errorf("bind twice = %d %s; want 409", r.Status, r.Body)
	}
	// Frozen: refused; unfrozen: fine.
	if r := env.Do(t, "POST", "/v1/wallet/cards/"+card.ID+"/freeze", nil, c.Auth()...); r.Status != 200 {
		t.Fatalf("freeze = %d %s", r.Status, r.Body)
	}
	if r := topup(100, "frozen"); r.Status != 403 || r.Code() != "card_frozen" {
		t.Errorf("top-up with a frozen card = %d %s; want 403 card_frozen", r.Status, r.Body)
	}
	env.Do(t, "POST", "/v1/wallet/cards/"+card.ID+"/unfreeze", nil, c.Auth()...)
	if r := topup(100, "unfrozen"); r.Status != 201 {
		t.Errorf("top-up after unfreeze = %d %s", r.Status, r.Body)
	}
	// A lowered per-transaction limit applies to the very next top-up.
	if r := topup(20000, "before-lowering"); r.Status != 201 {
		t.Fatalf("top-up = %d %s", r.Status, r.Body)
	}
	env.Do(t, "PATCH", "/v1/wallet/cards/"+card.ID+"/limits", map[string]any{"per_transaction": 10000}, c.Auth()...)
	if r := topup(20000, "after-lowering"); r.Status != 402 || r.Code() != "limit_exceeded" {
		t.Errorf("top-up above the lowered limit = %d %s; want 402 limit_exceeded", r.Status, r.Body)
	}
	// Raising above the configured maximum is refused; up to it is fine.
	if r := env.Do(t, "PATCH", "/v1/wallet/cards/"+card.ID+"/limits", map[string]any{"daily_count": 201}, c.Auth()...); r.Status != 400 {
		t.Errorf("raise above the maximum = %d; want 400", r.Status)
	}
	if r := env.DoOTP(t, "PATCH", "/v1/wallet/cards/"+card.ID+"/limits", map[string]any{"daily_count": 200}, c.Auth()...); r.Status != 200 {
		t.Errorf("raise to the maximum = %d %s", r.Status, r.Body)
	}
	// Issuer declines, through the documented test cards.
	for number, want := range map[string]string{
		wallet.TestCardDeclined:   "card_declined",
		wallet.TestCardNoFunds:    "card_declined",
		wallet.TestCardIssuerDown: "unavailable",
	} {
		dc := bindCard(t, env, c, number)
		r := env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": dc.ID, "amount": 100}, c.Idem("decline-"+number)...)
		if r.Code() != want {
			t.Errorf("top-up with test card %s = %d %s; want %s", number, r.Status, r.Body, want)
		}
		var lv wallet.LimitsView
		env.Do(t, "GET", "/v1/wallet/cards/"+dc.ID+"/limits", nil, c.Auth()...).JSON(t, &lv)
		if lv.UsedToday.Count != 0 {
			t.Errorf("declined card %s usage = %+v; want the reservation released", number, lv.UsedToday)
		}
	}
	for _, number := range []string{wallet.TestCardLost, wallet.TestCardExpiredByBan} {
		r := env.DoOTP(t, "POST", "/v1/wallet/cards", map[string]any{"number": number, "exp_month": 1, "exp_year": 2099, "holder_name": "X"}, c.Auth()...)
		if r.Status != 402 || r.Code() != "card_declined" {
			t.Errorf("bind test card %s = %d %s; want 402 card_declined", number, r.Status, r.Body)
		}
	}
	// Unbind: gone from the list, cannot top up.
	if r := env.Do(t, "DELETE", "/v1/wallet/cards/"+card.ID, nil, c.Auth()...); r.Status != 204 {
		t.Errorf("unbind = %d", r.Status)
	}
	if r := topup(100, "unbound"); r.Status != 404 {
		t.Errorf("top-up with an unbound card = %d; want 404", r.Status)
	}
	if got := balance(t, env, c); got != 20100 {
		t.Errorf("balance = %d; want 20100", got)
	}
}

// TestBadInputChangesNothing sends malformed and out-of-range requests: each
// gets a 4xx with a code, and the ledger does not move.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	c := newCustomer(t, env)
	card := bindCard(t, env, c, "4111111111111111")
	topUp(t, env, c, card.ID, 5000)
	setPIN(t, env, c, "135790")
	long := strings.Repeat("x", 300)
	tests := []struct {
		name, method, path string
		body               any
		headers            []string
		status             int
		code               string
	}{
		{"register: bad phone", "POST", "/v1/wallet/customers", map[string]any{"phone": "13800138000", "password": password}, nil, 400, "invalid"},
		{"register: short password", "POST", "/v1/wallet/customers", map[string]any{"phone": "+8613812345678", "password": "short"}, nil, 400, "invalid"},
		{"register: missing fields", "POST", "/v1/wallet/customers", map[string]any{}, nil, 400, "invalid"},
		{"register: wrong type", "POST", "/v1/wallet/customers", `{"phone": 8613812345678, "password": "x"}`, nil, 400, "invalid_json"},
		{"register: unknown field", "POST", "/v1/wallet/customers", `{"phone": "+8613812345678", "password": "password1", "admin": true}`, nil, 400, "invalid_json"},
		{"register: trailing data", "POST", "/v1/wallet/customers", `{"phone": "+8613812345678", "password": "password1"} {}`, nil, 400, "invalid_json"},
		{"bind: bad luhn", "POST", "/v1/wallet/cards", map[string]any{"number": "4111111111111112", "exp_month": 1, "exp_year": 2099, "holder_name": "A"}, c.Auth(), 400, "invalid"},
		{"bind: letters", "POST", "/v1/wallet/cards", map[string]any{"number": "4111abcd11111111", "exp_month": 1, "exp_year": 2099, "holder_name": "A"}, c.Auth(), 400, "invalid"},
		{"bind: expired", "POST", "/v1/wallet/cards", map[string]any{"number": "5555555555554444", "exp_month": 1, "exp_year": 2020, "holder_name": "A"}, c.Auth(), 400, "invalid"},
		{"bind: month 13", "POST", "/v1/wallet/cards", map[string]any{"number": "5555555555554444", "exp_month": 13, "exp_year": 2099, "holder_name": "A"}, c.Auth(), 400, "invalid"},
		{"bind: long name", "POST", "/v1/wallet/cards", map[string]any{"number": "5555555555554444", "exp_month": 1, "exp_year": 2099, "holder_name": long}, c.Auth(), 400, "invalid"},
		{"top-up: no key", "POST", "/v1/wallet/topups", map[string]any{"card_id": card.ID, "amount": 1}, c.Auth(), 400, "idempotency_key_required"},
		{"top-up: long key", "POST", "/v1/wallet/topups", map[string]any{"card_id": card.ID, "amount": 1}, c.Idem(long), 400, "invalid"},
		{"top-up: zero", "POST", "/v1/wallet/topups", map[string]any{"card_id": card.ID, "amount": 0}, c.Idem("z"), 400, "invalid"},
		{"top-up: negative", "POST", "/v1/wallet/topups", map[string]any{"card_id": card.ID, "amount": -100}, c.Idem("n"), 400, "invalid"},
		{"top-up: huge", "POST", "/v1/wallet/topups", `{"card_id": "` + card.ID + `", "amount": 1e30}`, c.Idem("h"), 400, "invalid_json"},
		{"top-up: fraction", "POST", "/v1/wallet/topups", `{"card_id": "` + card.ID + `", "amount": 10.5}`, c.Idem("f"), 400, "invalid_json"},
		{"top-up: over the max", "POST", "/v1/wallet/topups", map[string]any{"card_id": card.ID, "amount": int64(2e15)}, c.Idem("m"), 400, "invalid"},
		{"top-up: string amount", "POST", "/v1/wallet/topups", `{"card_id": "` + card.ID + `", "amount": "100"}`, c.Idem("s"), 400, "invalid_json"},
		{"top-up: other currency", "POST", "/v1/wallet/topups", map[string]any{"card_id": card.ID, "amount": 100, "currency": "USD"}, c.Idem("c"), 400, "invalid"},
		{"top-up: bad card id", "POST", "/v1/wallet/topups", map[string]any{"card_id": "nope", "amount": 100}, c.Idem("b"), 404, "not_found"},
		{"top-up: not json", "POST", "/v1/wallet/topups", "amount=100", c.Idem("j"), 400, "invalid_json"},
		{"transfer: long note", "POST", "/v1/wallet/transfers", map[string]any{"to_phone": "+8613000000001", "amount": 1, "pin": "135790", "note": long}, c.Idem("l"), 400, "invalid"},
		{"transfer: bad phone", "POST", "/v1/wallet/transfers", map[string]any{"to_phone": "12345", "amount": 1, "pin": "135790"}, c.Idem("p"), 400, "invalid"},
		{"limits: negative", "PATCH", "/v1/wallet/cards/" + card.ID + "/limits", map[string]any{"daily_amount": -1}, c.Auth(), 400, "invalid"},
		{"no session", "GET", "/v1/wallet", nil, nil, 401, "unauthorized"},
		{"bad session", "GET", "/v1/wallet", nil, []string{"Authorization", "Bearer qs_nope"}, 401, "unauthorized"},
	}
	before, _ := json.Marshal(balance(t, env, c))
	for _, tt := range tests {
		r := env.Do(t, tt.method, tt.path, tt.body, tt.headers...)
		if r.Status != tt.status || r.Code() != tt.code {
			t.Errorf("%s: %d %s; want %d %s", tt.name, r.Status, r.Body, tt.status, tt.code)
		}
	}
	after, _ := json.Marshal(balance(t, env, c))
	if !bytes.Equal(before, after) {
		t.Errorf("balance moved from %s to %s", before, after)
	}
	if got := countTransfers(t, env, "topup"); got != 1 {
		t.Errorf("top-ups = %d; want the one good one", got)
	}
	checkLedger(t, env)
}

func TestCloseWallet(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	alice, bob := newCustomer(t, env), newCustomer(t, env)
	card := bindCard(t, env, alice, "4111111111111111")
	topUp(t, env, alice, card.ID, 300)
	setPIN(t, env, alice, "135790")
	closeIt := func(c customer) gatewaytest.Response {
		return env.DoOTP(t, "POST", "/v1/wallet/close", map[string]any{"password": password}, c.Auth()...)
	}
	if r := closeIt(alice); r.Status != 409 || r.Code() != "conflict" {
		t.Errorf("close with a balance = %d %s; want 409", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/wallet/close", map[string]string{"password": "wrong password"}, alice.Auth()...); r.Status != 401 {
		t.Errorf("close with a wrong password = %d; want 401", r.Status)
	}
	env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_phone": bob.Phone, "amount": 300, "pin": "135790"}, alice.Idem("empty-it")...)
	r := closeIt(alice)
	if r.Status != 200 {
		t.Fatalf("close = %d %s", r.Status, r.Body)
	}
	var w wallet.Wallet
	r.JSON(t, &w)
	if w.Status != "closed" || w.Balance != 0 {
		t.Errorf("closed wallet = %+v", w)
	}
	// Sessions revoked, cannot log in, cannot receive.
	if r := env.Do(t, "GET", "/v1/wallet", nil, alice.Auth()...); r.Status != 401 {
		t.Errorf("closed wallet's session = %d; want 401", r.Status)
	}
	if r := env.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": alice.Phone, "password": password, "device_id": alice.DeviceID}); r.Status != 401 {
		t.Errorf("log in to a closed wallet = %d; want 401", r.Status)
	}
	setPIN(t, env, bob, "246802")
	if r := env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_wallet_id": alice.WalletID, "amount": 1, "pin": "246802"}, bob.Idem("to-closed")...); r.Status != 409 || r.Code() != "wallet_closed" {
		t.Errorf("transfer to a closed wallet = %d %s; want 409 wallet_closed", r.Status, r.Body)
	}
	// History is kept; the phone number may open a new wallet.
	var n int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM postings p JOIN customers c ON c.account_id = p.account_id WHERE c.id = $1`, alice.WalletID).Scan(&n); err != nil || n != 2 {
		t.Errorf("closed wallet's postings = %d (%v); want 2 kept", n, err)
	}
	if r := env.DoOTP(t, "POST", "/v1/wallet/customers", map[string]any{"phone": alice.Phone, "password": password, "device_id": alice.DeviceID}); r.Status != 201 {
		t.Errorf("re-register the phone = %d %s", r.Status, r.Body)
	}
	checkLedger(t, env)
}

// TestRedisDownFailsClosed cuts Redis off: money-moving requests get 503
// unavailable with Retry-After and move nothing; service resumes when Redis
// is back.
func TestRedisDownFailsClosed(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) { o.RedisProxy = true })
	c := newCustomer(t, env)
	card := bindCard(t, env, c, "4111111111111111")
	env.RedisProxy.Cut()
	for i := range 8 {
		r := env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": card.ID, "amount": 100}, c.Idem(fmt.Sprint("down-", i))...)
		if r.Status != 503 || r.Code() != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("top-up with Redis down = %d %s; want 503 unavailable with Retry-After", r.Status, r.Body)
		}
	}
	if r := env.Do(t, "GET", "/readyz", nil); r.Status != 503 {
		t.Errorf("/readyz with Redis down = %d; want 503", r.Status)
	}
	env.RedisProxy.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": card.ID, "amount": 100}, c.Idem("back")...)
		if r.Status == 201 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("top-up after Redis returned = %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := balance(t, env, c); got != 100 {
		t.Errorf("balance = %d; want only the one top-up after recovery", got)
	}
}
