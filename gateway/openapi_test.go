package gateway_test

import (
	"net/http"
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
