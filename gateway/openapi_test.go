package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestOpenAPIDocumentIsValid loads the served document with a validating
// OpenAPI loader: references resolve, and every example fits its schema.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	r := env.Do(t, "GET", "/openapi.json", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d %s", r.Status, r.Body)
	}
	if _, err := gatewaytest.LoadContract(r.Body); err != nil {
		t.Fatalf("/openapi.json: %v", err)
	}
}

// TestMalformedPathsAreRefused sends ids and dates that cannot name
// anything. Each gets a clear 4xx; the harness checks that the document
// lists it for the route.
func TestMalformedPathsAreRefused(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	c := env.NewCustomer(t)
	op := []string{"Authorization", "Bearer " + gatewaytest.OperatorToken}
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"settlement date", "GET", "/v1/settlements/yesterday", nil, 400, "invalid"},
		{"settlement file date", "GET", "/v1/settlements/yesterday/file", nil, 400, "invalid"},
		{"settlement verify date", "GET", "/v1/settlements/yesterday/verify", nil, 400, "invalid"},
		{"order id", "GET", "/v1/orders/not-an-id", nil, 404, "not_found"},
		{"order png id", "GET", "/v1/orders/not-an-id/qr.png", nil, 404, "not_found"},
		{"refund id", "GET", "/v1/refunds/not-an-id", nil, 404, "not_found"},
		{"event id", "GET", "/v1/webhooks/events/not-an-id", nil, 404, "not_found"},
		{"card id", "GET", "/v1/wallet/cards/not-an-id", nil, 404, "not_found"},
		{"movement id", "GET", "/v1/wallet/movements/not-an-id", nil, 404, "not_found"},
		{"statement month", "GET", "/v1/wallet/statements/2026-13", nil, 400, "invalid"},
		{"merchant id", "GET", "/v1/admin/merchants/not-an-id", nil, 404, "not_found"},
		{"settle an unknown merchant", "POST", "/v1/admin/settlements/run",
			map[string]any{"date": "2020-01-01", "merchant_id": "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"}, 404, "not_found"},
		{"verify without date", "GET", "/v1/admin/settlements/verify", nil, 400, "invalid"},
	}
	for _, tt := range tests {
		var r gatewaytest.Response
		switch {
		case strings.HasPrefix(tt.path, "/v1/wallet/"):
			r = env.Do(t, tt.method, tt.path, tt.body, c.Auth()...)
		case strings.HasPrefix(tt.path, "/v1/admin/"):
			r = env.Do(t, tt.method, tt.path, tt.body, op...)
		default:
			r = env.Signed(t, k, tt.method, tt.path, tt.body)
		}
		if r.Status != tt.status || r.Code() != tt.code {
			t.Errorf("%s: %s %s = %d %s; want %d %s", tt.name, tt.method, tt.path, r.Status, r.Body, tt.status, tt.code)
		}
	}
}
