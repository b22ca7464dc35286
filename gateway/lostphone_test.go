package gateway_test

import (
	"net/http"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/wallet"
)

// TestOwnerFreezesWallet: a frozen wallet pays, sends, tops up and signs in
// anew no more; its open sessions still read it, and it still receives.
// Unfreezing needs the PIN and a one-time code.
func TestOwnerFreezesWallet(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	p, friend := env.NewPayer(t, 50000), env.NewPayer(t, 10000)
	var w wallet.Wallet
	if r := env.Do(t, "POST", "/v1/wallet/freeze", nil, p.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("freeze = %d %s", r.Status, r.Body)
	} else if r.JSON(t, &w); !w.Frozen || w.FrozenBy != "owner" {
		t.Errorf("frozen wallet = %+v", w)
	}
	o := env.CreateOrder(t, k, 100)
	refused := map[string]gatewaytest.Response{
		"payment": env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": o.QRPayload, "card_id": p.CardID}, p.Idem("pay")...),
		"transfer": env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_wallet_id": friend.WalletID, "amount": 100, "pin": p.PIN},
			p.Idem("send")...),
		"top-up": env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": p.CardID, "amount": 100}, p.Idem("top")...),
		"sign-in": env.Do(t, "POST", "/v1/wallet/sessions", map[string]any{"phone": p.Phone, "password": gatewaytest.Password,
			"device_id": p.DeviceID}),
	}
	for what, r := range refused {
		if r.Status != http.StatusForbidden || r.Code() != "wallet_frozen" {
			t.Errorf("%s while frozen = %d %s; want 403 wallet_frozen", what, r.Status, r.Body)
		}
	}
	if r := env.Do(t, "GET", "/v1/wallet", nil, p.Auth()...); r.Status != http.StatusOK {
		t.Errorf("reading a frozen wallet = %d; want 200", r.Status)
	}
	if r := env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_wallet_id": p.WalletID, "amount": 700, "pin": friend.PIN},
		friend.Idem("to-frozen")...); r.Status != http.StatusCreated {
		t.Errorf("a transfer to a frozen wallet = %d %s; want 201", r.Status, r.Body)
	}

	if r := env.Do(t, "POST", "/v1/wallet/unfreeze", map[string]any{}, p.Auth()...); r.Code() != "pin_required" {
		t.Errorf("unfreeze without the PIN = %d %s; want pin_required", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/wallet/unfreeze", map[string]any{"pin": "000000"}, p.Auth()...); r.Code() != "pin_invalid" {
		t.Errorf("unfreeze with a wrong PIN = %d %s; want pin_invalid", r.Status, r.Body)
	}
	r := env.Do(t, "POST", "/v1/wallet/unfreeze", map[string]any{"pin": p.PIN}, p.Auth()...)
	if ch := r.Challenge(t); ch.Purpose != "unfreeze_wallet" {
		t.Errorf("unfreeze asked for a %s code", ch.Purpose)
	} else if r = env.Do(t, "POST", "/v1/wallet/unfreeze", map[string]any{"pin": p.PIN, "otp": env.OTP(t, ch)}, p.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("unfreeze with PIN and code = %d %s", r.Status, r.Body)
	}
	env.Pay(t, p, o.QRPayload)
	if got := balance(t, env, p.Customer); got != 50000+700-100 {
		t.Errorf("balance = %d; want %d", got, 50000+700-100)
	}
	checkLedger(t, env)
}

// TestOperatorFreezesWallet: a wallet the operator froze is unfrozen by the
// operator only.
func TestOperatorFreezesWallet(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p := env.NewPayer(t, 1000)
	op := []string{"Authorization", "Bearer " + gatewaytest.OperatorToken}
	if r := env.Do(t, "POST", "/v1/admin/wallets/"+p.WalletID+"/freeze", nil, op...); r.Status != http.StatusOK {
		t.Fatalf("operator freeze = %d %s", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": p.CardID, "amount": 100}, p.Idem("t1")...); r.Code() != "wallet_frozen" {
		t.Errorf("top-up = %d %s; want wallet_frozen", r.Status, r.Body)
	}
	if r := env.DoOTP(t, "POST", "/v1/wallet/unfreeze", map[string]any{"pin": p.PIN}, p.Auth()...); r.Status != http.StatusForbidden || r.Code() != "forbidden" {
		t.Errorf("the owner unfreezing the operator's freeze = %d %s; want 403 forbidden", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/admin/wallets/"+p.WalletID+"/freeze", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("freeze without the operator token = %d; want 401", r.Status)
	}
	if r := env.Do(t, "POST", "/v1/admin/wallets/00000000-0000-0000-0000-000000000000/freeze", nil, op...); r.Status != http.StatusNotFound {
		t.Errorf("freeze of no wallet = %d %s; want 404", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/admin/wallets/"+p.WalletID+"/unfreeze", nil, op...); r.Status != http.StatusOK {
		t.Fatalf("operator unfreeze = %d %s", r.Status, r.Body)
	}
	env.TopUp(t, p.Customer, p.CardID, 100)
}

// TestFrozenCardStopsEveryUse: a frozen card neither pays nor tops up.
// Transfers move balance to balance and use no card.
func TestFrozenCardStopsEveryUse(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	p := env.NewPayer(t, 5000)
	if r := env.Do(t, "POST", "/v1/wallet/cards/"+p.CardID+"/freeze", nil, p.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("freeze card = %d %s", r.Status, r.Body)
	}
	o := env.CreateOrder(t, k, 100)
	for what, r := range map[string]gatewaytest.Response{
		"payment": env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": o.QRPayload, "card_id": p.CardID}, p.Idem("p")...),
		"top-up":  env.Do(t, "POST", "/v1/wallet/topups", map[string]any{"card_id": p.CardID, "amount": 100}, p.Idem("t")...),
		"approval": env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": o.QRPayload, "card_id": p.CardID,
			"approval": map[string]string{"challenge_id": "ap_x", "device_id": "d", "signature": "AA=="}}, p.Idem("a")...),
	} {
		if r.Code() != "card_frozen" {
			t.Errorf("%s with a frozen card = %d %s; want card_frozen", what, r.Status, r.Body)
		}
	}
}

// TestTransferLimits: a wallet's transfer limits hold per transfer and per
// day; raising them needs a one-time code, lowering does not.
func TestTransferLimits(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p, friend := env.NewPayer(t, 100000), env.NewCustomer(t)
	send := func(key string, amount int64) gatewaytest.Response {
		return env.Do(t, "POST", "/v1/wallet/transfers", map[string]any{"to_wallet_id": friend.WalletID, "amount": amount, "pin": p.PIN},
			p.Idem(key)...)
	}
	var v wallet.TransferLimitsView
	env.Do(t, "GET", "/v1/wallet/transfer-limits", nil, p.Auth()...).JSON(t, &v)
	if v.Limits != (wallet.TransferLimits{PerTransaction: 5_000_000, DailyAmount: 20_000_000}) || v.Maximum.DailyAmount != 50_000_000 {
		t.Errorf("defaults = %+v", v)
	}
	if r := env.Do(t, "PATCH", "/v1/wallet/transfer-limits", map[string]any{"per_transaction": 3000, "daily_amount": 5000}, p.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("lowering = %d %s; want 200 without a code", r.Status, r.Body)
	}
	if r := send("big", 3001); r.Status != http.StatusPaymentRequired || r.Code() != "limit_exceeded" {
		t.Errorf("above the per-transfer limit = %d %s; want 402 limit_exceeded", r.Status, r.Body)
	}
	for i, key := range []string{"a", "b"} {
		if r := send(key, 2500); r.Status != http.StatusCreated {
			t.Fatalf("transfer %d = %d %s", i+1, r.Status, r.Body)
		}
	}
	if r := send("c", 1); r.Code() != "limit_exceeded" {
		t.Errorf("beyond the daily amount = %d %s; want limit_exceeded", r.Status, r.Body)
	}
	env.Do(t, "GET", "/v1/wallet/transfer-limits", nil, p.Auth()...).JSON(t, &v)
	if v.UsedToday.Amount != 5000 {
		t.Errorf("used today = %+v; want 5000", v.UsedToday)
	}
	if r := env.Do(t, "PATCH", "/v1/wallet/transfer-limits", map[string]any{"daily_amount": 60_000_000}, p.Auth()...); r.Code() != "invalid" {
		t.Errorf("above the maximum = %d %s; want invalid", r.Status, r.Body)
	}
	r := env.Do(t, "PATCH", "/v1/wallet/transfer-limits", map[string]any{"daily_amount": 10000}, p.Auth()...)
	if ch := r.Challenge(t); ch.Purpose != "raise_transfer_limits" {
		t.Errorf("raising asked for a %s code", ch.Purpose)
	} else if r = env.Do(t, "PATCH", "/v1/wallet/transfer-limits", map[string]any{"daily_amount": 10000, "otp": env.OTP(t, ch)}, p.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("raising with the code = %d %s", r.Status, r.Body)
	}
	if r := send("d", 1); r.Status != http.StatusCreated {
		t.Errorf("after raising = %d %s; want 201", r.Status, r.Body)
	}
	checkLedger(t, env)
}

// TestTransferLimitsHoldUnderConcurrency: concurrent transfers never send
// more in a day than the daily transfer limit.
func TestTransferLimitsHoldUnderConcurrency(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	p, friend := env.NewPayer(t, 100000), env.NewCustomer(t)
	if r := env.Do(t, "PATCH", "/v1/wallet/transfer-limits", map[string]any{"daily_amount": 5000}, p.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("lowering = %d %s", r.Status, r.Body)
	}
	rs := concurrently(t, env, 12, "POST", "/v1/wallet/transfers",
		func(int) any { return map[string]any{"to_wallet_id": friend.WalletID, "amount": 1000, "pin": p.PIN} },
		func(i int) []string { return p.Idem(string(rune('a' + i))) })
	ok := 0
	for _, r := range rs {
		switch {
		case r.Status == http.StatusCreated:
			ok++
		case r.Code() == "limit_exceeded", r.Code() == "rate_limited":
		default:
			t.Errorf("transfer = %d %s", r.Status, r.Body)
		}
	}
	if got := balance(t, env, friend); got != int64(ok)*1000 || got > 5000 {
		t.Errorf("the recipient holds %d after %d transfers; want at most 5000", got, ok)
	}
}

// TestPasswordChange: the old password and a one-time code change it, and
// every other session is logged out.
func TestPasswordChange(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	c := env.NewCustomer(t)
	login := func(password string) gatewaytest.Response {
		return env.Do(t, "POST", "/v1/wallet/sessions", map[string]any{"phone": c.Phone, "password": password, "device_id": c.DeviceID})
	}
	var other struct {
		Token string `json:"token"`
	}
	login(gatewaytest.Password).JSON(t, &other)
	const newPassword = "a new and better passphrase"
	change := map[string]any{"old_password": "wrong password", "new_password": newPassword}
	if r := env.Do(t, "PUT", "/v1/wallet/password", change, c.Auth()...); r.Status != http.StatusUnauthorized {
		t.Errorf("with a wrong old password = %d %s; want 401", r.Status, r.Body)
	}
	change["old_password"] = gatewaytest.Password
	if r := env.DoOTP(t, "PUT", "/v1/wallet/password", change, c.Auth()...); r.Status != http.StatusNoContent {
		t.Fatalf("change = %d %s", r.Status, r.Body)
	}
	if r := env.Do(t, "GET", "/v1/wallet", nil, "Authorization", "Bearer "+other.Token); r.Status != http.StatusUnauthorized {
		t.Errorf("the other session = %d; want 401 (revoked)", r.Status)
	}
	if r := env.Do(t, "GET", "/v1/wallet", nil, c.Auth()...); r.Status != http.StatusOK {
		t.Errorf("the session that changed it = %d; want 200", r.Status)
	}
	if r := login(gatewaytest.Password); r.Status != http.StatusUnauthorized {
		t.Errorf("the old password = %d; want 401", r.Status)
	}
	if r := login(newPassword); r.Status != http.StatusCreated {
		t.Errorf("the new password = %d %s; want 201", r.Status, r.Body)
	}
}
