package gateway_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/sdk"
)

// rawDelivery is a webhook exactly as the gateway sent it.
type rawDelivery struct {
	body      []byte
	signature string
}

// deliveryLog accepts every webhook and keeps it for the test to verify.
type deliveryLog struct {
	*httptest.Server
	mu  sync.Mutex
	got []rawDelivery
}

func newDeliveryLog(t *testing.T) *deliveryLog {
	l := &deliveryLog{}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		l.mu.Lock()
		l.got = append(l.got, rawDelivery{body: body, signature: r.Header.Get(sdk.WebhookSignatureHeader)})
		l.mu.Unlock()
	}))
	t.Cleanup(l.Close)
	return l
}

// next waits for delivery number n (from 1).
func (l *deliveryLog) next(t *testing.T, env *gatewaytest.Env, n int) rawDelivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		l.mu.Lock()
		if len(l.got) >= n {
			d := l.got[n-1]
			l.mu.Unlock()
			return d
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("webhook %d never arrived", n)
		}
		env.Dispatcher.Poke()
		time.Sleep(20 * time.Millisecond)
	}
}

type rotation struct {
	Secret                  string    `json:"secret"`
	PreviousSecretExpiresAt time.Time `json:"previous_secret_expires_at"`
}

func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	hook := newDeliveryLog(t)
	k := env.NewMerchant(t, map[string]any{"webhook_url": hook.URL})
	old := k.WebhookSecret
	delivered := 0
	// closeOrder makes the gateway send one webhook and returns it.
	closeOrder := func(no string) rawDelivery {
		t.Helper()
		o := createOrder(t, env, k, no, 100)
		if r := env.Signed(t, k, "POST", "/v1/orders/"+o.ID+"/close", nil); r.Status != 200 {
			t.Fatalf("close = %d %s", r.Status, r.Body)
		}
		delivered++
		return hook.next(t, env, delivered)
	}
	// verify is the SDK's check; the test clock runs ahead of the real one,
	// so the tolerance covers how far it was advanced.
	verify := func(d rawDelivery, secrets ...string) error {
		_, err := sdk.ConstructEventWithSecrets(d.body, d.signature, secrets, 48*time.Hour)
		return err
	}

	before := closeOrder("before")
	if n := strings.Count(before.signature, "v1="); n != 1 {
		t.Errorf("signature %q before any rotation; want one v1", before.signature)
	}

	for _, grace := range []int{-1, 7*86400 + 1} {
		r := env.Signed(t, k, "POST", "/v1/webhooks/secret/rotate", map[string]any{"grace_seconds": grace}, "Idempotency-Key", "bad")
		if r.Status != 400 || r.Code() != "invalid" {
			t.Errorf("rotate with grace_seconds %d = %d %s; want 400 invalid", grace, r.Status, r.Body)
		}
	}

	start := env.Clock.Now()
	r := env.Signed(t, k, "POST", "/v1/webhooks/secret/rotate", map[string]any{"grace_seconds": 3600}, "Idempotency-Key", "rotate-1")
	if r.Status != http.StatusCreated {
		t.Fatalf("rotate = %d %s; want 201", r.Status, r.Body)
	}
	var rot rotation
	r.JSON(t, &rot)
	if !strings.HasPrefix(rot.Secret, "whsec_") || rot.Secret == old {
		t.Fatalf("rotated secret %q; want a new whsec_ secret (old %q)", rot.Secret, old)
	}
	if want := start.Add(time.Hour); rot.PreviousSecretExpiresAt.Sub(want).Abs() > 5*time.Second {
		t.Errorf("previous_secret_expires_at = %s; want about %s", rot.PreviousSecretExpiresAt, want)
	}
	// A retry of the same request (the SDK resends its key) is the same
	// rotation, not a second one that would retire the secret the receiver
	// still holds.
	var again rotation
	env.Signed(t, k, "POST", "/v1/webhooks/secret/rotate", map[string]any{"grace_seconds": 3600}, "Idempotency-Key", "rotate-1").JSON(t, &again)
	if again != rot {
		t.Errorf("retried rotation = %+v; want the first answer %+v", again, rot)
	}
	// The merchant's own reads never show a secret.
	if self := env.Signed(t, k, "GET", "/v1/merchant", nil); strings.Contains(string(self.Body), rot.Secret) || strings.Contains(string(self.Body), "whsec_") {
		t.Errorf("GET /v1/merchant shows a webhook secret: %s", self.Body)
	}

	during := closeOrder("during")
	if n := strings.Count(during.signature, "v1="); n != 2 {
		t.Errorf("signature %q during the grace; want two v1", during.signature)
	}
	for name, secret := range map[string]string{"new": rot.Secret, "old": old} {
		if err := verify(during, secret); err != nil {
			t.Errorf("a delivery during the grace does not verify with the %s secret alone: %v", name, err)
		}
	}

	env.Clock.Advance(time.Hour + time.Second)
	after := closeOrder("after")
	if n := strings.Count(after.signature, "v1="); n != 1 {
		t.Errorf("signature %q after the grace; want one v1", after.signature)
	}
	if err := verify(after, rot.Secret); err != nil {
		t.Errorf("a delivery after the grace does not verify with the new secret: %v", err)
	}
	if err := verify(after, old); !errors.Is(err, sdk.ErrNoValidSignature) {
		t.Errorf("a delivery after the grace, checked with the old secret = %v; want ErrNoValidSignature", err)
	}

	// A leaked secret is retired at once with a grace of 0; by default the
	// previous secret keeps signing for 24 hours.
	var now rotation
	env.Signed(t, k, "POST", "/v1/webhooks/secret/rotate", map[string]any{"grace_seconds": 0}, "Idempotency-Key", "rotate-2").JSON(t, &now)
	immediate := closeOrder("immediate")
	if err := verify(immediate, rot.Secret); !errors.Is(err, sdk.ErrNoValidSignature) || verify(immediate, now.Secret) != nil {
		t.Errorf("after a rotation with grace 0: %q; want only the newest secret", immediate.signature)
	}
	var def rotation
	r = env.Signed(t, k, "POST", "/v1/webhooks/secret/rotate", nil, "Idempotency-Key", "rotate-3")
	r.JSON(t, &def)
	if want := env.Clock.Now().Add(24 * time.Hour); def.PreviousSecretExpiresAt.Sub(want).Abs() > 5*time.Second {
		t.Errorf("default grace: previous_secret_expires_at = %s; want about %s", def.PreviousSecretExpiresAt, want)
	}
	// The operator reads the current secret.
	var m struct {
		WebhookSecret string `json:"webhook_secret"`
	}
	env.Do(t, "GET", "/v1/admin/merchants/"+k.MerchantID, nil, "Authorization", "Bearer "+gatewaytest.OperatorToken).JSON(t, &m)
	if m.WebhookSecret != def.Secret {
		t.Errorf("operator reads webhook secret %q; want the newest %q", m.WebhookSecret, def.Secret)
	}
}
