package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/testenv"
)

// TestPaymentReplayAfterRedisLostTheRecord: a finished payment whose Redis
// record is gone (Redis restarted, or the first answer was a 503 whose
// commit had in fact gone through) is answered from the ledger with the
// first answer — not with order_already_paid, which is then stored as the
// key's final answer.
func TestPaymentReplayAfterRedisLostTheRecord(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	m := env.NewMerchant(t, nil)
	p := env.NewPayer(t, 100_000)
	o := env.CreateOrder(t, m, 1200)
	body := map[string]any{"qr_payload": o.QRPayload, "card_id": p.CardID}
	hdr := append(p.Auth(), "Idempotency-Key", "pay-k")
	first := env.Do(t, "POST", "/v1/wallet/payments", body, hdr...)
	if first.Status != http.StatusCreated {
		t.Fatalf("pay = %d %s", first.Status, first.Body)
	}
	ctx := context.Background()
	keys, err := testenv.Keys(ctx, env.Redis, env.Prefix+"idem:*")
	if err != nil || len(keys) == 0 {
		t.Fatalf("idempotency keys %v, %v", keys, err)
	}
	if err := testenv.DeleteKeys(ctx, env.Redis, env.Prefix+"idem:*"); err != nil {
		t.Fatal(err)
	}
	again := env.Do(t, "POST", "/v1/wallet/payments", body, hdr...)
	if again.Status != http.StatusCreated || !bytes.Equal(again.Body, first.Body) {
		t.Errorf("retry of a committed payment = %d %s; want 201 %s", again.Status, again.Body, first.Body)
	}
}

// The same after the order's expiry: the customer who was charged is told
// order_expired (410, stored as final).
func TestPaymentReplayAfterExpiry(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	m := env.NewMerchant(t, nil)
	p := env.NewPayer(t, 100_000)
	o := env.CreateOrder(t, m, 1200)
	body := map[string]any{"qr_payload": o.QRPayload, "card_id": p.CardID}
	hdr := append(p.Auth(), "Idempotency-Key", "pay-k")
	if r := env.Do(t, "POST", "/v1/wallet/payments", body, hdr...); r.Status != http.StatusCreated {
		t.Fatalf("pay = %d %s", r.Status, r.Body)
	}
	ctx := context.Background()
	if err := testenv.DeleteKeys(ctx, env.Redis, env.Prefix+"idem:*"); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(20 * time.Minute) // past the 15-minute expiry, within the session
	if again := env.Do(t, "POST", "/v1/wallet/payments", body, hdr...); again.Status != http.StatusCreated {
		t.Errorf("retry of a committed payment after expiry = %d %s; want 201", again.Status, again.Body)
	}
}
