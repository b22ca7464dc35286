package wallet

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/postgres"
)

// Close closes a wallet whose balance is zero and that has no payment in
// flight (no outstanding card reservation) and no withdrawal in transit. Its cards are unbound and its
// sessions revoked; its history is kept. The ledger account is closed
// under its row lock, so a transfer racing the close either lands first
// (and the balance is no longer zero) or fails with the account closed.
//
// It needs the password and then a one-time code.
func (s *Service) Close(ctx context.Context, p Principal, password string, code *OTP) error {
	if !validPassword(password) {
		return errPasswordFormat
	}
	id, err := uuid.Parse(p.WalletID)
	if err != nil {
		return errs.E(errs.NotFound, "wallet not found")
	}
	var hash, phone string
	if err := s.pool.QueryRow(ctx, `SELECT password_hash, phone FROM customers WHERE id = $1 AND status = 'active'`, id).Scan(&hash, &phone); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return errs.E(errs.WalletClosed, "the wallet is closed")
		}
		return fmt.Errorf("close wallet: %w", err)
	}
	if err := s.spendSecretCheck(ctx, p); err != nil {
		return err
	}
	if err := s.attempt(ctx, id, loginAttempts, func() (bool, error) {
		return s.verify(hash, s.cfg.Pepper, password)
	}); err != nil {
		return err
	}
	cards, err := s.Cards(ctx, p)
	if err != nil {
		return err
	}
	for _, c := range cards {
		n, err := s.limits.Pending(ctx, c.ID, s.now())
		if err != nil {
			return err
		}
		if n > 0 {
			return errs.E(errs.Conflict, "a payment with card %s is still in progress", c.Masked)
		}
	}
	// A withdrawal in transit may still come back to the wallet.
	if n, err := s.withdrawalsInTransit(ctx, id); err != nil {
		return err
	} else if n > 0 {
		return errs.E(errs.Conflict, "a withdrawal is still waiting for the card issuer's answer")
	}
	// Refused early what the transaction below would refuse, so that no
	// code is sent, or spent, for a close that cannot happen.
	if w, err := s.Get(ctx, p.WalletID); err != nil {
		return err
	} else if w.Balance != 0 {
		return errNonZeroBalance
	}
	if err := s.requireCode(ctx, code, phone, PurposeClose, p.WalletID, ""); err != nil {
		return err
	}
	now := s.now()
	defer s.forgetSessions()
	return postgres.InTx(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var accountID int64
		if err := tx.QueryRow(ctx, `SELECT account_id FROM customers WHERE id = $1 AND status = 'active' FOR UPDATE`, id).Scan(&accountID); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return errs.E(errs.WalletClosed, "the wallet is closed")
			}
			return err
		}
		if err := ledger.CloseAccount(ctx, tx, accountID); err != nil {
			if errs.Is(err, errs.Conflict) {
				return errNonZeroBalance
			}
			return err
		}
		batch := &pgx.Batch{}
		batch.Queue(`UPDATE customers SET status = 'closed', closed_at = $2 WHERE id = $1`, id, now)
		batch.Queue(`UPDATE cards SET unbound_at = $2 WHERE customer_id = $1 AND unbound_at IS NULL`, id, now)
		batch.Queue(`UPDATE sessions SET revoked_at = $2 WHERE customer_id = $1 AND revoked_at IS NULL`, id, now)
		return tx.SendBatch(ctx, batch).Close()
	})
}

var errNonZeroBalance = errs.E(errs.Conflict, "withdraw or transfer the balance before closing the wallet")
