package sdk

import (
	"context"
	"net/http"
	"time"
)

// WebhookSecret is the answer to a webhook secret rotation.
type WebhookSecret struct {
	// Secret is the new whsec_… secret. The merchant API does not show it
	// again: store it before anything else.
	Secret string `json:"secret"`
	// PreviousSecretExpiresAt is when the previous secret stops signing.
	// Until then every delivery carries a v1 signature under each, so a
	// receiver holding either accepts it.
	PreviousSecretExpiresAt time.Time `json:"previous_secret_expires_at"`
}

// RotateWebhookSecretParams tune a rotation; nil takes the defaults.
type RotateWebhookSecretParams struct {
	// Grace is how long the previous secret keeps signing beside the new
	// one, in whole seconds, at most 7 days; zero is the gateway's default
	// of 24 hours.
	Grace time.Duration
	// RetireNow stops the previous secret at once, for a secret that
	// leaked; Grace is then ignored. Deliveries already on their way may
	// fail verification and are retried under the new secret.
	RetireNow bool
	// IdempotencyKey, if set, is sent instead of a random key. Resending the
	// latest rotation's key returns that rotation instead of making another.
	IdempotencyKey string
}

// RotateWebhookSecret gives the merchant a new webhook secret. The call is
// retried safely: every attempt carries the same Idempotency-Key, and the
// gateway answers a repeat with the rotation it already made, so a lost
// answer never rotates twice.
//
// Deploy the new secret to the receiver within the grace; meanwhile
// ConstructEvent accepts deliveries with either secret.
func (c *Client) RotateWebhookSecret(ctx context.Context, params *RotateWebhookSecretParams) (*WebhookSecret, error) {
	var body struct {
		GraceSeconds *int64 `json:"grace_seconds,omitempty"`
	}
	var key string
	if params != nil {
		key = params.IdempotencyKey
		grace := int64(params.Grace / time.Second)
		if params.RetireNow {
			grace = 0
		}
		if params.RetireNow || params.Grace != 0 {
			body.GraceSeconds = &grace
		}
	}
	var s WebhookSecret
	err := c.call(ctx, request{method: http.MethodPost, path: "/v1/webhooks/secret/rotate", body: &body, idempotencyKey: key}, &s)
	if err != nil {
		return nil, err
	}
	return &s, nil
}
