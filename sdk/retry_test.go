package sdk_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

// TestRetriesUntilSuccess runs a gateway that fails every way a retry can
// cure — 503, 500, a reset connection — before it succeeds.
func TestRetriesUntilSuccess(t *testing.T) {
	client, gw, waits := newScripted(t, []http.HandlerFunc{
		refuse(503, "unavailable"), refuse(500, "internal"), resetConnection, answer(201, orderJSON),
	}, sdk.WithMaxRetries(3))
	o, err := client.CreateOrder(context.Background(), &sdk.OrderParams{MerchantOrderNo: "POS1-000123", Amount: 1200})
	if err != nil {
		t.Fatalf("CreateOrder = %v; want the fourth attempt's order", err)
	}
	if o.ID != "0193a1b2-0001" {
		t.Errorf("order id = %q", o.ID)
	}
	reqs := gw.seen()
	if len(reqs) != 4 || len(*waits) != 3 {
		t.Fatalf("%d attempts, %d waits; want 4 and 3", len(reqs), len(*waits))
	}
	key := reqs[0].Header.Get("Idempotency-Key")
	for i, r := range reqs {
		if r.Header.Get("Idempotency-Key") != key || string(r.Body) != string(reqs[0].Body) {
			t.Errorf("attempt %d sent another key or body than the first", i+1)
		}
	}
}

func TestRetriesAreBounded(t *testing.T) {
	for _, tt := range []struct {
		name     string
		opts     []sdk.Option
		attempts int
	}{
		{"default: 2 retries", nil, 3},
		{"WithMaxRetries(5)", []sdk.Option{sdk.WithMaxRetries(5)}, 6},
		{"WithMaxRetries(0)", []sdk.Option{sdk.WithMaxRetries(0)}, 1},
		{"WithMaxRetries(-1)", []sdk.Option{sdk.WithMaxRetries(-1)}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client, gw, _ := newScripted(t, []http.HandlerFunc{refuse(503, "unavailable", "Retry-After", "1")}, tt.opts...)
			_, err := client.GetOrder(context.Background(), "o1")
			if !errors.Is(err, sdk.ErrUnavailable) {
				t.Errorf("err = %v; want the last answer, unavailable", err)
			}
			if n := len(gw.seen()); n != tt.attempts {
				t.Errorf("%d attempts; want %d", n, tt.attempts)
			}
		})
	}
}

func TestWhatIsRetried(t *testing.T) {
	for _, tt := range []struct {
		step  http.HandlerFunc
		retry bool
	}{
		{refuse(400, "invalid"), false},
		{refuse(400, "invalid_json"), false},
		{refuse(401, "unauthorized"), false},
		{refuse(403, "forbidden"), false},
		{refuse(404, "not_found"), false},
		{refuse(409, "conflict"), false},
		{refuse(409, "order_already_paid"), false},
		{refuse(410, "order_expired"), false},
		{refuse(422, "idempotency_mismatch"), false},
		{refuse(422, "refund_exceeds_payment"), false},
		{refuse(409, "idempotency_in_progress"), true},
		{refuse(429, "rate_limited"), true},
		{refuse(500, "internal"), true},
		{refuse(503, "unavailable"), true},
		{answer(502, "<html>Bad Gateway</html>", "Content-Type", "text/html"), true},
		{answer(504, ""), true},
		{resetConnection, true},
		{dropConnection, true},
	} {
		client, gw, _ := newScripted(t, []http.HandlerFunc{tt.step, answer(200, orderJSON)})
		_, err := client.GetOrder(context.Background(), "o1")
		got := len(gw.seen()) == 2 && err == nil
		if got != tt.retry {
			t.Errorf("after %v (%d attempts): retried = %v; want %v", err, len(gw.seen()), got, tt.retry)
		}
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	for _, tt := range []struct {
		name  string
		step  http.HandlerFunc
		wait  time.Duration
		exact bool
	}{
		{"409 in progress, Retry-After: 1", refuse(409, "idempotency_in_progress", "Retry-After", "1"), time.Second, true},
		{"503, Retry-After: 2", refuse(503, "unavailable", "Retry-After", "2"), 2 * time.Second, true},
		{"429, Retry-After capped at 30 s", refuse(429, "rate_limited", "Retry-After", "3600"), 30 * time.Second, true},
		{"no Retry-After: backoff at most the base", refuse(503, "unavailable"), 100 * time.Millisecond, false},
		{"unreadable Retry-After: backoff", refuse(503, "unavailable", "Retry-After", "soon"), 100 * time.Millisecond, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client, gw, waits := newScripted(t, []http.HandlerFunc{tt.step, answer(201, orderJSON)},
				sdk.WithRetryDelay(100*time.Millisecond, time.Second))
			if _, err := client.CreateOrder(context.Background(), &sdk.OrderParams{MerchantOrderNo: "n", Amount: 1}); err != nil {
				t.Fatal(err)
			}
			if len(gw.seen()) != 2 || len(*waits) != 1 {
				t.Fatalf("%d attempts, waits %v; want 2 attempts and 1 wait", len(gw.seen()), *waits)
			}
			got := (*waits)[0]
			if tt.exact && got != tt.wait || !tt.exact && (got < 0 || got > tt.wait) {
				t.Errorf("waited %v; want %v (exact: %v)", got, tt.wait, tt.exact)
			}
		})
	}
}

// TestBackoffGrowsWithFullJitter checks the bounds of many waits: each
// retry waits between zero and min(base·2ⁿ, max).
func TestBackoffGrowsWithFullJitter(t *testing.T) {
	client, _, waits := newScripted(t, []http.HandlerFunc{refuse(503, "unavailable")},
		sdk.WithMaxRetries(5), sdk.WithRetryDelay(100*time.Millisecond, 350*time.Millisecond))
	var seen [5]time.Duration
	for range 200 {
		*waits = (*waits)[:0]
		client.GetOrder(context.Background(), "o1")
		for i, w := range *waits {
			bound := min(100*time.Millisecond<<i, 350*time.Millisecond)
			if w < 0 || w > bound {
				t.Fatalf("retry %d waited %v; want within [0, %v]", i+1, w, bound)
			}
			seen[i] = max(seen[i], w)
		}
	}
	// Full jitter spreads over the whole range: the longest of 200 draws
	// comes near the bound.
	if seen[0] < 50*time.Millisecond || seen[4] < 175*time.Millisecond {
		t.Errorf("longest waits %v; want them to reach toward their bounds", seen)
	}
}

// TestRetryAfterInRealTime runs the default sleep: the retry comes about a
// second after the 409 said Retry-After: 1.
func TestRetryAfterInRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a second")
	}
	gw := &script{steps: []http.HandlerFunc{refuse(409, "idempotency_in_progress", "Retry-After", "1"), answer(201, orderJSON)}}
	srv := startServer(t, gw)
	client := sdk.NewClient(srv, testKeyID, testSecret)
	start := time.Now()
	if _, err := client.CreateOrder(context.Background(), &sdk.OrderParams{MerchantOrderNo: "n", Amount: 1}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second || took > 3*time.Second {
		t.Errorf("took %v; want about 1 s", took)
	}
}

func TestCancelStopsRetries(t *testing.T) {
	gw := &script{steps: []http.HandlerFunc{refuse(503, "unavailable", "Retry-After", "5")}}
	client := sdk.NewClient(startServer(t, gw), testKeyID, testSecret, sdk.WithMaxRetries(10))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "n", Amount: 1})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v; want context.Canceled", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("returned after %v; want promptly after the cancel", took)
	}
	if n := len(gw.seen()); n != 1 {
		t.Errorf("%d attempts; want 1: none may start after the cancel", n)
	}

	// Already cancelled: nothing is sent.
	gw = &script{steps: []http.HandlerFunc{answer(200, orderJSON)}}
	client = sdk.NewClient(startServer(t, gw), testKeyID, testSecret)
	if _, err := client.GetOrder(ctx, "o1"); !errors.Is(err, context.Canceled) || len(gw.seen()) != 0 {
		t.Errorf("with a cancelled context: %v after %d requests; want context.Canceled and none", err, len(gw.seen()))
	}
}

// TestCancelDuringRequest cancels while the gateway is still thinking.
func TestCancelDuringRequest(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	gw := &script{steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}}}
	client := sdk.NewClient(startServer(t, gw), testKeyID, testSecret)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.GetOrder(ctx, "o1")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Errorf("err = %v after %v; want DeadlineExceeded, promptly", err, time.Since(start))
	}
	if n := len(gw.seen()); n != 1 {
		t.Errorf("%d attempts; want 1", n)
	}
}

// TestDeadlineBeforeRetryAfter: when the context's deadline comes before the
// gateway's Retry-After, waiting would only end in DeadlineExceeded; the
// gateway's own answer is returned at once instead.
func TestDeadlineBeforeRetryAfter(t *testing.T) {
	gw := &script{steps: []http.HandlerFunc{refuse(503, "unavailable", "Retry-After", "5")}}
	client := sdk.NewClient(startServer(t, gw), testKeyID, testSecret)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := client.GetOrder(ctx, "o1")
	if !errors.Is(err, sdk.ErrUnavailable) || time.Since(start) > time.Second {
		t.Errorf("err = %v after %v; want unavailable at once", err, time.Since(start))
	}
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	var waits []time.Duration
	client := sdk.NewClient("http://"+addr, testKeyID, testSecret, sdk.WithSleep(func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}))
	_, err = client.GetMerchant(context.Background())
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err = %v; want connection refused", err)
	}
	if len(waits) != 2 {
		t.Errorf("%d retries; want 2", len(waits))
	}
}
