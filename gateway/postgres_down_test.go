package gateway_test

import (
	"net/http"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestPostgresDownIs503: with PostgreSQL unreachable a money-moving request
// fails with 503 unavailable and Retry-After (docs/errors.md, DESIGN §3),
// not 500 internal.
func TestPostgresDownIs503(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) { o.PostgresProxy = true })
	p := env.NewPayer(t, 10_000)
	m := env.NewMerchant(t, nil)
	o := env.CreateOrder(t, m, 1200)
	env.PostgresProxy.Cut()
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"/v1/wallet/topups", map[string]any{"card_id": p.CardID, "amount": 500}},
		{"/v1/wallet/payments", map[string]any{"qr_payload": o.QRPayload, "card_id": p.CardID}},
	} {
		r := env.Do(t, "POST", c.path, c.body, append(p.Auth(), "Idempotency-Key", "k-"+c.path)...)
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s with PostgreSQL down = %d %s (Retry-After %q); want 503 unavailable with Retry-After",
				c.path, r.Status, r.Body, r.Header.Get("Retry-After"))
		}
	}
	r := env.Signed(t, m, "POST", "/v1/orders", map[string]any{"merchant_order_no": "down-1", "amount": 100}, "Idempotency-Key", "down-1")
	if r.Status != http.StatusServiceUnavailable {
		t.Errorf("create order with PostgreSQL down = %d %s; want 503", r.Status, r.Body)
	}
	env.PostgresProxy.Restore()
}
