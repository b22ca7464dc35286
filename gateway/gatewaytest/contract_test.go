package gatewaytest

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestContractCheck(t *testing.T) {
	t.Parallel()
	env := Start(t)
	contract, err := LoadContract(env.Server.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	wallet := `{"wallet_id":"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b","phone":"+8613800138000","currency":"CNY",` +
		`"balance":0,"status":"active","frozen":false,"pin_set":false,"created_at":"2026-11-25T10:30:00+08:00"}`
	errorBody := `{"error":{"code":"unauthorized","message":"session required","request_id":"r1"}}`
	tests := []struct {
		name         string
		method, path string
		reqBody      string
		status       int
		contentType  string
		body         string
		streamed     bool
		want         string // "" when the exchange keeps the contract
	}{
		{"documented success", "GET", "/v1/wallet", "", 200, "application/json; charset=utf-8", wallet, false, ""},
		{"documented error", "GET", "/v1/wallet", "", 401, "application/json", errorBody, false, ""},
		{"undocumented status", "GET", "/v1/wallet", "", 418, "application/json", errorBody, false, "status 418 is not documented"},
		{"undocumented 304", "GET", "/v1/wallet", "", 304, "", "", false, "status 304 is not documented"},
		{"missing required field", "GET", "/v1/wallet", "", 200, "application/json",
			strings.Replace(wallet, `"balance":0,`, "", 1), false, `property "balance" is missing`},
		{"unknown field", "GET", "/v1/wallet", "", 200, "application/json",
			strings.Replace(wallet, `"phone"`, `"nickname":"x","phone"`, 1), false, "nickname"},
		{"undocumented error code", "GET", "/v1/wallet", "", 401, "application/json",
			strings.Replace(errorBody, "unauthorized", "card_frozen", 1), false, "card_frozen"},
		{"error body of another shape", "GET", "/v1/wallet", "", 401, "application/json", `{"message":"no"}`, false, "error"},
		{"undocumented content type", "GET", "/v1/wallet", "", 200, "text/plain", "ok", false, "text/plain"},
		{"streamed file of another type", "GET", "/v1/settlements/2026-11-25/file", "", 200, "text/html", "", true, "text/html"},
		{"rejected request accepted", "POST", "/v1/wallet/customers", `{"phone":13800138000}`, 201, "application/json", wallet, false,
			"request the document rejects"},
		{"unknown route answered", "GET", "/v1/nope", "", 200, "application/json", `{}`, false, "answered 200"},
		{"unknown route refused", "GET", "/v1/nope", "", 404, "application/json",
			`{"error":{"code":"not_found","message":"no such route","request_id":"r1"}}`, false, ""},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, "http://127.0.0.1"+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tt.reqBody != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		header := http.Header{}
		if tt.contentType != "" {
			header.Set("Content-Type", tt.contentType)
		}
		if tt.streamed {
			header.Set("ETag", `"abc"`)
		}
		err = contract.Check(Exchange{Request: req, RequestBody: []byte(tt.reqBody), Status: tt.status, Header: header,
			Body: []byte(tt.body), Streamed: tt.streamed})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Check = %v; want nil", tt.name, err)
		case tt.want != "" && err == nil:
			t.Errorf("%s: Check = nil; want a violation mentioning %q", tt.name, tt.want)
		case tt.want != "" && !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s: Check = %v; want a violation mentioning %q", tt.name, err, tt.want)
		}
	}
}

// recorder keeps the contract violations a gateway reports instead of
// failing the test with them.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	reported []string
}

func (r *recorder) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !strings.HasPrefix(msg, "OpenAPI contract: ") {
		r.TB.Errorf("%s", msg)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reported = append(r.reported, msg)
}

// TestContractFailsTheTest serves an undocumented method on a documented
// path and checks that the test that made the call is told, with the
// request, the status and the reason.
func TestContractFailsTheTest(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	t.Cleanup(func() { // runs after the gateway's own cleanups
		rec.mu.Lock()
		defer rec.mu.Unlock()
		want := "GET /v1/wallet/customers = 200: method not allowed, yet the gateway answered 200 (2 times)"
		if len(rec.reported) != 1 || !strings.Contains(rec.reported[0], want) {
			t.Errorf("reported %q; want one violation %q", rec.reported, want)
		}
	})
	env := Start(rec, func(o *Options) {
		o.Routes = func(app *fiber.App) {
			app.Get("/v1/wallet/customers", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"ok": true}) })
		}
	})
	for range 2 {
		if r := env.Do(t, "GET", "/v1/wallet/customers", nil); r.Status != http.StatusOK {
			t.Fatalf("GET /v1/wallet/customers = %d %s", r.Status, r.Body)
		}
	}
	if r := env.Do(t, "GET", "/livez", nil); r.Status != http.StatusOK {
		t.Fatalf("GET /livez = %d", r.Status)
	}
}
