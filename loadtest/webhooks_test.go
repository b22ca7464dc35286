package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/sdk/walletapi"
)

// TestWebhooksThroughAnOutage runs hot-cycle with the load generator as its
// merchant's webhook endpoint, which is down for part of the run (refusing
// connections, then answering 503): the payments do not notice, and after
// the run every payment's order.paid event has been delivered, verified
// with the merchant's secret.
func TestWebhooksThroughAnOutage(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) {
		o.WebhookRetrySchedule = []time.Duration{200 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
			time.Second, time.Second, 2 * time.Second, 2 * time.Second, 5 * time.Second}
	})
	o := options{url: env.URL, operator: gatewaytest.OperatorToken, scenario: "hot-cycle", duration: 3 * time.Second, minSteps: 6,
		concurrency: 4, payers: 3, cards: 2, amount: 1200, webhooks: "127.0.0.1:0", webhookWait: 30 * time.Second,
		webhookOutage: "500ms+1500ms"}
	res, err := run(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	h := res.Webhooks
	if h == nil {
		t.Fatal("no webhook report")
	}
	if res.Payments == 0 || res.Errors != 0 || res.Answers.S5xx != 0 {
		t.Errorf("%d payments, errors %v, %d 5xx; want some and none while the endpoint was down", res.Payments, res.ErrorsByCode, res.Answers.S5xx)
	}
	if !res.InvariantsOK {
		t.Errorf("invariants violated: %v", res.Violations)
	}
	if h.Expected < res.Payments || h.Delivered != h.Expected || h.Missing != 0 || h.BadSignature != 0 || h.Unexpected != 0 || h.Misdirected != 0 {
		t.Errorf("webhooks = %+v after %d payments; want every one delivered, none badly signed or unexpected", *h, res.Payments)
	}
	if h.Refused == 0 {
		t.Errorf("webhooks = %+v; want some deliveries answered 503 during the outage", *h)
	}
	var unanswered int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_attempts WHERE status_code IS NULL`).Scan(&unanswered); err != nil {
		t.Fatal(err)
	}
	if unanswered == 0 {
		t.Error("no delivery attempt met the refused connections of the outage")
	}
}

// TestWebhookChecksCatchWhatIsWrong: an event that never arrives, and
// deliveries that do not verify, are violations.
func TestWebhookChecksCatchWhatIsWrong(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	o := options{url: env.URL, operator: gatewaytest.OperatorToken, scenario: "static-pay", duration: time.Second,
		concurrency: 1, payers: 1, cards: 1, amount: 100, merchants: 1, webhooks: "127.0.0.1:0", webhookWait: 2 * time.Second}
	r := newRunner(o, io.Discard)
	var err error
	if r.hooks, err = listenWebhooks(o.webhooks, 1, io.Discard); err != nil {
		t.Fatal(err)
	}
	defer r.hooks.close()
	ctx := context.Background()
	if err := setupPayers(ctx, r); err != nil {
		t.Fatal(err)
	}
	// The receiver holds another secret than the merchant's.
	r.hooks.setMerchant(0, r.merchants[0].id, "whsec_not-the-merchants")
	p := r.payers[0]
	mv, err := r.api.Pay(ctx, p.token, "pay-1", walletapi.PayParams{QRPayload: r.merchants[0].staticQR, CardID: p.cards[0], PIN: loadPIN, Amount: 100})
	if err != nil {
		t.Fatal(err)
	}
	p.ackPayment(mv.ID, p.masks[0], 100)
	if v := r.checkInvariants(ctx); len(v) != 0 {
		t.Fatalf("the payment's own checks: %v", v)
	}
	rep, v := r.awaitWebhooks(ctx, time.Now())
	if rep.Expected != 1 || rep.Missing != 1 || rep.BadSignature == 0 {
		t.Errorf("webhooks = %+v; want the one event missing and its deliveries badly signed", rep)
	}
	joined := strings.Join(v, "\n")
	if !strings.Contains(joined, "not delivered") || !strings.Contains(joined, "not verified") ||
		!strings.Contains(joined, "order.paid of order "+mv.OrderID) {
		t.Errorf("violations = %q; want the missing event (with its order) and the bad signatures", joined)
	}
}

func TestParseOutage(t *testing.T) {
	t.Parallel()
	if at, length, err := parseOutage("4s+8s"); err != nil || at != 4*time.Second || length != 8*time.Second {
		t.Errorf(`parseOutage("4s+8s") = %v, %v, %v; want 4s, 8s`, at, length, err)
	}
	if _, length, err := parseOutage(""); err != nil || length != 0 {
		t.Errorf(`parseOutage("") = %v, %v; want no outage`, length, err)
	}
	for _, bad := range []string{"4s", "4s+", "+8s", "4s+0s", "-1s+8s", "4+8", "4s+8s+1s"} {
		if _, _, err := parseOutage(bad); err == nil {
			t.Errorf("parseOutage(%q) = nil error; want one", bad)
		}
	}
}
