package wallet

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/errs"
)

// Session is a login session as its owner sees it (never the token).
type Session struct {
	ID        string    `json:"id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Current   bool      `json:"current" example:"true"`
}

// Authenticate resolves a bearer token to its live session. Expired,
// revoked and closed-wallet sessions are all simply unauthorized.
//
// A live session is remembered in this process for Config.SessionCacheTTL,
// so most requests cost no database read to authenticate. That bounds how
// stale an answer can be: a session revoked (or its wallet closed) through
// another replica keeps working here for at most SessionCacheTTL; through
// this one, at once (but for a request authenticating at that very
// moment, which may remember it for SessionCacheTTL). The session's own
// expiry is checked on every request.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	hash := hashToken(token)
	if s.sessions != nil {
		if c, ok := s.sessions.Get(string(hash)); ok && time.Since(c.cachedAt) < s.cfg.SessionCacheTTL && s.now().Before(c.expiresAt) {
			return c.p, nil
		}
	}
	c, found, err := s.sessionRows.Load(ctx, string(hash))
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if !found || !s.now().Before(c.expiresAt) {
		return Principal{}, errs.E(errs.Unauthorized, "session token is missing, expired or revoked")
	}
	if s.sessions != nil {
		c.cachedAt = time.Now()
		s.sessions.Add(string(hash), c)
	}
	return c.p, nil
}

// loadSessions reads the live sessions (not revoked, of an active wallet)
// of many requests at once by token hash, in one query (postgres.Loader):
// a caller arriving while a query runs is served by the next one, so a
// session revoked before a request arrives is never read as live for it.
// The hashes come through a subquery and each session and wallet is its
// own index probe, so the statement keeps its generic plan, whatever the
// tables' sizes when it was made (postgres.NewLoader; as a join, or with
// the wallet's status in the condition, a plan made while the tables were
// small walked every active wallet's entry of an index for each call). The
// wallet's status and the session's expiry (by the service clock) are
// checked here and by the caller.
func (s *Service) loadSessions(ctx context.Context, hashes []string) (map[string]cachedSession, error) {
	keys := make([][]byte, len(hashes))
	for i, h := range hashes {
		keys[i] = []byte(h)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT k.token_hash, c.id, t.id, c.account_id, t.expires_at, c.status
		FROM (SELECT $1::bytea[] AS hashes OFFSET 0) AS keys
		CROSS JOIN LATERAL unnest(keys.hashes) AS k(token_hash)
		CROSS JOIN LATERAL (SELECT * FROM sessions s WHERE s.token_hash = k.token_hash AND s.revoked_at IS NULL LIMIT 1) AS t
		CROSS JOIN LATERAL (SELECT * FROM customers c WHERE c.id = t.customer_id LIMIT 1) AS c`, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := make(map[string]cachedSession, len(hashes))
	for rows.Next() {
		var hash []byte
		var c cachedSession
		var status string
		if err := rows.Scan(&hash, &c.p.WalletID, &c.p.SessionID, &c.p.AccountID, &c.expiresAt, &status); err != nil {
			return nil, err
		}
		if status == "active" {
			found[string(hash)] = c
		}
	}
	return found, rows.Err()
}

// cachedSession is a live session as Authenticate remembers it.
type cachedSession struct {
	p         Principal
	expiresAt time.Time // the session's own expiry, by the service clock
	cachedAt  time.Time // when it was read, by the wall clock: the entry lives SessionCacheTTL
}

// forgetSessions drops every remembered session of this process, after a
// session was revoked or a wallet closed here; those are rare, so it does
// not look for the ones concerned.
func (s *Service) forgetSessions() {
	if s.sessions != nil {
		s.sessions.Purge()
	}
}

// Sessions lists a wallet's live sessions.
func (s *Service) Sessions(ctx context.Context, p Principal) ([]Session, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, created_at, expires_at FROM sessions
		WHERE customer_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC`, p.WalletID, s.now())
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	defer rows.Close()
	list := []Session{}
	for rows.Next() {
		var sess Session
		if err := rows.Scan(&sess.ID, &sess.CreatedAt, &sess.ExpiresAt); err != nil {
			return nil, fmt.Errorf("sessions: %w", err)
		}
		sess.Current = sess.ID == p.SessionID
		list = append(list, sess)
	}
	return list, rows.Err()
}

// RevokeSession logs a session out. Only the wallet's own sessions can be
// revoked; any other id is not found.
func (s *Service) RevokeSession(ctx context.Context, p Principal, sessionID string) error {
	if _, err := uuid.Parse(sessionID); err != nil {
		return errs.E(errs.NotFound, "session not found")
	}
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = $3
		WHERE id = $1 AND customer_id = $2 AND revoked_at IS NULL`, sessionID, p.WalletID, s.now())
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "session not found")
	}
	s.forgetSessions()
	return nil
}

// attemptKind names the columns of one lockout counter.
type attemptKind struct {
	name, failures, lockedUntil string
	wrong                       *errs.Error
}

var (
	// loginAttempts guard the password check of closing a wallet (its
	// owner is signed in); signing in has its own lockout (login.go).
	loginAttempts = attemptKind{"login", "login_failures", "login_locked_until", errBadLogin}
	pinAttempts   = attemptKind{"pin", "pin_failures", "pin_locked_until", errs.E(errs.PINInvalid, "the payment PIN is wrong")}
)

// attempt runs check under the account's lockout counter. The attempt is
// counted before check runs, so that many guesses sent at once still get at
// most MaxAttempts tries: one beyond them is refused as rate_limited and
// not counted. A success resets the counter, and the failure that reaches
// MaxAttempts locks the account for LockoutFor.
func (s *Service) attempt(ctx context.Context, id uuid.UUID, k attemptKind, check func() (bool, error)) error {
	now := s.now()
	var failures int
	var lockedUntil *time.Time
	err := s.pool.QueryRow(ctx, fmt.Sprintf(`
		UPDATE customers SET
			%[1]s = CASE WHEN %[2]s <= $2 THEN 1 ELSE %[1]s + 1 END,
			%[2]s = CASE WHEN %[2]s <= $2 THEN NULL ELSE %[2]s END
		WHERE id = $1 RETURNING %[1]s, %[2]s`, k.failures, k.lockedUntil), id, now).Scan(&failures, &lockedUntil)
	if err != nil {
		return fmt.Errorf("%s attempt: %w", k.name, err)
	}
	if lockedUntil != nil && lockedUntil.After(now) {
		return s.locked(k, lockedUntil.Sub(now))
	}
	if failures > s.cfg.MaxAttempts {
		// More checks in flight than wrong guesses are left: this one is
		// not made, and not counted (its reservation is given back). Only
		// a wrong secret counts towards a lockout; a burst of right ones,
		// from a busy app, must not lock the owner out.
		if _, err := s.pool.Exec(context.WithoutCancel(ctx), fmt.Sprintf(`UPDATE customers SET %[1]s = greatest(%[1]s - 1, 0)
			WHERE id = $1`, k.failures), id); err != nil {
			return fmt.Errorf("%s attempt: %w", k.name, err)
		}
		return &errs.Error{Code: errs.RateLimited, RetryAfter: time.Second,
			Message: "too many attempts at once on this account; try again in a second"}
	}
	ok, err := check()
	if err != nil {
		return fmt.Errorf("%s attempt: %w", k.name, err)
	}
	if ok {
		_, err := s.pool.Exec(ctx, fmt.Sprintf(`UPDATE customers SET %s = 0, %s = NULL WHERE id = $1`,
			k.failures, k.lockedUntil), id)
		return err
	}
	authFailures.WithLabelValues(k.name).Inc()
	if failures >= s.cfg.MaxAttempts {
		return s.lock(ctx, id, k, now)
	}
	return k.wrong
}

func (s *Service) lock(ctx context.Context, id uuid.UUID, k attemptKind, now time.Time) error {
	until := now.Add(s.cfg.LockoutFor)
	tag, err := s.pool.Exec(ctx, fmt.Sprintf(`UPDATE customers SET %[1]s = $2
		WHERE id = $1 AND (%[1]s IS NULL OR %[1]s <= $3)`, k.lockedUntil), id, until, now)
	if err != nil {
		return fmt.Errorf("%s lockout: %w", k.name, err)
	}
	if tag.RowsAffected() == 1 {
		lockouts.WithLabelValues(k.name).Inc()
		s.log.WarnContext(ctx, "wallet locked after repeated failures",
			"kind", k.name, "wallet_id", id.String(), "until", until)
	}
	return s.locked(k, s.cfg.LockoutFor)
}

func (s *Service) locked(k attemptKind, retry time.Duration) error {
	what := "sign-in"
	if k.name == "pin" {
		what = "payment PIN"
	}
	return &errs.Error{Code: errs.Locked, RetryAfter: retry,
		Message: fmt.Sprintf("%s is locked after too many wrong attempts; try again later", what)}
}
