package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway"
	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// answered sends a request and fails the test if no answer comes within
// limit: a dependency that hangs must not hang the request with it.
func answered(t *testing.T, limit time.Duration, do func() gatewaytest.Response) gatewaytest.Response {
	t.Helper()
	ch := make(chan gatewaytest.Response, 1)
	go func() { ch <- do() }()
	select {
	case r := <-ch:
		return r
	case <-time.After(limit):
		t.Fatalf("no answer within %s", limit)
		return gatewaytest.Response{}
	}
}

// readyNames checks that /readyz answers within its budget, 503, naming
// down as unavailable and up as ok.
func readyNames(t *testing.T, env *gatewaytest.Env, down, up string) {
	t.Helper()
	ready := answered(t, 5*time.Second, func() gatewaytest.Response { return env.Do(t, "GET", "/readyz", nil) })
	var h gateway.Health
	_ = json.Unmarshal(ready.Body, &h)
	if ready.Status != http.StatusServiceUnavailable || h.Checks[down] != "unavailable" || h.Checks[up] != "ok" {
		t.Errorf("readyz with %s frozen = %d %s; want 503, %s unavailable, %s ok", down, ready.Status, ready.Body, down, up)
	}
}

// recovers retries do until it answers 200, failing the test after 15 s.
func recovers(t *testing.T, what string, do func() gatewaytest.Response) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := do()
		if r.Status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d %s", what, r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFrozenPostgresFailsFast: a PostgreSQL that stops answering (a stopped
// process, a dead network path) fails reads within the statement deadline,
// opens the breaker after BreakerFailures of them, and then fails requests
// without sending anything to it; /readyz says which dependency is down
// within its own budget; everything resumes when it answers again.
func TestFrozenPostgresFailsFast(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) {
		o.PostgresProxy = true
		o.DBTimeout = 300 * time.Millisecond
		o.BreakerFailures = 3
		o.BreakerOpenFor = 3 * time.Second
	})
	p := env.NewPayer(t, 10_000)
	get := func() gatewaytest.Response {
		return answered(t, 10*time.Second, func() gatewaytest.Response { return env.Do(t, "GET", "/v1/wallet", nil, p.Auth()...) })
	}
	if r := get(); r.Status != http.StatusOK {
		t.Fatalf("wallet before the freeze = %d %s", r.Status, r.Body)
	}

	env.PostgresProxy.Freeze()
	defer env.PostgresProxy.Thaw()
	for i := 0; env.DB.Breaker().State() != "open"; i++ {
		if i == 6 {
			t.Fatalf("breaker still %s after %d requests to a frozen PostgreSQL", env.DB.Breaker().State(), i)
		}
		if r := get(); r.Status != http.StatusServiceUnavailable || r.Code() != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("wallet with PostgreSQL frozen = %d %s (Retry-After %q); want 503 unavailable with Retry-After",
				r.Status, r.Body, r.Header.Get("Retry-After"))
		}
	}
	sent := env.PostgresProxy.Sent()
	r := get()
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("wallet with the breaker open = %d %s; want 503 with Retry-After", r.Status, r.Body)
	}
	if got := env.PostgresProxy.Sent(); got != sent {
		t.Errorf("with the breaker open the request still sent %d bytes to PostgreSQL", got-sent)
	}
	if env.Ledger.BreakerState() != "open" {
		t.Errorf("ledger breaker = %s; want the same, open, breaker", env.Ledger.BreakerState())
	}

	readyNames(t, env, "postgres", "redis")

	env.PostgresProxy.Thaw()
	recovers(t, "wallet after the thaw", get)
}

// TestFrozenRedisFailsFast: the same for Redis, met first by a signed
// merchant request's nonce check.
func TestFrozenRedisFailsFast(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) {
		o.RedisProxy = true
		o.BreakerFailures = 3
		o.BreakerOpenFor = 3 * time.Second
	})
	m := env.NewMerchant(t, nil)
	list := func() gatewaytest.Response {
		return answered(t, 10*time.Second, func() gatewaytest.Response { return env.Signed(t, m, "GET", "/v1/orders", nil) })
	}
	if r := list(); r.Status != http.StatusOK {
		t.Fatalf("orders before the freeze = %d %s", r.Status, r.Body)
	}
	env.RedisProxy.Freeze()
	defer env.RedisProxy.Thaw()
	var opened bool
	for range 6 {
		r := list()
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Fatalf("orders with Redis frozen = %d %s; want 503 with Retry-After", r.Status, r.Body)
		}
		sent := env.RedisProxy.Sent()
		if r := list(); r.Status == http.StatusServiceUnavailable && env.RedisProxy.Sent() == sent {
			opened = true
			break
		}
	}
	if !opened {
		t.Fatal("requests kept reaching the frozen Redis: no breaker in front of it")
	}
	readyNames(t, env, "redis", "postgres")
	env.RedisProxy.Thaw()
	recovers(t, "orders after the thaw", list)
}
