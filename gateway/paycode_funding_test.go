package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/wallet"
)

// cardIssuer behaves as the simulated issuer and records the charges it
// approved and the credits it made.
type cardIssuer struct {
	wallet.SimulatedIssuer
	mu                 sync.Mutex
	authorized, credit []int64
}

func (i *cardIssuer) Authorize(ctx context.Context, ref string, amount int64, currency string) error {
	if err := i.SimulatedIssuer.Authorize(ctx, ref, amount, currency); err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.authorized = append(i.authorized, amount)
	return nil
}

func (i *cardIssuer) Credit(ctx context.Context, ref string, amount int64, currency, reference string) error {
	if err := i.SimulatedIssuer.Credit(ctx, ref, amount, currency, reference); err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.credit = append(i.credit, amount)
	return nil
}

// calls answers what the issuer was asked since the last call.
func (i *cardIssuer) calls() (authorized, credit []int64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	authorized, credit = i.authorized, i.credit
	i.authorized, i.credit = nil, nil
	return authorized, credit
}

func startWithIssuer(t *testing.T) (*gatewaytest.Env, *cardIssuer) {
	t.Helper()
	issuer := &cardIssuer{SimulatedIssuer: wallet.SimulatedIssuer{MaxCharge: 5_000_000}}
	return gatewaytest.Start(t, func(o *gatewaytest.Options) { o.Issuer = issuer }), issuer
}

// latestMovement is the wallet's newest history item.
func latestMovement(t *testing.T, env *gatewaytest.Env, c gatewaytest.Customer) wallet.HistoryItem {
	t.Helper()
	r := env.Do(t, "GET", "/v1/wallet/movements?limit=1", nil, c.Auth()...)
	if r.Status != http.StatusOK {
		t.Fatalf("movements = %d %s", r.Status, r.Body)
	}
	var page wallet.HistoryPage
	r.JSON(t, &page)
	if len(page.Data) != 1 {
		t.Fatalf("movements = %s; want one", r.Body)
	}
	return page.Data[0]
}

// chargePaid charges a code and fails the test unless it is paid; it
// returns the order's id.
func chargePaid(t *testing.T, env *gatewaytest.Env, k gatewaytest.MerchantKey, code string, amount int64) string {
	t.Helper()
	r := env.Charge(t, k, code, amount)
	var a chargeAnswer
	if r.Status != http.StatusCreated {
		t.Fatalf("charge = %d %s; want 201 paid", r.Status, r.Body)
	}
	r.JSON(t, &a)
	if a.Status != "paid" || a.Order.Status != "paid" {
		t.Fatalf("charge = %s; want paid", r.Body)
	}
	return a.Order.ID
}

func orderReceipt(t *testing.T, env *gatewaytest.Env, k gatewaytest.MerchantKey, orderID string) merchant.Receipt {
	t.Helper()
	r := env.Signed(t, k, "GET", "/v1/orders/"+orderID+"/receipt", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("receipt = %d %s", r.Status, r.Body)
	}
	var rc merchant.Receipt
	r.JSON(t, &rc)
	return rc
}

// TestPaymentCodeFundedByCard: a code whose key names the card pays from
// the card with nothing on the balance — the issuer approves the whole
// amount, the balance does not move, and the receipts and the history say
// card and payment_code — and its refund goes back to the card.
func TestPaymentCodeFundedByCard(t *testing.T) {
	t.Parallel()
	env, issuer := startWithIssuer(t)
	p := env.NewPayer(t, 0)
	key := env.NewFundedCodeKey(t, p, "card")
	m := env.NewMerchant(t, map[string]any{"name": "Card Code Cafe", "fee_bps": 60})
	issuer.calls()

	orderID := chargePaid(t, env, m, key.Code(env.Clock.Now()), 1200)
	if authorized, _ := issuer.calls(); len(authorized) != 1 || authorized[0] != 1200 {
		t.Errorf("issuer authorized %v; want [1200]", authorized)
	}
	if got := balance(t, env, p.Customer); got != 0 {
		t.Errorf("balance after a card-funded code = %d; want 0", got)
	}
	mv := latestMovement(t, env, p.Customer)
	if mv.Type != "payment" || mv.Amount != -1200 || mv.Funding != "card" || mv.OrderID != orderID || mv.BalanceAfter != 0 {
		t.Errorf("history = %+v; want a payment of -1200 funded by card", mv)
	}
	rc := orderReceipt(t, env, m, orderID)
	if rc.Funding != "card" || rc.Way != merchant.WayPaymentCode || rc.Amount != 1200 || rc.PaymentID != mv.ID || rc.TerminalID != "POS9" {
		t.Errorf("merchant receipt = %+v; want funding card, way payment_code", rc)
	}
	r := env.Do(t, "GET", "/v1/wallet/payments/"+mv.ID+"/receipt", nil, p.Auth()...)
	var wr merchant.Receipt
	r.JSON(t, &wr)
	if r.Status != http.StatusOK || wr.Funding != "card" || wr.Way != merchant.WayPaymentCode || wr.Fee != nil {
		t.Errorf("wallet receipt = %d %s; want funding card, way payment_code, no fee", r.Status, r.Body)
	}

	// The refund goes back to the card; the balance stays where it was.
	env.Refund(t, m, orderID, 500)
	if _, credit := issuer.calls(); len(credit) != 1 || credit[0] != 500 {
		t.Errorf("issuer credited %v; want [500]", credit)
	}
	if got := balance(t, env, p.Customer); got != 0 {
		t.Errorf("balance after a refund to the card = %d; want 0", got)
	}
	if rf := latestMovement(t, env, p.Customer); rf.Type != "refund" || rf.Amount != 500 || rf.Funding != "card" || rf.BalanceAfter != 0 {
		t.Errorf("history after the refund = %+v; want a refund of 500 to the card", rf)
	}
	var refundFunding string
	var cardAmount int64
	if err := env.Pool.QueryRow(context.Background(), `SELECT funding, card_amount FROM refunds WHERE order_id = $1`, orderID).
		Scan(&refundFunding, &cardAmount); err != nil {
		t.Fatal(err)
	}
	if refundFunding != "card" || cardAmount != 500 {
		t.Errorf("refund = %s, card %d; want card, 500", refundFunding, cardAmount)
	}

	// Above the PIN threshold the charge waits; the confirmation pays
	// from the card too.
	env.Clock.Advance(wallet.CodeStep)
	r = env.Charge(t, m, key.Code(env.Clock.Now()), 25_000)
	var a chargeAnswer
	r.JSON(t, &a)
	if r.Status != http.StatusCreated || a.Status != "requires_confirmation" {
		t.Fatalf("a charge above the threshold = %d %s; want requires_confirmation", r.Status, r.Body)
	}
	r = env.Do(t, "POST", "/v1/wallet/payment-codes/charges/"+a.Order.ID+"/confirm", map[string]any{"pin": p.PIN},
		p.Idem("confirm-card-code")...)
	var confirmed wallet.Movement
	r.JSON(t, &confirmed)
	if r.Status != http.StatusCreated || confirmed.Funding != "card" || confirmed.CardAmount != -25_000 || confirmed.BalanceAfter != 0 {
		t.Errorf("confirm = %d %s; want a payment of 25000 from the card", r.Status, r.Body)
	}
	if authorized, _ := issuer.calls(); len(authorized) != 1 || authorized[0] != 25_000 {
		t.Errorf("issuer authorized %v; want [25000]", authorized)
	}
	checkLedger(t, env)
}

// TestPaymentCodeCardDeclined: a card-funded code whose card the issuer
// declines is declined card_declined; its order closes, a retry answers
// the same, and nothing moves.
func TestPaymentCodeCardDeclined(t *testing.T) {
	t.Parallel()
	env, issuer := startWithIssuer(t)
	c := env.NewCustomer(t)
	var card struct {
		ID string `json:"id"`
	}
	env.BindCard(t, c, wallet.TestCardDeclined).JSON(t, &card)
	env.SetPIN(t, c, gatewaytest.PIN)
	p := gatewaytest.Payer{Customer: c, CardID: card.ID, PIN: gatewaytest.PIN}
	key := env.NewFundedCodeKey(t, p, "card")
	m := env.NewMerchant(t, map[string]any{"name": "Declined Diner"})
	before := env.Snapshot(t)

	code := key.Code(env.Clock.Now())
	r := env.Charge(t, m, code, 900, "CARD-DECLINE-1")
	if r.Status != http.StatusPaymentRequired || r.Code() != "card_declined" {
		t.Fatalf("a charge of a declined card's code = %d %s; want 402 card_declined", r.Status, r.Body)
	}
	if r := env.Charge(t, m, code, 900, "CARD-DECLINE-1"); r.Status != http.StatusPaymentRequired || r.Code() != "card_declined" {
		t.Errorf("the declined charge again = %d %s; want 402 card_declined", r.Status, r.Body)
	}
	var o struct {
		Status string `json:"status"`
	}
	env.Signed(t, m, "GET", "/v1/orders/by-number/CARD-DECLINE-1", nil).JSON(t, &o)
	if o.Status != "closed" {
		t.Errorf("the declined charge's order is %q; want closed", o.Status)
	}
	if authorized, _ := issuer.calls(); len(authorized) != 0 {
		t.Errorf("issuer authorized %v; want nothing", authorized)
	}
	if got := paymentTransfers(t, env, p.WalletID); got != 0 {
		t.Errorf("the ledger holds %d payments; want 0", got)
	}
	if got := balance(t, env, p.Customer); got != 0 {
		t.Errorf("balance = %d; want 0", got)
	}
	after := env.Snapshot(t)
	// (The first card-funded payment may open the card's clearing
	// account: an account with nothing posted to it.)
	for _, table := range []string{"transfers", "postings"} {
		if after.Tables[table] != before.Tables[table] {
			t.Errorf("the declined charge changed %s: %+v, then %+v", table, before.Tables[table], after.Tables[table])
		}
	}
	checkLedger(t, env)
}

// TestPaymentCodeBalanceThenCard: a balance_then_card code whose balance
// is short pays the balance and the rest from the card, and its receipt and
// history say so.
func TestPaymentCodeBalanceThenCard(t *testing.T) {
	t.Parallel()
	env, issuer := startWithIssuer(t)
	p := env.NewPayer(t, 300)
	key := env.NewFundedCodeKey(t, p, "balance_then_card")
	m := env.NewMerchant(t, map[string]any{"name": "Split Sushi"})
	issuer.calls()

	orderID := chargePaid(t, env, m, key.Code(env.Clock.Now()), 1000)
	if authorized, _ := issuer.calls(); len(authorized) != 1 || authorized[0] != 700 {
		t.Errorf("issuer authorized %v; want [700]", authorized)
	}
	if got := balance(t, env, p.Customer); got != 0 {
		t.Errorf("balance after the split = %d; want 0", got)
	}
	mv := latestMovement(t, env, p.Customer)
	if mv.Type != "payment" || mv.Amount != -1000 || mv.Funding != "balance_then_card" || mv.CardAmount != -700 {
		t.Errorf("history = %+v; want -1000 funded balance_then_card, -700 of it from the card", mv)
	}
	if rc := orderReceipt(t, env, m, orderID); rc.Funding != "balance_then_card" || rc.Way != merchant.WayPaymentCode {
		t.Errorf("receipt = %+v; want funding balance_then_card, way payment_code", rc)
	}

	// With the balance enough, the same key pays from the balance alone.
	env.TopUp(t, p.Customer, p.CardID, 500)
	issuer.calls()
	env.Clock.Advance(wallet.CodeStep)
	chargePaid(t, env, m, key.Code(env.Clock.Now()), 400)
	if authorized, _ := issuer.calls(); len(authorized) != 0 {
		t.Errorf("issuer authorized %v; want nothing", authorized)
	}
	if mv := latestMovement(t, env, p.Customer); mv.Funding != "balance" || mv.BalanceAfter != 100 {
		t.Errorf("history = %+v; want funded by balance, 100 left", mv)
	}
	checkLedger(t, env)
}

// TestShiftSummaryByWay: a terminal's scanned order and code charge are
// summed each under its way, the static QR payment (which has no terminal)
// under none, and the summary with the static payment is what the ledger
// moved on the merchant's account.
func TestShiftSummaryByWay(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, map[string]any{"name": "Three Ways", "fee_bps": 60})
	p := env.NewPayer(t, 10_000)
	key := env.NewCodeKey(t, p)
	start := time.Now().Add(-time.Minute)

	o := env.CreateOrder(t, k, 2000) // terminal POS9, as Charge's
	env.Pay(t, p, o.QRPayload)
	var m merchant.Merchant
	env.Signed(t, k, "GET", "/v1/merchant", nil).JSON(t, &m)
	if r := env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": m.StaticQRPayload, "card_id": p.CardID, "amount": 800},
		p.Idem("static-way")...); r.Status != http.StatusCreated {
		t.Fatalf("static pay = %d %s", r.Status, r.Body)
	}
	codeOrder := chargePaid(t, env, k, key.Code(env.Clock.Now()), 1500)
	env.Refund(t, k, codeOrder, 500)

	fees := map[string]int64{}
	var staticFee int64
	rows, err := env.Pool.Query(context.Background(), `SELECT id::text, static, fee, fee_refunded FROM orders WHERE merchant_id = $1`, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var static bool
		var fee, feeRefunded int64
		if err := rows.Scan(&id, &static, &fee, &feeRefunded); err != nil {
			t.Fatal(err)
		}
		if static {
			staticFee = fee
		}
		fees[id] = fee - feeRefunded
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sum := shiftSummary(t, env, k, "POS9", start, time.Now().Add(time.Minute))
	var codeRefundFee int64
	if err := env.Pool.QueryRow(context.Background(), `SELECT fee_refunded FROM refunds WHERE order_id = $1`, codeOrder).
		Scan(&codeRefundFee); err != nil {
		t.Fatal(err)
	}
	dynamic := merchant.WayTotals{Payments: 1, Gross: 2000, FeesCharged: fees[o.ID], Fees: fees[o.ID], Net: 2000 - fees[o.ID]}
	code := merchant.WayTotals{Payments: 1, Gross: 1500, Refunds: 1, Refunded: 500, FeesCharged: fees[codeOrder] + codeRefundFee,
		FeesRefunded: codeRefundFee, Fees: fees[codeOrder], Net: 1500 - 500 - fees[codeOrder]}
	want := []merchant.WaySummary{{Way: "dynamic_qr", WayTotals: dynamic}, {Way: "static_qr"}, {Way: "payment_code", WayTotals: code}}
	if fmt.Sprint(sum.Ways) != fmt.Sprint(want) {
		t.Errorf("ways = %+v;\nwant %+v", sum.Ways, want)
	}
	if sum.Payments != 2 || sum.Gross != 3500 || sum.Net != dynamic.Net+code.Net || sum.Fees != dynamic.Fees+code.Fees {
		t.Errorf("summary = %+v; want the two ways' totals", sum.WayTotals)
	}
	var merchantBalance int64
	if err := env.Pool.QueryRow(context.Background(), `SELECT a.balance FROM accounts a JOIN merchants m ON m.account_id = a.id
		WHERE m.id = $1`, m.ID).
		Scan(&merchantBalance); err != nil {
		t.Fatal(err)
	}
	if want := sum.Net + 800 - staticFee; merchantBalance != want {
		t.Errorf("merchant account = %d; want the summary's net and the static payment's, %d", merchantBalance, want)
	}
	checkLedger(t, env)
}

// TestPaymentCodeCardPaysOnce charges one card-funded code many times at
// once: one charge pays, and the issuer is asked to approve exactly once.
func TestPaymentCodeCardPaysOnce(t *testing.T) {
	t.Parallel()
	env, issuer := startWithIssuer(t)
	p := env.NewPayer(t, 0)
	key := env.NewFundedCodeKey(t, p, "card")
	ma := env.NewMerchant(t, map[string]any{"name": "Card Once A"})
	mb := env.NewMerchant(t, map[string]any{"name": "Card Once B"})
	issuer.calls()
	code := key.Code(env.Clock.Now())

	const n = 8
	resps := make([]gatewaytest.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := ma
			if i%2 == 1 {
				m = mb
			}
			resps[i] = env.Charge(t, m, code, 1300)
		}()
	}
	wg.Wait()
	paid := 0
	for i, r := range resps {
		switch {
		case r.Status == http.StatusCreated:
			paid++
		case r.Status == http.StatusConflict && r.Code() == "payment_code_used":
		default:
			t.Errorf("charge %d = %d %s; want 201 or 409 payment_code_used", i, r.Status, r.Body)
		}
	}
	if paid != 1 {
		t.Errorf("%d charges paid; want exactly 1", paid)
	}
	if authorized, _ := issuer.calls(); len(authorized) != 1 || authorized[0] != 1300 {
		t.Errorf("issuer authorized %v; want [1300]", authorized)
	}
	if got := paymentTransfers(t, env, p.WalletID); got != 1 {
		t.Errorf("the ledger holds %d payments; want 1", got)
	}
	if got := balance(t, env, p.Customer); got != 0 {
		t.Errorf("balance = %d; want 0", got)
	}
	checkLedger(t, env)
}
