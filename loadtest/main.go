// Command loadtest drives a running qrpay gateway through its public API
// the way its users do — merchants' POS terminals through the SDK, wallets
// through the wallet API — for a fixed time, then prints throughput and
// latency percentiles and checks the money: the ledger balances, every
// acknowledged payment is in the ledger exactly once and no refused one is,
// and every card's limit counters equal its movements in the ledger.
//
//	go run ./loadtest -url http://127.0.0.1:8080 -scenario hot-pay -duration 30s [-concurrency 32 | -rate 500] [-json]
//	    [-webhooks 127.0.0.1:0 [-webhook-wait 60s] [-webhook-outage 4s+8s]]
//
// Scenarios (docs/performance.md):
//
//	hot-pay       one merchant; its orders are created first, then only paid: the pay path alone
//	hot-cycle     one merchant; each step creates an order and pays it
//	spread-cycle  1,000 merchants (-merchants); each step creates an order at one of them and pays it
//	static-pay    one merchant's static QR, paid with an amount
//	wallet-mix    top-ups, transfers between wallets, history and statement reads
//	code-pay      customer-presented codes: a wallet asks for its payment code, a POS charges it (one
//	              payment per wallet every 30 s, the code's step: -payers bounds the rate, default 200)
//
// With -webhooks ADDR (such as 127.0.0.1:0) the load generator is also its
// merchants' webhook endpoint: it listens on ADDR, onboards each merchant
// with a webhook URL there, verifies every delivery with the merchant's
// secret through the SDK and records the events by id (a duplicate is
// counted, delivery being at least once). After the checks it waits, at
// most -webhook-wait, until every payment and refund in the ledger has had
// its event delivered, and reports expected, delivered, missing, duplicate
// and badly signed deliveries; a missing or badly signed event breaks the
// invariants. The gateway must be allowed to deliver there
// (WEBHOOK_ALLOW_NETWORKS; make run allows this machine). -webhook-outage
// AT+LENGTH takes the endpoint down AT into the timed phase: connections
// refused for the first half of LENGTH, every delivery answered 503 for
// the second (loadtest/faults.sh webhook-down).
//
// The operator token comes from OPERATOR_TOKEN; -operator-token overrides
// it. It exits 1 when an invariant does not hold.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
)

type options struct {
	url, operator, scenario string
	duration                time.Duration
	minSteps                int
	concurrency             int
	rate                    float64
	payers, cards           int
	merchants               int
	orders                  int
	amount                  int64
	json                    bool
	profileURL, profileOut  string
	webhooks                string // the webhook receiver's address, "" for none
	webhookWait             time.Duration
	webhookOutage           string // AT+LENGTH
	refundEvery             int    // in a cycle scenario, refund every Nth paid order (0: none)
	withdrawEvery           int    // in a cycle scenario, the payer withdraws after every Nth payment (0: never)
}

func main() {
	o := options{}
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "gateway base URL; several, comma-separated, share the steps round-robin (replicas)")
	flag.StringVar(&o.operator, "operator-token", os.Getenv("OPERATOR_TOKEN"), "operator token (default $OPERATOR_TOKEN)")
	flag.StringVar(&o.scenario, "scenario", "hot-pay", "hot-pay, hot-cycle, spread-cycle, static-pay, wallet-mix or code-pay")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "how long to send load")
	flag.IntVar(&o.minSteps, "min-steps", 0, "keep sending load past -duration until this many steps have finished")
	flag.IntVar(&o.concurrency, "concurrency", 32, "steps in flight (closed loop); with -rate, the most in flight")
	flag.Float64Var(&o.rate, "rate", 0, "steps started per second (open loop); 0 runs a closed loop of -concurrency")
	flag.IntVar(&o.payers, "payers", 0, "wallets to pay with (default: enough for the duration)")
	flag.IntVar(&o.cards, "cards", 4, "cards per wallet (each may pay about 200 times a day)")
	flag.IntVar(&o.merchants, "merchants", 0, "merchants (default 1; 1,000 for spread-cycle)")
	flag.IntVar(&o.orders, "orders", 0, "orders created before a hot-pay run (default: enough for the duration)")
	flag.Int64Var(&o.amount, "amount", 1200, "amount of each payment, minor units")
	flag.IntVar(&o.withdrawEvery, "withdraw-every", 0, "in hot-cycle and spread-cycle, the payer withdraws a tenth of -amount to one of its cards after every Nth payment (0: never)")
	flag.IntVar(&o.refundEvery, "refund-every", 0, "in hot-cycle and spread-cycle, refund every Nth paid order in full through the merchant API (0: none)")
	flag.BoolVar(&o.json, "json", false, "print one JSON object on stdout instead of text")
	flag.StringVar(&o.profileURL, "profile", "", "the gateway's debug address (DEBUG_ADDR) as a URL: fetch a CPU profile of the timed phase")
	flag.StringVar(&o.profileOut, "profile-out", "cpu.pprof", "where -profile writes the profile")
	flag.StringVar(&o.webhooks, "webhooks", "", "receive the merchants' webhooks on this address (host:port, port 0 picks one) and check that every payment's event is delivered")
	flag.DurationVar(&o.webhookWait, "webhook-wait", 60*time.Second, "with -webhooks: how long after the checks to wait for the last events")
	flag.StringVar(&o.webhookOutage, "webhook-outage", "", "with -webhooks: AT+LENGTH, such as 4s+8s: the endpoint refuses connections, then answers 503, for LENGTH from AT into the timed phase")
	flag.Parse()
	if o.operator == "" {
		o.operator = "dev-operator-token"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, o, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		res.print(os.Stdout)
	}
	if !res.InvariantsOK {
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, progress io.Writer) (*result, error) {
	sc, ok := scenarios[o.scenario]
	if !ok {
		return nil, fmt.Errorf("unknown -scenario %q", o.scenario)
	}
	if o.concurrency < 1 || o.cards < 1 || o.amount < 1 || o.duration <= 0 {
		return nil, errors.New("-concurrency, -cards, -amount and -duration must be positive")
	}
	if o.merchants == 0 {
		o.merchants = sc.merchants
	}
	outageAt, outageFor, err := parseOutage(o.webhookOutage)
	if err != nil {
		return nil, err
	}
	if o.webhooks == "" && outageFor > 0 {
		return nil, errors.New("-webhook-outage needs -webhooks")
	}
	r := newRunner(o, progress)
	if o.webhooks != "" {
		if r.hooks, err = listenWebhooks(o.webhooks, o.merchants, progress); err != nil {
			return nil, err
		}
		defer r.hooks.close()
		logf(progress, "receiving webhooks at http://%s/hooks/", r.hooks.addr)
	}
	logf(progress, "setting up %s against %s …", o.scenario, o.url)
	if err := sc.setup(ctx, r); err != nil {
		return nil, fmt.Errorf("set up: %w", err)
	}
	logf(progress, "running %s for %v …", o.scenario, o.duration)
	if outageFor > 0 {
		r.hooks.outage(outageAt, outageFor)
	}
	elapsed := r.drive(ctx, sc.step)
	ended := time.Now()
	res := r.result(elapsed)
	logf(progress, "checking the invariants …")
	res.Violations = r.checkInvariants(ctx)
	if r.hooks != nil {
		logf(progress, "waiting for the webhooks (at most %v) …", o.webhookWait)
		rep, v := r.awaitWebhooks(ctx, ended)
		res.Webhooks = &rep
		res.Violations = append(res.Violations, v...)
	}
	res.InvariantsOK = len(res.Violations) == 0
	res.Answers.Unresolved, res.Answers.Duplicated = r.unresolved.Load(), r.duplicated.Load()
	return res, nil
}

func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, format+"\n", args...)
}
