package gateway_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestBadNoteIsA4xxAndDoesNotOpenTheBreaker: a transfer note holding U+0000
// is bad input. It must get a 4xx, and it must not count as a PostgreSQL
// failure: five of them must not shut every other customer out with 503.
func TestBadNoteIsA4xxAndDoesNotOpenTheBreaker(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	a := env.NewPayer(t, 100_000)
	b := env.NewPayer(t, 0)
	c := env.NewPayer(t, 0) // an innocent customer
	for i := range 5 {
		r := env.Do(t, "POST", "/v1/wallet/transfers",
			map[string]any{"to_phone": b.Phone, "amount": 100, "note": "hi\u0000", "pin": a.PIN},
			append(a.Auth(), "Idempotency-Key", fmt.Sprint("nul-", i))...)
		if r.Status >= 500 {
			t.Errorf("a note with U+0000 got %d %s; want a 4xx", r.Status, r.Body)
		}
	}
	r := env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": c.CardID, "amount": 500},
		append(c.Auth(), "Idempotency-Key", "innocent-1")...)
	if r.Status != http.StatusCreated {
		t.Errorf("another customer's top-up after the bad notes = %d %s; want 201", r.Status, r.Body)
	}
}
