package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestRollingRestartLosesNothing restarts both of two replicas, one after
// the other, behind a load balancer while the load runs: each is drained
// (its /readyz turns 503, the balancer stops sending it requests, the ones
// in flight finish), shut down and replaced by a new process on another
// address. Not one request fails, and the money, the card limits and the
// idempotency of every step hold.
func TestRollingRestartLosesNothing(t *testing.T) {
	t.Parallel()
	a := gatewaytest.Start(t)
	b := a.Replica(t)
	lb := newBalancer(t, a.URL, b.URL)
	o := options{url: lb.URL, operator: gatewaytest.OperatorToken, scenario: "hot-cycle", duration: 3 * time.Second,
		concurrency: 6, payers: 4, cards: 2, orders: 300, amount: 1200}

	// The restarts begin once the set-up is done and the timed run starts.
	running := &signalWriter{match: "running ", seen: make(chan struct{})}
	restarts := make(chan error, 1)
	go func() {
		var err error
		defer func() { restarts <- err }()
		<-running.seen
		live := []*gatewaytest.Env{a, b}
		for i := range live {
			time.Sleep(900 * time.Millisecond)
			next := a.Replica(t)
			lb.add(next.URL)
			// The drain: readiness fails at once; the balancer sees it
			// within its check interval and sends nothing new; requests
			// already inside finish before the server closes.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = live[i].Server.Shutdown(ctx, 10*lb.interval)
			cancel()
			live[i].App.Close()
			lb.remove(live[i].URL)
			if err != nil {
				return
			}
		}
	}()
	res, err := run(context.Background(), o, running)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-restarts; err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	if lb.removed.Load() != 2 {
		t.Fatalf("%d replicas restarted; want 2", lb.removed.Load())
	}
	if res.Payments == 0 || res.Errors != 0 {
		t.Errorf("rolling restart under load: %d payments, errors %v; want some and none", res.Payments, res.ErrorsByCode)
	}
	if !res.InvariantsOK {
		t.Errorf("rolling restart under load: invariants violated: %v", res.Violations)
	}
	if lb.unready.Load() == 0 {
		t.Error("the balancer never saw a draining replica's /readyz fail")
	}
}

// signalWriter closes seen when a line starting with match is written.
type signalWriter struct {
	match string
	seen  chan struct{}
	once  sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte(w.match)) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

// balancer is a load balancer as one runs in front of the gateways: round
// robin over the replicas whose /readyz answers 200 (checked every
// interval), and a request that could not reach its replica at all (the
// connection refused: nothing was sent) tried on the next one.
type balancer struct {
	URL      string
	interval time.Duration

	mu       sync.Mutex
	backends []*backend
	next     int

	unready atomic.Int64 // readiness checks that failed
	removed atomic.Int64
}

type backend struct {
	url   *url.URL
	proxy *httputil.ReverseProxy
	ready atomic.Bool
	gone  chan struct{}
}

func newBalancer(t *testing.T, urls ...string) *balancer {
	lb := &balancer{interval: 20 * time.Millisecond}
	for _, u := range urls {
		lb.add(u)
	}
	srv := httptest.NewServer(http.HandlerFunc(lb.serve))
	t.Cleanup(func() {
		srv.Close()
		lb.mu.Lock()
		defer lb.mu.Unlock()
		for _, b := range lb.backends {
			close(b.gone)
		}
		lb.backends = nil
	})
	lb.URL = srv.URL
	return lb
}

func (lb *balancer) add(raw string) {
	u, _ := url.Parse(raw)
	b := &backend{url: u, gone: make(chan struct{})}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u); r.Out.Host = r.In.Host },
		// A failure is left to forward, which may try another replica.
		ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
			r.Context().Value(attemptKey{}).(*attempt).err = err
		},
	}
	b.ready.Store(lb.check(b))
	go func() {
		tick := time.NewTicker(lb.interval)
		defer tick.Stop()
		for {
			select {
			case <-b.gone:
				return
			case <-tick.C:
				b.ready.Store(lb.check(b))
			}
		}
	}()
	lb.mu.Lock()
	lb.backends = append(lb.backends, b)
	lb.mu.Unlock()
}

func (lb *balancer) remove(raw string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for i, b := range lb.backends {
		if b.url.String() == raw {
			close(b.gone)
			lb.backends = append(lb.backends[:i], lb.backends[i+1:]...)
			lb.removed.Add(1)
			return
		}
	}
}

func (lb *balancer) check(b *backend) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.url.String()+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		lb.unready.Add(1)
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		lb.unready.Add(1)
		return false
	}
	return true
}

// pick returns the ready replicas, starting with the next in turn.
func (lb *balancer) pick() []*backend {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	var ready []*backend
	for i := range lb.backends {
		b := lb.backends[(lb.next+i)%len(lb.backends)]
		if b.ready.Load() {
			ready = append(ready, b)
		}
	}
	lb.next++
	return ready
}

type attemptKey struct{}

// attempt is one try of a request on one replica.
type attempt struct{ err error }

func (lb *balancer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, b := range lb.pick() {
		if lb.forward(b, w, r, body) {
			return
		}
	}
	http.Error(w, "no replica is ready", http.StatusBadGateway)
}

// forward sends r to b. It reports false when the request never reached b
// (the connection was refused, so nothing was sent and another replica may
// take it); any other failure is answered 502.
func (lb *balancer) forward(b *backend, w http.ResponseWriter, r *http.Request, body []byte) bool {
	try := &attempt{}
	r2 := r.Clone(context.WithValue(r.Context(), attemptKey{}, try))
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	b.proxy.ServeHTTP(w, r2)
	if try.err == nil {
		return true
	}
	var op *net.OpError
	if errors.Is(try.err, syscall.ECONNREFUSED) && errors.As(try.err, &op) && op.Op == "dial" {
		return false
	}
	http.Error(w, try.err.Error(), http.StatusBadGateway)
	return true
}
