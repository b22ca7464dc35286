package gatewaytest

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

var seq atomic.Int64

// Password is every test customer's login password.
const Password = "correct horse battery"

// Customer is a registered, logged-in wallet, signed in from DeviceID.
type Customer struct {
	Phone, WalletID, Token, DeviceID string
}

// Auth is the customer's session header.
func (c Customer) Auth() []string { return []string{"Authorization", "Bearer " + c.Token} }

// Idem is the session header with an Idempotency-Key.
func (c Customer) Idem(key string) []string { return append(c.Auth(), "Idempotency-Key", key) }

// DeviceID is the device a test customer registers and signs in from.
func DeviceID(phone string) string { return "test-device-" + strings.TrimPrefix(phone, "+") }

// NewCustomer registers a wallet with a fresh phone number (answering the
// one-time code) from a fresh device, and logs it in from that device.
func (e *Env) NewCustomer(t testing.TB) Customer {
	t.Helper()
	phone := fmt.Sprintf("+86137%08d", seq.Add(1))
	c := Customer{Phone: phone, DeviceID: DeviceID(phone)}
	if r := e.DoOTP(t, "POST", "/v1/wallet/customers", map[string]any{"phone": c.Phone, "password": Password,
		"device_id": c.DeviceID}); r.Status != http.StatusCreated {
		t.Fatalf("register %s = %d %s", c.Phone, r.Status, r.Body)
	}
	r := e.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": c.Phone, "password": Password, "device_id": c.DeviceID})
	if r.Status != http.StatusCreated {
		t.Fatalf("login %s = %d %s", c.Phone, r.Status, r.Body)
	}
	var s struct {
		Token    string `json:"token"`
		WalletID string `json:"wallet_id"`
	}
	r.JSON(t, &s)
	c.Token, c.WalletID = s.Token, s.WalletID
	return c
}

// BindCard binds a card number (valid until 2099), answering the one-time
// code, and fails the test unless it is bound; the response holds the card.
func (e *Env) BindCard(t testing.TB, c Customer, number string) Response {
	t.Helper()
	r := e.DoOTP(t, "POST", "/v1/wallet/cards", map[string]any{"number": number, "exp_month": 12, "exp_year": 2099,
		"holder_name": "Li Lei"}, c.Auth()...)
	if r.Status != http.StatusCreated {
		t.Fatalf("bind card = %d %s", r.Status, r.Body)
	}
	return r
}

// PIN is the payment PIN NewPayer sets; TopUp sends it, since a top-up
// above the PIN threshold needs it.
const PIN = "135790"

// TopUp tops the wallet up from a card (with the PIN PIN, which only
// top-ups above the threshold read) and fails the test unless it succeeds;
// the response holds the movement.
func (e *Env) TopUp(t testing.TB, c Customer, cardID string, amount int64) Response {
	t.Helper()
	r := e.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": cardID, "amount": amount, "pin": PIN},
		c.Idem(fmt.Sprint("topup-", seq.Add(1)))...)
	if r.Status != http.StatusCreated {
		t.Fatalf("top up = %d %s", r.Status, r.Body)
	}
	return r
}

// SetPIN sets the payment PIN (no PIN set before) and fails the test
// otherwise.
func (e *Env) SetPIN(t testing.TB, c Customer, pin string) {
	t.Helper()
	if r := e.Do(t, "PUT", "/v1/wallet/pin", map[string]string{"pin": pin}, c.Auth()...); r.Status != http.StatusNoContent {
		t.Fatalf("set pin = %d %s", r.Status, r.Body)
	}
}

// Payer is a customer with a bound card, a balance and a PIN.
type Payer struct {
	Customer
	CardID, PIN string
}

// NewPayer registers a wallet, binds a test card, tops it up with funds
// and sets the PIN 135790.
func (e *Env) NewPayer(t testing.TB, funds int64) Payer {
	t.Helper()
	p := Payer{Customer: e.NewCustomer(t), PIN: PIN}
	var card struct {
		ID string `json:"id"`
	}
	e.BindCard(t, p.Customer, "4111111111111111").JSON(t, &card)
	p.CardID = card.ID
	e.SetPIN(t, p.Customer, p.PIN)
	if funds > 0 {
		e.TopUp(t, p.Customer, p.CardID, funds)
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
