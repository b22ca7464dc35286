package merchant

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
)

// The scopes an API key can have.
const (
	ScopePOS     = "pos"     // orders, refunds, webhook events
	ScopeFinance = "finance" // settlements
)

// APIKey is a merchant's API key. Secret is set only when the key is issued.
type APIKey struct {
	ID         string     `json:"id" example:"qk_7Q2M9X4K1CZ8P3RT"`
	MerchantID string     `json:"merchant_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Scopes     []string   `json:"scopes" example:"[\"pos\"]"`
	Secret     string     `json:"secret,omitempty" example:"sk_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eA" doc:"Shown once, when the key is issued."`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at" doc:"Set when the key was rotated: it works until then."`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// Caller is a merchant authenticated by an API key.
type Caller struct {
	MerchantID string
	KeyID      string
	Scopes     []string
	Suspended  bool
}

// Scope is the idempotency scope of the merchant's requests.
func (c Caller) Scope() string { return "merchant:" + c.MerchantID }

// Can reports whether the caller's key has scope.
func (c Caller) Can(scope string) bool { return slices.Contains(c.Scopes, scope) }

// secret derives a key's secret from the server's key; it is never stored.
func (s *Service) secret(keyID string) string {
	m := hmac.New(sha256.New, s.keys.apiKey)
	m.Write([]byte(keyID))
	return "sk_" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func validScopes(scopes []string) error {
	if len(scopes) == 0 {
		return errs.E(errs.Invalid, "a key needs at least one scope (pos, finance)")
	}
	for _, sc := range scopes {
		if sc != ScopePOS && sc != ScopeFinance {
			return errs.E(errs.Invalid, "unknown scope %q (want pos or finance)", sc)
		}
	}
	return nil
}

// IssueKey creates an API key for a merchant and returns it with its secret.
func (s *Service) IssueKey(ctx context.Context, merchantID string, scopes []string) (APIKey, error) {
	if err := validScopes(scopes); err != nil {
		return APIKey{}, err
	}
	m, err := s.Get(ctx, merchantID)
	if err != nil {
		return APIKey{}, err
	}
	scopes = slices.Compact(slices.Sorted(slices.Values(scopes)))
	k := APIKey{ID: "qk_" + randomCode(16), MerchantID: m.ID, Scopes: scopes}
	if err := s.pool.QueryRow(ctx, `INSERT INTO api_keys (id, merchant_id, scopes) VALUES ($1, $2, $3) RETURNING created_at`,
		k.ID, k.MerchantID, k.Scopes).Scan(&k.CreatedAt); err != nil {
		return APIKey{}, fmt.Errorf("issue key: %w", err)
	}
	k.Secret = s.secret(k.ID)
	return k, nil
}

// Keys lists a merchant's keys, without secrets.
func (s *Service) Keys(ctx context.Context, merchantID string) ([]APIKey, error) {
	if _, err := s.Get(ctx, merchantID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, merchant_id, scopes, created_at, expires_at, revoked_at
		FROM api_keys WHERE merchant_id = $1 ORDER BY created_at, id`, merchantID)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	keys := []APIKey{}
	for rows.Next() {
		var k APIKey
		if err := rows.Scan(&k.ID, &k.MerchantID, &k.Scopes, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt); err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// RotateKey issues a successor with the same scopes; the old key keeps
// working for grace (the configured KeyGrace when zero), so that terminals
// can move to the new one without a gap.
func (s *Service) RotateKey(ctx context.Context, merchantID, keyID string, grace time.Duration) (APIKey, error) {
	if grace <= 0 {
		grace = s.cfg.KeyGrace
	}
	var scopes []string
	err := s.pool.QueryRow(ctx, `SELECT scopes FROM api_keys WHERE id = $1 AND merchant_id::text = $2
		AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)`, keyID, merchantID, s.now()).Scan(&scopes)
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, errs.E(errs.NotFound, "key not found")
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("rotate key: %w", err)
	}
	next, err := s.IssueKey(ctx, merchantID, scopes)
	if err != nil {
		return APIKey{}, err
	}
	if _, err := s.pool.Exec(ctx, `UPDATE api_keys SET expires_at = $2 WHERE id = $1 AND (expires_at IS NULL OR expires_at > $2)`,
		keyID, s.now().Add(grace)); err != nil {
		return APIKey{}, fmt.Errorf("rotate key: %w", err)
	}
	s.forgetKeys()
	return next, nil
}

// RevokeKey stops a key at once.
func (s *Service) RevokeKey(ctx context.Context, merchantID, keyID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = $3
		WHERE id = $1 AND merchant_id::text = $2 AND revoked_at IS NULL`, keyID, merchantID, s.now())
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	s.forgetKeys()
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "key not found")
	}
	return nil
}

// errBadSignature is the one answer to every authentication failure, so a
// caller learns nothing about which check failed.
var errBadSignature = errs.E(errs.Unauthorized, "the request signature is missing or invalid")

// KeySecret looks up a live key and returns the caller it stands for with
// its secret, for signature verification. Whether the merchant is suspended
// is for the caller to act on once the signature is verified.
func (s *Service) KeySecret(ctx context.Context, keyID string) (Caller, string, error) {
	if len(keyID) < 4 || len(keyID) > 64 {
		return Caller{}, "", errBadSignature
	}
	now := s.now()
	if s.byKey != nil {
		if k, ok := s.byKey.Get(keyID); ok && time.Since(k.cachedAt) < s.cfg.CacheTTL &&
			(k.expiresAt == nil || k.expiresAt.After(now)) {
			return k.c, s.secret(k.c.KeyID), nil
		}
	}
	var c Caller
	var status string
	var expiresAt *time.Time
	err := s.pool.QueryRow(ctx, `SELECT k.id, k.merchant_id, k.scopes, m.status, k.expires_at FROM api_keys k
		JOIN merchants m ON m.id = k.merchant_id
		WHERE k.id = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)`,
		keyID, now).Scan(&c.KeyID, &c.MerchantID, &c.Scopes, &status, &expiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Caller{}, "", errBadSignature
	}
	if err != nil {
		return Caller{}, "", fmt.Errorf("look up key: %w", err)
	}
	c.Suspended = status != "active"
	if s.byKey != nil {
		s.byKey.Add(keyID, cachedKey{c: c, expiresAt: expiresAt, cachedAt: time.Now()})
	}
	return c, s.secret(c.KeyID), nil
}

// cachedKey is a live API key as KeySecret remembers it for
// Config.CacheTTL: a key revoked, rotated away or whose merchant was
// suspended through this process is forgotten at once (forgetKeys); through
// another replica the change takes effect within CacheTTL. A key's own expiry
// is checked on every use.
type cachedKey struct {
	c         Caller
	expiresAt *time.Time
	cachedAt  time.Time // wall clock
}

// forgetKeys drops every remembered key: changes to keys and merchant states
// are rare, and a key names its merchant only through the row.
func (s *Service) forgetKeys() {
	if s.byKey != nil {
		s.byKey.Purge()
	}
}
