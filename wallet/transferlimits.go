package wallet

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/limits"
)

// TransferLimits are a wallet's limits on money it sends to other wallets,
// in minor units (days in the wallet's time zone).
type TransferLimits struct {
	PerTransaction int64 `json:"per_transaction" example:"500000" doc:"Largest single transfer."`
	DailyAmount    int64 `json:"daily_amount" example:"2000000" doc:"Most sent per day (wallet time zone)."`
}

// TransferLimitsView is the wallet's transfer limits, the most its owner
// may raise them to, and what today has used.
type TransferLimitsView struct {
	Limits    TransferLimits `json:"limits"`
	Maximum   TransferLimits `json:"maximum"`
	UsedToday Usage          `json:"used_today"`
}

// transferLimitsOf is w's transfer limits: its own, or the defaults.
func (s *Service) transferLimitsOf(w Wallet) TransferLimits {
	l := s.cfg.DefaultTransferLimits
	if w.transferPerTxn != nil {
		l.PerTransaction = *w.transferPerTxn
	}
	if w.transferDaily != nil {
		l.DailyAmount = *w.transferDaily
	}
	return l
}

// storeLimits is l for the limit store: transfers have no count limit.
func (l TransferLimits) storeLimits() limits.Limits {
	return limits.Limits{PerTransaction: l.PerTransaction, DailyAmount: l.DailyAmount, DailyCount: ledger.MaxAmount}
}

// TransferLimits reads the wallet's transfer limits and today's usage.
func (s *Service) TransferLimits(ctx context.Context, p Principal) (TransferLimitsView, error) {
	w, err := s.Get(ctx, p.WalletID)
	if err != nil {
		return TransferLimitsView{}, err
	}
	if s.sec.TransferLimits == nil {
		return TransferLimitsView{}, errs.E(errs.Unavailable, "transfer limits are not configured")
	}
	u, err := s.sec.TransferLimits.Usage(ctx, w.ID, s.now())
	if err != nil {
		return TransferLimitsView{}, err
	}
	return TransferLimitsView{Limits: s.transferLimitsOf(w), Maximum: s.cfg.MaxTransferLimits,
		UsedToday: Usage{Amount: u.Amount, Count: u.Count}}, nil
}

// TransferLimitsChange sets either transfer limit; nil leaves it as it is.
// Raising either needs a one-time code bound to the new values; lowering
// needs none.
type TransferLimitsChange struct {
	PerTransaction, DailyAmount *int64
	OTP                         *OTP
}

// SetTransferLimits changes the wallet's transfer limits, at most up to
// the configured maximum.
func (s *Service) SetTransferLimits(ctx context.Context, p Principal, ch TransferLimitsChange) (TransferLimitsView, error) {
	w, err := s.Get(ctx, p.WalletID)
	if err != nil {
		return TransferLimitsView{}, err
	}
	if w.Status != "active" {
		return TransferLimitsView{}, errs.E(errs.WalletClosed, "the wallet is closed")
	}
	old := s.transferLimitsOf(w)
	l := old
	for _, f := range []struct {
		name string
		v    *int64
		dst  *int64
	}{{"per_transaction", ch.PerTransaction, &l.PerTransaction}, {"daily_amount", ch.DailyAmount, &l.DailyAmount}} {
		if f.v == nil {
			continue
		}
		if *f.v <= 0 {
			return TransferLimitsView{}, errs.E(errs.Invalid, "%s must be positive", f.name)
		}
		*f.dst = *f.v
	}
	if m := s.cfg.MaxTransferLimits; l.PerTransaction > m.PerTransaction || l.DailyAmount > m.DailyAmount {
		return TransferLimitsView{}, errs.E(errs.Invalid, "transfer limits cannot exceed the maximum (per transaction %d, daily amount %d)",
			m.PerTransaction, m.DailyAmount)
	}
	if l.PerTransaction > old.PerTransaction || l.DailyAmount > old.DailyAmount {
		binding := "per_transaction=" + strconv.FormatInt(l.PerTransaction, 10) + ";daily_amount=" + strconv.FormatInt(l.DailyAmount, 10)
		if err := s.requireCode(ctx, ch.OTP, w.Phone, PurposeTransferLimits, w.ID, binding); err != nil {
			return TransferLimitsView{}, err
		}
	}
	if _, err := s.pool.Exec(ctx, `UPDATE customers SET transfer_limit_per_txn = $2, transfer_limit_daily_amount = $3
		WHERE id = $1`, w.ID, l.PerTransaction, l.DailyAmount); err != nil {
		return TransferLimitsView{}, fmt.Errorf("set transfer limits: %w", err)
	}
	return s.TransferLimits(ctx, p)
}

// TransferUsageFromLedger rebuilds what a wallet sent to other wallets on
// a day from the ledger, for the transfer limit store (keyed by wallet id
// where the card store is keyed by card id).
func TransferUsageFromLedger(q ledger.Querier) limits.SeedFunc {
	return func(ctx context.Context, walletID string, start, end time.Time) (limits.Usage, error) {
		var u limits.Usage
		err := q.QueryRow(ctx, `SELECT coalesce(sum(amount), 0)::bigint, count(*) FROM transfers
			WHERE wallet_id = $1::uuid AND kind = 'transfer' AND created_at >= $2 AND created_at < $3`,
			walletID, start, end).Scan(&u.Amount, &u.Count)
		if err != nil {
			return u, errs.Wrap(errs.Unavailable, err, "transfer usage could not be read")
		}
		return u, nil
	}
}

// reserveTransfer reserves amount against the wallet's transfer limits.
func (s *Service) reserveTransfer(ctx context.Context, w Wallet, amount int64, ref limits.Ref) (limits.Reservation, error) {
	if s.sec.TransferLimits == nil {
		return limits.Reservation{}, errs.E(errs.Unavailable, "transfer limits are not configured")
	}
	r, err := s.sec.TransferLimits.ReserveFor(ctx, w.ID, amount, s.transferLimitsOf(w).storeLimits(), s.now(), ref)
	if errs.Is(err, errs.LimitExceeded) {
		return r, errs.E(errs.LimitExceeded, "the transfer would exceed the wallet's daily transfer limit")
	}
	return r, err
}

func (s *Service) settleTransfer(ctx context.Context, r limits.Reservation, committed bool) {
	var err error
	if committed {
		err = s.sec.TransferLimits.Commit(context.WithoutCancel(ctx), r)
	} else {
		err = s.sec.TransferLimits.Release(context.WithoutCancel(ctx), r)
	}
	if err != nil {
		s.log.WarnContext(ctx, "settling a transfer limit reservation failed; it is settled by the ledger later", "err", err)
	}
}
