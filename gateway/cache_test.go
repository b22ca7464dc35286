package gateway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// cacheTTL is short, so that the tests can wait it out.
const cacheTTL = 400 * time.Millisecond

func withShortCaches(o *gatewaytest.Options) {
	o.Wallet.SessionCacheTTL, o.Merchant.CacheTTL = cacheTTL, cacheTTL
}

// eventually retries check until it returns true or cacheTTL (and some
// slack) has passed since start, and reports whether it did in time.
func eventually(start time.Time, check func() bool) bool {
	for {
		if check() {
			return true
		}
		if time.Since(start) > cacheTTL+300*time.Millisecond {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSessionCacheHonoursRevocation: a session revoked through one replica
// stops working there at once and on the other within SESSION_CACHE_TTL.
func TestSessionCacheHonoursRevocation(t *testing.T) {
	t.Parallel()
	a := gatewaytest.Start(t, withShortCaches)
	b := a.Replica(t, withShortCaches)
	c := a.NewCustomer(t)
	for _, env := range []*gatewaytest.Env{a, b} { // both replicas remember the session
		if r := env.Do(t, "GET", "/v1/wallet", nil, c.Auth()...); r.Status != http.StatusOK {
			t.Fatalf("GET /v1/wallet = %d %s", r.Status, r.Body)
		}
	}
	if r := a.Do(t, "DELETE", "/v1/wallet/sessions/current", nil, c.Auth()...); r.Status != http.StatusNoContent {
		t.Fatalf("log out = %d %s", r.Status, r.Body)
	}
	revoked := time.Now()
	if r := a.Do(t, "GET", "/v1/wallet", nil, c.Auth()...); r.Status != http.StatusUnauthorized {
		t.Errorf("the replica that revoked it: GET /v1/wallet = %d; want 401 at once", r.Status)
	}
	if !eventually(revoked, func() bool {
		return b.Do(t, "GET", "/v1/wallet", nil, c.Auth()...).Status == http.StatusUnauthorized
	}) {
		t.Errorf("the other replica still accepts the revoked session %v after revocation; want 401 within %v", time.Since(revoked), cacheTTL)
	}
}

// TestMerchantCacheHonoursSuspension: a merchant suspended through one
// replica stops being paid there at once and on the other within
// MERCHANT_CACHE_TTL; a frozen card stops paying at once everywhere (cards
// are never cached).
func TestMerchantCacheHonoursSuspension(t *testing.T) {
	t.Parallel()
	a := gatewaytest.Start(t, withShortCaches)
	b := a.Replica(t, withShortCaches)
	k := a.NewMerchant(t, nil)
	var m struct {
		StaticQRPayload string `json:"static_qr_payload"`
	}
	a.Signed(t, k, "GET", "/v1/merchant", nil).JSON(t, &m)
	p := a.NewPayer(t, 10000)
	pay := func(env *gatewaytest.Env) gatewaytest.Response {
		return env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": m.StaticQRPayload, "card_id": p.CardID,
			"amount": 100}, p.Idem(time.Now().Format(time.RFC3339Nano))...)
	}
	for _, env := range []*gatewaytest.Env{a, b} { // both replicas remember the merchant
		if r := pay(env); r.Status != http.StatusCreated {
			t.Fatalf("pay = %d %s", r.Status, r.Body)
		}
	}

	// A frozen card: refused at once on both replicas.
	if r := b.Do(t, "POST", "/v1/wallet/cards/"+p.CardID+"/freeze", nil, p.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("freeze = %d %s", r.Status, r.Body)
	}
	for name, env := range map[string]*gatewaytest.Env{"a": a, "b": b} {
		if r := pay(env); r.Code() != "card_frozen" {
			t.Errorf("replica %s: pay with a frozen card = %d %s; want card_frozen at once", name, r.Status, r.Body)
		}
	}
	if r := b.Do(t, "POST", "/v1/wallet/cards/"+p.CardID+"/unfreeze", nil, p.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("unfreeze = %d %s", r.Status, r.Body)
	}

	// A suspended merchant.
	if r := a.Do(t, "POST", "/v1/admin/merchants/"+k.MerchantID+"/suspend", nil,
		"Authorization", "Bearer "+gatewaytest.OperatorToken); r.Status != http.StatusOK {
		t.Fatalf("suspend = %d %s", r.Status, r.Body)
	}
	suspended := time.Now()
	if r := pay(a); r.Code() != "merchant_suspended" {
		t.Errorf("the replica that suspended it: pay = %d %s; want merchant_suspended at once", r.Status, r.Body)
	}
	if !eventually(suspended, func() bool { return pay(b).Code() == "merchant_suspended" }) {
		t.Errorf("the other replica still pays the suspended merchant %v after suspension; want merchant_suspended within %v",
			time.Since(suspended), cacheTTL)
	}
}

// TestKeyCacheHonoursRevocationAndSuspension: an API key revoked, or its
// merchant suspended, through one replica is refused there at once and on
// the other within MERCHANT_CACHE_TTL, though both remember the key.
func TestKeyCacheHonoursRevocationAndSuspension(t *testing.T) {
	t.Parallel()
	a := gatewaytest.Start(t, withShortCaches)
	b := a.Replica(t, withShortCaches)
	op := []string{"Authorization", "Bearer " + gatewaytest.OperatorToken}
	n := 0
	order := func(env *gatewaytest.Env, k gatewaytest.MerchantKey) gatewaytest.Response {
		n++
		no := "cache-" + time.Now().Format("150405.000000") + "-" + string(rune('a'+n%26))
		return env.Signed(t, k, "POST", "/v1/orders", map[string]any{"merchant_order_no": no, "amount": 100}, "Idempotency-Key", no)
	}
	revoked, suspended := a.NewMerchant(t, nil), a.NewMerchant(t, nil)
	for _, env := range []*gatewaytest.Env{a, b} { // both replicas remember both keys
		for _, k := range []gatewaytest.MerchantKey{revoked, suspended} {
			if r := order(env, k); r.Status != http.StatusCreated {
				t.Fatalf("create order = %d %s", r.Status, r.Body)
			}
		}
	}

	if r := a.Do(t, "DELETE", "/v1/admin/merchants/"+revoked.MerchantID+"/keys/"+revoked.KeyID, nil, op...); r.Status != http.StatusNoContent {
		t.Fatalf("revoke = %d %s", r.Status, r.Body)
	}
	at := time.Now()
	if r := order(a, revoked); r.Status != http.StatusUnauthorized {
		t.Errorf("the replica that revoked the key: create order = %d %s; want 401 at once", r.Status, r.Body)
	}
	if !eventually(at, func() bool { return order(b, revoked).Status == http.StatusUnauthorized }) {
		t.Errorf("the other replica still accepts the revoked key %v after revocation; want 401 within %v", time.Since(at), cacheTTL)
	}

	if r := a.Do(t, "POST", "/v1/admin/merchants/"+suspended.MerchantID+"/suspend", nil, op...); r.Status != http.StatusOK {
		t.Fatalf("suspend = %d %s", r.Status, r.Body)
	}
	at = time.Now()
	if r := order(a, suspended); r.Code() != "merchant_suspended" {
		t.Errorf("the replica that suspended the merchant: create order = %d %s; want merchant_suspended at once", r.Status, r.Body)
	}
	if !eventually(at, func() bool { return order(b, suspended).Code() == "merchant_suspended" }) {
		t.Errorf("the other replica still takes orders of the suspended merchant %v after suspension; want merchant_suspended within %v",
			time.Since(at), cacheTTL)
	}
}
