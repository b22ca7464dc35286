package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestStoredFingerprintDoesNotRevealThePIN: PINs are kept as peppered
// argon2id hashes, so a copy of the database must not give them away. The
// stored idempotency fingerprint of a transfer covers its body, PIN
// included; were it a plain SHA-256 of the body, a million guesses would
// find the PIN. It must not be.
func TestStoredFingerprintDoesNotRevealThePIN(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	a := env.NewPayer(t, 10_000)
	b := env.NewPayer(t, 0)
	const pin = "864213"
	if r := env.Do(t, "PUT", "/v1/wallet/pin", map[string]string{"pin": pin, "old_pin": a.PIN}, a.Auth()...); r.Status != http.StatusNoContent {
		t.Fatalf("change pin = %d %s", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_phone": b.Phone, "amount": 2500, "pin": pin},
		append(a.Auth(), "Idempotency-Key", "x")...); r.Status != http.StatusCreated {
		t.Fatalf("transfer = %d %s", r.Status, r.Body)
	}
	var fp []byte
	if err := env.Pool.QueryRow(context.Background(), `SELECT fingerprint FROM transfers WHERE kind = 'transfer'`).Scan(&fp); err != nil {
		t.Fatal(err)
	}
	// The guess that would succeed against an unkeyed hash: the right PIN.
	body := fmt.Sprintf(`{"amount":2500,"pin":%q,"to_phone":%q}`, pin, b.Phone)
	for _, guess := range [][]byte{[]byte("POST /v1/wallet/transfers\n" + body), []byte(body)} {
		if sum := sha256.Sum256(guess); bytes.Equal(sum[:], fp) {
			t.Fatalf("transfers.fingerprint is the plain SHA-256 of %q: the PIN can be guessed from it", guess)
		}
	}
	empty := hmac.New(sha256.New, nil)
	empty.Write([]byte("POST /v1/wallet/transfers\n" + body))
	if bytes.Equal(empty.Sum(nil), fp) {
		t.Fatalf("transfers.fingerprint is keyed with an empty key")
	}
	if len(fp) != sha256.Size {
		t.Errorf("fingerprint is %d bytes; want a %d-byte keyed hash", len(fp), sha256.Size)
	}
}
