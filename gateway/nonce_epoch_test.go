package gateway_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/sdk"
	"github.com/qrpay/qrpay/testenv"
)

// TestReplayRefusedAfterNonceStoreLost: when Redis loses the nonces seen
// (a restart without persistence, a failover to an empty replica), a
// request signed before that cannot be replayed inside its 300 s window;
// requests signed afterwards are served, by every replica.
func TestReplayRefusedAfterNonceStoreLost(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	other := env.Replica(t)
	k := env.NewMerchant(t, nil)
	body := `{"merchant_order_no":"E-1","amount":100}`
	ts := env.Clock.Now().Unix()
	nonce := "epoch-nonce-0000000001"
	signed := func(ts int64, nonce, idem string) []string {
		return []string{sdk.HeaderKey, k.KeyID, sdk.HeaderTimestamp, strconv.FormatInt(ts, 10), sdk.HeaderNonce, nonce,
			sdk.HeaderSignature, sdk.Sign(k.Secret, "POST", "/v1/orders", ts, nonce, []byte(body)), "Idempotency-Key", idem}
	}
	if r := env.Do(t, "POST", "/v1/orders", body, signed(ts, nonce, "first")...); r.Status != http.StatusCreated {
		t.Fatalf("signed request = %d %s; want 201", r.Status, r.Body)
	}
	env.Clock.Advance(time.Minute) // well inside the signature window

	// Redis loses everything the gateways keep about nonces.
	ctx := context.Background()
	keys, err := testenv.Keys(ctx, env.Redis, env.Prefix+"nonce:*")
	if err != nil || len(keys) == 0 {
		t.Fatalf("nonce keys under %s: %v %v", env.Prefix, keys, err)
	}
	if err := testenv.DeleteKeys(ctx, env.Redis, env.Prefix+"nonce:*"); err != nil {
		t.Fatal(err)
	}

	for _, e := range []*gatewaytest.Env{env, other} {
		if r := e.Do(t, "POST", "/v1/orders", body, signed(ts, nonce, "replay")...); r.Status != http.StatusUnauthorized || r.Code() != "unauthorized" {
			t.Errorf("replay after the nonces were lost = %d %s; want 401 unauthorized", r.Status, r.Body)
		}
	}
	if r := env.Do(t, "POST", "/v1/orders", body, signed(ts, "epoch-nonce-0000000002", "old-fresh-nonce")...); r.Status != http.StatusUnauthorized {
		t.Errorf("a new nonce on a timestamp from before the loss = %d %s; want 401", r.Status, r.Body)
	}
	now := env.Clock.Now().Unix()
	for i, e := range []*gatewaytest.Env{env, other} {
		o := `{"merchant_order_no":"E-` + strconv.Itoa(i+2) + `","amount":100}`
		n := "epoch-nonce-fresh-000" + strconv.Itoa(i)
		r := e.Do(t, "POST", "/v1/orders", o, sdk.HeaderKey, k.KeyID, sdk.HeaderTimestamp, strconv.FormatInt(now, 10),
			sdk.HeaderNonce, n, sdk.HeaderSignature, sdk.Sign(k.Secret, "POST", "/v1/orders", now, n, []byte(o)),
			"Idempotency-Key", n)
		if r.Status != http.StatusCreated {
			t.Errorf("a request signed after the loss = %d %s; want 201", r.Status, r.Body)
		}
	}
}

// TestReplayRefusedAfterOneSlotLost: on a Redis Cluster one master can lose
// its keys while the others keep theirs. When the slot holding a merchant
// key's nonces is lost, and nothing else, a request signed before is
// refused all the same: the epoch that guards those nonces was lost with
// them.
func TestReplayRefusedAfterOneSlotLost(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	body := `{"merchant_order_no":"S-1","amount":100}`
	ts := env.Clock.Now().Unix()
	signed := func(ts int64, nonce string) []string {
		return []string{sdk.HeaderKey, k.KeyID, sdk.HeaderTimestamp, strconv.FormatInt(ts, 10), sdk.HeaderNonce, nonce,
			sdk.HeaderSignature, sdk.Sign(k.Secret, "POST", "/v1/orders", ts, nonce, []byte(body)), "Idempotency-Key", nonce}
	}
	if r := env.Do(t, "POST", "/v1/orders", body, signed(ts, "slot-nonce-0000000001")...); r.Status != http.StatusCreated {
		t.Fatalf("signed request = %d %s; want 201", r.Status, r.Body)
	}
	env.Clock.Advance(time.Minute)

	ctx := context.Background()
	keys, err := testenv.Keys(ctx, env.Redis, env.Prefix+"nonce:*slot-nonce-0000000001")
	if err != nil || len(keys) != 1 {
		t.Fatalf("the nonce's key: %v %v", keys, err)
	}
	slot := testenv.Slot(keys[0])
	all, err := testenv.Keys(ctx, env.Redis, env.Prefix+"*")
	if err != nil {
		t.Fatal(err)
	}
	lost, kept := 0, 0
	for _, key := range all {
		if testenv.Slot(key) != slot {
			kept++
			continue
		}
		if err := env.Redis.Del(ctx, key).Err(); err != nil {
			t.Fatal(err)
		}
		lost++
	}
	if kept == 0 {
		t.Fatalf("every key of the gateway was in slot %d; the test needs others kept", slot)
	}

	if r := env.Do(t, "POST", "/v1/orders", body, signed(ts, "slot-nonce-0000000001")...); r.Status != http.StatusUnauthorized {
		t.Errorf("replay after slot %d was lost (%d keys, %d kept) = %d %s; want 401", slot, lost, kept, r.Status, r.Body)
	}
	now := env.Clock.Now().Unix()
	o := `{"merchant_order_no":"S-2","amount":100}`
	n := "slot-nonce-fresh-0001"
	r := env.Do(t, "POST", "/v1/orders", o, sdk.HeaderKey, k.KeyID, sdk.HeaderTimestamp, strconv.FormatInt(now, 10),
		sdk.HeaderNonce, n, sdk.HeaderSignature, sdk.Sign(k.Secret, "POST", "/v1/orders", now, n, []byte(o)), "Idempotency-Key", n)
	if r.Status != http.StatusCreated {
		t.Errorf("a request signed after the loss = %d %s; want 201", r.Status, r.Body)
	}
}
