package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/qrpay/qrpay/sdk"
	"github.com/qrpay/qrpay/sdk/walletapi"
)

// runner holds what a run sets up and what it learns.
type runner struct {
	o        options
	progress io.Writer
	api      *walletapi.Client // the first gateway: setup and the checks
	// apis are every gateway of -url; the timed steps go round-robin.
	apis  []*walletapi.Client
	turn  atomic.Uint64
	paid  atomic.Int64 // orders a cycle scenario paid, for -refund-every and -withdraw-every
	start time.Time    // when the timed phase began

	merchants []*merchantHandle
	payers    []*payer
	orders    chan order // hot-pay: orders created before the run
	ranOut    atomic.Bool
	// codeTurns are the wallets whose next payment code is free to charge,
	// in the order they become free (code-pay).
	codeTurns chan codeTurn

	// http is the one HTTP client of every SDK client of the run; wire
	// counts its requests of the timed phase.
	http *http.Client
	wire *wire
	// unresolved and duplicated are learnt by the checks after the run,
	// which wait for a gateway answering 503 until settleBy.
	unresolved, duplicated atomic.Int64
	settleBy               time.Time
	// hooks is the merchants' webhook endpoint (-webhooks), ledgerEvents
	// the events the last check of the ledger implies (partial when a
	// wallet's history could not be read).
	hooks        *receiver
	ledgerEvents struct {
		sync.Mutex
		m       map[eventKey]int64
		partial bool
	}

	seq     atomic.Int64
	stats   map[string]*stats // by step kind: pay, create, cycle, refund, withdraw, topup, transfer, history, statement, code, charge
	steps   atomic.Int64
	failed  atomic.Int64
	unknown struct {
		sync.Mutex
		list []pending // money-moving requests whose outcome the run did not learn
	}
}

type merchantHandle struct {
	id       string
	client   *sdk.Client   // on the first gateway
	clients  []*sdk.Client // on every gateway of -url
	staticQR string
}

// urls are the gateways of -url.
func (o options) urls() []string { return strings.Split(o.url, ",") }

// next is the wallet client of the gateway whose turn it is.
func (r *runner) next() *walletapi.Client {
	return r.apis[r.turn.Add(1)%uint64(len(r.apis))]
}

// next is m's client on the gateway whose turn it is.
func (m *merchantHandle) next(r *runner) *sdk.Client {
	return m.clients[r.turn.Add(1)%uint64(len(m.clients))]
}

type order struct {
	merchant int
	payload  string
}

// payer is a wallet of the run and the money movements the gateway
// acknowledged for it, which the invariants compare with the ledger.
type payer struct {
	token, id, phone string
	cards            []string // ids
	masks            []string // as the history shows them, **** 1234

	mu                               sync.Mutex
	payments, topups, sent, received tally
	refunds                          tally // refunds of its payments, acknowledged to the merchant
	withdrawals                      tally
	byCard                           map[string]*tally // by mask: payments, top-ups and withdrawals, today
	paymentIDs                       map[string]bool
	// device is the device the wallet signed in from; paidOrders are the
	// orders its payment codes paid, acknowledged by the charge's answer.
	device     string
	paidOrders map[string]bool
}

type tally struct{ count, amount int64 }

func (t *tally) add(amount int64) { t.count++; t.amount += amount }

// pending is a money-moving request whose answer never came (a timeout, a
// cut connection); after the run it is sent again with the same key, which
// answers what happened to it.
type pending struct {
	kind string // pay, topup, transfer
	from *payer
	to   *payer
	key  string
	card int
	body walletapi.PayParams
	amt  int64
	// A charge of a payment code: the code and the merchant that charged it.
	code     string
	merchant *merchantHandle
	// A refund: its order (key is its refund_no).
	orderID string
}

func newRunner(o options, progress io.Writer) *runner {
	tr := &http.Transport{MaxIdleConns: 4 * o.concurrency, MaxIdleConnsPerHost: 4 * o.concurrency, IdleConnTimeout: time.Minute}
	w := &wire{next: tr}
	client := &http.Client{Transport: w, Timeout: 30 * time.Second}
	r := &runner{o: o, progress: progress, stats: map[string]*stats{}, http: client, wire: w}
	for _, u := range o.urls() {
		r.apis = append(r.apis, walletapi.New(u, client))
	}
	r.api = r.apis[0]
	// Registering, binding cards and raising limits need one-time codes:
	// the gateway keeps them for the operator (OTP_DELIVERY=outbox).
	r.api.Codes = r.api.OperatorCodes(o.operator)
	for _, k := range []string{"pay", "create", "cycle", "refund", "withdraw", "topup", "transfer", "history", "statement", "code", "charge"} {
		r.stats[k] = newStats()
	}
	return r
}

// drive runs step until the duration ends (and at least -min-steps steps
// have finished): in a closed loop of -concurrency, or started at -rate per
// second (latency then counts from when a step was due, so a slow gateway
// cannot hide its queue).
func (r *runner) drive(ctx context.Context, step func(ctx context.Context, r *runner, due time.Time) error) time.Duration {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.start = time.Now()
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.o.duration):
		}
		for r.steps.Load() < int64(r.o.minSteps) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		cancel()
	}()
	r.wire.on.Store(true)
	defer r.wire.on.Store(false)
	stopProgress := r.showProgress(ctx)
	defer stopProgress()
	if r.o.profileURL != "" {
		stopProfile := r.fetchProfile(ctx)
		defer stopProfile()
	}
	var wg sync.WaitGroup
	one := func(due time.Time) {
		err := step(ctx, r, due)
		if ctx.Err() != nil && err != nil {
			return // cut short by the end of the run: neither a success nor a failure
		}
		r.steps.Add(1)
		if err != nil {
			r.failed.Add(1)
		}
	}
	if r.o.rate <= 0 {
		for range r.o.concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil && !r.ranOut.Load() {
					one(time.Now())
				}
			}()
		}
	} else {
		inflight := make(chan struct{}, r.o.concurrency)
		interval := time.Duration(float64(time.Second) / r.o.rate)
		next := time.Now()
		for ctx.Err() == nil && !r.ranOut.Load() {
			if d := time.Until(next); d > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
				if ctx.Err() != nil {
					break
				}
			}
			select {
			case inflight <- struct{}{}:
			case <-ctx.Done():
				continue
			}
			wg.Add(1)
			go func(due time.Time) {
				defer func() { <-inflight; wg.Done() }()
				one(due)
			}(next)
			next = next.Add(interval)
		}
	}
	wg.Wait()
	return time.Since(r.start)
}

// fetchProfile fetches a CPU profile of the gateway while the timed phase
// runs (all of it but its first and last seconds, at most 30 s).
func (r *runner) fetchProfile(ctx context.Context) func() {
	secs := min(30, int(r.o.duration.Seconds())-2)
	if secs < 1 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimRight(r.o.profileURL, "/"), secs))
		if err != nil {
			logf(r.progress, "profile: %v", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(r.o.profileOut)
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			logf(r.progress, "profile: %v", err)
		}
	}()
	return func() { <-done }
}

// showProgress prints a line a second on stderr when it is a terminal.
func (r *runner) showProgress(ctx context.Context) func() {
	f, ok := r.progress.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				fmt.Fprintln(f)
				return
			case <-t.C:
				el := time.Since(r.start).Seconds()
				fmt.Fprintf(f, "\r%5.0fs  %8d steps  %7.0f/s  %6d failed ", el, r.steps.Load(), float64(r.steps.Load())/el, r.failed.Load())
			}
		}
	}()
	return func() { <-done }
}

// record counts a step's outcome, unless the end of the run cut it short:
// such a step neither succeeded nor failed (its outcome, if it moved
// money, is learnt after the run).
func (r *runner) record(ctx context.Context, kind string, d time.Duration, err error) {
	if err != nil && ctx.Err() != nil {
		return
	}
	r.stats[kind].record(d, err)
	var answered *sdk.Error
	if err != nil && !errors.As(err, &answered) {
		// The request got no answer at all (the gateway is down or
		// restarting): pause, rather than storm a closed port.
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (r *runner) key(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, r.start.UnixNano(), r.seq.Add(1))
}

func (r *runner) randomPayer() *payer { return r.payers[rand.IntN(len(r.payers))] }

// pay pays a payload from p with one of its cards and records the answer.
func (r *runner) pay(ctx context.Context, p *payer, payload string, amount, staticAmount int64, due time.Time) error {
	card := rand.IntN(len(p.cards))
	body := walletapi.PayParams{QRPayload: payload, CardID: p.cards[card], PIN: loadPIN, Amount: staticAmount}
	key := r.key("pay")
	mv, err := r.next().Pay(ctx, p.token, key, body)
	r.record(ctx, "pay", time.Since(due), err)
	switch {
	case err == nil:
		p.ackPayment(mv.ID, p.masks[card], amount)
	case isUnknown(err):
		r.remember(pending{kind: "pay", from: p, key: key, card: card, body: body, amt: amount})
	}
	return err
}

func (p *payer) ackPayment(id, mask string, amount int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.payments.add(amount)
	p.byCard[mask].add(amount)
	p.paymentIDs[id] = true
}

func (r *runner) remember(q pending) {
	r.unknown.Lock()
	r.unknown.list = append(r.unknown.list, q)
	r.unknown.Unlock()
}

// isUnknown reports whether err leaves the request's outcome unknown: no
// answer came, or the gateway could not tell (503).
func isUnknown(err error) bool {
	var e *sdk.Error
	if errors.As(err, &e) {
		return e.HTTPStatus >= 500
	}
	return err != nil
}
