package wallet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ratelimit"
)

// errBadLogin is the one answer for an unknown phone, a wrong password and
// a sign-in locked after repeated failures: none of them may tell an
// attacker whether the number has a wallet.
var errBadLogin = errs.E(errs.Unauthorized, "phone number or password is wrong")

// Login checks a phone number and password and opens a session. It returns
// the bearer token once; only its hash is stored. client is the caller's
// address (or network), which budgets and locks sign-in attempts.
//
// The protections, all in Redis so that every replica shares them, in the
// order they apply:
//
//  1. LoginPerClient: attempts from one client address, whatever the
//     phone. Refused as rate_limited before any work: it bounds what one
//     address can make the servers hash.
//  2. The lockout of (phone, client): MaxAttempts wrong passwords from one
//     address lock that phone for that address for LockoutFor. A locked
//     attempt is still verified (against the wallet's hash, or the dummy
//     one) and answered exactly like a wrong password, so it costs the same
//     time and says the same thing. Because the lock is per address, an
//     attacker who knows a phone number locks only themselves out; the
//     owner signs in from their own address.
//  3. LoginPerPhone: attempts on one phone number from all addresses
//     together (counted by a keyed hash of the number, whether or not it
//     has a wallet, so the limit reveals nothing). It is higher than one
//     address's lockout allows and slows down guessing spread over many
//     addresses; a locked address does not spend it.
//
// Then exactly one argon2 verification runs in every case. Without Redis
// nothing is checked: sign-in answers unavailable (fail closed), since the
// budgets and lockouts live there and an unguarded sign-in is an
// unbounded guessing and hashing service. Sessions already open keep
// working.
func (s *Service) Login(ctx context.Context, phone, password, client string) (string, Session, Principal, error) {
	now := s.now()
	clientKey := "login:client:" + ratelimit.Subject(s.subjectKey, client)
	if err := s.spend(ctx, clientKey, s.cfg.LoginPerClient, now, "too many sign-in attempts from this address"); err != nil {
		return "", Session{}, Principal{}, err
	}
	phoneSubject := ratelimit.Subject(s.subjectKey, phone)
	lockout := ratelimit.Lockout{Max: s.cfg.MaxAttempts, For: s.cfg.LockoutFor}
	attempt, check, _, err := s.rate.Begin(ctx, "login:lock:"+phoneSubject+":"+ratelimit.Subject(s.subjectKey, client), lockout, now)
	if err != nil {
		return "", Session{}, Principal{}, errs.Wrap(errs.Unavailable, err, "sign-in is unavailable; try again shortly")
	}
	switch check {
	case ratelimit.Busy:
		// More checks in flight than wrong guesses are left: this one is
		// not made, and not counted. Only a wrong password counts towards
		// a lockout; a burst of right ones, from a busy app, must not lock
		// the owner out.
		return "", Session{}, Principal{}, &errs.Error{Code: errs.RateLimited, RetryAfter: time.Second,
			Message: "too many sign-in attempts at once; try again in a second"}
	case ratelimit.Reserved:
		if err := s.spend(ctx, "login:phone:"+phoneSubject, s.cfg.LoginPerPhone, now, "too many sign-in attempts for this phone number"); err != nil {
			_ = s.rate.Cancel(context.WithoutCancel(ctx), attempt)
			return "", Session{}, Principal{}, err
		}
	}

	id, accountID, right, err := s.checkPassword(ctx, phone, password)
	if err != nil {
		if check == ratelimit.Reserved {
			_ = s.rate.Cancel(context.WithoutCancel(ctx), attempt)
		}
		return "", Session{}, Principal{}, err
	}
	if check == ratelimit.Locked {
		authFailures.WithLabelValues("login").Inc()
		return "", Session{}, Principal{}, errBadLogin
	}
	locked, err := s.rate.Finish(context.WithoutCancel(ctx), attempt, right, now)
	if err != nil {
		return "", Session{}, Principal{}, errs.Wrap(errs.Unavailable, err, "sign-in is unavailable; try again shortly")
	}
	if !right {
		authFailures.WithLabelValues("login").Inc()
		if locked {
			lockouts.WithLabelValues("login").Inc()
			// The wallet is named only when the number has one; the
			// client's address is personal data and stays out of logs.
			s.log.WarnContext(ctx, "sign-in locked for one client after repeated failures",
				"wallet_id", id, "phone_known", id != "", "for", s.cfg.LockoutFor)
		}
		return "", Session{}, Principal{}, errBadLogin
	}
	token, tokenHash := newSessionToken()
	sess := Session{ID: uuid.Must(uuid.NewV7()).String(), CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL), Current: true}
	if _, err := s.pool.Exec(ctx, `INSERT INTO sessions (id, token_hash, customer_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, sess.ID, tokenHash, id, sess.CreatedAt, sess.ExpiresAt); err != nil {
		return "", Session{}, Principal{}, fmt.Errorf("login: %w", err)
	}
	s.notifyLater(ctx, accountID, NoticeLogin, noticeData{})
	return token, sess, Principal{WalletID: id, SessionID: sess.ID, AccountID: accountID}, nil
}

// checkPassword reads the active wallet of phone and verifies password
// against its hash, or against the dummy hash when there is none: one
// argon2 verification either way. id is empty for an unknown phone.
func (s *Service) checkPassword(ctx context.Context, phone, password string) (id string, accountID int64, right bool, err error) {
	var uid uuid.UUID
	hash := s.dummyHash
	err = s.pool.QueryRow(ctx, `SELECT id, password_hash, account_id FROM customers
		WHERE phone = $1 AND status = 'active'`, phone).Scan(&uid, &hash, &accountID)
	known := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", 0, false, fmt.Errorf("login: %w", err)
	}
	ok, err := s.verify(hash, s.cfg.Pepper, password)
	if err != nil {
		return "", 0, false, fmt.Errorf("login: %w", err)
	}
	if !known {
		return "", 0, false, nil
	}
	return uid.String(), accountID, ok, nil
}

// spend takes one event from key's budget, or refuses with rate_limited
// and how long to wait. Without Redis it fails closed.
func (s *Service) spend(ctx context.Context, key string, l ratelimit.Limit, now time.Time, why string) error {
	wait, err := s.rate.Allow(ctx, key, l, now)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "the rate limiter is unavailable; try again shortly")
	}
	if wait > 0 {
		return &errs.Error{Code: errs.RateLimited, RetryAfter: wait, Message: why + "; try again after Retry-After seconds"}
	}
	return nil
}
