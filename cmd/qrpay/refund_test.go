package main

import (
	"strings"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/sdk"
)

func TestRefundCommand(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	o := env.CreateOrder(t, k, 1200)
	env.Pay(t, env.NewPayer(t, 10000), o.QRPayload)
	refund := func(args ...string) (string, string, int) {
		t.Helper()
		return qrpay(t, append(append([]string{"refund", "create"}, args...), keyFlags(env, k)...)...)
	}

	stdout, stderr, code := refund("-order", o.ID, "-amount", "500", "-no", "R-1", "-reason", "one coffee spilt")
	if code != 0 {
		t.Fatalf("refund create = %d: %s", code, stderr)
	}
	r := decode[sdk.Refund](t, stdout)
	if r.OrderID != o.ID || r.Amount != 500 || r.RefundNo != "R-1" || r.FeeRefunded != 3 || r.Reason != "one coffee spilt" || r.Status != "succeeded" {
		t.Errorf("refund create printed %+v", r)
	}
	// The same refund number again is the same refund, not a second one.
	stdout, stderr, code = refund("-order", o.ID, "-amount", "500", "-no", "R-1", "-reason", "one coffee spilt")
	if again := decode[sdk.Refund](t, stdout); code != 0 || again.ID != r.ID {
		t.Errorf("the same refund again = %d %+v %s; want refund %s", code, again, stderr, r.ID)
	}
	stdout, stderr, code = refund("-order", o.ID, "-amount", "200")
	if generated := decode[sdk.Refund](t, stdout); code != 0 || !strings.HasPrefix(generated.RefundNo, "R-") {
		t.Errorf("refund create without -no = %d %+v %s; want a generated R-… number", code, generated, stderr)
	}
	if _, stderr, code = refund("-order", o.ID, "-amount", "501"); code != 1 || !strings.Contains(stderr, "refund_exceeds_payment") {
		t.Errorf("refunding 501 of the 500 left = %d %s; want exit 1 with refund_exceeds_payment", code, stderr)
	}
	if _, stderr, code = qrpay(t, "refund", "create", "-order", o.ID, "-amount", "1", "-url", env.URL, "-key", k.KeyID, "-secret", "sk_nope"); code != 1 || !strings.Contains(stderr, "unauthorized") {
		t.Errorf("refund with a wrong secret = %d %s; want exit 1, unauthorized", code, stderr)
	}
	if _, _, code = refund("-amount", "1"); code != 1 {
		t.Errorf("refund create without -order = %d; want 1", code)
	}
}
