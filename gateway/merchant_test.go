package gateway_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/merchant/emv"
	"github.com/qrpay/qrpay/payment"
	"github.com/qrpay/qrpay/sdk"
	"github.com/qrpay/qrpay/wallet"
)

func createOrder(t *testing.T, env *gatewaytest.Env, k gatewaytest.MerchantKey, no string, amount int64, extra ...map[string]any) merchant.Order {
	t.Helper()
	body := map[string]any{"merchant_order_no": no, "amount": amount, "description": "2 coffees", "terminal_id": "POS1"}
	for _, e := range extra {
		for k, v := range e {
			body[k] = v
		}
	}
	r := env.Signed(t, k, "POST", "/v1/orders", body, "Idempotency-Key", "order-"+no)
	if r.Status != http.StatusCreated {
		t.Fatalf("create order %s = %d %s", no, r.Status, r.Body)
	}
	var o merchant.Order
	r.JSON(t, &o)
	return o
}

// payer is a wallet with a card and money on it, ready to pay.
type payer struct {
	customer
	card wallet.Card
}

func newPayer(t *testing.T, env *gatewaytest.Env, funds int64) payer {
	t.Helper()
	c := newCustomer(t, env)
	card := bindCard(t, env, c, "4111111111111111")
	setPIN(t, env, c, "135790") // a top-up above the threshold needs it
	if funds > 0 {
		topUp(t, env, c, card.ID, funds)
	}
	return payer{customer: c, card: card}
}

func (p payer) pay(t *testing.T, env *gatewaytest.Env, payload, key string) gatewaytest.Response {
	t.Helper()
	return env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": payload, "card_id": p.card.ID, "pin": "135790"}, p.Idem(key)...)
}

// webhookReceiver records signed deliveries, failing the first fail of them.
type webhookReceiver struct {
	*httptest.Server
	secret string
	mu     sync.Mutex
	fail   int
	events []merchant.Event
	bad    []string
}

func newReceiver(t *testing.T, fail int) *webhookReceiver {
	w := &webhookReceiver{fail: fail}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.fail > 0 {
			w.fail--
			rw.WriteHeader(http.StatusInternalServerError)
			return
		}
		// An independent check of the signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>.
		var ts, sig string
		for _, part := range strings.Split(r.Header.Get("Qrpay-Signature"), ",") {
			k, v, _ := strings.Cut(part, "=")
			switch k {
			case "t":
				ts = v
			case "v1":
				sig = v
			}
		}
		mac := hmac.New(sha256.New, []byte(w.secret))
		mac.Write([]byte(ts + "." + string(body)))
		if !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(sig)) {
			w.bad = append(w.bad, r.Header.Get("Qrpay-Signature"))
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		var e merchant.Event
		if err := json.Unmarshal(body, &e); err != nil {
			w.bad = append(w.bad, "undecodable: "+string(body))
		}
		w.events = append(w.events, e)
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *webhookReceiver) waitFor(t *testing.T, env *gatewaytest.Env, n int, advance time.Duration) []merchant.Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		w.mu.Lock()
		got := append([]merchant.Event(nil), w.events...)
		bad := append([]string(nil), w.bad...)
		w.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("badly signed webhooks: %v", bad)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d webhooks; want %d", len(got), n)
		}
		if advance > 0 {
			env.Clock.Advance(advance) // make scheduled retries due
		}
		env.Dispatcher.Poke()
		time.Sleep(30 * time.Millisecond)
	}
}

func TestScanToPayWalkThrough(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	hook := newReceiver(t, 0)
	k := env.NewMerchant(t, map[string]any{"webhook_url": hook.URL})
	hook.secret = k.WebhookSecret
	o := createOrder(t, env, k, "POS1-000123", 1200)
	if o.Status != "created" || o.QRPayload == "" || o.QRPNGURL == "" {
		t.Fatalf("order = %+v", o)
	}
	p, err := emv.Decode(o.QRPayload)
	if err != nil {
		t.Fatalf("the order's payload does not decode: %v", err)
	}
	if p.Initiation != "12" || p.Amount != "12.00" || p.Currency != "156" || p.Name != "Blue Bottle Coffee" {
		t.Errorf("payload = %+v; want dynamic, 12.00, CNY (156), the merchant's name", p)
	}
	if _, ok := p.Account(merchant.GUID); !ok {
		t.Errorf("payload has no %s template", merchant.GUID)
	}

	alice := newPayer(t, env, 5000)
	r := env.Do(t, "POST", "/v1/wallet/scan", map[string]any{"qr_payload": o.QRPayload}, alice.Auth()...)
	var scan payment.ScanResult
	r.JSON(t, &scan)
	if r.Status != 200 || scan.MerchantName != "Blue Bottle Coffee" || scan.Amount == nil || *scan.Amount != 1200 || scan.OrderID != o.ID {
		t.Fatalf("scan = %d %s", r.Status, r.Body)
	}
	r = alice.pay(t, env, o.QRPayload, "pay-1")
	if r.Status != http.StatusCreated {
		t.Fatalf("pay = %d %s", r.Status, r.Body)
	}
	var mv wallet.Movement
	r.JSON(t, &mv)
	if mv.Type != "payment" || mv.Amount != -1200 || mv.BalanceAfter != 3800 || mv.Counterparty != "Blue Bottle Coffee" || mv.OrderID != o.ID {
		t.Errorf("payment = %+v", mv)
	}
	// The merchant sees it paid, with the fee: 1200 × 60 bps = 7.2 → 7.
	r = env.Signed(t, k, "GET", "/v1/orders/"+o.ID, nil)
	var paid merchant.Order
	r.JSON(t, &paid)
	if paid.Status != "paid" || paid.Fee != 7 || paid.PaidAt == nil {
		t.Errorf("paid order = %+v", paid)
	}
	events := hook.waitFor(t, env, 1, 0)
	if events[0].Type != "order.paid" || events[0].OrderID != o.ID || events[0].Sequence != 1 || events[0].Data.Order.Status != "paid" {
		t.Errorf("webhook = %+v", events[0])
	}
	// Refund part of it: the wallet gets it back, the order follows.
	r = env.Signed(t, k, "POST", "/v1/orders/"+o.ID+"/refunds", map[string]any{"refund_no": "R1", "amount": 500, "reason": "spilt"}, "Idempotency-Key", "refund-1")
	if r.Status != http.StatusCreated {
		t.Fatalf("refund = %d %s", r.Status, r.Body)
	}
	var refund merchant.Refund
	r.JSON(t, &refund)
	if refund.Amount != 500 || refund.FeeRefunded != 3 { // round(7 × 500 / 1200) = round(2.92) = 3
		t.Errorf("refund = %+v; want 500 with 3 of fee back", refund)
	}
	if got := balance(t, env, alice.customer); got != 4300 {
		t.Errorf("alice after the refund = %d; want 4300", got)
	}
	events = hook.waitFor(t, env, 2, 0)
	if events[1].Type != "order.refunded" || events[1].Sequence != 2 || events[1].Data.Refund == nil || events[1].Data.Order.Status != "partially_refunded" {
		t.Errorf("refund webhook = %+v", events[1])
	}
	// The PNG is served separately.
	r = env.Signed(t, k, "GET", "/v1/orders/"+o.ID+"/qr.png", nil)
	if r.Status != 200 || r.Header.Get("Content-Type") != "image/png" || len(r.Body) < 100 {
		t.Errorf("qr.png = %d %s, %d bytes", r.Status, r.Header.Get("Content-Type"), len(r.Body))
	}
	checkLedger(t, env)
	var merchantBalance, feeBalance int64
	env.Pool.QueryRow(context.Background(), `SELECT a.balance FROM accounts a JOIN merchants m ON m.account_id = a.id WHERE m.id = $1`, k.MerchantID).Scan(&merchantBalance)
	env.Pool.QueryRow(context.Background(), `SELECT sum(balance)::bigint FROM accounts WHERE kind = 'fee'`).Scan(&feeBalance)
	if merchantBalance != 1193-497 || feeBalance != 4 {
		t.Errorf("merchant = %d, fee = %d; want %d and 4", merchantBalance, feeBalance, 1193-497)
	}
}

// TestOneQRPaidOnce: twenty wallets pay the same QR at the same moment.
func TestOneQRPaidOnce(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	o := createOrder(t, env, k, "race-1", 900)
	payers := make([]payer, 20)
	for i := range payers {
		payers[i] = newPayer(t, env, 1000)
	}
	rs := concurrently(t, env, len(payers), "POST", "/v1/wallet/payments",
		func(i int) any { return map[string]any{"qr_payload": o.QRPayload, "card_id": payers[i].card.ID} },
		func(i int) []string { return payers[i].Idem("race") })
	paid := 0
	for _, r := range rs {
		switch {
		case r.Status == 201:
			paid++
		case r.Status == 409 && r.Code() == "order_already_paid":
		default:
			t.Errorf("pay = %d %s; want 201 or 409 order_already_paid", r.Status, r.Body)
		}
	}
	if paid != 1 {
		t.Errorf("successful payments = %d; want exactly 1", paid)
	}
	var total int64
	for _, p := range payers {
		total += balance(t, env, p.customer)
	}
	if total != 20*1000-900 {
		t.Errorf("wallets hold %d; want %d", total, 20*1000-900)
	}
	if n := countTransfers(t, env, "payment"); n != 1 {
		t.Errorf("payment transfers = %d; want 1", n)
	}
	checkLedger(t, env)
}

// TestPayIdempotentUnderConcurrency sends one payment 50 times at once.
func TestPayIdempotentUnderConcurrency(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	o := createOrder(t, env, k, "idem-1", 300)
	p := newPayer(t, env, 1000)
	rs := concurrently(t, env, 50, "POST", "/v1/wallet/payments",
		func(int) any { return map[string]any{"qr_payload": o.QRPayload, "card_id": p.card.ID} },
		func(int) []string { return p.Idem("one-key") })
	var first string
	for _, r := range rs {
		switch {
		case r.Status == 201:
			if first == "" {
				first = string(r.Body)
			} else if first != string(r.Body) {
				t.Errorf("two different successes:\n%s\n%s", first, r.Body)
			}
		case r.Status == 409 && r.Code() == "idempotency_in_progress":
		default:
			t.Errorf("pay = %d %s", r.Status, r.Body)
		}
	}
	if got := balance(t, env, p.customer); got != 700 {
		t.Errorf("balance = %d; want 700", got)
	}
	if n := countTransfers(t, env, "payment"); n != 1 {
		t.Errorf("payment transfers = %d; want 1", n)
	}
	var lv wallet.LimitsView
	env.Do(t, "GET", "/v1/wallet/cards/"+p.card.ID+"/limits", nil, p.Auth()...).JSON(t, &lv)
	if lv.UsedToday.Count != 2 || lv.UsedToday.Amount != 1300 { // the top-up and one payment
		t.Errorf("card usage = %+v; want the top-up and exactly one payment", lv.UsedToday)
	}
}

func TestOrderStatesRefuseToPay(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	p := newPayer(t, env, 100000)
	closed := createOrder(t, env, k, "closed", 100)
	if r := env.Signed(t, k, "POST", "/v1/orders/"+closed.ID+"/close", nil); r.Status != 200 {
		t.Fatalf("close = %d %s", r.Status, r.Body)
	}
	if r := p.pay(t, env, closed.QRPayload, "closed"); r.Status != 409 || r.Code() != "order_closed" {
		t.Errorf("pay a closed order = %d %s; want 409 order_closed", r.Status, r.Body)
	}
	expiring := createOrder(t, env, k, "expiring", 100, map[string]any{"expires_in": 60})
	env.Clock.Advance(61 * time.Second)
	if r := p.pay(t, env, expiring.QRPayload, "expired"); r.Status != 410 || r.Code() != "order_expired" {
		t.Errorf("pay an expired order = %d %s; want 410 order_expired", r.Status, r.Body)
	}
	r := env.Signed(t, k, "GET", "/v1/orders/"+expiring.ID, nil)
	if !strings.Contains(string(r.Body), `"status":"expired"`) {
		t.Errorf("expired order reads %s; want status expired", r.Body)
	}
	// Paying by order id meets the same rule.
	r = env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"order_id": expiring.ID, "card_id": p.card.ID}, p.Idem("by-id")...)
	if r.Code() != "order_expired" {
		t.Errorf("pay an expired order by id = %s", r.Body)
	}
	// Tampering: change the amount and fix the CRC; the MAC still refuses it.
	good := createOrder(t, env, k, "tamper", 30000)
	fields, _ := emv.Decode(good.QRPayload)
	var tampered []emv.Field
	for _, f := range fields.Fields {
		switch f.Tag {
		case "63":
		case "54":
			tampered = append(tampered, emv.Field{Tag: "54", Value: "1.00"})
		default:
			tampered = append(tampered, f)
		}
	}
	forged, err := emv.Encode(tampered)
	if err != nil {
		t.Fatal(err)
	}
	if r := p.pay(t, env, forged, "forged"); r.Status != 400 || r.Code() != "qr_invalid" {
		t.Errorf("pay a forged payload = %d %s; want 400 qr_invalid", r.Status, r.Body)
	}
	// Our own payload without its merchant category code: the MAC does not
	// cover 52, so only the specification's rules stand between the wallet
	// and a code that `qrpay qr decode` merely warns about.
	var no52 []emv.Field
	for _, f := range fields.Fields {
		if f.Tag != "52" && f.Tag != "63" {
			no52 = append(no52, f)
		}
	}
	nonConforming, err := emv.Encode(no52)
	if err != nil {
		t.Fatal(err)
	}
	if r := env.Do(t, "POST", "/v1/wallet/scan", map[string]any{"qr_payload": nonConforming}, p.Auth()...); r.Status != 400 || r.Code() != "qr_invalid" || !strings.Contains(string(r.Body), "tag 52") {
		t.Errorf("scan a payload without tag 52 = %d %s; want 400 qr_invalid naming tag 52", r.Status, r.Body)
	}
	if r := p.pay(t, env, nonConforming, "no-52"); r.Status != 400 || r.Code() != "qr_invalid" {
		t.Errorf("pay a payload without tag 52 = %d %s; want 400 qr_invalid", r.Status, r.Body)
	}
	pix := "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
	if r := env.Do(t, "POST", "/v1/wallet/scan", map[string]any{"qr_payload": pix}, p.Auth()...); r.Status != 400 || !strings.Contains(string(r.Body), "another payment scheme") {
		t.Errorf("scan a PIX code = %d %s; want 400 naming another scheme", r.Status, r.Body)
	}
	badCRC := good.QRPayload[:len(good.QRPayload)-1] + "0"
	if strings.HasSuffix(good.QRPayload, "0") {
		badCRC = good.QRPayload[:len(good.QRPayload)-1] + "1"
	}
	if r := env.Do(t, "POST", "/v1/wallet/scan", map[string]any{"qr_payload": badCRC}, p.Auth()...); r.Code() != "qr_invalid" {
		t.Errorf("scan with a bad CRC = %s", r.Body)
	}
	// Above the PIN threshold (200.00) the PIN is required.
	r = env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": good.QRPayload, "card_id": p.card.ID}, p.Idem("no-pin")...)
	if r.Status != 403 || r.Code() != "pin_required" {
		t.Errorf("pay 300.00 without a PIN = %d %s; want 403 pin_required", r.Status, r.Body)
	}
	// A suspended merchant can be neither paid nor create orders.
	env.Do(t, "POST", "/v1/admin/merchants/"+k.MerchantID+"/suspend", nil, "Authorization", "Bearer "+gatewaytest.OperatorToken)
	if r := p.pay(t, env, good.QRPayload, "suspended"); r.Status != 403 || r.Code() != "merchant_suspended" {
		t.Errorf("pay a suspended merchant = %d %s", r.Status, r.Body)
	}
	if r := env.Signed(t, k, "POST", "/v1/orders", map[string]any{"merchant_order_no": "x", "amount": 1}, "Idempotency-Key", "s"); r.Code() != "merchant_suspended" {
		t.Errorf("suspended merchant creates an order = %d %s", r.Status, r.Body)
	}
	if got := balance(t, env, p.customer); got != 100000 {
		t.Errorf("balance = %d; want 100000 untouched", got)
	}
}

func TestStaticQR(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, map[string]any{"fee_bps": 100})
	var m merchant.Merchant
	env.Signed(t, k, "GET", "/v1/merchant", nil).JSON(t, &m)
	p, err := emv.Decode(m.StaticQRPayload)
	if err != nil || p.Initiation != "11" || p.Amount != "" {
		t.Fatalf("static payload %q: %+v, %v", m.StaticQRPayload, p, err)
	}
	payer := newPayer(t, env, 10000)
	r := env.Do(t, "POST", "/v1/wallet/scan", map[string]any{"qr_payload": m.StaticQRPayload}, payer.Auth()...)
	if !strings.Contains(string(r.Body), `"static":true`) {
		t.Errorf("scan static = %s", r.Body)
	}
	r = env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": m.StaticQRPayload, "card_id": payer.card.ID}, payer.Idem("no-amount")...)
	if r.Status != 400 {
		t.Errorf("static pay without amount = %d %s; want 400", r.Status, r.Body)
	}
	r = env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": m.StaticQRPayload, "card_id": payer.card.ID, "amount": 2500}, payer.Idem("static")...)
	if r.Status != 201 {
		t.Fatalf("static pay = %d %s", r.Status, r.Body)
	}
	var mv wallet.Movement
	r.JSON(t, &mv)
	r = env.Signed(t, k, "GET", "/v1/orders/"+mv.OrderID, nil)
	var o merchant.Order
	r.JSON(t, &o)
	if o.Status != "paid" || o.Amount != 2500 || o.Fee != 25 {
		t.Errorf("static payment's order = %+v", o)
	}
	checkLedger(t, env)
}

func TestRefundRules(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	p := newPayer(t, env, 5000)
	o := createOrder(t, env, k, "refund-rules", 1001)
	if r := p.pay(t, env, o.QRPayload, "pay"); r.Status != 201 {
		t.Fatalf("pay = %d %s", r.Status, r.Body)
	}
	refund := func(no string, amount int64) gatewaytest.Response {
		return env.Signed(t, k, "POST", "/v1/orders/"+o.ID+"/refunds", map[string]any{"refund_no": no, "amount": amount},
			"Idempotency-Key", fmt.Sprintf("%s-%d", no, amount))
	}
	unpaid := createOrder(t, env, k, "unpaid", 100)
	if r := env.Signed(t, k, "POST", "/v1/orders/"+unpaid.ID+"/refunds", map[string]any{"refund_no": "x", "amount": 1}, "Idempotency-Key", "u"); r.Status != 409 {
		t.Errorf("refund an unpaid order = %d %s; want 409", r.Status, r.Body)
	}
	if r := refund("too-much", 1002); r.Status != 422 || r.Code() != "refund_exceeds_payment" {
		t.Errorf("refund more than paid = %d %s", r.Status, r.Body)
	}
	// Ten concurrent refunds of 150 against 1001: at most six fit.
	rs := make([]gatewaytest.Response, 10)
	var wg sync.WaitGroup
	for i := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs[i] = env.Signed(t, k, "POST", "/v1/orders/"+o.ID+"/refunds", map[string]any{"refund_no": "c" + strconv.Itoa(i), "amount": 150},
				"Idempotency-Key", "c"+strconv.Itoa(i))
		}()
	}
	wg.Wait()
	ok := 0
	for _, r := range rs {
		switch {
		case r.Status == 201:
			ok++
		case r.Code() == "refund_exceeds_payment":
		default:
			t.Errorf("concurrent refund = %d %s", r.Status, r.Body)
		}
	}
	if ok != 6 {
		t.Errorf("concurrent refunds that succeeded = %d; want 6 (6 × 150 ≤ 1001 < 7 × 150)", ok)
	}
	// The same refund number again returns the same refund; with another amount it conflicts.
	first := refund("last", 101)
	again := env.Signed(t, k, "POST", "/v1/orders/"+o.ID+"/refunds", map[string]any{"refund_no": "last", "amount": 101}, "Idempotency-Key", "another-key")
	if first.Status != 201 || again.Status != 201 || string(first.Body) != string(again.Body) {
		t.Errorf("refund_no repeated: %d %s / %d %s; want the same refund", first.Status, first.Body, again.Status, again.Body)
	}
	if r := refund("last", 5); r.Status != 409 {
		t.Errorf("refund_no with another amount = %d %s; want 409", r.Status, r.Body)
	}
	var after merchant.Order
	env.Signed(t, k, "GET", "/v1/orders/"+o.ID, nil).JSON(t, &after)
	if after.Status != "refunded" || after.RefundedAmount != 1001 {
		t.Errorf("order after refunds = %+v; want refunded 1001", after)
	}
	var feeBack int64
	env.Pool.QueryRow(context.Background(), `SELECT sum(fee_refunded) FROM refunds WHERE order_id = $1`, o.ID).Scan(&feeBack)
	if feeBack != after.Fee {
		t.Errorf("fee refunded in all = %d; want the whole fee %d", feeBack, after.Fee)
	}
	if got := balance(t, env, p.customer); got != 5000 {
		t.Errorf("wallet after a full refund = %d; want 5000", got)
	}
	checkLedger(t, env)
}

func TestMerchantIsolation(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	a, b := env.NewMerchant(t, nil), env.NewMerchant(t, map[string]any{"name": "Other Shop"})
	o := createOrder(t, env, a, "a-1", 800)
	p := newPayer(t, env, 1000)
	p.pay(t, env, o.QRPayload, "pay")
	for _, tt := range []struct{ method, path string }{
		{"GET", "/v1/orders/" + o.ID},
		{"GET", "/v1/orders/by-number/a-1"},
		{"POST", "/v1/orders/" + o.ID + "/close"},
		{"GET", "/v1/orders/" + o.ID + "/qr.png"},
		{"GET", "/v1/orders/" + o.ID + "/refunds"},
	} {
		if r := env.Signed(t, b, tt.method, tt.path, nil); r.Status != 404 {
			t.Errorf("B: %s %s = %d %s; want 404", tt.method, tt.path, r.Status, r.Body)
		}
	}
	if r := env.Signed(t, b, "POST", "/v1/orders/"+o.ID+"/refunds", map[string]any{"refund_no": "steal", "amount": 800}, "Idempotency-Key", "steal"); r.Status != 404 {
		t.Errorf("B refunds A's order = %d %s; want 404", r.Status, r.Body)
	}
	var page merchant.OrderPage
	env.Signed(t, b, "GET", "/v1/orders", nil).JSON(t, &page)
	if len(page.Data) != 0 {
		t.Errorf("B lists %d orders; want none of A's", len(page.Data))
	}
	var events merchant.EventPage
	env.Signed(t, b, "GET", "/v1/webhooks/events", nil).JSON(t, &events)
	if len(events.Data) != 0 {
		t.Errorf("B lists %d events; want none of A's", len(events.Data))
	}
	if got := balance(t, env, p.customer); got != 200 {
		t.Errorf("payer = %d; want 200 (no refund went through)", got)
	}
}

func TestOrderListAndLookups(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	for i := range 5 {
		createOrder(t, env, k, fmt.Sprint("list-", i), int64(100+i))
	}
	if r := env.Signed(t, k, "POST", "/v1/orders", map[string]any{"merchant_order_no": "list-0", "amount": 5}, "Idempotency-Key", "dup"); r.Status != 409 {
		t.Errorf("another order under a used merchant_order_no = %d %s; want 409", r.Status, r.Body)
	}
	// The same order again under a new key (the first answer was lost):
	// the first order, not a second one.
	first := env.Signed(t, k, "GET", "/v1/orders/by-number/list-0", nil)
	again := env.Signed(t, k, "POST", "/v1/orders", map[string]any{"merchant_order_no": "list-0", "amount": 100,
		"description": "2 coffees", "terminal_id": "POS1"}, "Idempotency-Key", "lost-answer")
	// Creating answers the order with its checkout display link besides.
	sameOrder := strings.TrimSuffix(string(first.Body), "}") + `,"display_url":"/pay/display/`
	if again.Status != 201 || !strings.Contains(string(again.Body), `"id":"`) || !strings.HasPrefix(string(again.Body), sameOrder) {
		t.Errorf("the same order again = %d %s; want the first order %s", again.Status, again.Body, first.Body)
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		var page merchant.OrderPage
		env.Signed(t, k, "GET", "/v1/orders?limit=2&starting_after="+cursor, nil).JSON(t, &page)
		for _, o := range page.Data {
			seen = append(seen, o.MerchantOrderNo)
		}
		if !page.HasMore {
			break
		}
		cursor = page.NextCursor
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if strings.Join(seen, ",") != "list-4,list-3,list-2,list-1,list-0" {
		t.Errorf("paged orders = %v; want newest first, each once", seen)
	}
	r := env.Signed(t, k, "GET", "/v1/orders/by-number/list-3", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"amount":103`) {
		t.Errorf("by number = %d %s", r.Status, r.Body)
	}
	for _, bad := range []map[string]any{
		{"merchant_order_no": "", "amount": 1},
		{"merchant_order_no": "x1", "amount": 0},
		{"merchant_order_no": "x2", "amount": -5},
		{"merchant_order_no": "x3", "amount": 1, "currency": "USD"},
		{"merchant_order_no": "x4", "amount": 1, "expires_in": 86401},
		{"merchant_order_no": "x5", "amount": 1, "expires_in": 5},
		{"merchant_order_no": strings.Repeat("n", 65), "amount": 1},
		{"merchant_order_no": "x6", "amount": 1_000_000_000_000}, // 10000000000.00: 14 characters, over tag 54's 13
	} {
		if r := env.Signed(t, k, "POST", "/v1/orders", bad, "Idempotency-Key", fmt.Sprint(bad)); r.Status != 400 {
			t.Errorf("create %v = %d %s; want 400", bad, r.Status, r.Body)
		}
	}
}

func TestWebhookRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	hook := newReceiver(t, 3) // the first three deliveries fail
	k := env.NewMerchant(t, map[string]any{"webhook_url": hook.URL})
	hook.secret = k.WebhookSecret
	p := newPayer(t, env, 1000)
	o := createOrder(t, env, k, "hook-1", 100)
	p.pay(t, env, o.QRPayload, "pay")
	closed := createOrder(t, env, k, "hook-2", 100)
	env.Signed(t, k, "POST", "/v1/orders/"+closed.ID+"/close", nil)
	events := hook.waitFor(t, env, 2, 40*time.Second)
	types := map[string]bool{}
	for _, e := range events {
		types[e.Type] = true
	}
	if !types["order.paid"] || !types["order.closed"] {
		t.Errorf("received %v; want order.paid and order.closed", types)
	}
	var ev merchant.EventDelivery
	var page merchant.EventPage
	env.Signed(t, k, "GET", "/v1/webhooks/events?order_id="+o.ID, nil).JSON(t, &page)
	if len(page.Data) != 1 {
		t.Fatalf("events of the order = %d; want 1", len(page.Data))
	}
	env.Signed(t, k, "GET", "/v1/webhooks/events/"+page.Data[0].ID, nil).JSON(t, &ev)
	if ev.Delivery.Status != "delivered" || len(ev.Delivery.Attempts) < 1 {
		t.Errorf("delivery = %+v; want delivered with its attempts logged", ev.Delivery)
	}
	// Manual redelivery sends it once more.
	before := len(events)
	if r := env.Signed(t, k, "POST", "/v1/webhooks/events/"+ev.ID+"/redeliver", nil); r.Status != 202 {
		t.Errorf("redeliver = %d %s", r.Status, r.Body)
	}
	hook.waitFor(t, env, before+1, 0)
}

// TestWebhookRetryScheduleIsTheDispatchers: an event is tried once and
// once more after each pause of the dispatcher's schedule, then given up.
func TestWebhookRetryScheduleIsTheDispatchers(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) {
		o.WebhookRetrySchedule = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}
	})
	hook := newReceiver(t, 1000) // every delivery fails
	k := env.NewMerchant(t, map[string]any{"webhook_url": hook.URL})
	hook.secret = k.WebhookSecret
	o := createOrder(t, env, k, "hook-given-up", 100)
	if r := env.Signed(t, k, "POST", "/v1/orders/"+o.ID+"/close", nil); r.Status != http.StatusOK {
		t.Fatalf("close = %d %s", r.Status, r.Body)
	}
	var ev merchant.EventDelivery
	for deadline := time.Now().Add(15 * time.Second); ; {
		var page merchant.EventPage
		env.Signed(t, k, "GET", "/v1/webhooks/events?order_id="+o.ID, nil).JSON(t, &page)
		if len(page.Data) == 1 {
			env.Signed(t, k, "GET", "/v1/webhooks/events/"+page.Data[0].ID, nil).JSON(t, &ev)
			if ev.Delivery.Status == "failed" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery = %+v; want failed within 15 s", ev.Delivery)
		}
		env.Dispatcher.Poke()
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(ev.Delivery.Attempts); n != 3 {
		t.Errorf("attempts = %d; want 3 (once, then after each of the two pauses)", n)
	}
	if ev.Delivery.NextAttemptAt != nil {
		t.Errorf("a given-up event's next attempt = %v; want none", ev.Delivery.NextAttemptAt)
	}
}

func TestSignedRequests(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil, "pos")
	fin := env.NewMerchant(t, nil, "finance")
	if r := env.Signed(t, k, "GET", "/v1/merchant", nil); r.Status != 200 {
		t.Fatalf("signed GET = %d %s", r.Status, r.Body)
	}
	if r := env.Signed(t, fin, "GET", "/v1/orders", nil); r.Status != 403 || r.Code() != "forbidden" {
		t.Errorf("finance key on orders = %d %s; want 403", r.Status, r.Body)
	}
	// Rotation: both keys work during the grace; revocation stops at once.
	r := env.Do(t, "POST", "/v1/admin/merchants/"+k.MerchantID+"/keys/"+k.KeyID+"/rotate", map[string]any{"grace_seconds": 3600},
		"Authorization", "Bearer "+gatewaytest.OperatorToken)
	var next merchant.APIKey
	r.JSON(t, &next)
	k2 := gatewaytest.MerchantKey{MerchantID: k.MerchantID, KeyID: next.ID, Secret: next.Secret}
	if r1, r2 := env.Signed(t, k, "GET", "/v1/merchant", nil), env.Signed(t, k2, "GET", "/v1/merchant", nil); r1.Status != 200 || r2.Status != 200 {
		t.Errorf("during rotation: old key %d, new key %d; want both 200", r1.Status, r2.Status)
	}
	env.Clock.Advance(3601 * time.Second)
	if r := env.Signed(t, k, "GET", "/v1/merchant", nil); r.Status != 401 {
		t.Errorf("old key after the grace = %d; want 401", r.Status)
	}
	env.Do(t, "DELETE", "/v1/admin/merchants/"+k.MerchantID+"/keys/"+next.ID, nil, "Authorization", "Bearer "+gatewaytest.OperatorToken)
	if r := env.Signed(t, k2, "GET", "/v1/merchant", nil); r.Status != 401 {
		t.Errorf("revoked key = %d; want 401", r.Status)
	}
}

// TestSignatureTampering changes one thing at a time in a correctly signed
// request: every change is refused with 401, as are an old timestamp and a
// replayed nonce.
func TestSignatureTampering(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	type req struct {
		method, path, body, key, nonce, sig string
		ts                                  int64
	}
	sign := func(r req) req {
		r.sig = sdk.Sign(k.Secret, r.method, r.path, r.ts, r.nonce, []byte(r.body))
		return r
	}
	send := func(r req) gatewaytest.Response {
		var body any
		if r.body != "" {
			body = r.body
		}
		return env.Do(t, r.method, r.path, body, sdk.HeaderKey, r.key, sdk.HeaderTimestamp, strconv.FormatInt(r.ts, 10),
			sdk.HeaderNonce, r.nonce, sdk.HeaderSignature, r.sig, "Idempotency-Key", r.nonce)
	}
	n := 0
	fresh := func() req {
		n++
		return sign(req{method: "POST", path: "/v1/orders?x=1", body: fmt.Sprintf(`{"merchant_order_no":"t-%d","amount":100}`, n),
			key: k.KeyID, nonce: fmt.Sprintf("nonce-%016d", n), ts: env.Clock.Now().Unix()})
	}
	if r := send(fresh()); r.Status != 201 {
		t.Fatalf("a correct request = %d %s", r.Status, r.Body)
	}
	flip := func(s string) string { b := []byte(s); b[len(b)/2] ^= 1; return string(b) }
	tests := []struct {
		name   string
		mutate func(r req) req
	}{
		{"body byte", func(r req) req { r.body = strings.Replace(r.body, "100", "900", 1); return r }},
		{"path", func(r req) req { r.path = "/v1/orders?x=2"; return r }},
		{"method", func(r req) req { r.sig = sdk.Sign(k.Secret, "PUT", r.path, r.ts, r.nonce, []byte(r.body)); return r }},
		{"timestamp", func(r req) req { r.ts++; return r }},
		{"nonce", func(r req) req { r.nonce = flip(r.nonce); return r }},
		{"signature", func(r req) req { r.sig = flip(r.sig); return r }},
		{"key id", func(r req) req { r.key = r.key + "X"; return r }},
		{"no signature", func(r req) req { r.sig = ""; return r }},
		{"old timestamp, signed", func(r req) req { r.ts -= 301; return sign(r) }},
		{"future timestamp, signed", func(r req) req { r.ts += 301; return sign(r) }},
		{"short nonce, signed", func(r req) req { r.nonce = "abc"; return sign(r) }},
	}
	for _, tt := range tests {
		r := send(tt.mutate(fresh()))
		if r.Status != 401 || r.Code() != "unauthorized" {
			t.Errorf("%s changed: %d %s; want 401 unauthorized", tt.name, r.Status, r.Body)
		}
	}
	replay := fresh()
	if r := send(replay); r.Status != 201 {
		t.Fatalf("first send = %d %s", r.Status, r.Body)
	}
	if r := send(replay); r.Status != 401 {
		t.Errorf("replayed nonce = %d %s; want 401", r.Status, r.Body)
	}
	var page merchant.OrderPage
	env.Signed(t, k, "GET", "/v1/orders?limit=100", nil).JSON(t, &page)
	if len(page.Data) != 2 {
		t.Errorf("orders = %d; want only the 2 correctly signed ones", len(page.Data))
	}
}

// TestCloseRacesPay closes orders while wallets pay them: each order ends
// either paid (and the close was refused) or closed (and the payment was
// refused), never both, and no closed order has money behind it.
func TestCloseRacesPay(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	p := newPayer(t, env, 100000)
	for i := range 10 {
		o := createOrder(t, env, k, fmt.Sprint("race-close-", i), 100)
		var pay, closeR gatewaytest.Response
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); pay = p.pay(t, env, o.QRPayload, fmt.Sprint("rc-", i)) }()
		go func() { defer wg.Done(); closeR = env.Signed(t, k, "POST", "/v1/orders/"+o.ID+"/close", nil) }()
		wg.Wait()
		paid, closed := pay.Status == 201, closeR.Status == 200
		if paid == closed {
			t.Errorf("order %d: pay %d %s, close %d %s; want exactly one to succeed", i, pay.Status, pay.Body, closeR.Status, closeR.Body)
		}
		if !paid && pay.Code() != "order_closed" {
			t.Errorf("order %d: refused payment = %s; want order_closed", i, pay.Body)
		}
		var final merchant.Order
		env.Signed(t, k, "GET", "/v1/orders/"+o.ID, nil).JSON(t, &final)
		if (final.Status == "paid") != paid {
			t.Errorf("order %d ended %s; the payment said %d", i, final.Status, pay.Status)
		}
	}
	var closedWithMoney int
	env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE status = 'closed' AND payment_id IS NOT NULL`).Scan(&closedWithMoney)
	if closedWithMoney != 0 {
		t.Errorf("%d closed orders have a payment", closedWithMoney)
	}
	checkLedger(t, env)
}
