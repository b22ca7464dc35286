package wallet

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
)

// active says why a wallet cannot move money out or take on new
// obligations, if it cannot: it is closed, or frozen.
func active(w Wallet) error {
	switch {
	case w.Status != "active":
		return errs.E(errs.WalletClosed, "the wallet is closed")
	case w.Frozen:
		return errFrozen
	}
	return nil
}

var errFrozen = errs.E(errs.WalletFrozen, "the wallet is frozen: unfreeze it to pay, send money, top up or sign in")

// Freeze freezes the wallet, as its owner does when a phone is lost:
// payments, transfers out, top-ups and new sessions stop at once (every
// one of them reads the wallet's state fresh from PostgreSQL); sessions
// already open can still read and unfreeze. The wallet still receives
// money. Freezing a frozen wallet changes nothing.
func (s *Service) Freeze(ctx context.Context, p Principal) (Wallet, error) {
	if _, err := s.pool.Exec(ctx, `UPDATE customers SET frozen_at = $2, frozen_by = 'owner'
		WHERE id = $1 AND status = 'active' AND frozen_at IS NULL`, p.WalletID, s.now()); err != nil {
		return Wallet{}, fmt.Errorf("freeze: %w", err)
	}
	return s.Get(ctx, p.WalletID)
}

// UnfreezeInput proves the owner: the payment PIN (or, for a wallet that
// never set one, the sign-in password) and a one-time code.
type UnfreezeInput struct {
	PIN, Password string
	OTP           *OTP
}

// Unfreeze lifts the owner's freeze, given the PIN (or the password when
// no PIN is set) and a one-time code: whoever holds a lost phone holds its
// messages too, so the code alone is not enough. A wallet the operator
// froze is unfrozen by the operator only.
func (s *Service) Unfreeze(ctx context.Context, p Principal, in UnfreezeInput) (Wallet, error) {
	// Text that cannot be a PIN or a password is bad input, whatever the
	// wallet's state: refused before an unfrozen wallet's answer could
	// accept it.
	if in.PIN != "" && !validPIN(in.PIN) {
		return Wallet{}, errPINFormat
	}
	if in.Password != "" && !validPassword(in.Password) {
		return Wallet{}, errPasswordFormat
	}
	w, err := s.Get(ctx, p.WalletID)
	if err != nil {
		return Wallet{}, err
	}
	switch {
	case w.Status != "active":
		return Wallet{}, errs.E(errs.WalletClosed, "the wallet is closed")
	case !w.Frozen:
		return w, nil
	case w.FrozenBy == "operator":
		return Wallet{}, errs.E(errs.Forbidden, "the wallet was frozen by the operator; contact support to unfreeze it")
	}
	if w.PINSet {
		if err := s.VerifyPIN(ctx, p, in.PIN); err != nil {
			return Wallet{}, err
		}
	} else if err := s.checkPasswordOf(ctx, p, in.Password); err != nil {
		return Wallet{}, err
	}
	if err := s.requireCode(ctx, in.OTP, w.Phone, PurposeUnfreeze, w.ID, ""); err != nil {
		return Wallet{}, err
	}
	if _, err := s.pool.Exec(ctx, `UPDATE customers SET frozen_at = NULL, frozen_by = NULL
		WHERE id = $1 AND frozen_by = 'owner'`, w.ID); err != nil {
		return Wallet{}, fmt.Errorf("unfreeze: %w", err)
	}
	return s.Get(ctx, p.WalletID)
}

// SetFrozenByOperator freezes a wallet for the operator (its owner cannot
// unfreeze it), or lifts any freeze.
func (s *Service) SetFrozenByOperator(ctx context.Context, walletID string, frozen bool) (Wallet, error) {
	if _, err := uuid.Parse(walletID); err != nil {
		return Wallet{}, errs.E(errs.NotFound, "wallet not found")
	}
	var err error
	if frozen {
		_, err = s.pool.Exec(ctx, `UPDATE customers SET frozen_at = coalesce(frozen_at, $2), frozen_by = 'operator'
			WHERE id = $1 AND status = 'active'`, walletID, s.now())
	} else {
		_, err = s.pool.Exec(ctx, `UPDATE customers SET frozen_at = NULL, frozen_by = NULL WHERE id = $1`, walletID)
	}
	if err != nil {
		return Wallet{}, fmt.Errorf("operator freeze: %w", err)
	}
	return s.Get(ctx, walletID)
}

// checkPasswordOf checks the signed-in owner's password under the wallet's
// budget of secret checks and its lockout.
func (s *Service) checkPasswordOf(ctx context.Context, p Principal, password string) error {
	// As at sign-in: text outside the password rule is bad input, never a
	// guess the lockout counts.
	if !validPassword(password) {
		return errPasswordFormat
	}
	id, err := uuid.Parse(p.WalletID)
	if err != nil {
		return errs.E(errs.NotFound, "wallet not found")
	}
	var hash string
	if err := s.pool.QueryRow(ctx, `SELECT password_hash FROM customers WHERE id = $1 AND status = 'active'`, id).Scan(&hash); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return errs.E(errs.WalletClosed, "the wallet is closed")
		}
		return fmt.Errorf("check password: %w", err)
	}
	if err := s.spendSecretCheck(ctx, p); err != nil {
		return err
	}
	return s.attempt(ctx, id, loginAttempts, func() (bool, error) {
		return s.verify(hash, s.cfg.Pepper, password)
	})
}
