package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/qrpay/qrpay/sdk"
)

// stats are one kind of step's latencies (an HDR histogram, microseconds,
// 1 µs to 60 s at 3 significant digits) and its failures by error code.
type stats struct {
	mu     sync.Mutex
	hist   *hdrhistogram.Histogram
	errors map[string]int64
}

func newStats() *stats {
	return &stats{hist: hdrhistogram.New(1, 60_000_000, 3), errors: map[string]int64{}}
}

func (s *stats) record(d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errors[errorCode(err)]++
		return
	}
	_ = s.hist.RecordValue(max(1, d.Microseconds()))
}

// errorCode is the gateway's code for a refusal, or what kind of failure
// it was when no answer came.
func errorCode(err error) string {
	var e *sdk.Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case strings.Contains(err.Error(), "deadline exceeded"), strings.Contains(err.Error(), "Timeout"):
		return "client_timeout"
	}
	return "transport_error"
}

// latency is a step kind's figures in milliseconds.
type latency struct {
	Count  int64            `json:"count"`
	PerSec float64          `json:"per_sec"`
	P50    float64          `json:"p50_ms"`
	P90    float64          `json:"p90_ms"`
	P99    float64          `json:"p99_ms"`
	P999   float64          `json:"p999_ms"`
	Max    float64          `json:"max_ms"`
	Errors map[string]int64 `json:"errors_by_code,omitempty"`
}

func (s *stats) latency(elapsed time.Duration) latency {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := func(v int64) float64 { return float64(v) / 1000 }
	l := latency{Count: s.hist.TotalCount(), P50: ms(s.hist.ValueAtQuantile(50)), P90: ms(s.hist.ValueAtQuantile(90)),
		P99: ms(s.hist.ValueAtQuantile(99)), P999: ms(s.hist.ValueAtQuantile(99.9)), Max: ms(s.hist.Max())}
	l.PerSec = float64(l.Count) / elapsed.Seconds()
	if len(s.errors) > 0 {
		l.Errors = map[string]int64{}
		for k, v := range s.errors {
			l.Errors[k] = v
		}
	}
	return l
}

// result is what a run prints: with -json, as one object.
type result struct {
	Scenario       string             `json:"scenario"`
	URL            string             `json:"url"`
	DurationS      float64            `json:"duration_s"`
	Concurrency    int                `json:"concurrency"`
	Rate           float64            `json:"rate,omitempty"`
	Merchants      int                `json:"merchants"`
	Wallets        int                `json:"wallets"`
	Payments       int64              `json:"payments"`
	Refunds        int64              `json:"refunds,omitempty"`     // with -refund-every
	Withdrawals    int64              `json:"withdrawals,omitempty"` // with -withdraw-every
	PaymentsPerSec float64            `json:"payments_per_sec"`
	CyclesPerSec   float64            `json:"cycles_per_sec,omitempty"`
	P50            float64            `json:"p50_ms"`
	P90            float64            `json:"p90_ms"`
	P99            float64            `json:"p99_ms"`
	P999           float64            `json:"p999_ms"`
	Max            float64            `json:"max_ms"`
	Errors         int64              `json:"errors"`
	ErrorsByCode   map[string]int64   `json:"errors_by_code"`
	Steps          map[string]latency `json:"steps"`
	Answers        answers            `json:"answers"`
	Webhooks       *webhookReport     `json:"webhooks,omitempty"`
	OrdersRanOut   bool               `json:"orders_ran_out,omitempty"`
	InvariantsOK   bool               `json:"invariants_ok"`
	Violations     []string           `json:"violations"`
}

func (r *runner) result(elapsed time.Duration) *result {
	res := &result{Scenario: r.o.scenario, URL: r.o.url, DurationS: elapsed.Seconds(), Concurrency: r.o.concurrency,
		Rate: r.o.rate, Merchants: len(r.merchants), Wallets: len(r.payers), ErrorsByCode: map[string]int64{},
		Steps: map[string]latency{}, OrdersRanOut: r.ranOut.Load(), Violations: []string{}, Answers: r.wire.answers()}
	r.unknown.Lock()
	res.Answers.Lost = int64(len(r.unknown.list))
	r.unknown.Unlock()
	for kind, s := range r.stats {
		l := s.latency(elapsed)
		if l.Count == 0 && len(l.Errors) == 0 {
			continue
		}
		res.Steps[kind] = l
		for code, n := range l.Errors {
			if kind != "cycle" { // a cycle's failure is its create's or its pay's, already counted
				res.ErrorsByCode[code] += n
				res.Errors += n
			}
		}
	}
	main := "pay"
	switch r.o.scenario {
	case "wallet-mix":
		main = "topup"
	case "code-pay":
		main = "charge"
	}
	if l, ok := res.Steps[main]; ok {
		res.Payments, res.PaymentsPerSec = l.Count, l.PerSec
		res.P50, res.P90, res.P99, res.P999, res.Max = l.P50, l.P90, l.P99, l.P999, l.Max
	}
	if l, ok := res.Steps["cycle"]; ok {
		res.CyclesPerSec = l.PerSec
	}
	if l, ok := res.Steps["refund"]; ok {
		res.Refunds = l.Count
	}
	if l, ok := res.Steps["withdraw"]; ok {
		res.Withdrawals = l.Count
	}
	return res
}

func (res *result) print(w io.Writer) {
	fmt.Fprintf(w, "%s for %.1fs against %s: %d merchant(s), %d wallets, ", res.Scenario, res.DurationS, res.URL, res.Merchants, res.Wallets)
	if res.Rate > 0 {
		fmt.Fprintf(w, "%.0f steps/s (at most %d in flight)\n", res.Rate, res.Concurrency)
	} else {
		fmt.Fprintf(w, "%d in flight\n", res.Concurrency)
	}
	kinds := make([]string, 0, len(res.Steps))
	for k := range res.Steps {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		l := res.Steps[k]
		fmt.Fprintf(w, "%-10s %8d ok %9.1f/s   p50 %7.2f  p90 %7.2f  p99 %7.2f  p99.9 %7.2f  max %7.2f ms\n",
			k, l.Count, l.PerSec, l.P50, l.P90, l.P99, l.P999, l.Max)
		codes := make([]string, 0, len(l.Errors))
		for c := range l.Errors {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		for _, c := range codes {
			fmt.Fprintf(w, "%10s %8d failed: %s\n", "", l.Errors[c], c)
		}
	}
	a := res.Answers
	fmt.Fprintf(w, "requests %d: %d 2xx, %d 4xx, %d 5xx (%d 503, %d of them without Retry-After), %d unanswered; "+
		"%d lost and resent after the run, %d still unknown, %d duplicated\n",
		a.Requests, a.S2xx, a.S4xx, a.S5xx, a.S503, a.S503NoRetryAfter, a.NoAnswer, a.Lost, a.Unresolved, a.Duplicated)
	if h := res.Webhooks; h != nil {
		fmt.Fprintf(w, "webhooks at %s: %d expected, %d delivered, %d missing; %d deliveries (%d duplicates), %d badly signed, "+
			"%d about another merchant's order, %d unexpected, %d answered 503; the last %.1fs after the load\n",
			h.URL, h.Expected, h.Delivered, h.Missing, h.Deliveries, h.Duplicates, h.BadSignature, h.Misdirected, h.Unexpected,
			h.Refused, h.SettledAfterS)
	}
	if res.OrdersRanOut {
		fmt.Fprintln(w, "the orders created before the run ran out before its end (-orders)")
	}
	if res.InvariantsOK {
		if res.Webhooks != nil {
			fmt.Fprintln(w, "invariants: ok (ledger check; one transfer per acknowledged payment, none for refused ones; card limits equal the ledger; "+
				"every payment's and refund's webhook delivered, verified)")
			return
		}
		fmt.Fprintln(w, "invariants: ok (ledger check; one transfer per acknowledged payment, none for refused ones; card limits equal the ledger)")
		return
	}
	fmt.Fprintf(w, "invariants: %d VIOLATED\n", len(res.Violations))
	for _, v := range res.Violations {
		fmt.Fprintln(w, "  -", v)
	}
}
