package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway"
	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/risk"
	"github.com/qrpay/qrpay/sdk/walletapi"
)

func TestDemoWalksTheWholeStory(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) {
		o.Risk = gateway.RiskConfig{Enabled: true, Thresholds: risk.DefaultThresholds()} // as qrpay serve runs by default
	})
	stdout, stderr, code := qrpay(t, "demo", "-url", env.URL, "-operator-token", gatewaytest.OperatorToken)
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for i := 1; i <= 11; i++ {
		if !strings.Contains(stdout, fmt.Sprintf("\n%d. ", i)) {
			t.Errorf("demo printed no step %d:\n%s", i, stdout)
		}
	}
	if strings.Contains(stdout, "FAILED") || !strings.Contains(stdout, "all 11 steps passed") ||
		!strings.Contains(stdout, "asked to step up") {
		t.Errorf("demo output:\n%s", stdout)
	}
	t.Logf("demo output:\n%s", stdout)
	// The books still balance after everything the demo moved.
	var report ledger.Report
	r := env.Do(t, "GET", "/v1/admin/ledger/check", nil, "Authorization", "Bearer "+gatewaytest.OperatorToken)
	r.JSON(t, &report)
	if r.Status != 200 || len(report.Drifts)+len(report.Unbalanced)+len(report.Overdrawn) != 0 || report.Total["CNY"] != 0 {
		t.Errorf("ledger check after the demo = %d %s", r.Status, r.Body)
	}
}

func TestDemoSaysWhichStepFailed(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	stdout, stderr, code := qrpay(t, "demo", "-url", env.URL, "-operator-token", "wrong-token")
	if code != 1 || !strings.Contains(stderr, "step 1 (onboard a merchant) failed: onboarding through the admin API") || !strings.Contains(stderr, "unauthorized: operator token required (HTTP 401, request id ") ||
		!strings.Contains(stdout, "1. onboard a merchant: FAILED") {
		t.Errorf("demo with a wrong operator token = %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 naming step 1 and unauthorized", code, stdout, stderr)
	}
}

// A gateway without monthly statements fails step 8 clearly rather than
// with a bare 404.
func TestDemoStatementStepNeedsTheRoute(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/openapi.json" {
			w.Write([]byte(`{"paths":{"/v1/wallet":{"get":{}}}}`))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	d := &demo{base: srv.URL, api: walletapi.New(srv.URL, srv.Client()), loc: time.UTC}
	_, err := d.statement(context.Background())
	if err == nil || !strings.Contains(err.Error(), "GET /v1/wallet/statements/{month}") || !strings.Contains(err.Error(), "not in its /openapi.json") {
		t.Errorf("statement step without the route = %v; want it to name the missing route", err)
	}
}
