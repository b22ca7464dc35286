package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"sync"
	"testing"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/payment"
	"github.com/qrpay/qrpay/wallet"
)

// device is a phone with an approval key, as the wallet app holds it.
type device struct {
	id  string
	key *ecdsa.PrivateKey
}

// registerDevice makes a P-256 key and registers it for c, answering the
// one-time code.
func registerDevice(t *testing.T, env *gatewaytest.Env, c gatewaytest.Customer, id string) device {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"device_id": id, "public_key": base64.StdEncoding.EncodeToString(der), "name": "test phone"}
	r := env.Do(t, "POST", "/v1/wallet/devices", body, c.Auth()...)
	if ch := r.Challenge(t); ch.Purpose != "register_device" {
		t.Fatalf("registering a key asked for a %s code", ch.Purpose)
	} else {
		body["otp"] = env.OTP(t, ch)
	}
	if r = env.Do(t, "POST", "/v1/wallet/devices", body, c.Auth()...); r.Status != http.StatusCreated {
		t.Fatalf("register device = %d %s", r.Status, r.Body)
	}
	return device{id: id, key: key}
}

// approve asks for a challenge and signs its message.
func (d device) approve(t *testing.T, env *gatewaytest.Env, c gatewaytest.Customer, req map[string]any) map[string]string {
	t.Helper()
	req["device_id"] = d.id
	r := env.Do(t, "POST", "/v1/wallet/approvals", req, c.Auth()...)
	if r.Status != http.StatusCreated {
		t.Fatalf("approval challenge = %d %s", r.Status, r.Body)
	}
	var ch wallet.ApprovalChallenge
	r.JSON(t, &ch)
	return map[string]string{"challenge_id": ch.ChallengeID, "device_id": d.id, "signature": d.sign(t, ch.Message)}
}

func (d device) sign(t *testing.T, msg string) string {
	t.Helper()
	digest := sha256.Sum256([]byte(msg))
	sig, err := ecdsa.SignASN1(rand.Reader, d.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// TestApprovedPaymentAndTransfer: a registered device's signature pays an
// order above the PIN threshold, and sends a transfer, without the PIN; a
// signature is good for its own payment only, once, and a revoked device's
// signatures are refused at once.
func TestApprovedPaymentAndTransfer(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	p, friend := env.NewPayer(t, 200000), env.NewCustomer(t)
	phone := registerDevice(t, env, p.Customer, "li-lei-phone")

	o := env.CreateOrder(t, k, 50000) // above PIN_THRESHOLD
	pay := map[string]any{"qr_payload": o.QRPayload, "card_id": p.CardID}
	pay["approval"] = phone.approve(t, env, p.Customer, map[string]any{"kind": "payment", "qr_payload": o.QRPayload, "idempotency_key": "pay-1"})
	if r := env.Do(t, "POST", "/v1/wallet/payments", pay, p.Idem("pay-1")...); r.Status != http.StatusCreated {
		t.Fatalf("approved payment = %d %s", r.Status, r.Body)
	}
	// The same signature on another request (another key) is refused.
	o2 := env.CreateOrder(t, k, 100)
	replay := map[string]any{"qr_payload": o2.QRPayload, "card_id": p.CardID, "approval": pay["approval"]}
	if r := env.Do(t, "POST", "/v1/wallet/payments", replay, p.Idem("pay-2")...); r.Code() != "approval_invalid" {
		t.Errorf("a used approval on another payment = %d %s; want approval_invalid", r.Status, r.Body)
	}
	// A signature over other bytes is refused.
	forged := phone.approve(t, env, p.Customer, map[string]any{"kind": "payment", "qr_payload": o2.QRPayload, "idempotency_key": "pay-3"})
	forged["signature"] = phone.sign(t, "something else")
	if r := env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": o2.QRPayload, "card_id": p.CardID, "approval": forged},
		p.Idem("pay-3")...); r.Code() != "approval_invalid" {
		t.Errorf("a forged signature = %d %s; want approval_invalid", r.Status, r.Body)
	}
	// An approval made for one amount does not send another.
	tr := map[string]any{"to_wallet_id": friend.WalletID, "amount": 3000}
	tr["approval"] = phone.approve(t, env, p.Customer, map[string]any{"kind": "transfer", "to_wallet_id": friend.WalletID,
		"amount": 3000, "idempotency_key": "tr-1"})
	tr["amount"] = 3001
	if r := env.Do(t, "POST", "/v1/wallet/transfers", tr, p.Idem("tr-1")...); r.Code() != "approval_invalid" {
		t.Errorf("an approval of 3000 on a 3001 transfer = %d %s; want approval_invalid", r.Status, r.Body)
	}
	tr["amount"] = 3000
	tr["approval"] = phone.approve(t, env, p.Customer, map[string]any{"kind": "transfer", "to_wallet_id": friend.WalletID,
		"amount": 3000, "idempotency_key": "tr-2"})
	if r := env.Do(t, "POST", "/v1/wallet/transfers", tr, p.Idem("tr-2")...); r.Status != http.StatusCreated {
		t.Fatalf("approved transfer = %d %s", r.Status, r.Body)
	}

	// Revoked: a challenge already signed is refused, no new one is made,
	// and signing in from the device needs a code again.
	pending := phone.approve(t, env, p.Customer, map[string]any{"kind": "payment", "qr_payload": o2.QRPayload, "idempotency_key": "pay-4"})
	var list struct{ Data []wallet.Device }
	env.Do(t, "GET", "/v1/wallet/devices", nil, p.Auth()...).JSON(t, &list)
	if len(list.Data) != 2 || !list.Data[1].ApprovalKey || list.Data[1].DeviceID != phone.id {
		t.Errorf("devices = %+v; want the registration device and %s with its key", list.Data, phone.id)
	}
	if r := env.Do(t, "DELETE", "/v1/wallet/devices/"+phone.id, nil, p.Auth()...); r.Status != http.StatusNoContent {
		t.Fatalf("revoke = %d %s", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": o2.QRPayload, "card_id": p.CardID, "approval": pending},
		p.Idem("pay-4")...); r.Code() != "approval_invalid" {
		t.Errorf("a revoked device's signature = %d %s; want approval_invalid", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/wallet/approvals", map[string]any{"kind": "payment", "device_id": phone.id, "qr_payload": o2.QRPayload,
		"idempotency_key": "pay-5"}, p.Auth()...); r.Status != http.StatusNotFound {
		t.Errorf("a challenge for a revoked device = %d %s; want 404", r.Status, r.Body)
	}
	if r := env.Do(t, "POST", "/v1/wallet/sessions", map[string]any{"phone": p.Phone, "password": gatewaytest.Password,
		"device_id": phone.id}); r.Code() != "otp_required" {
		t.Errorf("sign-in from a revoked device = %d %s; want otp_required", r.Status, r.Body)
	}
	if got := balance(t, env, p.Customer); got != 200000-50000-3000 {
		t.Errorf("balance = %d; want %d", got, 200000-50000-3000)
	}
	checkLedger(t, env)
}

// TestOneApprovalPaysOnce: ten payments carrying one approval at once pay
// once; the others are refused or answered with that one payment.
func TestOneApprovalPaysOnce(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	p := env.NewPayer(t, 100000)
	phone := registerDevice(t, env, p.Customer, "li-lei-phone")
	o := env.CreateOrder(t, k, 30000)
	a := phone.approve(t, env, p.Customer, map[string]any{"kind": "payment", "order_id": o.ID, "idempotency_key": "once"})
	approval := &wallet.Approval{ChallengeID: a["challenge_id"], DeviceID: a["device_id"], Signature: a["signature"]}
	principal, err := env.Wallet.Authenticate(context.Background(), p.Token)
	if err != nil {
		t.Fatal(err)
	}
	// Straight to the service, past the gateway's idempotency fast path,
	// so that the approval's own single use is what is tested.
	var mu sync.Mutex
	var paid, replayed, refused int
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mv, err := env.Payment.Pay(context.Background(), principal, payment.PayInput{OrderID: o.ID, CardID: p.CardID, Approval: approval},
				wallet.Request{Key: "once", Fingerprint: []byte("same body")})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && !mv.Replayed:
				paid++
			case err == nil:
				replayed++
			case errs.Is(err, errs.ApprovalInvalid) || errs.Is(err, errs.OrderAlreadyPaid):
				refused++
			default:
				t.Errorf("Pay = %v", err)
			}
		}()
	}
	wg.Wait()
	if paid != 1 || paid+replayed+refused != 10 {
		t.Errorf("%d paid, %d replayed, %d refused; want exactly 1 paid", paid, replayed, refused)
	}
	if got := balance(t, env, p.Customer); got != 70000 {
		t.Errorf("balance = %d; want 70000", got)
	}
	checkLedger(t, env)
}
