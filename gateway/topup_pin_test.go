package gateway_test

import (
	"net/http"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestTopUpAsksForThePINAboveTheThreshold: like a payment, a top-up above
// PIN_THRESHOLD needs the payment PIN; at or below it, none.
func TestTopUpAsksForThePINAboveTheThreshold(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p := env.NewPayer(t, 0)
	topUp := func(key string, body map[string]any) gatewaytest.Response {
		body["card_id"] = p.CardID
		return env.Do(t, "POST", "/v1/wallet/topups", body, p.Idem(key)...)
	}
	if r := topUp("small", map[string]any{"amount": 20000}); r.Status != http.StatusCreated {
		t.Errorf("a top-up at the threshold = %d %s; want 201 without the PIN", r.Status, r.Body)
	}
	if r := topUp("large", map[string]any{"amount": 20001}); r.Status != http.StatusForbidden || r.Code() != "pin_required" {
		t.Errorf("a top-up above the threshold without the PIN = %d %s; want 403 pin_required", r.Status, r.Body)
	}
	if r := topUp("large", map[string]any{"amount": 20001, "pin": "000000"}); r.Code() != "pin_invalid" {
		t.Errorf("with a wrong PIN = %d %s; want pin_invalid", r.Status, r.Body)
	}
	if r := topUp("large", map[string]any{"amount": 20001, "pin": p.PIN}); r.Status != http.StatusCreated {
		t.Errorf("with the PIN = %d %s; want 201", r.Status, r.Body)
	}
	if got := balance(t, env, p.Customer); got != 40001 {
		t.Errorf("balance = %d; want 40001", got)
	}
}
