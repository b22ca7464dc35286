package main

import (
	"context"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway"
	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/risk"
	"github.com/qrpay/qrpay/sdk/walletapi"
)

// TestScenarios runs every scenario briefly against an in-process gateway
// and real PostgreSQL and Redis: each must move money and find the
// invariants holding.
func TestScenarios(t *testing.T) {
	t.Parallel()
	for name := range scenarios {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := gatewaytest.Start(t)
			// A second of load, and on a busy machine as long as the first
			// steps take to finish: a step cut short by the end of the run
			// counts neither as a payment nor as an error. (Three: code-pay
			// has a turn for each of the three payers every 30 s.)
			o := options{url: env.URL, operator: gatewaytest.OperatorToken, scenario: name, duration: time.Second, minSteps: 3,
				concurrency: 4, payers: 3, cards: 2, orders: 200, amount: 1200}
			if name == "spread-cycle" {
				o.merchants = 5
			}
			res, err := run(context.Background(), o, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Payments == 0 || res.Errors != 0 {
				t.Errorf("%s: %d payments, errors %v; want some and none", name, res.Payments, res.ErrorsByCode)
			}
			if !res.InvariantsOK {
				t.Errorf("%s: invariants violated: %v", name, res.Violations)
			}
		})
	}
}

// TestScenariosOnTwoReplicas drives two gateways sharing PostgreSQL and
// Redis, every step going to the next one in turn: an order created on
// one is paid on the other, a wallet's payments land on both, and the
// money, the card limits and the idempotency of every step still hold.
func TestScenariosOnTwoReplicas(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"hot-cycle", "wallet-mix"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := gatewaytest.Start(t)
			b := a.Replica(t)
			o := options{url: a.URL + "," + b.URL, operator: gatewaytest.OperatorToken, scenario: name, duration: 2 * time.Second, minSteps: 6,
				concurrency: 6, payers: 4, cards: 2, orders: 200, amount: 1200}
			res, err := run(context.Background(), o, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Payments == 0 || res.Errors != 0 {
				t.Errorf("%s on two replicas: %d movements, errors %v; want some and none", name, res.Payments, res.ErrorsByCode)
			}
			if !res.InvariantsOK {
				t.Errorf("%s on two replicas: invariants violated: %v", name, res.Violations)
			}
		})
	}
}

// TestInvariantsCatchAnUnacknowledgedPayment: a payment the run did not
// see acknowledged, but that is in the ledger, is a violation.
func TestInvariantsCatchAnUnacknowledgedPayment(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	o := options{url: env.URL, operator: gatewaytest.OperatorToken, scenario: "static-pay", duration: time.Second,
		concurrency: 2, payers: 1, cards: 1, amount: 100, merchants: 1}
	r := newRunner(o, io.Discard)
	ctx := context.Background()
	if err := setupPayers(ctx, r); err != nil {
		t.Fatal(err)
	}
	if v := r.checkInvariants(ctx); len(v) != 0 {
		t.Fatalf("after setup: %v", v)
	}
	p := r.payers[0]
	if _, err := r.api.Pay(ctx, p.token, "behind-the-runs-back", walletapi.PayParams{QRPayload: r.merchants[0].staticQR,
		CardID: p.cards[0], PIN: loadPIN, Amount: 100}); err != nil {
		t.Fatal(err)
	}
	if v := r.checkInvariants(ctx); len(v) == 0 {
		t.Error("a payment the run never saw acknowledged went unnoticed")
	}
}

func TestCardNumbers(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := range 50 {
		n := cardNumber(i)
		if len(n) != 16 || !luhn(n) {
			t.Errorf("cardNumber(%d) = %s; want 16 digits with a valid check digit", i, n)
		}
		if last4 := n[12:]; seen[last4] {
			t.Errorf("cardNumber(%d) = %s repeats last four digits %s", i, n, last4)
		} else {
			seen[last4] = true
		}
	}
}

func luhn(n string) bool {
	sum := 0
	for i := range n {
		d, _ := strconv.Atoi(n[len(n)-1-i : len(n)-i])
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// TestWalletMixRaisesNoAlerts runs the wallet-mix scenario against a
// gateway with the risk rules on at their defaults: ordinary wallet
// traffic must pass without a step-up, a decline or an alert. The load
// generator opens its wallets and binds its cards seconds before the
// traffic, which the new card and new recipient rules exist to notice; the
// gateway's clock therefore runs a day ahead of the database's, so the
// wallets are a day old when they move money, as established wallets are.
func TestWalletMixRaisesNoAlerts(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) {
		o.Risk = gateway.RiskConfig{Enabled: true, Thresholds: risk.DefaultThresholds()}
		o.Wallet.SessionTTL = 72 * time.Hour
	})
	env.Clock.Advance(25 * time.Hour)
	o := options{url: env.URL, operator: gatewaytest.OperatorToken, scenario: "wallet-mix", duration: 2 * time.Second,
		concurrency: 4, payers: 5, cards: 2, amount: 1200}
	res, err := run(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Payments == 0 || res.Errors != 0 || !res.InvariantsOK {
		t.Fatalf("wallet-mix: %d movements, errors %v, invariants %v", res.Payments, res.ErrorsByCode, res.Violations)
	}
	var alerts int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM risk_alerts`).Scan(&alerts); err != nil {
		t.Fatal(err)
	}
	if alerts != 0 {
		t.Errorf("wallet-mix raised %d alerts; want none", alerts)
	}
}

// TestShutdownUnderLoadLosesNothing shuts a gateway down gracefully in the
// middle of a run: requests in flight finish and their answers are kept,
// later ones find the gateway gone. A second gateway on the same
// PostgreSQL and Redis then settles every request whose answer was lost
// (sending it again with its key) and checks the invariants: every
// acknowledged payment is in the ledger exactly once, nothing half-done,
// the card counters equal the ledger.
func TestShutdownUnderLoadLosesNothing(t *testing.T) {
	t.Parallel()
	a := gatewaytest.Start(t)
	b := a.Replica(t)
	o := options{url: a.URL, operator: gatewaytest.OperatorToken, scenario: "static-pay", duration: 2 * time.Second,
		concurrency: 6, payers: 4, cards: 2, amount: 1200, merchants: 2}
	r := newRunner(o, io.Discard)
	ctx := context.Background()
	sc := scenarios[o.scenario]
	if err := sc.setup(ctx, r); err != nil {
		t.Fatal(err)
	}
	// The load stops soon after the gateway has: a closed loop against a
	// closed port would only pile up refused requests to settle later.
	driving, stopDriving := context.WithCancel(ctx)
	defer stopDriving()
	stopped := make(chan error, 1)
	go func() {
		time.Sleep(700 * time.Millisecond)
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := a.Server.Shutdown(sctx, 0)
		a.App.Close() // the ledger commits what it has queued
		time.Sleep(20 * time.Millisecond)
		stopDriving()
		stopped <- err
	}()
	r.drive(driving, sc.step)
	if err := <-stopped; err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	res := r.result(o.duration)
	if res.Payments == 0 {
		t.Fatal("no payment was acknowledged before the shutdown")
	}
	// The rest goes through the other gateway.
	r.api = walletapi.New(b.URL, nil)
	r.api.Codes = r.api.OperatorCodes(o.operator)
	r.apis = []*walletapi.Client{r.api}
	if v := r.checkInvariants(ctx); len(v) != 0 {
		t.Errorf("after a shutdown under load (%d payments acknowledged, %d requests failed): %v", res.Payments, res.Errors, v)
	}
}

// TestRefundsUnderLoad: with -refund-every, a cycle scenario refunds every
// so many paid orders in full through the merchant API, and with
// -withdraw-every its payers withdraw to a card every so many payments, on
// two replicas: every acknowledged refund and withdrawal is in the
// wallet's history once (and none that was not), withdrawals count in the
// card's limits, and each refund's order.refunded event reaches the
// merchant's endpoint like the payments' order.paid.
func TestRefundsUnderLoad(t *testing.T) {
	t.Parallel()
	a := gatewaytest.Start(t)
	b := a.Replica(t)
	o := options{url: a.URL + "," + b.URL, operator: gatewaytest.OperatorToken, scenario: "hot-cycle", duration: 2 * time.Second,
		minSteps: 8, concurrency: 4, payers: 3, cards: 2, amount: 1200, refundEvery: 2, withdrawEvery: 3,
		webhooks: "127.0.0.1:0", webhookWait: 30 * time.Second}
	res, err := run(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Payments == 0 || res.Refunds == 0 || res.Withdrawals == 0 || res.Errors != 0 {
		t.Errorf("%d payments, %d refunds, %d withdrawals, errors %v; want some of each and no error", res.Payments, res.Refunds,
			res.Withdrawals, res.ErrorsByCode)
	}
	if !res.InvariantsOK {
		t.Errorf("invariants violated: %v", res.Violations)
	}
	if h := res.Webhooks; h == nil || h.Expected < res.Payments+res.Refunds || h.Delivered != h.Expected || h.Missing != 0 {
		t.Errorf("webhooks = %+v after %d payments and %d refunds; want an event for each, all delivered", h, res.Payments, res.Refunds)
	}
}
