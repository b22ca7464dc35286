package gateway_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/testenv"
)

// TestSecretsAreNeitherStoredNorLogged runs every flow that handles a
// secret — registration and log-in (with a wrong guess too), one-time
// codes, cards bound with full numbers, the PIN set, changed and checked, a
// payment above the PIN threshold, a top-up above it, a transfer, a
// device's approval key registered and a payment it approved, a merchant
// with a webhook secret and API keys (one rotated), webhooks delivered, a
// refund and a settlement — then reads every row of every table, every
// Redis key of the gateway and every line logged: no card number, PIN,
// password, one-time code, device private key, API key or webhook secret,
// session token or configured key may appear in them. Hashes, last fours,
// public keys and ids may.
func TestSecretsAreNeitherStoredNorLogged(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	op := []string{"Authorization", "Bearer " + gatewaytest.OperatorToken}
	const (
		password  = "Tiger-Lily-Quartz-5521"
		wrongPass = "Tiger-Lily-Quartz-5522"
		pin       = "802731"
		newPIN    = "640913"
		wrongPIN  = "517286"
	)
	secrets := map[string]string{ // what → the secret
		"password": password, "a wrong password": wrongPass,
		"operator token": gatewaytest.OperatorToken,
		"pepper":         string(gatewaytest.WalletConfig().Pepper), "card token key": string(gatewaytest.WalletConfig().CardKey),
		"merchant secret key": "test-merchant-secret-0123456789",
	}
	pins := map[string]string{"PIN": pin, "new PIN": newPIN, "a wrong PIN": wrongPIN}

	// A wallet, and a friend to send money to.
	phone := "+8613655501234"
	device := gatewaytest.DeviceID(phone)
	if r := env.DoOTP(t, "POST", "/v1/wallet/customers", map[string]any{"phone": phone, "password": password, "device_id": device}); r.Status != http.StatusCreated {
		t.Fatalf("register = %d %s", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": phone, "password": wrongPass, "device_id": device}); r.Status != http.StatusUnauthorized {
		t.Fatalf("log in with a wrong password = %d %s", r.Status, r.Body)
	}
	r := env.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": phone, "password": password, "device_id": device})
	var sess struct {
		Token string `json:"token"`
	}
	r.JSON(t, &sess)
	secrets["session token"] = sess.Token
	auth := []string{"Authorization", "Bearer " + sess.Token}
	friend := env.NewCustomer(t)
	secrets["another session token"] = friend.Token

	var cardIDs []string
	for i, number := range []string{"4111 1111 1111 1111", "5555555555554444", "6212-3456-7890-1265"} {
		r := env.DoOTP(t, "POST", "/v1/wallet/cards", map[string]any{"number": number, "exp_month": 12, "exp_year": 2099,
			"holder_name": "Li Lei"}, auth...)
		if r.Status != http.StatusCreated {
			t.Fatalf("bind %s = %d %s", number, r.Status, r.Body)
		}
		var c struct {
			ID string `json:"id"`
		}
		r.JSON(t, &c)
		cardIDs = append(cardIDs, c.ID)
		secrets[fmt.Sprint("card number ", i)] = strings.NewReplacer(" ", "", "-", "").Replace(number)
	}
	// A number refused by the issuer is a card number all the same.
	env.DoOTP(t, "POST", "/v1/wallet/cards", map[string]any{"number": "4000000000009987", "exp_month": 1, "exp_year": 2099,
		"holder_name": "Li Lei"}, auth...)
	secrets["refused card number"] = "4000000000009987"

	must := func(what string, r gatewaytest.Response, status int) {
		t.Helper()
		if r.Status != status {
			t.Fatalf("%s = %d %s; want %d", what, r.Status, r.Body, status)
		}
	}
	must("set PIN", env.Do(t, "PUT", "/v1/wallet/pin", map[string]string{"pin": pin}, auth...), http.StatusNoContent)
	// Above the PIN threshold, so the top-up checks the PIN.
	must("top up", env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": cardIDs[0], "amount": 200_000, "pin": pin},
		append(auth, "Idempotency-Key", "secrets-topup")...), http.StatusCreated)
	must("verify a wrong PIN", env.Do(t, "POST", "/v1/wallet/pin/verify", map[string]string{"pin": wrongPIN}, auth...), http.StatusForbidden)
	must("change PIN", env.Do(t, "PUT", "/v1/wallet/pin", map[string]string{"pin": newPIN, "old_pin": pin}, auth...), http.StatusNoContent)
	must("verify PIN", env.Do(t, "POST", "/v1/wallet/pin/verify", map[string]string{"pin": newPIN}, auth...), http.StatusNoContent)
	must("transfer", env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_phone": friend.Phone, "amount": 1500,
		"note": "dinner", "pin": newPIN}, append(auth, "Idempotency-Key", "secrets-transfer")...), http.StatusCreated)

	// A merchant with a webhook receiver and keys, one of them rotated.
	hook := newReceiver(t, 0)
	k := env.NewMerchant(t, map[string]any{"name": "Secret Garden Cafe", "webhook_url": hook.URL + "/hook"})
	hook.secret = k.WebhookSecret
	secrets["webhook secret"], secrets["API key secret"] = k.WebhookSecret, k.Secret
	r = env.Do(t, "POST", "/v1/admin/merchants/"+k.MerchantID+"/keys/"+k.KeyID+"/rotate", map[string]any{"grace_seconds": 3600}, op...)
	must("rotate key", r, http.StatusCreated)
	var rotated struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	r.JSON(t, &rotated)
	secrets["rotated API key secret"] = rotated.Secret
	k2 := gatewaytest.MerchantKey{MerchantID: k.MerchantID, KeyID: rotated.ID, Secret: rotated.Secret}
	must("read the merchant", env.Do(t, "GET", "/v1/admin/merchants/"+k.MerchantID, nil, op...), http.StatusOK)

	// Above the PIN threshold, so the payment checks the PIN.
	o := env.CreateOrder(t, k2, 30_000)
	must("pay", env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": o.QRPayload, "card_id": cardIDs[1], "pin": newPIN},
		append(auth, "Idempotency-Key", "secrets-pay")...), http.StatusCreated)
	// A device's key approves another, in place of the PIN; its private
	// key stays on the device.
	phoneDevice := registerDevice(t, env, gatewaytest.Customer{Phone: phone, Token: sess.Token, DeviceID: device}, "secrets-phone")
	pkcs8, err := x509.MarshalPKCS8PrivateKey(phoneDevice.key)
	if err != nil {
		t.Fatal(err)
	}
	secrets["device private key"] = base64.StdEncoding.EncodeToString(pkcs8)
	secrets["device private key (hex scalar)"] = hex.EncodeToString(phoneDevice.key.D.Bytes())
	o2 := env.CreateOrder(t, k2, 25_000)
	approval := phoneDevice.approve(t, env, gatewaytest.Customer{Phone: phone, Token: sess.Token, DeviceID: device},
		map[string]any{"kind": "payment", "qr_payload": o2.QRPayload, "idempotency_key": "secrets-approved-pay"})
	must("approved payment", env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": o2.QRPayload, "card_id": cardIDs[1],
		"approval": approval}, append(auth, "Idempotency-Key", "secrets-approved-pay")...), http.StatusCreated)
	env.Refund(t, k, o.ID, 5000)
	hook.waitFor(t, env, 3, 0)
	day := env.Clock.Now().In(gatewaytest.WalletConfig().Location).Format("2006-01-02")
	must("settle", env.Do(t, "POST", "/v1/admin/settlements/run", map[string]any{"date": day, "close_early": true}, op...), http.StatusOK)
	must("download", env.Signed(t, k2, "GET", "/v1/settlements/"+day+"/file", nil), http.StatusOK)
	// A payment code: the seed is shown once and sealed at rest, and a
	// code is single use, so neither may be readable afterwards.
	r = env.Do(t, "POST", "/v1/wallet/payment-codes/keys", map[string]any{"device_id": device, "funding": "balance", "card_id": cardIDs[1]}, auth...)
	must("payment-code key", r, http.StatusCreated)
	var codeKey struct {
		Seed string `json:"seed"`
	}
	r.JSON(t, &codeKey)
	seed, err := base64.RawStdEncoding.DecodeString(codeKey.Seed)
	if err != nil || len(seed) != 32 {
		t.Fatalf("payment-code seed %q: %v", codeKey.Seed, err)
	}
	secrets["payment-code seed"], secrets["payment-code seed (hex)"] = codeKey.Seed, hex.EncodeToString(seed)
	secrets["payment-code seed (base64)"] = base64.StdEncoding.EncodeToString(seed)
	r = env.Do(t, "POST", "/v1/wallet/payment-codes", map[string]any{"device_id": device, "funding": "balance", "card_id": cardIDs[1]}, auth...)
	must("payment code", r, http.StatusOK)
	var shown struct {
		Code string `json:"code"`
	}
	r.JSON(t, &shown)
	pins["payment code"] = shown.Code
	must("charge the payment code", env.Charge(t, k2, shown.Code, 800), http.StatusCreated)
	// Paid from the card rather than the balance, and money sent back to a
	// card: the issuer sees the card by its token only.
	o3 := env.CreateOrder(t, k2, 1_200)
	must("card-funded payment", env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": o3.QRPayload, "card_id": cardIDs[1],
		"funding": "card"}, append(auth, "Idempotency-Key", "secrets-card-pay")...), http.StatusCreated)
	must("withdraw", env.Do(t, "POST", "/v1/wallet/withdrawals", map[string]any{"card_id": cardIDs[0], "amount": 1_000, "pin": newPIN},
		append(auth, "Idempotency-Key", "secrets-withdraw")...), http.StatusCreated)
	// A finance console session: Redis keeps its hash, never the cookie.
	secrets["finance console session"] = consoleSession(t, env, k2)

	must("close a card", env.Do(t, "DELETE", "/v1/wallet/cards/"+cardIDs[2], nil, auth...), http.StatusNoContent)
	must("log out", env.Do(t, "DELETE", "/v1/wallet/sessions/current", nil, auth...), http.StatusNoContent)

	dump := env.Dump(t)
	if len(dump) < 10 {
		t.Fatalf("dumped only %d tables", len(dump))
	}
	logs, codes := withoutSentCodes(t, env.Logs.String())
	if !strings.Contains(logs, `"path":"/v1/wallet/payments"`) {
		t.Fatalf("the logs do not hold the flow's requests:\n%.2000s", logs)
	}
	// Registration, three cards and a refused one, and the device's key.
	if len(codes) < 6 {
		t.Fatalf("the logs hold %d one-time codes sent; want one for each code the flow answered", len(codes))
	}
	for i, c := range codes {
		pins[fmt.Sprint("one-time code ", i)] = c
	}
	places := map[string]string{"the logs": logs}
	for table, rows := range dump {
		places["table "+table] = rows
	}
	for key, value := range redisDump(t, env) {
		places["Redis key "+key] = value
	}
	for place, text := range places {
		for what, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds the %s", place, what)
			}
		}
		// A PIN or a code is six digits, which a timestamp's fraction or
		// an amount may happen to hold: it counts only standing alone.
		for what, p := range pins {
			if regexp.MustCompile(`(^|[^0-9.])` + p + `([^0-9]|$)`).MatchString(text) {
				t.Errorf("%s holds the %s", place, what)
			}
		}
	}
}

// consoleSession signs in to the finance console with key k, as a
// browser does (the form's CSRF token, then the key), and returns the
// session cookie it was given.
func consoleSession(t *testing.T, env *gatewaytest.Env, k gatewaytest.MerchantKey) string {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(env.URL + "/finance/")
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("the console's sign-in form has no CSRF field: %s", page)
	}
	resp, err = c.PostForm(env.URL+"/finance/session", url.Values{"csrf": {string(m[1])}, "key_id": {k.KeyID}, "secret": {k.Secret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "qrpay_console" && ck.Value != "" {
			return ck.Value
		}
	}
	t.Fatalf("console sign-in = %d without a session cookie", resp.StatusCode)
	return ""
}

// withoutSentCodes returns the logs with the code taken out of each
// "one-time code sent" line, and those codes. That line is, by design, how
// the log notifier delivers a code (LogNotifier): it is the one place a
// code may appear, and only its own code attribute is exempt — the rest
// of the line, and every other line, is checked like the rest of the logs.
func withoutSentCodes(t *testing.T, logs string) (string, []string) {
	t.Helper()
	var codes []string
	lines := strings.Split(logs, "\n")
	for i, line := range lines {
		var rec struct {
			Msg  string `json:"msg"`
			Code string `json:"code"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "one-time code sent" {
			continue
		}
		attr := `"code":"` + rec.Code + `"`
		if len(rec.Code) != 6 || strings.Count(line, attr) != 1 {
			t.Fatalf("a one-time code line without exactly one six-digit code: %s", line)
		}
		codes = append(codes, rec.Code)
		lines[i] = strings.Replace(line, attr, `"code":"(sent)"`, 1)
	}
	return strings.Join(lines, "\n"), codes
}

// redisDump reads every key of the gateway's (the test's prefix) except
// the outbox's, as text.
func redisDump(t *testing.T, env *gatewaytest.Env) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	keys, err := testenv.Keys(ctx, env.Redis, env.Prefix+"*")
	if err != nil {
		t.Fatalf("Redis scan: %v", err)
	}
	for _, key := range keys {
		// The outbox is the test's stand-in for customers' phones
		// (OTP_DELIVERY=outbox, never in production): it holds the codes
		// sent, as a phone's messages do.
		if strings.HasPrefix(key, env.Prefix+"otp-outbox:") {
			continue
		}
		var v any
		var err error
		switch typ, _ := env.Redis.Type(ctx, key).Result(); typ {
		case "string":
			v, err = env.Redis.Get(ctx, key).Result()
		case "hash":
			v, err = env.Redis.HGetAll(ctx, key).Result()
		case "list":
			v, err = env.Redis.LRange(ctx, key, 0, -1).Result()
		case "set":
			v, err = env.Redis.SMembers(ctx, key).Result()
		case "zset":
			v, err = env.Redis.ZRangeWithScores(ctx, key, 0, -1).Result()
		case "none":
			continue // expired meanwhile
		default:
			t.Fatalf("Redis key %s is a %s, which this test cannot read", key, typ)
		}
		if err != nil {
			t.Fatalf("Redis key %s: %v", key, err)
		}
		out[key] = fmt.Sprint(v)
	}
	if len(out) == 0 {
		t.Fatal("the gateway has no Redis keys")
	}
	return out
}
