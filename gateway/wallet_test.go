package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/wallet"
)

const password = gatewaytest.Password

// customer is a registered, logged-in wallet.
type customer = gatewaytest.Customer

func newCustomer(t *testing.T, env *gatewaytest.Env) customer { return env.NewCustomer(t) }

func bindCard(t *testing.T, env *gatewaytest.Env, c customer, number string) wallet.Card {
	t.Helper()
	var card wallet.Card
	env.BindCard(t, c, number).JSON(t, &card)
	return card
}

func setPIN(t *testing.T, env *gatewaytest.Env, c customer, pin string) { env.SetPIN(t, c, pin) }

func topUp(t *testing.T, env *gatewaytest.Env, c customer, cardID string, amount int64) wallet.Movement {
	t.Helper()
	var mv wallet.Movement
	env.TopUp(t, c, cardID, amount).JSON(t, &mv)
	return mv
}

func balance(t *testing.T, env *gatewaytest.Env, c customer) int64 {
	t.Helper()
	r := env.Do(t, "GET", "/v1/wallet", nil, c.Auth()...)
	if r.Status != http.StatusOK {
		t.Fatalf("get wallet = %d %s", r.Status, r.Body)
	}
	var w wallet.Wallet
	r.JSON(t, &w)
	return w.Balance
}

func checkLedger(t *testing.T, env *gatewaytest.Env) {
	t.Helper()
	report, err := ledger.Check(context.Background(), env.Pool)
	if err != nil || !report.OK() {
		t.Errorf("ledger check: %+v %v", report, err)
	}
}

func TestWalletWalkThrough(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	alice, bob := newCustomer(t, env), newCustomer(t, env)
	card := bindCard(t, env, alice, "4111 1111 1111 1111")
	if card.Masked != "**** 1111" || card.Brand != "visa" || card.Status != "active" {
		t.Errorf("bound card = %+v; want visa **** 1111, active", card)
	}
	mv := topUp(t, env, alice, card.ID, 10000)
	if mv.Type != "topup" || mv.Amount != 10000 || mv.BalanceAfter != 10000 || mv.Card != "**** 1111" {
		t.Errorf("top-up = %+v; want +10000 to a balance of 10000 from **** 1111", mv)
	}
	setPIN(t, env, alice, "135790")
	r := env.Do(t, "POST", "/v1/wallet/transfers",
		map[string]any{"to_phone": bob.Phone, "amount": 2500, "note": "dinner", "pin": "135790"}, alice.Idem("t1")...)
	if r.Status != http.StatusCreated {
		t.Fatalf("transfer = %d %s", r.Status, r.Body)
	}
	var out wallet.Movement
	r.JSON(t, &out)
	if out.Type != "transfer_out" || out.Amount != -2500 || out.BalanceAfter != 7500 || out.Note != "dinner" {
		t.Errorf("transfer = %+v; want -2500 leaving 7500", out)
	}
	if got := balance(t, env, bob); got != 2500 {
		t.Errorf("bob's balance = %d; want 2500", got)
	}
	// Bob sees the same transfer as money in, with Alice masked.
	r = env.Do(t, "GET", "/v1/wallet/movements/"+out.ID, nil, bob.Auth()...)
	var in wallet.Movement
	r.JSON(t, &in)
	if in.Type != "transfer_in" || in.Amount != 2500 || !strings.Contains(in.Counterparty, "****") {
		t.Errorf("bob's view = %+v; want transfer_in +2500 from a masked phone", in)
	}
	// By wallet id too.
	r = env.Do(t, "POST", "/v1/wallet/transfers",
		map[string]any{"to_wallet_id": bob.WalletID, "amount": 500, "pin": "135790"}, alice.Idem("t2")...)
	if r.Status != http.StatusCreated {
		t.Errorf("transfer by wallet id = %d %s", r.Status, r.Body)
	}
	checkLedger(t, env)
}

func TestLoginAndSessions(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	c := newCustomer(t, env)
	unknown := env.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": "+8613999999999", "password": password})
	wrong := env.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": c.Phone, "password": "wrong password"})
	if unknown.Status != 401 || wrong.Status != 401 || unknown.Code() != wrong.Code() {
		t.Errorf("unknown phone = %d %s, wrong password = %d %s; want the same 401", unknown.Status, unknown.Body, wrong.Status, wrong.Body)
	}
	msg := func(r gatewaytest.Response) string { return strings.Split(string(r.Body), `"request_id"`)[0] }
	if msg(unknown) != msg(wrong) {
		t.Errorf("unknown phone says %s, wrong password says %s; want the same words", unknown.Body, wrong.Body)
	}
	// A second session; list, then revoke it.
	r := env.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": c.Phone, "password": password, "device_id": c.DeviceID})
	var second struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
	}
	r.JSON(t, &second)
	var list struct{ Data []wallet.Session }
	env.Do(t, "GET", "/v1/wallet/sessions", nil, c.Auth()...).JSON(t, &list)
	if len(list.Data) != 2 {
		t.Fatalf("sessions = %d; want 2", len(list.Data))
	}
	if r := env.Do(t, "DELETE", "/v1/wallet/sessions/"+second.SessionID, nil, c.Auth()...); r.Status != 204 {
		t.Errorf("revoke = %d %s", r.Status, r.Body)
	}
	if r := env.Do(t, "GET", "/v1/wallet", nil, "Authorization", "Bearer "+second.Token); r.Status != 401 {
		t.Errorf("revoked token = %d; want 401", r.Status)
	}
	if r := env.Do(t, "DELETE", "/v1/wallet/sessions/current", nil, c.Auth()...); r.Status != 204 {
		t.Errorf("logout = %d %s", r.Status, r.Body)
	}
	if r := env.Do(t, "GET", "/v1/wallet", nil, c.Auth()...); r.Status != 401 {
		t.Errorf("after logout = %d; want 401", r.Status)
	}
}

// TestLoginLockout: five wrong passwords from one address lock sign-in
// from it for LOCKOUT_DURATION; the lock answers like a wrong password,
// even to the right one, and ends by itself.
func TestLoginLockout(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	c := newCustomer(t, env)
	for i := 1; i <= 5; i++ {
		if r := env.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": c.Phone, "password": "nope nope nope"}); r.Status != 401 {
			t.Fatalf("wrong password %d = %d %s; want 401", i, r.Status, r.Body)
		}
	}
	if r := env.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": c.Phone, "password": password, "device_id": c.DeviceID}); r.Status != 401 || r.Code() != "unauthorized" {
		t.Errorf("right password while locked = %d %s; want 401 unauthorized", r.Status, r.Body)
	}
	env.Clock.Advance(16 * 60e9)
	if r := env.Do(t, "POST", "/v1/wallet/sessions", map[string]string{"phone": c.Phone, "password": password, "device_id": c.DeviceID}); r.Status != 201 {
		t.Errorf("right password after the lockout = %d %s; want 201", r.Status, r.Body)
	}
	if !strings.Contains(env.Logs.String(), "sign-in locked for one client after repeated failures") {
		t.Errorf("the lockout was not logged")
	}
	if strings.Contains(env.Logs.String(), "nope nope nope") || strings.Contains(env.Logs.String(), c.Phone) {
		t.Errorf("a password or phone number reached the logs")
	}
}

func TestPINRules(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	alice, bob := newCustomer(t, env), newCustomer(t, env)
	card := bindCard(t, env, alice, "5555555555554444")
	topUp(t, env, alice, card.ID, 20000)
	send := func(pin, key string) gatewaytest.Response {
		body := map[string]any{"to_phone": bob.Phone, "amount": 100}
		if pin != "" {
			body["pin"] = pin
		}
		return env.Do(t, "POST", "/v1/wallet/transfers", body, alice.Idem(key)...)
	}
	if r := send("123456", "no-pin-set"); r.Status != 403 || r.Code() != "pin_required" {
		t.Errorf("transfer before a PIN is set = %d %s; want 403 pin_required", r.Status, r.Body)
	}
	for _, bad := range []string{"12345", "1234567", "abcdef"} {
		if r := env.Do(t, "PUT", "/v1/wallet/pin", map[string]string{"pin": bad}, alice.Auth()...); r.Status != 400 {
			t.Errorf("set pin %q = %d; want 400", bad, r.Status)
		}
	}
	setPIN(t, env, alice, "111111")
	if r := send("", "missing"); r.Status != 403 || r.Code() != "pin_required" {
		t.Errorf("transfer without pin = %d %s; want 403 pin_required", r.Status, r.Body)
	}
	if r := env.Do(t, "PUT", "/v1/wallet/pin", map[string]string{"pin": "222222"}, alice.Auth()...); r.Code() != "pin_required" {
		t.Errorf("change without old pin = %s; want pin_required", r.Body)
	}
	if r := env.Do(t, "PUT", "/v1/wallet/pin", map[string]string{"pin": "222222", "old_pin": "111111"}, alice.Auth()...); r.Status != 204 {
		t.Errorf("change pin = %d %s", r.Status, r.Body)
	}
	if r := send("222222", "ok"); r.Status != 201 {
		t.Errorf("transfer with the new pin = %d %s", r.Status, r.Body)
	}
	// Five wrong PINs lock payments, not sign-in.
	var last gatewaytest.Response
	for i := range 5 {
		last = send("999999", fmt.Sprintf("wrong-%d", i))
	}
	if last.Status != 423 || last.Code() != "account_locked" {
		t.Fatalf("fifth wrong pin = %d %s; want 423", last.Status, last.Body)
	}
	if r := send("222222", "right-while-locked"); r.Status != 423 {
		t.Errorf("right pin while locked = %d; want 423", r.Status)
	}
	if r := env.Do(t, "GET", "/v1/wallet", nil, alice.Auth()...); r.Status != 200 {
		t.Errorf("the wallet is still readable while the PIN is locked: got %d", r.Status)
	}
	if got := balance(t, env, bob); got != 100 {
		t.Errorf("bob = %d; want only the one good transfer (100)", got)
	}
}

func TestTransferRules(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	alice, bob := newCustomer(t, env), newCustomer(t, env)
	card := bindCard(t, env, alice, "4111111111111111")
	topUp(t, env, alice, card.ID, 1000)
	setPIN(t, env, alice, "135790")
	tests := []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"to self", map[string]any{"to_phone": alice.Phone, "amount": 1}, 400, "invalid"},
		{"unknown phone", map[string]any{"to_phone": "+8613000000000", "amount": 1}, 404, "not_found"},
		{"unknown wallet", map[string]any{"to_wallet_id": "0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b", "amount": 1}, 404, "not_found"},
		{"both recipients", map[string]any{"to_phone": bob.Phone, "to_wallet_id": bob.WalletID, "amount": 1}, 400, "invalid"},
		{"no recipient", map[string]any{"amount": 1}, 400, "invalid"},
		{"other currency", map[string]any{"to_phone": bob.Phone, "amount": 1, "currency": "USD"}, 400, "invalid"},
		{"more than the balance", map[string]any{"to_phone": bob.Phone, "amount": 1001}, 402, "insufficient_funds"},
	}
	for i, tt := range tests {
		tt.body["pin"] = "135790"
		r := env.Do(t, "POST", "/v1/wallet/transfers", tt.body, alice.Idem(fmt.Sprint("rule-", i))...)
		if r.Status != tt.status || r.Code() != tt.code {
			t.Errorf("%s: %d %s; want %d %s", tt.name, r.Status, r.Body, tt.status, tt.code)
		}
	}
	if got := balance(t, env, alice); got != 1000 {
		t.Errorf("alice = %d; want 1000 untouched", got)
	}
}
