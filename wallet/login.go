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
//
// After the right password, a frozen wallet is refused (wallet_frozen),
// and a device the wallet has not seen (or no device id at all) needs a
// one-time code: the answer is otp_required, and the sign-in is sent again
// with the code, which remembers the device.
func (s *Service) Login(ctx context.Context, in LoginInput, client string) (string, Session, Principal, error) {
	phone, password := in.Phone, in.Password
	// Text that cannot be a password is bad input, not a guess: refused
	// before any budget or lockout counts it.
	if !validPassword(password) {
		return "", Session{}, Principal{}, errPasswordFormat
	}
	if err := checkDeviceID(in.DeviceID, true); err != nil {
		return "", Session{}, Principal{}, err
	}
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

	id, accountID, right, st, err := s.checkPassword(ctx, phone, password, in.DeviceID)
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
	if st.frozen {
		return "", Session{}, Principal{}, errFrozen
	}
	if !st.deviceSeen {
		if err := s.requireCode(ctx, in.OTP, phone, PurposeLogin, id, in.DeviceID); err != nil {
			return "", Session{}, Principal{}, err
		}
		if in.DeviceID != "" {
			if err := seeDevice(ctx, s.pool, id, in.DeviceID, now); err != nil {
				return "", Session{}, Principal{}, fmt.Errorf("login: %w", err)
			}
		}
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

// LoginInput signs a wallet in: phone number and password, the device
// signed in from, and the one-time code a device the wallet has not seen
// needs.
type LoginInput struct {
	Phone, Password, DeviceID string
	OTP                       *OTP
}

// loginState is what sign-in needs to know of a wallet besides its
// password.
type loginState struct {
	frozen     bool
	deviceSeen bool
}

// checkPassword reads the active wallet of phone (whether it is frozen and
// whether it has seen deviceID, in the same query) and verifies password
// against its hash, or against the dummy hash when there is none: one
// argon2 verification either way. id is empty for an unknown phone.
func (s *Service) checkPassword(ctx context.Context, phone, password, deviceID string) (id string, accountID int64, right bool, st loginState, err error) {
	var uid uuid.UUID
	hash := s.dummyHash
	err = s.pool.QueryRow(ctx, `SELECT c.id, c.password_hash, c.account_id, c.frozen_at IS NOT NULL, d.device_id IS NOT NULL
		FROM customers c
		LEFT JOIN devices d ON $2 <> '' AND d.customer_id = c.id AND d.device_id = $2 AND d.revoked_at IS NULL
		WHERE c.phone = $1 AND c.status = 'active'`, phone, deviceID).Scan(&uid, &hash, &accountID, &st.frozen, &st.deviceSeen)
	known := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", 0, false, st, fmt.Errorf("login: %w", err)
	}
	ok, err := s.verify(hash, s.cfg.Pepper, password)
	if err != nil {
		return "", 0, false, st, fmt.Errorf("login: %w", err)
	}
	if !known {
		return "", 0, false, st, nil
	}
	return uid.String(), accountID, ok, st, nil
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
