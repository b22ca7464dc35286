package gatewaytest

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
)

var seq atomic.Int64

// Payer is a registered wallet with a bound card, a balance and a PIN.
type Payer struct {
	Phone, WalletID, Token, CardID, PIN string
}

// Auth is the payer's session header.
func (p Payer) Auth() []string { return []string{"Authorization", "Bearer " + p.Token} }

// NewPayer registers a wallet, binds a test card, tops it up with funds
// and sets the PIN 135790.
func (e *Env) NewPayer(t testing.TB, funds int64) Payer {
	t.Helper()
	n := seq.Add(1)
	p := Payer{Phone: fmt.Sprintf("+86137%08d", n), PIN: "135790"}
	const password = "correct horse battery"
	if r := e.Do(t, "POST", "/v1/wallet/customers", map[string]string{"phone": p.Phone, "password": password}); r.Status != http.StatusCreated {
		t.Fatalf("register = %d %s", r.Status, r.Body)
	}
	var s struct {
		Token    string `json:"token"`
		WalletID string `json:"wallet_id"`
	}
	e.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": p.Phone, "password": password}).JSON(t, &s)
	p.Token, p.WalletID = s.Token, s.WalletID
	var card struct {
		ID string `json:"id"`
	}
	r := e.Do(t, "POST", "/v1/wallet/cards", map[string]any{"number": "4111111111111111", "exp_month": 12, "exp_year": 2099, "holder_name": "Test Payer"}, p.Auth()...)
	if r.Status != http.StatusCreated {
		t.Fatalf("bind card = %d %s", r.Status, r.Body)
	}
	r.JSON(t, &card)
	p.CardID = card.ID
	if funds > 0 {
		r = e.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": p.CardID, "amount": funds},
			append(p.Auth(), "Idempotency-Key", fmt.Sprint("fund-", n))...)
		if r.Status != http.StatusCreated {
			t.Fatalf("top up = %d %s", r.Status, r.Body)
		}
	}
	if r := e.Do(t, "PUT", "/v1/wallet/pin", map[string]string{"pin": p.PIN}, p.Auth()...); r.Status != http.StatusNoContent {
		t.Fatalf("set pin = %d %s", r.Status, r.Body)
	}
	return p
}

// Pay pays a QR payload (or, when payload looks like an order id, that
// order) and fails the test unless it succeeds; it returns the response.
func (e *Env) Pay(t testing.TB, p Payer, payload string) Response {
	t.Helper()
	r := e.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": payload, "card_id": p.CardID, "pin": p.PIN},
		append(p.Auth(), "Idempotency-Key", fmt.Sprint("pay-", seq.Add(1)))...)
	if r.Status != http.StatusCreated {
		t.Fatalf("pay = %d %s", r.Status, r.Body)
	}
	return r
}

// Order is what tests need of a created order.
type Order struct {
	ID        string `json:"id"`
	QRPayload string `json:"qr_payload"`
	Amount    int64  `json:"amount"`
}

// CreateOrder creates an order for amount and fails the test otherwise.
func (e *Env) CreateOrder(t testing.TB, k MerchantKey, amount int64) Order {
	t.Helper()
	no := fmt.Sprint("T-", seq.Add(1))
	r := e.Signed(t, k, "POST", "/v1/orders", map[string]any{"merchant_order_no": no, "amount": amount, "terminal_id": "POS9"},
		"Idempotency-Key", no)
	if r.Status != http.StatusCreated {
		t.Fatalf("create order = %d %s", r.Status, r.Body)
	}
	var o Order
	r.JSON(t, &o)
	return o
}

// Refund refunds amount of an order and fails the test otherwise.
func (e *Env) Refund(t testing.TB, k MerchantKey, orderID string, amount int64) {
	t.Helper()
	no := fmt.Sprint("R-", seq.Add(1))
	r := e.Signed(t, k, "POST", "/v1/orders/"+orderID+"/refunds", map[string]any{"refund_no": no, "amount": amount}, "Idempotency-Key", no)
	if r.Status != http.StatusCreated {
		t.Fatalf("refund = %d %s", r.Status, r.Body)
	}
}
