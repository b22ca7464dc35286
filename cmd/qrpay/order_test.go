package main

import (
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/sdk"
)

func TestOrderCommands(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	creds := keyFlags(env, k)
	order := func(args ...string) (string, string, int) {
		t.Helper()
		return qrpay(t, append(append([]string{"order"}, args...), creds...)...)
	}

	stdout, stderr, code := order("create", "-amount", "1200", "-no", "POS1-0001", "-description", "2 coffees", "-terminal", "POS1", "-expires-in", "10m")
	if code != 0 {
		t.Fatalf("order create = %d: %s", code, stderr)
	}
	o := decode[sdk.Order](t, stdout)
	if o.MerchantOrderNo != "POS1-0001" || o.Amount != 1200 || o.Description != "2 coffees" || o.TerminalID != "POS1" ||
		o.Status != sdk.OrderCreated || o.QRPayload == "" || (o.ExpiresAt.Sub(o.CreatedAt)-10*time.Minute).Abs() > time.Second {
		t.Errorf("order create printed %+v", o)
	}
	if !strings.HasPrefix(stdout, "{\n  \"id\"") {
		t.Errorf("order create output is not indented JSON:\n%s", stdout)
	}
	// Running the same create again is safe: the number is the idempotency key.
	stdout, stderr, code = order("create", "-amount", "1200", "-no", "POS1-0001", "-description", "2 coffees", "-terminal", "POS1", "-expires-in", "10m")
	if again := decode[sdk.Order](t, stdout); code != 0 || again.ID != o.ID {
		t.Errorf("the same create again = %d %s %s; want order %s", code, again.ID, stderr, o.ID)
	}

	stdout, stderr, code = order("create", "-amount", "800")
	generated := decode[sdk.Order](t, stdout)
	if code != 0 || !strings.HasPrefix(generated.MerchantOrderNo, "CLI-") || len(generated.MerchantOrderNo) > 25 {
		t.Errorf("order create without -no = %d %s; want a generated CLI-… number of at most 25 characters (%s)", code, generated.MerchantOrderNo, stderr)
	}

	// get by id (flags before or after it) and by number.
	for _, args := range [][]string{{"get", o.ID}, {"get", "-no", "POS1-0001"}} {
		stdout, stderr, code = order(args...)
		if got := decode[sdk.Order](t, stdout); code != 0 || got.ID != o.ID {
			t.Errorf("order %v = %d %+v %s; want order %s", args, code, got, stderr, o.ID)
		}
	}
	stdout, stderr, code = qrpay(t, append([]string{"order", "get"}, append(creds, o.ID)...)...)
	if got := decode[sdk.Order](t, stdout); code != 0 || got.ID != o.ID {
		t.Errorf("order get with the id last = %d %s", code, stderr)
	}

	stdout, stderr, code = order("close", o.ID)
	if closed := decode[sdk.Order](t, stdout); code != 0 || closed.Status != sdk.OrderClosed {
		t.Errorf("order close = %d %+v %s; want closed", code, closed, stderr)
	}
	// A paid order cannot be closed: the gateway's code reaches stderr.
	env.Pay(t, env.NewPayer(t, 10000), generated.QRPayload)
	if _, stderr, code = order("close", generated.ID); code != 1 || !strings.Contains(stderr, "conflict") || !strings.Contains(stderr, "request id") {
		t.Errorf("closing a paid order = %d %s; want exit 1 with the conflict code and a request id", code, stderr)
	}
	if _, stderr, code = order("get", "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"); code != 1 || !strings.Contains(stderr, "not_found") {
		t.Errorf("order get of an unknown id = %d %s; want not_found", code, stderr)
	}
}

func TestOrderCommandRefusals(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	bad := []string{"-url", env.URL, "-key", k.KeyID, "-secret", k.Secret + "x"}
	stdout, stderr, code := qrpay(t, append([]string{"order", "create", "-amount", "100"}, bad...)...)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "unauthorized") {
		t.Errorf("order create with a wrong secret = %d, stdout %q, stderr %q; want exit 1 and unauthorized on stderr", code, stdout, stderr)
	}
	for _, args := range [][]string{
		{"order", "create"},                  // no amount
		{"order", "create", "-amount", "-5"}, // not positive
		{"order", "create", "-amount", "1", "-expires-in", "1.5s"},
		{"order", "get"},                  // neither id nor -no
		{"order", "get", "A", "-no", "B"}, // both
		{"order", "close"},                // no id
		{"order", "refund", "A"},          // no such verb
	} {
		if _, stderr, code := qrpay(t, append(args, "-url", env.URL, "-key", k.KeyID, "-secret", k.Secret)...); code != 1 {
			t.Errorf("qrpay %v = %d %s; want exit 1", args, code, stderr)
		}
	}
	if stdout, _, code := qrpay(t, "order", "help"); code != 0 || !strings.Contains(stdout, "qrpay order create") {
		t.Errorf("order help = %d %s", code, stdout)
	}
}

// TestShiftCommands: a terminal's order list with its totals, its shift and
// a receipt, from the command line.
func TestShiftCommands(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	creds := keyFlags(env, k)
	order := func(args ...string) (string, string, int) {
		t.Helper()
		return qrpay(t, append(append([]string{"order"}, args...), creds...)...)
	}
	from := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	stdout, stderr, code := order("create", "-amount", "2000", "-terminal", "TILL-3")
	if code != 0 {
		t.Fatalf("order create = %d: %s", code, stderr)
	}
	o := decode[sdk.Order](t, stdout)
	env.Pay(t, env.NewPayer(t, 10000), o.QRPayload)
	order("create", "-amount", "500", "-terminal", "TILL-3")

	stdout, stderr, code = order("list", "-terminal", "TILL-3", "-from", from, "-limit", "1")
	page := decode[sdk.OrderPage](t, stdout)
	if code != 0 || len(page.Data) != 1 || !page.HasMore || page.Totals.Count != 2 || page.Totals.Amount != 2500 {
		t.Errorf("order list = %d %+v %s; want one order of two, 2500 in all", code, page, stderr)
	}
	stdout, stderr, code = order("shift", "-terminal", "TILL-3", "-from", from)
	sum := decode[sdk.ShiftSummary](t, stdout)
	if code != 0 || sum.Payments != 1 || sum.Gross != 2000 || sum.Net != 2000-sum.Fees || sum.Fees != 12 {
		t.Errorf("order shift = %d %+v %s; want one payment of 2000 less 12 fee", code, sum, stderr)
	}
	stdout, stderr, code = order("receipt", o.ID)
	if rc := decode[sdk.Receipt](t, stdout); code != 0 || rc.OrderID != o.ID || rc.Amount != 2000 || rc.Funding != "balance" {
		t.Errorf("order receipt = %d %+v %s", code, rc, stderr)
	}
	for _, args := range [][]string{{"shift"}, {"list", "-from", "yesterday"}, {"receipt"}} {
		if _, stderr, code := order(args...); code == 0 || stderr == "" {
			t.Errorf("order %v = %d; want a refusal on stderr", args, code)
		}
	}
}

func TestOrderChargeCommand(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	creds := keyFlags(env, k)
	payer := env.NewPayer(t, 10_000)
	codes := env.NewCodeKey(t, payer)
	code := codes.Code(env.Clock.Now())
	charge := func(args ...string) (string, string, int) {
		t.Helper()
		return qrpay(t, append(append([]string{"order", "charge"}, args...), creds...)...)
	}
	stdout, stderr, code1 := charge("-amount", "1200", "-code", code, "-no", "POS1-C1", "-terminal", "POS1")
	ch := decode[sdk.Charge](t, stdout)
	if code1 != 0 || ch.Status != sdk.ChargePaid || ch.Order.MerchantOrderNo != "POS1-C1" || ch.Order.Status != sdk.OrderPaid {
		t.Errorf("order charge = %d %+v %s; want paid", code1, ch, stderr)
	}
	if _, stderr, code1 = charge("-amount", "1200", "-code", code); code1 != 1 || !strings.Contains(stderr, "payment_code_used") {
		t.Errorf("charging a used code = %d %s; want exit 1 with payment_code_used", code1, stderr)
	}
	if _, stderr, code1 = charge("-amount", "1200"); code1 == 0 || !strings.Contains(stderr, "-code") {
		t.Errorf("order charge without -code = %d %s; want a usage error", code1, stderr)
	}
}
