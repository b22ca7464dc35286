package wallet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/limits"
	"github.com/qrpay/qrpay/postgres"
)

// CardInput is what a customer types to bind a card.
type CardInput struct {
	Number     string
	ExpMonth   int
	ExpYear    int
	HolderName string
	OTP        *OTP // a one-time code bound to the number and expiry
}

// BindCard validates a card, has its issuer verify it, and binds it to the
// wallet with the default limits. The number is kept only as a keyed hash;
// error messages never repeat it.
func (s *Service) BindCard(ctx context.Context, p Principal, in CardInput) (Card, error) {
	number := normalizeCardNumber(in.Number)
	year := in.ExpYear
	if year >= 0 && year < 100 {
		year += 2000
	}
	holder := cleanHolderName(in.HolderName)
	switch {
	case number == "":
		return Card{}, errs.E(errs.Invalid, "card number must be 12 to 19 digits")
	case !luhn(number):
		return Card{}, errs.E(errs.Invalid, "card number is not valid (checksum)")
	case in.ExpMonth < 1 || in.ExpMonth > 12:
		return Card{}, errs.E(errs.Invalid, "exp_month must be 1 to 12")
	case year < 2000 || year > 2100:
		return Card{}, errs.E(errs.Invalid, "exp_year is not a valid year")
	case expired(in.ExpMonth, year, s.now()):
		return Card{}, errs.E(errs.Invalid, "the card has expired")
	case holder == "":
		return Card{}, errs.E(errs.Invalid, "holder_name must be 1 to 64 letters")
	}
	w, err := s.Get(ctx, p.WalletID)
	if err != nil {
		return Card{}, err
	}
	if err := active(w); err != nil {
		return Card{}, err
	}
	token := cardToken(s.cfg.CardKey, number)
	if err := s.requireCode(ctx, in.OTP, w.Phone, PurposeBindCard, w.ID,
		fmt.Sprintf("card=%s;exp=%02d/%d", token, in.ExpMonth, year)); err != nil {
		return Card{}, err
	}
	ref, err := s.issuer.Verify(ctx, number, in.ExpMonth, year)
	if err != nil {
		return Card{}, err
	}
	c := Card{
		ID: uuid.Must(uuid.NewV7()).String(), Brand: brandOf(number), Last4: number[len(number)-4:],
		ExpMonth: in.ExpMonth, ExpYear: year, HolderName: holder, Status: "active",
		Limits: s.cfg.DefaultLimits, token: token, issuerRef: ref,
	}
	c.Masked = mask(c.Last4)
	err = s.pool.QueryRow(ctx, `
		INSERT INTO cards (id, customer_id, token, brand, last4, exp_month, exp_year, holder_name, issuer_ref,
			limit_per_txn, limit_daily_amount, limit_daily_count)
		SELECT $1, c.id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM customers c
		WHERE c.id = $2 AND c.status = 'active'
		RETURNING created_at`,
		c.ID, p.WalletID, c.token, c.Brand, c.Last4, c.ExpMonth, c.ExpYear, c.HolderName, c.issuerRef,
		c.Limits.PerTransaction, c.Limits.DailyAmount, c.Limits.DailyCount).Scan(&c.CreatedAt)
	switch {
	case postgres.IsUniqueViolation(err, "cards_customer_token"):
		return Card{}, errs.E(errs.Conflict, "this card is already bound to the wallet")
	case errors.Is(err, pgx.ErrNoRows):
		return Card{}, errs.E(errs.WalletClosed, "the wallet is closed")
	case err != nil:
		return Card{}, fmt.Errorf("bind card: %w", err)
	}
	return c, nil
}

const cardColumns = `id, brand, last4, exp_month, exp_year, holder_name, status,
	limit_per_txn, limit_daily_amount, limit_daily_count, created_at, token, issuer_ref`

func scanCard(row pgx.Row) (Card, error) {
	var c Card
	err := row.Scan(&c.ID, &c.Brand, &c.Last4, &c.ExpMonth, &c.ExpYear, &c.HolderName, &c.Status,
		&c.Limits.PerTransaction, &c.Limits.DailyAmount, &c.Limits.DailyCount, &c.CreatedAt, &c.token, &c.issuerRef)
	c.Masked = mask(c.Last4)
	return c, err
}

// Cards lists the wallet's bound cards, oldest first.
func (s *Service) Cards(ctx context.Context, p Principal) ([]Card, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+cardColumns+` FROM cards
		WHERE customer_id = $1 AND unbound_at IS NULL ORDER BY created_at, id`, p.WalletID)
	if err != nil {
		return nil, fmt.Errorf("list cards: %w", err)
	}
	defer rows.Close()
	cards := []Card{}
	for rows.Next() {
		c, err := scanCard(rows)
		if err != nil {
			return nil, fmt.Errorf("list cards: %w", err)
		}
		cards = append(cards, c)
	}
	return cards, rows.Err()
}

// Card reads one of the wallet's bound cards. A card of another wallet is
// not found, exactly like a card that does not exist.
func (s *Service) Card(ctx context.Context, p Principal, cardID string) (Card, error) {
	if _, err := uuid.Parse(cardID); err != nil {
		return Card{}, errs.E(errs.NotFound, "card not found")
	}
	c, err := scanCard(s.pool.QueryRow(ctx, `SELECT `+cardColumns+` FROM cards
		WHERE id = $1 AND customer_id = $2 AND unbound_at IS NULL`, cardID, p.WalletID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Card{}, errs.E(errs.NotFound, "card not found")
	}
	if err != nil {
		return Card{}, fmt.Errorf("get card: %w", err)
	}
	return c, nil
}

// SetFrozen freezes or unfreezes a card. A frozen card can neither top up
// nor pay.
func (s *Service) SetFrozen(ctx context.Context, p Principal, cardID string, frozen bool) (Card, error) {
	if _, err := uuid.Parse(cardID); err != nil {
		return Card{}, errs.E(errs.NotFound, "card not found")
	}
	status := "active"
	if frozen {
		status = "frozen"
	}
	c, err := scanCard(s.pool.QueryRow(ctx, `UPDATE cards SET status = $3
		WHERE id = $1 AND customer_id = $2 AND unbound_at IS NULL RETURNING `+cardColumns, cardID, p.WalletID, status))
	if errors.Is(err, pgx.ErrNoRows) {
		return Card{}, errs.E(errs.NotFound, "card not found")
	}
	if err != nil {
		return Card{}, fmt.Errorf("freeze card: %w", err)
	}
	kind := NoticeCardUnfrozen
	if frozen {
		kind = NoticeCardFrozen
	}
	s.notifyLater(ctx, p.AccountID, kind, noticeData{Card: c.Masked})
	return c, nil
}

// Unbind removes a card from the wallet. Its history stays.
func (s *Service) Unbind(ctx context.Context, p Principal, cardID string) error {
	if _, err := uuid.Parse(cardID); err != nil {
		return errs.E(errs.NotFound, "card not found")
	}
	tag, err := s.pool.Exec(ctx, `UPDATE cards SET unbound_at = $3
		WHERE id = $1 AND customer_id = $2 AND unbound_at IS NULL`, cardID, p.WalletID, s.now())
	if err != nil {
		return fmt.Errorf("unbind card: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errs.E(errs.NotFound, "card not found")
	}
	return nil
}

// LimitsView is a card's limits, the ceiling the customer may raise them
// to, and what today has used (in the wallet's time zone).
type LimitsView struct {
	CardID    string `json:"card_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Limits    Limits `json:"limits"`
	Maximum   Limits `json:"maximum"`
	UsedToday Usage  `json:"used_today"`
}

// Usage is what a card spent today, pending payments included.
type Usage struct {
	Amount int64 `json:"amount" example:"30000"`
	Count  int64 `json:"count" example:"2"`
}

// CardLimits reads a card's limits and today's usage.
func (s *Service) CardLimits(ctx context.Context, p Principal, cardID string) (LimitsView, error) {
	c, err := s.Card(ctx, p, cardID)
	if err != nil {
		return LimitsView{}, err
	}
	u, err := s.limits.Usage(ctx, c.ID, s.now())
	if err != nil {
		return LimitsView{}, err
	}
	return LimitsView{CardID: c.ID, Limits: c.Limits, Maximum: s.cfg.MaxLimits,
		UsedToday: Usage{Amount: u.Amount, Count: u.Count}}, nil
}

// LimitsChange sets any of a card's limits; nil leaves one as it is.
// Raising any needs a one-time code bound to the card and the new values;
// lowering needs none.
type LimitsChange struct {
	PerTransaction *int64
	DailyAmount    *int64
	DailyCount     *int64
	OTP            *OTP
}

// SetCardLimits changes a card's limits, at most up to the configured
// maximum. The next payment is checked against the new limits.
func (s *Service) SetCardLimits(ctx context.Context, p Principal, cardID string, ch LimitsChange) (LimitsView, error) {
	c, err := s.Card(ctx, p, cardID)
	if err != nil {
		return LimitsView{}, err
	}
	l := c.Limits
	for _, f := range []struct {
		name string
		v    *int64
		dst  *int64
	}{{"per_transaction", ch.PerTransaction, &l.PerTransaction}, {"daily_amount", ch.DailyAmount, &l.DailyAmount}, {"daily_count", ch.DailyCount, &l.DailyCount}} {
		if f.v == nil {
			continue
		}
		if *f.v <= 0 {
			return LimitsView{}, errs.E(errs.Invalid, "%s must be positive", f.name)
		}
		*f.dst = *f.v
	}
	if !l.within(s.cfg.MaxLimits) {
		return LimitsView{}, errs.E(errs.Invalid, "limits cannot exceed the maximum (per transaction %d, daily amount %d, daily count %d)",
			s.cfg.MaxLimits.PerTransaction, s.cfg.MaxLimits.DailyAmount, s.cfg.MaxLimits.DailyCount)
	}
	if old := c.Limits; l.PerTransaction > old.PerTransaction || l.DailyAmount > old.DailyAmount || l.DailyCount > old.DailyCount {
		w, err := s.Get(ctx, p.WalletID)
		if err != nil {
			return LimitsView{}, err
		}
		binding := fmt.Sprintf("card=%s;per_transaction=%d;daily_amount=%d;daily_count=%d", c.ID, l.PerTransaction, l.DailyAmount, l.DailyCount)
		if err := s.requireCode(ctx, ch.OTP, w.Phone, PurposeCardLimits, w.ID, binding); err != nil {
			return LimitsView{}, err
		}
	}
	if _, err := s.pool.Exec(ctx, `UPDATE cards SET limit_per_txn = $3, limit_daily_amount = $4, limit_daily_count = $5
		WHERE id = $1 AND customer_id = $2`, c.ID, p.WalletID, l.PerTransaction, l.DailyAmount, l.DailyCount); err != nil {
		return LimitsView{}, fmt.Errorf("set limits: %w", err)
	}
	s.notifyLater(ctx, p.AccountID, NoticeLimitsChanged, noticeData{Card: c.Masked})
	return s.CardLimits(ctx, p, cardID)
}

// usableCard reads a card for spending: bound, not frozen, not expired.
func (s *Service) usableCard(ctx context.Context, p Principal, cardID string) (Card, error) {
	c, err := s.Card(ctx, p, cardID)
	if err != nil {
		return Card{}, err
	}
	return c, s.spendable(c)
}

// spendable says why a bound card cannot be spent with, if it cannot.
func (s *Service) spendable(c Card) error {
	switch {
	case c.Status == "frozen":
		return errs.E(errs.CardFrozen, "card %s is frozen", c.Masked)
	case expired(c.ExpMonth, c.ExpYear, s.now()):
		return errs.E(errs.CardDeclined, "card %s has expired", c.Masked)
	}
	return nil
}

// limitsOf converts a card's limits for the limit store.
func limitsOf(c Card) limits.Limits {
	return limits.Limits{PerTransaction: c.Limits.PerTransaction, DailyAmount: c.Limits.DailyAmount, DailyCount: c.Limits.DailyCount}
}

// CardUsageFromLedger rebuilds a card's usage for a day from the ledger —
// the truth that Redis's counters are a fast copy of. Top-ups, payments
// and withdrawals made with the card count; refunds do not give usage back.
func CardUsageFromLedger(q ledger.Querier) limits.SeedFunc {
	return func(ctx context.Context, cardID string, start, end time.Time) (limits.Usage, error) {
		var u limits.Usage
		// A withdrawal the issuer refused gives its usage back.
		err := q.QueryRow(ctx, `SELECT coalesce(sum(CASE WHEN kind = 'withdrawal_reversal' THEN -amount ELSE amount END), 0)::bigint,
			coalesce(sum(CASE WHEN kind = 'withdrawal_reversal' THEN -1 ELSE 1 END), 0)::bigint FROM transfers
			WHERE card_id = $1::uuid AND created_at >= $2 AND created_at < $3
			AND kind IN ('topup', 'payment', 'withdrawal', 'withdrawal_reversal')`, cardID, start, end).Scan(&u.Amount, &u.Count)
		if err != nil {
			return u, errs.Wrap(errs.Unavailable, err, "card usage could not be read")
		}
		return u, nil
	}
}

// TransferCommitted tells the limit store whether the ledger holds the
// transfer a card reservation was made for (limits.Store.Reconcile).
func TransferCommitted(q ledger.Querier) limits.CommittedFunc {
	return func(ctx context.Context, ref limits.Ref) (bool, error) {
		_, ok, err := ledger.TransferByKey(ctx, q, ref.Scope, ref.Key)
		if err != nil {
			return false, errs.Wrap(errs.Unavailable, err, "the ledger could not be read")
		}
		return ok, nil
	}
}
