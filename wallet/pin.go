package wallet

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
)

var errPINFormat = errs.E(errs.Invalid, "pin must be exactly 6 digits")

func validPIN(pin string) bool {
	if len(pin) != 6 {
		return false
	}
	for _, r := range pin {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// SetPIN sets the six-digit payment PIN, or changes it: once a PIN is set,
// changing it needs the old one (checked under the PIN lockout).
func (s *Service) SetPIN(ctx context.Context, p Principal, pin, oldPIN string) error {
	if !validPIN(pin) {
		return errPINFormat
	}
	var current *string
	err := s.pool.QueryRow(ctx, `SELECT pin_hash FROM customers WHERE id = $1`, p.WalletID).Scan(&current)
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.E(errs.NotFound, "wallet not found")
	}
	if err != nil {
		return fmt.Errorf("set pin: %w", err)
	}
	if current != nil {
		if oldPIN == "" {
			return errs.E(errs.PINRequired, "old_pin is required to change the PIN")
		}
		if err := s.VerifyPIN(ctx, p, oldPIN); err != nil {
			return err
		}
	}
	hash := hashSecret(s.cfg.Argon2, s.cfg.Pepper, pin)
	// The compare-and-set on the old hash stops two concurrent changes from
	// both succeeding on the strength of one old PIN.
	tag, err := s.pool.Exec(ctx, `UPDATE customers SET pin_hash = $2
		WHERE id = $1 AND pin_hash IS NOT DISTINCT FROM $3`, p.WalletID, hash, current)
	if err != nil {
		return fmt.Errorf("set pin: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.Conflict, "the PIN was changed concurrently; try again")
	}
	return nil
}

// VerifyPIN checks the payment PIN under the wallet's budget of secret
// checks (SecretChecks) and the PIN lockout.
func (s *Service) VerifyPIN(ctx context.Context, p Principal, pin string) error {
	if pin == "" {
		return errs.E(errs.PINRequired, "the payment PIN is required")
	}
	// Text that cannot be a PIN is bad input, not a guess: refused before
	// the lockout counts it.
	if !validPIN(pin) {
		return errPINFormat
	}
	id, err := uuid.Parse(p.WalletID)
	if err != nil {
		return errs.E(errs.NotFound, "wallet not found")
	}
	var hash *string
	if err := s.pool.QueryRow(ctx, `SELECT pin_hash FROM customers WHERE id = $1`, id).Scan(&hash); err != nil {
		return fmt.Errorf("verify pin: %w", err)
	}
	if hash == nil {
		return errs.E(errs.PINRequired, "set a payment PIN first")
	}
	if err := s.spendSecretCheck(ctx, p); err != nil {
		return err
	}
	return s.attempt(ctx, id, pinAttempts, func() (bool, error) {
		return s.verify(*hash, s.cfg.Pepper, pin)
	})
}

// spendSecretCheck takes one check of the wallet's PIN or password from its
// budget in Redis. The PIN lockout already stops guessing after
// MaxAttempts; the budget bounds the argon2 work one session can ask for,
// right secrets included, and fails closed without Redis, as the money
// moves that need a PIN do.
func (s *Service) spendSecretCheck(ctx context.Context, p Principal) error {
	return s.spend(ctx, "wallet:secrets:"+p.WalletID, s.cfg.SecretChecks, s.now(), "too many PIN or password checks for this wallet")
}

// NeedsPIN reports whether a payment of amount needs the PIN.
func (s *Service) NeedsPIN(amount int64) bool { return amount > s.cfg.PINThreshold }
