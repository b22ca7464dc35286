package payment_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/payment"
	"github.com/qrpay/qrpay/wallet"
)

// issuerLog is a card issuer that behaves as the simulated one and records
// what it was asked; onAuthorize, when set, runs after an approval.
type issuerLog struct {
	wallet.SimulatedIssuer
	mu                         sync.Mutex
	authorized, voided, credit []int64
	onAuthorize                func()
}

func (i *issuerLog) Authorize(ctx context.Context, ref string, amount int64, currency string) error {
	if err := i.SimulatedIssuer.Authorize(ctx, ref, amount, currency); err != nil {
		return err
	}
	i.mu.Lock()
	i.authorized = append(i.authorized, amount)
	hook := i.onAuthorize
	i.mu.Unlock()
	if hook != nil {
		hook()
	}
	return nil
}

func (i *issuerLog) Void(ctx context.Context, ref string, amount int64, currency string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.voided = append(i.voided, amount)
	return nil
}

func (i *issuerLog) Credit(ctx context.Context, ref string, amount int64, currency, reference string) error {
	if err := i.SimulatedIssuer.Credit(ctx, ref, amount, currency, reference); err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.credit = append(i.credit, amount)
	return nil
}

func (i *issuerLog) calls() (authorized, voided, credit []int64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]int64(nil), i.authorized...), append([]int64(nil), i.voided...), append([]int64(nil), i.credit...)
}

// reset forgets what was asked so far (the top-ups of setting up).
func (i *issuerLog) reset() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.authorized, i.voided, i.credit = nil, nil, nil
}

func sum(xs []int64) int64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s
}

// fundingEnv is a gateway with a recording issuer, a merchant and its
// finance caller.
type fundingEnv struct {
	*gatewaytest.Env
	issuer *issuerLog
	key    gatewaytest.MerchantKey
	caller merchant.Caller
}

func startFunding(t *testing.T, adjust ...func(*gatewaytest.Options)) *fundingEnv {
	t.Helper()
	issuer := &issuerLog{SimulatedIssuer: wallet.SimulatedIssuer{MaxCharge: 5_000_000}}
	env := gatewaytest.Start(t, append(adjust, func(o *gatewaytest.Options) { o.Issuer = issuer })...)
	k := env.NewMerchant(t, nil)
	caller, _, err := env.Merchant.KeySecret(context.Background(), k.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	return &fundingEnv{Env: env, issuer: issuer, key: k, caller: caller}
}

func (f *fundingEnv) principal(t *testing.T, p gatewaytest.Payer) wallet.Principal {
	t.Helper()
	pr, err := f.Wallet.Authenticate(context.Background(), p.Token)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

func (f *fundingEnv) balance(t *testing.T, p gatewaytest.Payer) int64 {
	t.Helper()
	w, err := f.Wallet.Get(context.Background(), p.WalletID)
	if err != nil {
		t.Fatal(err)
	}
	return w.Balance
}

func (f *fundingEnv) pay(t *testing.T, p gatewaytest.Payer, orderID string, funding wallet.Funding) (wallet.Movement, error) {
	t.Helper()
	key := uuid.NewString()
	return f.Payment.Pay(context.Background(), f.principal(t, p), payment.PayInput{OrderID: orderID, CardID: p.CardID,
		PIN: p.PIN, Funding: funding}, wallet.Request{Key: key, Fingerprint: []byte(key)})
}

func (f *fundingEnv) checkLedger(t *testing.T) {
	t.Helper()
	report, err := ledger.Check(context.Background(), f.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if !report.OK() {
		t.Errorf("ledger check: %+v", report)
	}
}

// usage is the card's usage today, pending reservations included.
func (f *fundingEnv) usage(t *testing.T, cardID string) (amount, count int64) {
	t.Helper()
	u, err := f.App.Limits.Usage(context.Background(), cardID, f.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return u.Amount, u.Count
}

// transferFunding reads what the ledger recorded for a transfer.
func (f *fundingEnv) transferFunding(t *testing.T, id string) string {
	t.Helper()
	var funding string
	if err := f.Pool.QueryRow(context.Background(), `SELECT coalesce(funding, '') FROM transfers WHERE id = $1`, id).
		Scan(&funding); err != nil {
		t.Fatal(err)
	}
	return funding
}

// TestCardFundedPaymentLeavesTheBalance: a wallet with nothing on its
// balance pays an order with its card, over HTTP: the issuer authorizes the
// whole amount, the balance does not move, the merchant is paid, and the
// ledger records the card funding.
func TestCardFundedPaymentLeavesTheBalance(t *testing.T) {
	t.Parallel()
	f := startFunding(t)
	p := f.NewPayer(t, 0)
	o := f.CreateOrder(t, f.key, 1500)
	r := f.Do(t, "POST", "/v1/wallet/payments", map[string]any{"order_id": o.ID, "card_id": p.CardID, "funding": "card"},
		p.Idem("card-pay-1")...)
	if r.Status != http.StatusCreated {
		t.Fatalf("card-funded payment = %d %s; want 201", r.Status, r.Body)
	}
	var mv wallet.Movement
	r.JSON(t, &mv)
	if mv.Amount != -1500 || mv.CardAmount != -1500 || mv.Funding != "card" || mv.BalanceAfter != 0 {
		t.Errorf("movement = %+v; want amount -1500, card_amount -1500, funding card, balance_after 0", mv)
	}
	if b := f.balance(t, p); b != 0 {
		t.Errorf("balance after a card-funded payment = %d; want 0", b)
	}
	if auth, voided, _ := f.issuer.calls(); len(auth) != 1 || auth[0] != 1500 || len(voided) != 0 {
		t.Errorf("issuer authorized %v, voided %v; want [1500], []", auth, voided)
	}
	if got := f.transferFunding(t, mv.ID); got != "card" {
		t.Errorf("transfer funding = %q; want card", got)
	}
	// The retry is the same payment, not a second charge.
	again := f.Do(t, "POST", "/v1/wallet/payments", map[string]any{"order_id": o.ID, "card_id": p.CardID, "funding": "card"},
		p.Idem("card-pay-1")...)
	var mv2 wallet.Movement
	again.JSON(t, &mv2)
	if again.Status != http.StatusCreated || mv2.ID != mv.ID || mv2.CardAmount != -1500 {
		t.Errorf("retry = %d %s; want the first payment", again.Status, again.Body)
	}
	if auth, _, _ := f.issuer.calls(); len(auth) != 1 {
		t.Errorf("issuer authorized %v after a retry; want one authorization", auth)
	}
	if got := f.Do(t, "GET", "/v1/wallet/movements/"+mv.ID, nil, p.Auth()...); got.Status != http.StatusOK {
		t.Errorf("movement of a card-funded payment = %d %s; want 200", got.Status, got.Body)
	}
	bad := f.Do(t, "POST", "/v1/wallet/payments", map[string]any{"order_id": o.ID, "card_id": p.CardID, "funding": "cash"},
		p.Idem("card-pay-2")...)
	if bad.Status != http.StatusBadRequest || bad.Code() != "invalid" {
		t.Errorf("funding cash = %d %s; want 400 invalid", bad.Status, bad.Body)
	}
	f.checkLedger(t)
}

// TestCardFundingRefusalsMoveNothing: a declined card, an issuer that does
// not answer and a frozen card each refuse the payment with nothing moved,
// the order still open and nothing left reserved on the card's limits.
func TestCardFundingRefusalsMoveNothing(t *testing.T) {
	t.Parallel()
	f := startFunding(t)
	for _, tc := range []struct {
		number string
		freeze bool
		want   errs.Code
	}{
		{wallet.TestCardDeclined, false, errs.CardDeclined},
		{wallet.TestCardNoFunds, false, errs.CardDeclined},
		{wallet.TestCardIssuerDown, false, errs.Unavailable},
		{"5555555555554444", true, errs.CardFrozen},
	} {
		p := f.NewPayer(t, 1000) // a balance that could pay: the card was chosen
		var card struct {
			ID string `json:"id"`
		}
		f.BindCard(t, p.Customer, tc.number).JSON(t, &card)
		p.CardID = card.ID
		if tc.freeze {
			if r := f.Do(t, "POST", "/v1/wallet/cards/"+card.ID+"/freeze", nil, p.Auth()...); r.Status != http.StatusOK {
				t.Fatalf("freeze = %d %s", r.Status, r.Body)
			}
		}
		o := f.CreateOrder(t, f.key, 700)
		f.issuer.reset()
		_, err := f.pay(t, p, o.ID, wallet.FundingCard)
		if !errs.Is(err, tc.want) {
			t.Errorf("card %s: pay = %v; want %s", tc.number, err, tc.want)
		}
		if b := f.balance(t, p); b != 1000 {
			t.Errorf("card %s: balance = %d; want 1000", tc.number, b)
		}
		if amount, count := f.usage(t, card.ID); amount != 0 || count != 0 {
			t.Errorf("card %s: usage after a refused payment = %d in %d; want nothing", tc.number, amount, count)
		}
		got, err := f.Merchant.GetOrder(context.Background(), f.caller, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != merchant.StatusCreated {
			t.Errorf("card %s: order is %s after a refused payment; want created", tc.number, got.Status)
		}
		if auth, _, _ := f.issuer.calls(); len(auth) != 0 {
			t.Errorf("card %s: issuer approved %v; want nothing", tc.number, auth)
		}
	}
	f.checkLedger(t)
}

// TestBalanceThenCardSplits: a balance short of the price pays what it has
// and the card the rest, in one transfer; one that covers it pays alone.
func TestBalanceThenCardSplits(t *testing.T) {
	t.Parallel()
	f := startFunding(t)
	p := f.NewPayer(t, 300)
	q := f.NewPayer(t, 2000)
	f.issuer.reset()
	o := f.CreateOrder(t, f.key, 1000)
	mv, err := f.pay(t, p, o.ID, wallet.FundingBalanceThenCard)
	if err != nil {
		t.Fatal(err)
	}
	if mv.Amount != -1000 || mv.CardAmount != -700 || mv.Funding != "balance_then_card" || mv.BalanceAfter != 0 {
		t.Errorf("split movement = %+v; want amount -1000, card_amount -700, balance_then_card, balance_after 0", mv)
	}
	tr, err := ledger.GetTransfer(context.Background(), f.Pool, uuid.MustParse(mv.ID))
	if err != nil {
		t.Fatal(err)
	}
	var total, debits int64
	for _, ps := range tr.Postings {
		total += ps.Amount
		if ps.Amount < 0 {
			debits++
		}
	}
	if total != 0 || debits != 2 {
		t.Errorf("split transfer postings %+v: sum %d with %d debits; want sum 0, 2 debits", tr.Postings, total, debits)
	}
	if auth, _, _ := f.issuer.calls(); len(auth) != 1 || auth[0] != 700 {
		t.Errorf("issuer authorized %v; want [700]", auth)
	}
	if amount, count := f.usage(t, p.CardID); amount != 300+1000 || count != 2 {
		t.Errorf("card usage = %d in %d; want the top-up and the whole payment, 1300 in 2", amount, count)
	}
	// Covered by the balance: no card leg.
	o2 := f.CreateOrder(t, f.key, 1000)
	mv, err = f.pay(t, q, o2.ID, wallet.FundingBalanceThenCard)
	if err != nil {
		t.Fatal(err)
	}
	if mv.Amount != -1000 || mv.CardAmount != 0 || mv.Funding != "balance" || mv.BalanceAfter != 1000 {
		t.Errorf("covered movement = %+v; want amount -1000 from the balance", mv)
	}
	if auth, _, _ := f.issuer.calls(); len(auth) != 1 {
		t.Errorf("issuer authorized %v; want still one authorization", auth)
	}
	f.checkLedger(t)
}

// TestCardLimitsHoldUnderConcurrentCardPayments: a card allowed three
// payments a day makes exactly three of many concurrent card-funded
// payments, and the issuer's holds of the refused ones are voided or never
// made.
func TestCardLimitsHoldUnderConcurrentCardPayments(t *testing.T) {
	t.Parallel()
	f := startFunding(t)
	p := f.NewPayer(t, 0)
	if r := f.Do(t, "PATCH", "/v1/wallet/cards/"+p.CardID+"/limits", map[string]any{"daily_count": 3}, p.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("lower limits = %d %s", r.Status, r.Body)
	}
	const payers = 10
	orders := make([]gatewaytest.Order, payers)
	for i := range orders {
		orders[i] = f.CreateOrder(t, f.key, 100)
	}
	errsOf := make([]error, payers)
	var wg sync.WaitGroup
	for i := range payers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errsOf[i] = f.pay(t, p, orders[i].ID, wallet.FundingCard)
		}()
	}
	wg.Wait()
	paid := 0
	for _, err := range errsOf {
		switch {
		case err == nil:
			paid++
		case !errs.Is(err, errs.LimitExceeded):
			t.Errorf("pay: %v; want success or limit_exceeded", err)
		}
	}
	if paid != 3 {
		t.Errorf("%d card-funded payments passed a daily count of 3", paid)
	}
	if amount, count := f.usage(t, p.CardID); amount != 300 || count != 3 {
		t.Errorf("card usage = %d in %d; want 300 in 3", amount, count)
	}
	auth, voided, _ := f.issuer.calls()
	if sum(auth)-sum(voided) != 300 {
		t.Errorf("issuer holds %d (authorized %v, voided %v); want 300", sum(auth)-sum(voided), auth, voided)
	}
	f.checkLedger(t)
}

// TestCardHoldVoidedWhenTheLedgerRefuses: the issuer approved, then the
// ledger refused the transfer (the merchant's account was closed under
// it): the hold is voided, the reservation given back, nothing moved.
func TestCardHoldVoidedWhenTheLedgerRefuses(t *testing.T) {
	t.Parallel()
	f := startFunding(t)
	p := f.NewPayer(t, 0)
	o := f.CreateOrder(t, f.key, 800)
	m, err := f.Merchant.Get(context.Background(), f.key.MerchantID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Pool.Exec(context.Background(), `UPDATE accounts SET closed_at = now() WHERE id = $1`, m.AccountID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pay(t, p, o.ID, wallet.FundingCard); !errs.Is(err, errs.AccountClosed) {
		t.Fatalf("pay into a closed account = %v; want account_closed", err)
	}
	auth, voided, _ := f.issuer.calls()
	if len(auth) != 1 || len(voided) != 1 || voided[0] != auth[0] {
		t.Errorf("issuer authorized %v, voided %v; want the one hold voided", auth, voided)
	}
	if amount, count := f.usage(t, p.CardID); amount != 0 || count != 0 {
		t.Errorf("card usage = %d in %d; want nothing", amount, count)
	}
	f.checkLedger(t)
}

// TestRefundsGoBackWhereTheMoneyCameFrom: a card-funded payment is refunded
// to the card (the issuer credited, the ledger's leg to the clearing
// account, the balance untouched); a split payment's partial refunds go to
// the card first, then the balance, and neither leg ever gets back more
// than it paid.
func TestRefundsGoBackWhereTheMoneyCameFrom(t *testing.T) {
	t.Parallel()
	f := startFunding(t)
	ctx := context.Background()

	p := f.NewPayer(t, 0)
	o := f.CreateOrder(t, f.key, 1000)
	if _, err := f.pay(t, p, o.ID, wallet.FundingCard); err != nil {
		t.Fatal(err)
	}
	r, err := f.Payment.Refund(ctx, f.caller, o.ID, payment.RefundInput{RefundNo: "C1", Amount: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if r.Funding != "card" || r.CardAmount != 1000 {
		t.Errorf("refund of a card payment = %+v; want funding card, card_amount 1000", r)
	}
	if _, _, credit := f.issuer.calls(); len(credit) != 1 || credit[0] != 1000 {
		t.Errorf("issuer credited %v; want [1000]", credit)
	}
	if b := f.balance(t, p); b != 0 {
		t.Errorf("balance after a refund to the card = %d; want 0", b)
	}
	var clearingKind string
	if err := f.Pool.QueryRow(ctx, `SELECT a.kind FROM refunds r JOIN postings ps ON ps.transfer_id = r.transfer_id
		JOIN accounts a ON a.id = ps.account_id WHERE r.id = $1 AND ps.amount > 0`, r.ID).Scan(&clearingKind); err != nil {
		t.Fatal(err)
	}
	if clearingKind != string(ledger.Clearing) {
		t.Errorf("refund to the card credited a %s account; want clearing", clearingKind)
	}
	// A retry of the refund credits nothing again.
	if _, err := f.Payment.Refund(ctx, f.caller, o.ID, payment.RefundInput{RefundNo: "C1", Amount: 1000}); err != nil {
		t.Fatal(err)
	}
	if _, _, credit := f.issuer.calls(); len(credit) != 1 {
		t.Errorf("issuer credited %v after a retried refund; want one credit", credit)
	}

	// 300 from the balance, 700 from the card.
	q := f.NewPayer(t, 300)
	f.issuer.reset()
	o2 := f.CreateOrder(t, f.key, 1000)
	if _, err := f.pay(t, q, o2.ID, wallet.FundingBalanceThenCard); err != nil {
		t.Fatal(err)
	}
	var toCard, toBalance int64
	for i, tc := range []struct {
		amount, card int64
		funding      string
	}{{500, 500, "card"}, {400, 200, "balance_then_card"}, {100, 0, "balance"}} {
		r, err := f.Payment.Refund(ctx, f.caller, o2.ID, payment.RefundInput{RefundNo: fmt.Sprint("S", i), Amount: tc.amount})
		if err != nil {
			t.Fatal(err)
		}
		if r.CardAmount != tc.card || r.Funding != tc.funding {
			t.Errorf("refund %d of %d = card %d, %s; want card %d, %s", i, tc.amount, r.CardAmount, r.Funding, tc.card, tc.funding)
		}
		toCard += r.CardAmount
		toBalance += r.Amount - r.CardAmount
	}
	if toCard != 700 || toBalance != 300 {
		t.Errorf("refunds returned %d to the card and %d to the balance; want 700 and 300", toCard, toBalance)
	}
	if b := f.balance(t, q); b != 300 {
		t.Errorf("balance after the refunds = %d; want 300", b)
	}
	if _, _, credit := f.issuer.calls(); sum(credit) != 700 {
		t.Errorf("issuer credited %v; want 700 in all", credit)
	}
	if _, err := f.Payment.Refund(ctx, f.caller, o2.ID, payment.RefundInput{RefundNo: "S9", Amount: 1}); !errs.Is(err, errs.RefundExceedsPayment) {
		t.Errorf("refund past the payment = %v; want refund_exceeds_payment", err)
	}
	f.checkLedger(t)
}

// TestRefundSplit checks the card-first split against every leg.
func TestRefundSplit(t *testing.T) {
	legs := wallet.Legs{Balance: 300, Card: 700}
	for _, steps := range [][]int64{{1000}, {500, 400, 100}, {699, 2, 299}, {1, 1, 998}, {300, 300, 300, 100}} {
		var before, card, balance int64
		for _, a := range steps {
			_, b, c := wallet.RefundSplit(legs, before, a)
			if b+c != a || b < 0 || c < 0 {
				t.Fatalf("RefundSplit(%v, %d, %d) = %d + %d", legs, before, a, b, c)
			}
			before, card, balance = before+a, card+c, balance+b
			if card > legs.Card || balance > legs.Balance {
				t.Fatalf("refunds %v: card %d of %d, balance %d of %d", steps, card, legs.Card, balance, legs.Balance)
			}
		}
		if card != legs.Card || balance != legs.Balance {
			t.Errorf("refunds %v returned card %d, balance %d; want %d, %d", steps, card, balance, legs.Card, legs.Balance)
		}
	}
}

// TestConcurrentSplitPaymentsNeverOverdraw: split payments racing for one
// short balance each either pay (the balance part it read, the card the
// rest) or fail with insufficient_funds with their hold voided: the
// balance never goes negative, and the holds kept are exactly the card
// legs the ledger recorded.
func TestConcurrentSplitPaymentsNeverOverdraw(t *testing.T) {
	t.Parallel()
	f := startFunding(t)
	p := f.NewPayer(t, 500)
	f.issuer.reset()
	const payers = 6
	orders := make([]gatewaytest.Order, payers)
	for i := range orders {
		orders[i] = f.CreateOrder(t, f.key, 300)
	}
	results := make([]wallet.Movement, payers)
	failures := make([]error, payers)
	var wg sync.WaitGroup
	for i := range payers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], failures[i] = f.pay(t, p, orders[i].ID, wallet.FundingBalanceThenCard)
		}()
	}
	wg.Wait()
	var fromBalance, fromCard int64
	for i, err := range failures {
		switch {
		case err == nil:
			mv := results[i]
			if mv.Amount != -300 || mv.CardAmount > 0 || mv.CardAmount < -300 {
				t.Errorf("payment %d = %+v; want 300 split between balance and card", i, mv)
			}
			fromBalance += -(mv.Amount - mv.CardAmount)
			fromCard += -mv.CardAmount
		case !errs.Is(err, errs.InsufficientFunds):
			t.Errorf("payment %d: %v; want success or insufficient_funds", i, err)
		}
	}
	if b := f.balance(t, p); b < 0 || b != 500-fromBalance {
		t.Errorf("balance = %d after %d paid from it; want %d, never negative", b, fromBalance, 500-fromBalance)
	}
	var ledgerCard int64
	if err := f.Pool.QueryRow(context.Background(), `SELECT coalesce(-sum(ps.amount), 0)::bigint FROM transfers t
		JOIN postings ps ON ps.transfer_id = t.id JOIN accounts a ON a.id = ps.account_id AND a.kind = 'clearing'
		WHERE t.kind = 'payment' AND t.wallet_id = $1::uuid`, p.WalletID).Scan(&ledgerCard); err != nil {
		t.Fatal(err)
	}
	auth, voided, _ := f.issuer.calls()
	if ledgerCard != fromCard || sum(auth)-sum(voided) != ledgerCard {
		t.Errorf("card legs: answered %d, ledger %d, issuer holds %d (authorized %v, voided %v); want all equal",
			fromCard, ledgerCard, sum(auth)-sum(voided), auth, voided)
	}
	f.checkLedger(t)
}
