package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/gateway"
	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/gateway/web"
	"github.com/qrpay/qrpay/ledger"
)

const operatorToken = gatewaytest.OperatorToken

type testServer struct {
	*gateway.Server
	URL string
}

// startServer runs a whole gateway; extra registers test-only routes.
func startServer(t *testing.T, extra func(app *fiber.App)) *testServer {
	t.Helper()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) { o.Routes = extra })
	return &testServer{Server: env.Server, URL: env.URL}
}

func do(t *testing.T, method, url, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// doEarlyAnswer sends a request whose answer may come, and the connection
// close, before its body is written (a body over the limit): it ignores the
// error of writing into a closed connection and reads the answer.
func doEarlyAnswer(t *testing.T, base, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		method, path, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func errorCode(t *testing.T, body []byte) gateway.ErrorDetail {
	t.Helper()
	var e gateway.ErrorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e.Error
}

func TestHealth(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	for _, path := range []string{"/livez", "/readyz"} {
		resp, body := do(t, "GET", ts.URL+path, "")
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d %s; want 200", path, resp.StatusCode, body)
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("GET %s: no X-Request-Id", path)
		}
	}
}

func TestErrorModel(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(app *fiber.App) {
		app.Get("/test/panic", func(*fiber.Ctx) error { panic("boom") })
	})
	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string
	}{
		{"unknown route", "GET", "/v1/nope", "", nil, 404, "not_found"},
		{"panic", "GET", "/test/panic", "", nil, 500, "internal"},
		{"body too large", "POST", "/v1/nope", `{"a":"` + strings.Repeat("x", 70000) + `"}`, nil, 413, "payload_too_large"},
		{"no operator token", "GET", "/v1/admin/ledger/check", "", nil, 401, "unauthorized"},
		{"wrong operator token", "GET", "/v1/admin/ledger/check", "", []string{"Authorization", "Bearer nope"}, 401, "unauthorized"},
	}
	for _, tt := range tests {
		var resp *http.Response
		var body []byte
		if tt.status == http.StatusRequestEntityTooLarge {
			resp, body = doEarlyAnswer(t, ts.URL, tt.method, tt.path, tt.body)
		} else {
			resp, body = do(t, tt.method, ts.URL+tt.path, tt.body, tt.headers...)
		}
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status = %d; want %d (%s)", tt.name, resp.StatusCode, tt.status, body)
			continue
		}
		e := errorCode(t, body)
		if string(e.Code) != tt.code || e.Message == "" || e.RequestID == "" {
			t.Errorf("%s: error = %+v; want code %q with a message and request id", tt.name, e, tt.code)
		}
		if e.RequestID != resp.Header.Get("X-Request-Id") {
			t.Errorf("%s: body request id %q != header %q", tt.name, e.RequestID, resp.Header.Get("X-Request-Id"))
		}
		if strings.Contains(string(body), "boom") {
			t.Errorf("%s: internal detail leaked: %s", tt.name, body)
		}
	}
}

func TestRequestIDPropagates(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	resp, _ := do(t, "GET", ts.URL+"/livez", "", "X-Request-Id", "pos-42-abc")
	if got := resp.Header.Get("X-Request-Id"); got != "pos-42-abc" {
		t.Errorf("X-Request-Id = %q; want the caller's pos-42-abc", got)
	}
	resp, _ = do(t, "GET", ts.URL+"/livez", "", "X-Request-Id", "bad id with spaces")
	if got := resp.Header.Get("X-Request-Id"); got == "bad id with spaces" || got == "" {
		t.Errorf("X-Request-Id = %q; want a fresh id instead of an invalid one", got)
	}
}

func TestAdminLedgerCheck(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	resp, body := do(t, "GET", ts.URL+"/v1/admin/ledger/check", "", "Authorization", "Bearer "+operatorToken)
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d %s", resp.StatusCode, body)
	}
	var r ledger.Report
	if err := json.Unmarshal(body, &r); err != nil || !r.OK() {
		t.Errorf("report = %s (%v); want a consistent ledger", body, err)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	do(t, "GET", ts.URL+"/livez", "")
	_, body := do(t, "GET", ts.URL+"/metrics", "")
	for _, want := range []string{
		`qrpay_http_requests_total{method="GET",route="/livez",status="200"}`,
		`qrpay_http_request_duration_seconds_bucket{method="GET",route="/livez",status="200"`,
		"qrpay_http_in_flight_requests",
		`qrpay_circuit_breaker_state{name="postgres"}`,
		"go_goroutines",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s in:\n%.2000s", want, body)
		}
	}
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	resp, body := do(t, "GET", ts.URL+"/openapi.json", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q; want 3.x", doc.OpenAPI)
	}
	for _, r := range ts.App().GetRoutes(true) {
		switch r.Path {
		case "/livez", "/readyz", "/metrics", "/openapi.json", "/":
			continue
		}
		if web.IsPage(r.Path) {
			continue // pages for people (package web), not the API
		}
		path := r.Path
		for _, p := range r.Params {
			path = strings.Replace(path, ":"+p, "{"+p+"}", 1)
		}
		if _, ok := doc.Paths[path][strings.ToLower(r.Method)]; !ok && r.Method != "HEAD" {
			t.Errorf("route %s %s is not in /openapi.json", r.Method, r.Path)
		}
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	ts := startServer(t, func(app *fiber.App) {
		app.Get("/test/slow", func(c *fiber.Ctx) error {
			<-release
			return c.SendString("finished")
		})
	})
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(ts.URL + "/test/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	time.Sleep(100 * time.Millisecond) // let the slow request start
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(context.Background(), 300*time.Millisecond) }()
	time.Sleep(50 * time.Millisecond)
	resp, _ := do(t, "GET", ts.URL+"/readyz", "")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining = %d; want 503", resp.StatusCode)
	}
	close(release)
	if got := <-slow; got != "finished" {
		t.Errorf("in-flight request = %q; want it to finish", got)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
