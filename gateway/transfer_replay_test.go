package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/testenv"
)

// TestTransferReplayAfterRecipientClosed: a committed transfer retried with
// its key after Redis lost the record is answered from the ledger, whatever
// happened to the recipient since.
func TestTransferReplayAfterRecipientClosed(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	a := env.NewPayer(t, 10_000)
	b := env.NewPayer(t, 0)
	body := map[string]any{"to_phone": b.Phone, "amount": 100, "pin": a.PIN}
	hdr := append(a.Auth(), "Idempotency-Key", "t-1")
	first := env.Do(t, "POST", "/v1/wallet/transfers", body, hdr...)
	if first.Status != http.StatusCreated {
		t.Fatalf("transfer = %d %s", first.Status, first.Body)
	}
	// b sends the money back and closes its wallet.
	if r := env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_phone": a.Phone, "amount": 100, "pin": b.PIN},
		append(b.Auth(), "Idempotency-Key", "back")...); r.Status != http.StatusCreated {
		t.Fatalf("transfer back = %d %s", r.Status, r.Body)
	}
	if r := env.DoOTP(t, "POST", "/v1/wallet/close", map[string]any{"password": "correct horse battery"}, b.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("close = %d %s", r.Status, r.Body)
	}
	ctx := context.Background()
	if err := testenv.DeleteKeys(ctx, env.Redis, env.Prefix+"idem:*"); err != nil {
		t.Fatal(err)
	}
	again := env.Do(t, "POST", "/v1/wallet/transfers", body, hdr...)
	if again.Status != http.StatusCreated || !bytes.Equal(again.Body, first.Body) {
		t.Errorf("retry of a committed transfer = %d %s; want 201 %s", again.Status, again.Body, first.Body)
	}
}
