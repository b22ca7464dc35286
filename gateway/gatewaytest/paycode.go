package gatewaytest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/qrpay/qrpay/wallet"
)

// CodeKey is a device's payment-code seed, as the wallet app keeps it to
// compute its codes offline.
type CodeKey struct {
	Index int64
	Seed  []byte
}

// Code is the key's code at time at.
func (k CodeKey) Code(at time.Time) string {
	return wallet.PaymentCode(k.Seed, k.Index, wallet.CodeStepAt(at))
}

// NewCodeKey gives the payer's device a payment-code seed for its balance,
// under its card's limits, and fails the test otherwise.
func (e *Env) NewCodeKey(t testing.TB, p Payer) CodeKey {
	t.Helper()
	return e.NewFundedCodeKey(t, p, string(wallet.FundingBalance))
}

// NewFundedCodeKey gives the payer's device a payment-code seed for a
// funding source (balance, card or balance_then_card) with its card, and
// fails the test otherwise.
func (e *Env) NewFundedCodeKey(t testing.TB, p Payer, funding string) CodeKey {
	t.Helper()
	r := e.Do(t, "POST", "/v1/wallet/payment-codes/keys", map[string]any{"device_id": p.DeviceID, "funding": funding,
		"card_id": p.CardID}, p.Auth()...)
	if r.Status != http.StatusCreated {
		t.Fatalf("new payment-code key = %d %s", r.Status, r.Body)
	}
	var k struct {
		KeyIndex int64  `json:"key_index"`
		Seed     string `json:"seed"`
	}
	r.JSON(t, &k)
	seed, err := base64.RawStdEncoding.DecodeString(k.Seed)
	if err != nil || len(seed) != 32 {
		t.Fatalf("payment-code seed %q: %v", k.Seed, err)
	}
	return CodeKey{Index: k.KeyIndex, Seed: seed}
}

// Charge charges a payment code through the merchant API with a fresh
// merchant order number (or no, when given) and returns the response.
func (e *Env) Charge(t testing.TB, k MerchantKey, code string, amount int64, no ...string) Response {
	t.Helper()
	n := fmt.Sprint("C-", seq.Add(1))
	if len(no) > 0 {
		n = no[0]
	}
	return e.Signed(t, k, "POST", "/v1/orders/charge", map[string]any{"merchant_order_no": n, "amount": amount,
		"terminal_id": "POS9", "code": code}, "Idempotency-Key", fmt.Sprint("charge-", seq.Add(1)))
}
