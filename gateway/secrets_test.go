package gateway_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestSecretsAreNeitherStoredNorLogged runs every flow that handles a
// secret — registration and log-in (with a wrong guess too), cards bound
// with full numbers, the PIN set, changed and checked, a payment above the
// PIN threshold, a top-up, a transfer, a merchant with a webhook secret and
// API keys (one rotated), webhooks delivered, a refund and a settlement —
// then reads every row of every table and every line logged: no card
// number, PIN, password, key or webhook secret, session token or
// configured key may appear in them. Hashes, last fours and ids may.
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

	topup := env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": cardIDs[0], "amount": 200_000},
		append(auth, "Idempotency-Key", "secrets-topup")...)
	if topup.Status != http.StatusCreated {
		t.Fatalf("top up = %d %s", topup.Status, topup.Body)
	}
	must := func(what string, r gatewaytest.Response, status int) {
		t.Helper()
		if r.Status != status {
			t.Fatalf("%s = %d %s; want %d", what, r.Status, r.Body, status)
		}
	}
	must("set PIN", env.Do(t, "PUT", "/v1/wallet/pin", map[string]string{"pin": pin}, auth...), http.StatusNoContent)
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
	env.Refund(t, k, o.ID, 5000)
	hook.waitFor(t, env, 2, 0)
	day := env.Clock.Now().In(gatewaytest.WalletConfig().Location).Format("2006-01-02")
	must("settle", env.Do(t, "POST", "/v1/admin/settlements/run", map[string]any{"date": day, "close_early": true}, op...), http.StatusOK)
	must("download", env.Signed(t, k2, "GET", "/v1/settlements/"+day+"/file", nil), http.StatusOK)
	must("close a card", env.Do(t, "DELETE", "/v1/wallet/cards/"+cardIDs[2], nil, auth...), http.StatusNoContent)
	must("log out", env.Do(t, "DELETE", "/v1/wallet/sessions/current", nil, auth...), http.StatusNoContent)

	dump := env.Dump(t)
	if len(dump) < 10 {
		t.Fatalf("dumped only %d tables", len(dump))
	}
	logs := env.Logs.String()
	if !strings.Contains(logs, `"path":"/v1/wallet/payments"`) {
		t.Fatalf("the logs do not hold the flow's requests:\n%.2000s", logs)
	}
	places := map[string]string{"the logs": logs}
	for table, rows := range dump {
		places["table "+table] = rows
	}
	for place, text := range places {
		for what, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds the %s", place, what)
			}
		}
		// A PIN is six digits, which a timestamp's fraction or an amount
		// may happen to hold: it counts only standing alone.
		for what, p := range pins {
			if regexp.MustCompile(`(^|[^0-9.])` + p + `([^0-9]|$)`).MatchString(text) {
				t.Errorf("%s holds the %s", place, what)
			}
		}
	}
}
