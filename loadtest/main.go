// Command loadtest drives a running qrpay gateway the way its users do — a
// merchant's POS creating orders through the SDK, wallets paying them —
// for a fixed time, then prints throughput and latency percentiles and
// checks that the ledger still balances. It targets one hot merchant by
// default, the hardest shape for the ledger.
//
//	go run ./loadtest -url http://127.0.0.1:8080 -duration 30s -concurrency 32
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qrpay/qrpay/sdk"
	"github.com/qrpay/qrpay/sdk/walletapi"
)

type options struct {
	url, operator       string
	duration            time.Duration
	concurrency, payers int
	merchants           int
	amount              int64
	staticQR            bool
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "gateway base URL")
	flag.StringVar(&o.operator, "operator-token", envOr("OPERATOR_TOKEN", "dev-operator-token"), "operator token")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "how long to send load")
	flag.IntVar(&o.concurrency, "concurrency", 32, "concurrent POS+wallet pairs")
	flag.IntVar(&o.payers, "payers", 200, "wallets to pay with (each card may pay 199 times a day)")
	flag.IntVar(&o.merchants, "merchants", 1, "merchants to spread orders over (1 = one hot merchant)")
	flag.Int64Var(&o.amount, "amount", 1200, "amount of each order, minor units")
	flag.BoolVar(&o.staticQR, "static", false, "pay the merchant's static QR (no order creation)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// stats collects latencies and outcomes of one kind of call.
type stats struct {
	mu     sync.Mutex
	lat    []time.Duration
	errors map[string]int
}

func (s *stats) add(d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.errors == nil {
			s.errors = map[string]int{}
		}
		code := err.Error()
		var e *sdk.Error
		if errors.As(err, &e) {
			code = e.Code
		}
		s.errors[code]++
		return
	}
	s.lat = append(s.lat, d)
}

func (s *stats) report(w io.Writer, name string, elapsed time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	pct := func(p float64) time.Duration {
		if len(s.lat) == 0 {
			return 0
		}
		return s.lat[min(len(s.lat)-1, int(p*float64(len(s.lat))))]
	}
	fmt.Fprintf(w, "%-8s %7d ok  %8.1f/s  p50 %-9v p95 %-9v p99 %-9v max %v\n", name, len(s.lat),
		float64(len(s.lat))/elapsed.Seconds(), pct(.50).Round(10*time.Microsecond), pct(.95).Round(10*time.Microsecond),
		pct(.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond))
	for code, n := range s.errors {
		fmt.Fprintf(w, "         %7d failed: %s\n", n, code)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	api := &api{Client: walletapi.New(o.url, &http.Client{Timeout: 30 * time.Second}), operator: o.operator}
	fmt.Fprintf(out, "setting up %d merchant(s) and %d wallets against %s …\n", o.merchants, o.payers, o.url)
	merchants := make([]*sdk.Client, o.merchants)
	statics := make([]string, o.merchants)
	for i := range merchants {
		m, err := api.newMerchant(ctx, fmt.Sprintf("Load Shop %d", i))
		if err != nil {
			return fmt.Errorf("onboard merchant: %w", err)
		}
		merchants[i] = sdk.NewClient(o.url, m.keyID, m.secret, sdk.WithMaxRetries(3))
		info, err := merchants[i].GetMerchant(ctx)
		if err != nil {
			return err
		}
		statics[i] = info.StaticQRPayload
	}
	wallets := make([]*wallet, o.payers)
	var setup sync.WaitGroup
	var setupErr atomic.Value
	sem := make(chan struct{}, 8)
	for i := range wallets {
		setup.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; setup.Done() }()
			w, err := api.newWallet(ctx, o.amount*199)
			if err != nil {
				setupErr.Store(err)
				return
			}
			wallets[i] = w
		}()
	}
	setup.Wait()
	if err, ok := setupErr.Load().(error); ok {
		return fmt.Errorf("set up wallets: %w", err)
	}

	var create, pay stats
	var next atomic.Int64
	loadCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				n := next.Add(1)
				mi := int(n) % len(merchants)
				w := wallets[rand.IntN(len(wallets))]
				payload, orderAmount := statics[mi], o.amount
				if !o.staticQR {
					t0 := time.Now()
					order, err := merchants[mi].CreateOrder(loadCtx, &sdk.OrderParams{
						MerchantOrderNo: fmt.Sprintf("L-%d-%d", start.UnixNano(), n), Amount: o.amount, TerminalID: "LOAD"})
					if loadCtx.Err() != nil {
						return
					}
					create.add(time.Since(t0), err)
					if err != nil {
						continue
					}
					payload, orderAmount = order.QRPayload, 0
				}
				t0 := time.Now()
				err := api.pay(loadCtx, w, payload, orderAmount, fmt.Sprintf("load-%d", n))
				if loadCtx.Err() != nil {
					return
				}
				pay.add(time.Since(t0), err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Fprintf(out, "\n%d POS+wallet pairs for %v, %d merchant(s), %d wallets, amount %d\n",
		o.concurrency, elapsed.Round(time.Millisecond), o.merchants, o.payers, o.amount)
	if !o.staticQR {
		create.report(out, "orders", elapsed)
	}
	pay.report(out, "payments", elapsed)

	report, err := api.LedgerCheck(ctx, o.operator)
	if err != nil {
		return fmt.Errorf("ledger check: %w", err)
	}
	fmt.Fprintf(out, "ledger check: %s\n", report)
	if report != "ok" {
		return errors.New("the ledger does not balance")
	}
	return nil
}
