package gateway_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/ratelimit"
)

// lowOTPThreshold makes transfers above 1000 need a code.
func lowOTPThreshold(o *gatewaytest.Options) { o.Wallet.OTPTransferThreshold = 1000 }

// TestOperationsNeedOneTimeCodes: each operation that needs a code is
// refused without one (otp_required naming its purpose, with a challenge),
// changes nothing, and goes through with the code sent.
func TestOperationsNeedOneTimeCodes(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, lowOTPThreshold)
	p, friend := env.NewPayer(t, 100000), env.NewCustomer(t)
	try := func(purpose, method, path string, body map[string]any, headers []string, want int) gatewaytest.Response {
		t.Helper()
		r := env.Do(t, method, path, body, headers...)
		ch := r.Challenge(t)
		if ch.Purpose != purpose || ch.ID == "" || !strings.Contains(ch.SentTo, "****") {
			t.Errorf("%s %s: challenge %+v; want purpose %s, sent to a masked phone", method, path, ch, purpose)
		}
		body["otp"] = env.OTP(t, ch)
		r = env.Do(t, method, path, body, headers...)
		if r.Status != want {
			t.Errorf("%s %s with the code = %d %s; want %d", method, path, r.Status, r.Body, want)
		}
		return r
	}

	phone := "+8613612345678"
	try("register", "POST", "/v1/wallet/customers", map[string]any{"phone": phone, "password": gatewaytest.Password}, nil, http.StatusCreated)

	// A device the wallet has not seen needs a code; once seen, it does not.
	login := map[string]any{"phone": p.Phone, "password": gatewaytest.Password, "device_id": "new-phone"}
	try("login", "POST", "/v1/wallet/sessions", login, nil, http.StatusCreated)
	delete(login, "otp")
	if r := env.Do(t, "POST", "/v1/wallet/sessions", login); r.Status != http.StatusCreated {
		t.Errorf("sign-in from the device just confirmed = %d %s; want 201", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/wallet/sessions", map[string]any{"phone": p.Phone, "password": gatewaytest.Password}); r.Code() != "otp_required" {
		t.Errorf("sign-in without a device id = %d %s; want otp_required", r.Status, r.Body)
	}

	try("bind_card", "POST", "/v1/wallet/cards", map[string]any{"number": "5555555555554444", "exp_month": 12, "exp_year": 2099,
		"holder_name": "Li Lei"}, p.Auth(), http.StatusCreated)

	limitsPath := "/v1/wallet/cards/" + p.CardID + "/limits"
	if r := env.Do(t, "PATCH", limitsPath, map[string]any{"per_transaction": 1000}, p.Auth()...); r.Status != http.StatusOK {
		t.Errorf("lowering a card limit = %d %s; want 200 without a code", r.Status, r.Body)
	}
	try("raise_card_limits", "PATCH", limitsPath, map[string]any{"per_transaction": 900000}, p.Auth(), http.StatusOK)

	// A transfer at the threshold needs none; above it, one bound to it.
	if r := env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_wallet_id": friend.WalletID, "amount": 1000, "pin": p.PIN},
		p.Idem("small")...); r.Status != http.StatusCreated {
		t.Errorf("a transfer at the threshold = %d %s; want 201", r.Status, r.Body)
	}
	try("transfer", "POST", "/v1/wallet/transfers", map[string]any{"to_wallet_id": friend.WalletID, "amount": 1001, "pin": p.PIN},
		p.Idem("large"), http.StatusCreated)
	if got := balance(t, env, friend); got != 2001 {
		t.Errorf("the recipient holds %d; want 2001 (each transfer once)", got)
	}

	empty := env.NewCustomer(t)
	try("close_wallet", "POST", "/v1/wallet/close", map[string]any{"password": gatewaytest.Password}, empty.Auth(), http.StatusOK)
	checkLedger(t, env)
}

// TestOneTimeCodeRules: a wrong code, a code for another operation (another
// purpose, another amount), a used code and an expired one are refused.
func TestOneTimeCodeRules(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, lowOTPThreshold)
	p, friend := env.NewPayer(t, 100000), env.NewCustomer(t)
	transfer := func(amount int64, key string, otp any) gatewaytest.Response {
		body := map[string]any{"to_wallet_id": friend.WalletID, "amount": amount, "pin": p.PIN}
		if otp != nil {
			body["otp"] = otp
		}
		return env.Do(t, "POST", "/v1/wallet/transfers", body, p.Idem(key)...)
	}
	ch := transfer(5000, "t1", nil).Challenge(t)
	code := env.OTP(t, ch)
	wrong := map[string]string{"challenge_id": ch.ID, "code": "000000"}
	if code["code"] == "000000" {
		wrong["code"] = "111111"
	}
	if r := transfer(5000, "t1", wrong); r.Code() != "otp_invalid" {
		t.Errorf("a wrong code = %d %s; want otp_invalid", r.Status, r.Body)
	}
	if r := transfer(6000, "t1", code); r.Code() != "otp_invalid" {
		t.Errorf("the code of a 5000 transfer on a 6000 one = %d %s; want otp_invalid", r.Status, r.Body)
	}
	closeCh := env.Do(t, "POST", "/v1/wallet/close", map[string]any{"password": gatewaytest.Password}, friend.Auth()...).Challenge(t)
	if r := transfer(5000, "t1", env.OTP(t, closeCh)); r.Code() != "otp_invalid" {
		t.Errorf("a close_wallet code on a transfer = %d %s; want otp_invalid", r.Status, r.Body)
	}
	if r := transfer(5000, "t1", code); r.Status != http.StatusCreated {
		t.Fatalf("the right code = %d %s", r.Status, r.Body)
	}
	if r := transfer(5000, "t2", code); r.Code() != "otp_expired" {
		t.Errorf("the code used again = %d %s; want otp_expired", r.Status, r.Body)
	}
	ch = transfer(5000, "t3", nil).Challenge(t)
	code = env.OTP(t, ch)
	env.Clock.Advance(6 * time.Minute)
	if r := transfer(5000, "t3", code); r.Code() != "otp_expired" {
		t.Errorf("a code after its 5 minutes = %d %s; want otp_expired", r.Status, r.Body)
	}
	if got := balance(t, env, friend); got != 5000 {
		t.Errorf("the recipient holds %d; want 5000", got)
	}
}

// TestOneTimeCodeTries: five wrong codes use a challenge up.
func TestOneTimeCodeTries(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	c := env.NewCustomer(t)
	bind := map[string]any{"number": "5555555555554444", "exp_month": 12, "exp_year": 2099, "holder_name": "Li Lei"}
	ch := env.Do(t, "POST", "/v1/wallet/cards", bind, c.Auth()...).Challenge(t)
	code := env.OTP(t, ch)
	for i := range 5 {
		bind["otp"] = map[string]string{"challenge_id": ch.ID, "code": "99999" + string(rune('0'+i))}
		if bind["otp"].(map[string]string)["code"] == code["code"] {
			continue
		}
		if r := env.Do(t, "POST", "/v1/wallet/cards", bind, c.Auth()...); r.Code() != "otp_invalid" {
			t.Errorf("wrong code %d = %d %s; want otp_invalid", i+1, r.Status, r.Body)
		}
	}
	bind["otp"] = code
	if r := env.Do(t, "POST", "/v1/wallet/cards", bind, c.Auth()...); r.Code() != "otp_expired" {
		t.Errorf("the right code after five wrong ones = %d %s; want otp_expired", r.Status, r.Body)
	}
}

// TestOneTimeCodesRateLimitedPerPhone: codes sent to one phone number are
// budgeted; the code itself is written to one log line only.
func TestOneTimeCodesRateLimitedPerPhone(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) { o.Wallet.OTPPerPhone = ratelimit.Limit{Events: 2, Per: time.Hour} })
	body := map[string]any{"phone": "+8613655555555", "password": gatewaytest.Password}
	var codes []string
	for range 2 {
		r := env.Do(t, "POST", "/v1/wallet/customers", body)
		codes = append(codes, env.OTP(t, r.Challenge(t))["code"])
	}
	r := env.Do(t, "POST", "/v1/wallet/customers", body)
	if r.Status != http.StatusTooManyRequests || r.Code() != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Errorf("a third code within the hour = %d %s; want 429 rate_limited with Retry-After", r.Status, r.Body)
	}
	for _, code := range codes {
		lines := 0
		for _, l := range strings.Split(env.Logs.String(), "\n") {
			if strings.Contains(l, code) {
				lines++
				if !strings.Contains(l, "one-time code sent") {
					t.Errorf("the code %s is in another log line: %s", code, l)
				}
			}
		}
		if lines != 1 {
			t.Errorf("the code %s is in %d log lines; want 1", code, lines)
		}
	}
}

// TestOneCodeUsedConcurrently: ten transfers carrying one code at once
// (each under its own Idempotency-Key): exactly one goes through.
func TestOneCodeUsedConcurrently(t *testing.T) {
	t.Parallel()
	const burst = 10
	env := gatewaytest.Start(t, lowOTPThreshold, func(o *gatewaytest.Options) {
		// The PIN is checked before the code, and more PIN checks in flight
		// at once than MaxAttempts are turned away as rate_limited before
		// they reach the code. On a busy machine all ten are in flight
		// together: room for all of them makes every one race for the code.
		o.Wallet.MaxAttempts = burst
	})
	p, friend := env.NewPayer(t, 100000), env.NewCustomer(t)
	body := map[string]any{"to_wallet_id": friend.WalletID, "amount": 2000, "pin": p.PIN}
	ch := env.Do(t, "POST", "/v1/wallet/transfers", body, p.Idem("first")...).Challenge(t)
	body["otp"] = env.OTP(t, ch)
	rs := concurrently(t, env, burst, "POST", "/v1/wallet/transfers", func(int) any { return body },
		func(i int) []string { return p.Idem("conc-" + string(rune('a'+i))) })
	ok := 0
	for _, r := range rs {
		switch {
		case r.Status == http.StatusCreated:
			ok++
		case r.Code() == "otp_expired":
		default:
			t.Errorf("transfer = %d %s; want 201 or otp_expired", r.Status, r.Body)
		}
	}
	if ok != 1 {
		t.Errorf("%d transfers went through with one code; want 1", ok)
	}
	if got := balance(t, env, friend); got != 2000 {
		t.Errorf("the recipient holds %d; want 2000", got)
	}
	checkLedger(t, env)
}
