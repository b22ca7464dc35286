package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/merchant"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 0 || !strings.Contains(out.String(), "qrpay "+version) {
			t.Errorf("qrpay %v = %d, %q %q; want 0 and the version", args, code, out.String(), errb.String())
		}
	}
}

// TestMissingSecretsReportedTogether: serve names every missing secret in
// one error, not one per restart.
func TestMissingSecretsReportedTogether(t *testing.T) {
	err := Config{}.requireSecrets()
	for _, name := range []string{"SECRET_PEPPER", "CARD_TOKEN_KEY", "MERCHANT_SECRET_KEY"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("requireSecrets() = %v; want it to name %s", err, name)
		}
	}
}

// TestHealthcheck: the image's health probe passes while /readyz answers
// 200 and fails otherwise.
func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	t.Setenv("PORT", port)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"healthcheck"}, &out, &errb); code != 0 {
		t.Errorf("healthcheck of a ready gateway = %d %s; want 0", code, errb.String())
	}
	status = http.StatusServiceUnavailable
	if code := run(context.Background(), []string{"healthcheck"}, &out, &errb); code == 0 {
		t.Error("healthcheck of a gateway that is not ready = 0; want a failure")
	}
}

// TestDockerFiles: the image checks its health, the build context leaves
// out what it should not send, and compose waits longer on stop than the
// gateway's shutdown delay and timeout.
func TestDockerFiles(t *testing.T) {
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^HEALTHCHECK .*qrpay", "healthcheck"`).Match(df) {
		t.Error("Dockerfile has no HEALTHCHECK running qrpay healthcheck")
	}
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".git", "bin/", "bench-results/"} {
		if !strings.Contains(string(ignore), p) {
			t.Errorf(".dockerignore does not leave out %s", p)
		}
	}
	compose, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	grace := regexp.MustCompile(`stop_grace_period: (\d+)s`).FindSubmatch(compose)
	delay := regexp.MustCompile(`SHUTDOWN_DELAY: (\d+)s`).FindSubmatch(compose)
	if grace == nil || delay == nil {
		t.Fatal("docker-compose.yml sets no stop_grace_period or SHUTDOWN_DELAY for the gateway")
	}
	g, _ := strconv.Atoi(string(grace[1]))
	d, _ := strconv.Atoi(string(delay[1]))
	timeout := 20 // SHUTDOWN_TIMEOUT's default
	if time.Duration(g)*time.Second <= time.Duration(d+timeout)*time.Second {
		t.Errorf("stop_grace_period %ds is not longer than SHUTDOWN_DELAY %ds + SHUTDOWN_TIMEOUT %ds", g, d, timeout)
	}
	if !strings.Contains(string(compose), `["CMD", "/usr/local/bin/qrpay", "healthcheck"]`) {
		t.Error("docker-compose.yml has no healthcheck for the gateway")
	}
}

// TestServicesStartOnlyTheDefaults: .ci/services (make run, make test)
// starts a stopped local Redis or PostgreSQL only on its standard local
// address; for any other address it says what is unreachable and fails,
// leaving nothing running behind.
func TestServicesStartOnlyTheDefaults(t *testing.T) {
	const port = "6391"
	cmd := exec.Command("bash", "../../.ci/services")
	cmd.Env = append(os.Environ(), "REDIS_URL=redis://127.0.0.1:"+port+"/0")
	out, err := cmd.CombinedOutput()
	if conn, derr := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second); derr == nil {
		conn.Close()
		_ = exec.Command("redis-cli", "-p", port, "shutdown", "nosave").Run()
		t.Errorf(".ci/services started a Redis on a non-default address:\n%s", out)
	}
	if err == nil || !strings.Contains(string(out), "127.0.0.1:"+port) {
		t.Errorf(".ci/services with REDIS_URL on port %s = %v\n%s; want a failure naming the address", port, err, out)
	}
}

// TestRedisNoticesAreJSON: go-redis's own notices come out as JSON log
// lines like every other, not as plain text.
func TestRedisNoticesAreJSON(t *testing.T) {
	var buf bytes.Buffer
	redisLogger{slog.New(slog.NewJSONHandler(&buf, nil))}.Printf(context.Background(), "redis: connection pool: %s", "dial failed")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["msg"] != "redis: connection pool: dial failed" || line["level"] != "WARN" {
		t.Errorf("redis notice logged as %q (%v); want a JSON warning", buf.String(), err)
	}
}

// TestConfigErrorsNameTheVariable: a bad setting is reported by its
// environment variable, which is what the operator can change.
func TestConfigErrorsNameTheVariable(t *testing.T) {
	t.Setenv("PORT", "eighty")
	t.Setenv("LEDGER_COMMITTERS", "four")
	_, err := loadConfig()
	if err == nil || !strings.Contains(err.Error(), "PORT") || !strings.Contains(err.Error(), "LEDGER_COMMITTERS") ||
		strings.Contains(err.Error(), `"Port"`) {
		t.Errorf("loadConfig() = %v; want both variables named, not the Go fields", err)
	}
}

// TestRateLimitSettings: limits are read as EVENTS/DURATION or off, and a
// bad one, or a bad proxy network, is reported by its variable.
func TestRateLimitSettings(t *testing.T) {
	t.Setenv("LOGIN_LIMIT_PER_CLIENT", "10/30s")
	t.Setenv("MERCHANT_KEY_LIMIT", "off")
	t.Setenv("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1/32")
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	app := c.appConfig(nil, nil, nil)
	if got := app.Wallet.LoginPerClient.String(); got != "10/30s" {
		t.Errorf("LOGIN_LIMIT_PER_CLIENT = %s; want 10/30s", got)
	}
	if !app.Server.MerchantKeyLimit.Off() || len(app.Server.TrustedProxies) != 2 {
		t.Errorf("MERCHANT_KEY_LIMIT off = %v, TRUSTED_PROXIES = %v; want off and two networks",
			app.Server.MerchantKeyLimit.Off(), app.Server.TrustedProxies)
	}
	for name, bad := range map[string]string{"LOGIN_LIMIT_PER_PHONE": "sixty", "TRUSTED_PROXIES": "10.0.0.0/33"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, bad)
			if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%s: loadConfig() = %v; want an error naming it", name, bad, err)
			}
		})
	}
}

// TestWebhookRetrySchedule: by default the dispatcher retries on the
// schedule docs/webhooks.md lists; WEBHOOK_RETRY_SCHEDULE replaces it, and
// a schedule that is not durations, not positive or too long is refused (an empty one is the default).
func TestWebhookRetrySchedule(t *testing.T) {
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.appConfig(nil, nil, nil).Webhooks.RetrySchedule; !slices.Equal(got, merchant.RetrySchedule) {
		t.Errorf("default WEBHOOK_RETRY_SCHEDULE = %v; want merchant.RetrySchedule %v", got, merchant.RetrySchedule)
	}
	t.Setenv("WEBHOOK_RETRY_SCHEDULE", "1s,2s,500ms")
	if c, err = loadConfig(); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 500 * time.Millisecond}
	if got := c.appConfig(nil, nil, nil).Webhooks.RetrySchedule; !slices.Equal(got, want) {
		t.Errorf("WEBHOOK_RETRY_SCHEDULE=1s,2s,500ms: %v; want %v", got, want)
	}
	for _, bad := range []string{",", "soon", "1s,0s", "1s,-1s", strings.Repeat("1s,", 50) + "1s"} {
		t.Setenv("WEBHOOK_RETRY_SCHEDULE", bad)
		if _, err := loadConfig(); err == nil || !strings.Contains(err.Error(), "WEBHOOK_RETRY_SCHEDULE") {
			t.Errorf("WEBHOOK_RETRY_SCHEDULE=%q: loadConfig() = %v; want an error naming it", bad, err)
		}
	}
}
