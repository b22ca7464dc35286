package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/ratelimit"
)

// from is the header that makes a test request come from client addr
// (the test gateway trusts loopback as its load balancer).
func from(addr string, headers ...string) []string {
	return append([]string{"X-Forwarded-For", addr}, headers...)
}

func login(t *testing.T, env *gatewaytest.Env, phone, password, client string) gatewaytest.Response {
	t.Helper()
	return env.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": phone, "password": password,
		"device_id": gatewaytest.DeviceID(phone)}, from(client)...)
}

// wantLimited checks a 429 rate_limited answer with a Retry-After of
// whole seconds within (0, most].
func wantLimited(t *testing.T, what string, r gatewaytest.Response, most int) {
	t.Helper()
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if r.Status != http.StatusTooManyRequests || r.Code() != "rate_limited" || err != nil || secs < 1 || secs > most {
		t.Errorf("%s = %d %s, Retry-After %q; want 429 rate_limited, Retry-After 1..%d s",
			what, r.Status, r.Body, r.Header.Get("Retry-After"), most)
	}
}

// TestLoginLimitedPerClient: one client address gets LoginPerClient
// attempts, whatever the phones; another address is not held back.
func TestLoginLimitedPerClient(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) {
		o.Wallet.LoginPerClient = ratelimit.Limit{Events: 3, Per: time.Minute}
	})
	c := env.NewCustomer(t) // signs in from loopback, another client
	for i := range 3 {
		if r := login(t, env, fmt.Sprintf("+8613000000%03d", i), "wrong password", "203.0.113.7"); r.Status != http.StatusUnauthorized {
			t.Fatalf("attempt %d = %d %s; want 401", i+1, r.Status, r.Body)
		}
	}
	wantLimited(t, "fourth attempt from one address", login(t, env, c.Phone, gatewaytest.Password, "203.0.113.7"), 20)
	if r := login(t, env, c.Phone, gatewaytest.Password, "203.0.113.8"); r.Status != http.StatusCreated {
		t.Errorf("sign-in from another address = %d %s; want 201", r.Status, r.Body)
	}
	// An IPv6 client is one /64: its other addresses share its budget.
	for i := range 3 {
		login(t, env, c.Phone, "wrong password", fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	wantLimited(t, "fourth attempt from the same /64", login(t, env, c.Phone, gatewaytest.Password, "2001:db8:1:2:ffff::9"), 20)
}

// TestLoginLimitedPerPhone: one phone number gets LoginPerPhone attempts
// from all addresses together, and an unknown number is counted just the
// same, so the limit does not tell which numbers have wallets.
func TestLoginLimitedPerPhone(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) {
		o.Wallet.LoginPerPhone = ratelimit.Limit{Events: 3, Per: time.Hour}
	})
	known := env.NewCustomer(t).Phone // one attempt spent signing in
	unknown := "+8613000000999"
	login(t, env, unknown, gatewaytest.Password, "127.0.0.1")
	for _, phone := range []string{known, unknown} {
		for i := range 2 {
			if r := login(t, env, phone, "wrong password", fmt.Sprintf("198.51.100.%d", i+1)); r.Status != http.StatusUnauthorized {
				t.Fatalf("%s attempt %d = %d %s; want 401", phone, i+2, r.Status, r.Body)
			}
		}
		wantLimited(t, phone+" fourth attempt, from a fresh address", login(t, env, phone, gatewaytest.Password, "198.51.100.9"), 1200)
	}
}

// TestLoginAnswersAlike: an unknown phone, a wrong password and a locked
// sign-in get the same answer, word for word, so none of them tells an
// attacker whether the number has a wallet.
func TestLoginAnswersAlike(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	c := env.NewCustomer(t)
	answer := func(r gatewaytest.Response) string {
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(r.Body, &e)
		return fmt.Sprintf("%d %s %q Retry-After %q", r.Status, e.Error.Code, e.Error.Message, r.Header.Get("Retry-After"))
	}
	unknown := answer(login(t, env, "+8613000000123", "wrong password", "192.0.2.1"))
	wrong := answer(login(t, env, c.Phone, "wrong password", "192.0.2.2"))
	for range 5 {
		login(t, env, c.Phone, "wrong password", "192.0.2.3")
	}
	locked := answer(login(t, env, c.Phone, gatewaytest.Password, "192.0.2.3"))
	if unknown != wrong || wrong != locked || !strings.HasPrefix(unknown, "401 unauthorized ") {
		t.Errorf("unknown phone: %s\nwrong password: %s\nlocked: %s\nwant all alike, 401 unauthorized", unknown, wrong, locked)
	}
}

// TestLoginLockoutIsPerClient: wrong passwords from one address lock
// sign-in for that address only; the owner signs in from theirs.
func TestLoginLockoutIsPerClient(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	c := env.NewCustomer(t)
	for range 8 {
		login(t, env, c.Phone, "attacker's guess", "198.51.100.66")
	}
	if r := login(t, env, c.Phone, gatewaytest.Password, "198.51.100.66"); r.Status != http.StatusUnauthorized {
		t.Errorf("the right password from the locked address = %d %s; want 401", r.Status, r.Body)
	}
	if r := login(t, env, c.Phone, gatewaytest.Password, "203.0.113.20"); r.Status != http.StatusCreated {
		t.Errorf("the owner, from another address = %d %s; want 201", r.Status, r.Body)
	}
	env.Clock.Advance(16 * time.Minute)
	if r := login(t, env, c.Phone, gatewaytest.Password, "198.51.100.66"); r.Status != http.StatusCreated {
		t.Errorf("the right password after the lockout = %d %s; want 201", r.Status, r.Body)
	}
}

// TestSecretChecksLimitedPerWallet: a wallet's PIN checks, wherever they
// happen, share one budget in front of the PIN lockout; a refused check
// is not made and does not count towards the lockout.
func TestSecretChecksLimitedPerWallet(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) {
		o.Wallet.SecretChecks = ratelimit.Limit{Events: 3, Per: time.Minute}
	})
	p, to := env.NewPayer(t, 1000), env.NewPayer(t, 0)
	for i := range 2 {
		if r := env.Do(t, "POST", "/v1/wallet/pin/verify", map[string]string{"pin": "000000"}, p.Auth()...); r.Code() != "pin_invalid" {
			t.Fatalf("PIN check %d = %d %s; want 403 pin_invalid", i+1, r.Status, r.Body)
		}
	}
	if r := env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_wallet_id": to.WalletID, "amount": 10, "pin": p.PIN},
		p.Idem("third")...); r.Status != http.StatusCreated {
		t.Fatalf("transfer = %d %s; want 201", r.Status, r.Body)
	}
	wantLimited(t, "fourth PIN check", env.Do(t, "POST", "/v1/wallet/pin/verify", map[string]string{"pin": p.PIN}, p.Auth()...), 20)
	wantLimited(t, "transfer after the budget", env.Do(t, "POST", "/v1/wallet/transfers",
		map[string]any{"to_wallet_id": to.WalletID, "amount": 10, "pin": p.PIN}, p.Idem("fourth")...), 20)
	wantLimited(t, "PIN change after the budget", env.Do(t, "PUT", "/v1/wallet/pin",
		map[string]string{"pin": "246801", "old_pin": p.PIN}, p.Auth()...), 20)
	if r := env.Do(t, "POST", "/v1/wallet/pin/verify", map[string]string{"pin": to.PIN}, to.Auth()...); r.Status != http.StatusNoContent {
		t.Errorf("another wallet's PIN check = %d %s; want 204", r.Status, r.Body)
	}
	env.Clock.Advance(time.Minute)
	if r := env.Do(t, "POST", "/v1/wallet/pin/verify", map[string]string{"pin": p.PIN}, p.Auth()...); r.Status != http.StatusNoContent {
		t.Errorf("PIN check a minute later = %d %s; want 204 (two wrong PINs, no lockout)", r.Status, r.Body)
	}
}

// TestMerchantKeyLimited: each API key gets MerchantKeyLimit signed
// requests; requests that fail the signature check spend nothing, so
// nobody can use up another merchant's budget.
func TestMerchantKeyLimited(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) {
		o.MerchantKeyLimit = ratelimit.Limit{Events: 3, Per: time.Minute}
	})
	k, other := env.NewMerchant(t, nil), env.NewMerchant(t, nil)
	forged := k
	forged.Secret = "sk_not_the_secret"
	for range 5 {
		if r := env.Signed(t, forged, "GET", "/v1/merchant", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("forged request = %d %s; want 401", r.Status, r.Body)
		}
	}
	for i := range 3 {
		if r := env.Signed(t, k, "GET", "/v1/merchant", nil); r.Status != http.StatusOK {
			t.Fatalf("request %d = %d %s; want 200", i+1, r.Status, r.Body)
		}
	}
	wantLimited(t, "fourth request", env.Signed(t, k, "POST", "/v1/orders",
		map[string]any{"merchant_order_no": "over", "amount": 100}, "Idempotency-Key", "over"), 20)
	if r := env.Signed(t, other, "GET", "/v1/merchant", nil); r.Status != http.StatusOK {
		t.Errorf("another merchant's key = %d %s; want 200", r.Status, r.Body)
	}
}

// TestRateLimitsSharedByReplicas: the budgets live in Redis, so two
// replicas spend from the same ones.
func TestRateLimitsSharedByReplicas(t *testing.T) {
	t.Parallel()
	limit := func(o *gatewaytest.Options) {
		o.Wallet.LoginPerClient = ratelimit.Limit{Events: 4, Per: time.Minute}
		o.MerchantKeyLimit = ratelimit.Limit{Events: 4, Per: time.Minute}
	}
	a := gatewaytest.Start(t, limit)
	b := a.Replica(t, limit)
	k := a.NewMerchant(t, nil)
	for i := range 4 {
		env := []*gatewaytest.Env{a, b}[i%2]
		if r := login(t, env, "+8613000000777", "wrong password", "203.0.113.50"); r.Status != http.StatusUnauthorized {
			t.Fatalf("login %d = %d %s; want 401", i+1, r.Status, r.Body)
		}
		if r := env.Signed(t, k, "GET", "/v1/merchant", nil); r.Status != http.StatusOK {
			t.Fatalf("merchant request %d = %d %s; want 200", i+1, r.Status, r.Body)
		}
	}
	for _, env := range []*gatewaytest.Env{a, b} {
		wantLimited(t, "fifth login", login(t, env, "+8613000000777", "wrong password", "203.0.113.50"), 20)
		wantLimited(t, "fifth merchant request", env.Signed(t, k, "GET", "/v1/merchant", nil), 20)
	}
}

// TestRateLimitedIsDocumented: the OpenAPI document lists 429 where the
// limits apply, and sign-in no longer answers 423.
func TestRateLimitedIsDocumented(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	env.Do(t, "GET", "/openapi.json", nil).JSON(t, &doc)
	for _, op := range []struct{ method, path string }{
		{"post", "/v1/wallet/sessions"}, {"post", "/v1/wallet/pin/verify"}, {"put", "/v1/wallet/pin"},
		{"post", "/v1/wallet/transfers"}, {"post", "/v1/wallet/payments"}, {"post", "/v1/wallet/close"},
		{"get", "/v1/merchant"}, {"post", "/v1/orders"}, {"get", "/v1/settlements"},
	} {
		if _, ok := doc.Paths[op.path][op.method].Responses["429"]; !ok {
			t.Errorf("%s %s does not document 429", op.method, op.path)
		}
	}
	if _, ok := doc.Paths["/v1/wallet/sessions"]["post"].Responses["423"]; ok {
		t.Errorf("sign-in documents 423, which it never answers")
	}
}

// TestLimitsFailClosedWithoutRedis: the budgets and sign-in lockouts live
// in Redis, so without it sign-in and PIN checks answer 503 with
// Retry-After rather than check secrets unguarded; open sessions still
// read the wallet.
func TestLimitsFailClosedWithoutRedis(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) { o.RedisProxy = true })
	p := env.NewPayer(t, 0)
	env.RedisProxy.Cut()
	for what, r := range map[string]gatewaytest.Response{
		"sign-in":   login(t, env, p.Phone, gatewaytest.Password, "203.0.113.1"),
		"PIN check": env.Do(t, "POST", "/v1/wallet/pin/verify", map[string]string{"pin": p.PIN}, p.Auth()...),
	} {
		if r.Status != http.StatusServiceUnavailable || r.Code() != "unavailable" || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s with Redis down = %d %s; want 503 unavailable with Retry-After", what, r.Status, r.Body)
		}
	}
	if r := env.Do(t, "GET", "/v1/wallet", nil, p.Auth()...); r.Status != http.StatusOK {
		t.Errorf("reading the wallet with Redis down = %d %s; want 200", r.Status, r.Body)
	}
	env.RedisProxy.Restore()
}
