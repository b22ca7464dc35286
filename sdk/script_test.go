package sdk_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/sdk"
)

const (
	testKeyID  = "qk_7Q2M9X4K1C"
	testSecret = "sk_test_5f1d0c9a"
)

// orderJSON is the Order of docs/merchant-api.md.
const orderJSON = `{"id": "0193a1b2-0001", "merchant_id": "0193a1b2-m001", "merchant_order_no": "POS1-000123",
 "amount": 1200, "currency": "CNY", "description": "2 coffees", "terminal_id": "POS1",
 "status": "created", "qr_payload": "000201010212…6304ABCD",
 "qr_png_url": "/v1/orders/0193a1b2-0001/qr.png", "expires_at": "2026-11-26T10:15:00Z",
 "created_at": "2026-11-26T10:00:00Z", "paid_at": null, "fee": 0,
 "refunded_amount": 0}`

// seen is one request as it reached the gateway.
type seen struct {
	Method     string
	RequestURI string
	Header     http.Header
	Body       []byte
}

// script is a fake gateway that records every request and answers the n-th
// with steps[n]; the last step answers everything after it.
type script struct {
	mu    sync.Mutex
	reqs  []seen
	steps []http.HandlerFunc
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, seen{r.Method, r.RequestURI, r.Header.Clone(), body})
	step := s.steps[min(n, len(s.steps)-1)]
	s.mu.Unlock()
	step(w, r)
}

func (s *script) seen() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// newScripted starts a fake gateway playing steps and returns a client of
// it whose retries do not wait but record their waits in *waits.
func newScripted(t *testing.T, steps []http.HandlerFunc, opts ...sdk.Option) (*sdk.Client, *script, *[]time.Duration) {
	t.Helper()
	s := &script{steps: steps}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	waits := new([]time.Duration)
	sleep := sdk.WithSleep(func(ctx context.Context, d time.Duration) error {
		*waits = append(*waits, d)
		return ctx.Err()
	})
	return sdk.NewClient(srv.URL, testKeyID, testSecret, append([]sdk.Option{sleep}, opts...)...), s, waits
}

// answer replies with status and body, and header as name, value pairs.
func answer(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if body != "" && w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// refuse replies in the gateway's error model.
func refuse(status int, code string, header ...string) http.HandlerFunc {
	return answer(status, `{"error":{"code":"`+code+`","message":"refused: `+code+`","request_id":"REQ-`+code+`"}}`, header...)
}

// resetConnection drops the connection with a TCP reset, the way a crashing
// gateway or a load balancer losing its backend does.
func resetConnection(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// dropConnection closes the connection without a word after reading the
// request: a kept-alive connection dying under a request.
func dropConnection(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// startServer serves h on a loopback port until the test ends and returns
// its base URL.
func startServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
