package merchant

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
)

// How long a rotated webhook secret keeps signing beside its successor.
const (
	DefaultWebhookGrace = 24 * time.Hour
	MaxWebhookGrace     = 7 * 24 * time.Hour
)

// WebhookRotation is the answer to a webhook secret rotation: the new
// secret, which the merchant's API shows nowhere else, and when the
// previous one stops signing.
type WebhookRotation struct {
	Secret                  string    `json:"secret" example:"whsec_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA" doc:"The new webhook secret. Keep it: the merchant API does not show it again."`
	PreviousSecretExpiresAt time.Time `json:"previous_secret_expires_at" doc:"Until then every delivery carries a v1 signature under the previous secret as well."`
}

// RotateWebhookSecret gives the merchant a new webhook secret. The previous
// one keeps signing every delivery beside the new one for grace (0 to
// MaxWebhookGrace; 0 retires it at once), so receivers can switch without
// a gap; a secret older than the previous one stops at once.
//
// key is the request's Idempotency-Key, or "". A request with the key of the
// merchant's latest rotation answers with that rotation again instead of
// rotating twice: a retry after a lost answer must not retire the secret the
// receiver still holds, nor the one the caller never received.
func (s *Service) RotateWebhookSecret(ctx context.Context, merchantID, key string, grace time.Duration) (WebhookRotation, error) {
	if grace < 0 || grace > MaxWebhookGrace {
		return WebhookRotation{}, errs.E(errs.Invalid, "the grace period must be 0 to %d seconds", int(MaxWebhookGrace/time.Second))
	}
	var (
		gen   int
		until time.Time
	)
	// The row lock serialises rotations of one merchant: a concurrent retry
	// waits, then finds its key and takes the replay branch below.
	err := s.pool.QueryRow(ctx, `UPDATE merchants SET webhook_secret_gen = webhook_secret_gen + 1,
			webhook_secret_prev_until = $2, webhook_secret_rotation_key = nullif($3, '')
		WHERE id::text = $1 AND ($3 = '' OR webhook_secret_rotation_key IS DISTINCT FROM $3)
		RETURNING webhook_secret_gen, webhook_secret_prev_until`,
		merchantID, s.now().Add(grace), key).Scan(&gen, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		err = s.pool.QueryRow(ctx, `SELECT webhook_secret_gen, webhook_secret_prev_until FROM merchants
			WHERE id::text = $1 AND webhook_secret_rotation_key = $2`, merchantID, key).Scan(&gen, &until)
		if errors.Is(err, pgx.ErrNoRows) {
			return WebhookRotation{}, errs.E(errs.NotFound, "merchant not found")
		}
	}
	if err != nil {
		return WebhookRotation{}, fmt.Errorf("rotate webhook secret: %w", err)
	}
	return WebhookRotation{Secret: s.webhookSecret(merchantID, gen), PreviousSecretExpiresAt: until.UTC()}, nil
}

// signingSecrets are the secrets a delivery is signed with at now: the
// current one, and the previous one while its grace lasts.
func (s *Service) signingSecrets(merchantID string, gen int, prevUntil *time.Time, now time.Time) []string {
	secrets := []string{s.webhookSecret(merchantID, gen)}
	if prevUntil != nil && now.Before(*prevUntil) && gen > 1 {
		secrets = append(secrets, s.webhookSecret(merchantID, gen-1))
	}
	return secrets
}
