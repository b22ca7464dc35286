package wallet

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/postgres"
)

// ChangePassword sets a new sign-in password, given the old one and a
// one-time code, and logs out every other session of the wallet (through
// this replica at once; through others within SessionCacheTTL).
func (s *Service) ChangePassword(ctx context.Context, p Principal, oldPassword, newPassword string, code *OTP) error {
	if n := len([]rune(newPassword)); n < 8 || n > 128 {
		return errs.E(errs.Invalid, "new_password must be 8 to 128 characters")
	}
	w, err := s.Get(ctx, p.WalletID)
	if err != nil {
		return err
	}
	if err := s.checkPasswordOf(ctx, p, oldPassword); err != nil {
		return err
	}
	if err := s.requireCode(ctx, code, w.Phone, PurposeChangePassword, w.ID, ""); err != nil {
		return err
	}
	hash := hashSecret(s.cfg.Argon2, s.cfg.Pepper, newPassword)
	now := s.now()
	defer s.forgetSessions()
	return postgres.InTx(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE customers SET password_hash = $2 WHERE id = $1`, w.ID, hash); err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		_, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $3
			WHERE customer_id = $1 AND id <> $2 AND revoked_at IS NULL`, w.ID, p.SessionID, now)
		return err
	})
}
