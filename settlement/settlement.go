// Package settlement is qrpay's nightly settlement: for each merchant and
// business day it computes what the gateway owes the merchant from the
// ledger, moves that net to the merchant's payout account in one ledger
// transfer, and writes a deterministic CSV file with its SHA-256 that the
// merchant's finance team downloads and reconciles.
package settlement

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/qrpay/qrpay/breaker"
	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/postgres"
)

var settledTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "qrpay_settlements_total",
	Help: "Merchant settlements by outcome (settled, already_settled, failed).",
}, []string{"outcome"})

// Config tunes settlement.
type Config struct {
	Location *time.Location // business days are cut at local midnight
	Now      func() time.Time
	Logger   *slog.Logger
}

// Service settles merchants.
type Service struct {
	cfg    Config
	pool   *postgres.DB
	ledger *ledger.Ledger
	files  Files
	log    *slog.Logger
}

// New returns the settlement service.
func New(cfg Config, pool *postgres.DB, led *ledger.Ledger, files Files) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, pool: pool, ledger: led, files: files, log: cfg.Logger}
}

// Settlement is one merchant's settled business day.
type Settlement struct {
	MerchantID     string     `json:"merchant_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Date           string     `json:"date" example:"2026-11-25" doc:"The business day, in time_zone."`
	Status         string     `json:"status" example:"settled" enum:"pending,settled"`
	Currency       string     `json:"currency" example:"CNY"`
	TimeZone       string     `json:"time_zone" example:"Asia/Shanghai"`
	PeriodStart    time.Time  `json:"period_start" doc:"The covered period starts here: the end of the previous settlement, normally local midnight."`
	PeriodEnd      time.Time  `json:"period_end" doc:"The covered period ends here (excluded): local midnight, or when the day was closed early."`
	PaymentsCount  int64      `json:"payments_count" example:"120"`
	PaymentsAmount int64      `json:"payments_amount" example:"1563000"`
	RefundsCount   int64      `json:"refunds_count" example:"2"`
	RefundsAmount  int64      `json:"refunds_amount" example:"5000" doc:"A positive sum of the refunds."`
	Fees           int64      `json:"fees" example:"9348" doc:"Fees on payments less fees returned with refunds."`
	Net            int64      `json:"net" example:"1548652" doc:"payments − refunds − fees: what moved to the payout account."`
	TransferID     *string    `json:"transfer_id" doc:"The ledger transfer that moved the net; null when the net is zero."`
	FileName       string     `json:"file_name" example:"qrpay-settlement-M7Q2M9X4K1-2026-11-25.csv"`
	FileSize       int64      `json:"file_size" example:"18234"`
	SHA256         string     `json:"sha256" example:"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"`
	GeneratedAt    time.Time  `json:"generated_at" doc:"When the file was written; not part of the file."`
	SettledAt      *time.Time `json:"settled_at"`
	FormatVersion  string     `json:"format_version" example:"qrpay-settlement/2" enum:"qrpay-settlement/1,qrpay-settlement/2" doc:"The file's layout (docs/settlement.md); a day keeps the layout it was settled in."`
}

// Day is a business day: [Start, End) in the configured time zone.
type Day struct {
	Date       string
	Start, End time.Time
}

// ParseDay reads YYYY-MM-DD as a business day.
func (s *Service) ParseDay(date string) (Day, error) {
	t, err := time.ParseInLocation(time.DateOnly, date, s.cfg.Location)
	if err != nil {
		return Day{}, errs.E(errs.Invalid, "date must be YYYY-MM-DD")
	}
	return Day{Date: date, Start: t, End: t.AddDate(0, 0, 1)}, nil
}

// Yesterday is the last business day that has ended.
func (s *Service) Yesterday() Day {
	now := s.cfg.Now().In(s.cfg.Location)
	d, _ := s.ParseDay(now.AddDate(0, 0, -1).Format(time.DateOnly))
	return d
}

// Outcome is what a run did for one merchant.
type Outcome struct {
	MerchantID string `json:"merchant_id"`
	Date       string `json:"date"`
	Result     string `json:"result"` // settled, already_settled, failed
	Net        int64  `json:"net"`
	SHA256     string `json:"sha256,omitempty"`
	// Code and Error say why a merchant's settlement failed: a code of
	// docs/errors.md and a message safe to show; the cause is logged.
	Code  errs.Code `json:"code,omitempty"`
	Error string    `json:"error,omitempty"`
}

// failed marks o failed by err: a coded error keeps its code and message; a
// database that could not be reached is unavailable; anything else is
// internal, its text only in the log.
func (s *Service) failed(ctx context.Context, o Outcome, err error) Outcome {
	o.Result = "failed"
	var e *errs.Error
	switch {
	case errors.As(err, &e) && e.Code != errs.Internal && e.Code != errs.Unavailable:
		o.Code, o.Error = e.Code, e.Message
	case breaker.Down(err):
		o.Code, o.Error = errs.Unavailable, "the database could not be reached; run the day again"
	default:
		o.Code, o.Error = errs.Internal, "internal error; the gateway's log has the cause"
	}
	s.log.ErrorContext(ctx, "settlement failed", "merchant", o.MerchantID, "date", o.Date, "code", o.Code, "err", err)
	return o
}

// Run settles one business day for every merchant (or just merchantID).
// An advisory lock on the day makes concurrent runs — on one replica or
// several — take turns: the first does the work, the next finds every
// merchant already settled and says so.
//
// A day that has not ended can only be settled with closeEarly: its period
// then ends now, and what happens later that day goes to the next day's
// settlement (each settlement starts where the previous one ended).
func (s *Service) Run(ctx context.Context, date, merchantID string, closeEarly bool) ([]Outcome, error) {
	day, err := s.ParseDay(date)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	dayOpen := now.Before(day.End)
	if dayOpen && (!closeEarly || now.Before(day.Start)) {
		return nil, errs.E(errs.Invalid, "business day %s has not ended yet", date)
	}
	conn, err := s.pool.Pool().Acquire(ctx)
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "settlement could not reach the database")
	}
	defer conn.Release()
	lock := dayLock(date)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lock); err != nil {
		return nil, fmt.Errorf("settle %s: lock: %w", date, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lock) //nolint:errcheck

	rows, err := s.pool.Query(ctx, `SELECT id FROM merchants WHERE created_at < $1 AND created_at <= now()
		AND ($2 = '' OR id::text = $2) ORDER BY id`, day.End, merchantID)
	if err != nil {
		return nil, fmt.Errorf("settle %s: %w", date, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("settle %s: %w", date, err)
	}
	if merchantID != "" && len(ids) == 0 {
		return nil, errs.E(errs.NotFound, "merchant %s did not exist on %s", merchantID, date)
	}
	var out []Outcome
	var failed error
	for _, id := range ids {
		// Runs of different days take turns per merchant, so that the
		// order check and the settlement it guards are one step.
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, merchantLock(id)); err != nil {
			return out, fmt.Errorf("settle %s: lock merchant %s: %w", date, id, err)
		}
		o := s.settleMerchant(ctx, id, day, dayOpen)
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, merchantLock(id)); err != nil {
			return out, fmt.Errorf("settle %s: unlock merchant %s: %w", date, id, err)
		}
		settledTotal.WithLabelValues(o.Result).Inc()
		if o.Result == "failed" {
			failed = errors.Join(failed, fmt.Errorf("merchant %s: %s: %s", id, o.Code, o.Error))
		}
		out = append(out, o)
	}
	return out, failed
}

// merchantLock is the advisory lock key of a merchant's settlements.
func merchantLock(merchantID string) int64 {
	h := fnv.New64a()
	h.Write([]byte("qrpay-settlement-merchant/" + merchantID))
	return int64(h.Sum64() >> 1)
}

// dayLock is the advisory lock key of a business day's settlement.
func dayLock(date string) int64 {
	h := fnv.New64a()
	h.Write([]byte("qrpay-settlement/" + date))
	return int64(h.Sum64() >> 1)
}

func (s *Service) settleMerchant(ctx context.Context, merchantID string, day Day, closeEarly bool) Outcome {
	o := Outcome{MerchantID: merchantID, Date: day.Date}
	existing, err := s.Get(ctx, merchantID, day.Date)
	if err == nil && existing.Status == "settled" {
		o.Result, o.Net, o.SHA256 = "already_settled", existing.Net, existing.SHA256
		return o
	}
	// Days settle in order: a day's period starts where the previous day's
	// ended, so settling a day over an unsettled earlier one would pay the
	// earlier one's payments out twice.
	var prevDate, laterDate *string
	var prevEnd *time.Time
	var created string
	if err := s.pool.QueryRow(ctx, `SELECT
			(SELECT business_date::text FROM settlements WHERE merchant_id = $1 AND status = 'settled'
				AND business_date < $2::date ORDER BY business_date DESC LIMIT 1),
			(SELECT period_end FROM settlements WHERE merchant_id = $1 AND status = 'settled'
				AND business_date < $2::date ORDER BY business_date DESC LIMIT 1),
			(SELECT min(business_date)::text FROM settlements WHERE merchant_id = $1 AND status = 'settled'
				AND business_date > $2::date),
			(SELECT (created_at AT TIME ZONE $3)::date::text FROM merchants WHERE id = $1)`,
		merchantID, day.Date, s.cfg.Location.String()).Scan(&prevDate, &prevEnd, &laterDate, &created); err != nil {
		return s.failed(ctx, o, err)
	}
	dayBefore := day.Start.AddDate(0, 0, -1).Format(time.DateOnly)
	switch {
	case laterDate != nil:
		return s.failed(ctx, o, errs.E(errs.Conflict, "the later day %s is already settled; days settle in order", *laterDate))
	case created <= dayBefore && (prevDate == nil || *prevDate != dayBefore):
		return s.failed(ctx, o, errs.E(errs.Conflict, "the day before, %s, is not settled yet; days settle in order (qrpay settle catch-up)", dayBefore))
	}
	// Take the merchant account's lock, the one every payment and refund
	// holds while it writes and stamps its postings: once we have it, every
	// posting stamped before now has committed and is visible. A day closed
	// early ends at that instant; any day ends no later than it, so a clock
	// that runs ahead of the database's cannot cut a period short.
	var lockedAt time.Time
	if err := s.pool.QueryRow(ctx, `SELECT clock_timestamp() FROM accounts
		WHERE id = (SELECT account_id FROM merchants WHERE id = $1) FOR UPDATE`, merchantID).Scan(&lockedAt); err != nil {
		return s.failed(ctx, o, err)
	}
	if closeEarly {
		day.End = lockedAt
		if now := s.cfg.Now(); now.Before(lockedAt) {
			day.End = now.Truncate(time.Microsecond) // the database keeps microseconds
		}
	} else if lockedAt.Before(day.End) {
		day.End = lockedAt // the database's clock is behind ours: read only what it has stamped
	}
	if prevEnd != nil && prevEnd.Before(day.End) {
		day.Start = *prevEnd
	}
	st, err := s.settle(ctx, merchantID, day)
	if err != nil {
		return s.failed(ctx, o, err)
	}
	o.Result, o.Net, o.SHA256 = "settled", st.Net, st.SHA256
	return o
}

// settle writes the merchant's file for the day, records it as pending,
// then posts the net and marks the settlement settled in the same ledger
// transaction. A failure anywhere leaves at most a pending record, which
// the finance API does not serve and the next run redoes.
func (s *Service) settle(ctx context.Context, merchantID string, day Day) (Settlement, error) {
	m, err := s.merchant(ctx, merchantID)
	if err != nil {
		return Settlement{}, err
	}
	want, err := s.totals(ctx, m, day)
	if err != nil {
		return Settlement{}, err
	}
	var got Totals
	size, sum, err := s.files.Write(ctx, FileKey{MerchantID: m.id, Date: day.Date}, func(w io.Writer) error {
		var err error
		got, err = s.writeFile(ctx, w, m, day, FormatVersion)
		return err
	})
	if err != nil {
		return Settlement{}, err
	}
	if got != want {
		return Settlement{}, fmt.Errorf("the file's totals %+v differ from the ledger's %+v", got, want)
	}
	st := Settlement{
		MerchantID: m.id, Date: day.Date, Status: "pending", Currency: m.currency, TimeZone: s.cfg.Location.String(),
		PeriodStart: day.Start, PeriodEnd: day.End,
		PaymentsCount: got.PaymentsCount, PaymentsAmount: got.PaymentsAmount, RefundsCount: got.RefundsCount,
		RefundsAmount: got.RefundsAmount, Fees: got.Fees, Net: got.Net,
		FileName: fmt.Sprintf("qrpay-settlement-%s-%s.csv", m.code, day.Date), FileSize: size, SHA256: sum,
		GeneratedAt: s.cfg.Now(), FormatVersion: FormatVersion,
	}
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO settlements (merchant_id, business_date, status, currency, time_zone, payments_count, payments_amount,
			refunds_count, refunds_amount, fees, net, file_name, file_size, sha256, generated_at, period_start, period_end, format_version)
		VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		ON CONFLICT (merchant_id, business_date) DO UPDATE SET
			currency = EXCLUDED.currency, time_zone = EXCLUDED.time_zone, payments_count = EXCLUDED.payments_count,
			period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end,
			payments_amount = EXCLUDED.payments_amount, refunds_count = EXCLUDED.refunds_count,
			refunds_amount = EXCLUDED.refunds_amount, fees = EXCLUDED.fees, net = EXCLUDED.net,
			file_name = EXCLUDED.file_name, file_size = EXCLUDED.file_size, sha256 = EXCLUDED.sha256,
			generated_at = EXCLUDED.generated_at, format_version = EXCLUDED.format_version
		WHERE settlements.status = 'pending'`,
		st.MerchantID, st.Date, st.Currency, st.TimeZone, st.PaymentsCount, st.PaymentsAmount, st.RefundsCount,
		st.RefundsAmount, st.Fees, st.Net, st.FileName, st.FileSize, st.SHA256, st.GeneratedAt, st.PeriodStart, st.PeriodEnd,
		st.FormatVersion); err != nil {
		return Settlement{}, fmt.Errorf("record settlement: %w", err)
	}
	publish := func(ctx context.Context, q ledger.Querier, transferID *string) error {
		tag, err := q.Exec(ctx, `UPDATE settlements SET status = 'settled', transfer_id = $3, settled_at = $4
			WHERE merchant_id = $1 AND business_date = $2 AND status = 'pending' AND sha256 = $5`,
			st.MerchantID, st.Date, transferID, s.cfg.Now(), st.SHA256)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errs.E(errs.Conflict, "settlement of %s for %s changed while it ran", st.MerchantID, st.Date)
		}
		return nil
	}
	if st.Net == 0 {
		if err := publish(ctx, s.pool, nil); err != nil {
			return Settlement{}, err
		}
		return s.Get(ctx, st.MerchantID, st.Date)
	}
	// A negative net (refunds beyond the day's payments) flows the other
	// way: the payout account, which may go negative, owes the merchant
	// account, and later days recover it. The settlement is published once
	// its transfer has committed; a run that stopped in between finds the
	// transfer (Replayed) under the day's key and publishes it then.
	mid, err := uuid.Parse(m.id)
	if err != nil {
		return Settlement{}, fmt.Errorf("post settlement: %w", err)
	}
	t, err := s.ledger.Post(ctx, ledger.Transfer{
		Kind: "settlement", Currency: m.currency, Scope: "settlement", Key: "settlement:" + m.id + ":" + day.Date,
		Links:    ledger.Links{MerchantID: mid},
		Metadata: fmt.Appendf(nil, `{"business_date":%q}`, day.Date),
		Postings: []ledger.Posting{{AccountID: m.account, Amount: -st.Net}, {AccountID: m.payout, Amount: st.Net}},
	})
	if err != nil {
		return Settlement{}, fmt.Errorf("post settlement: %w", err)
	}
	id := t.ID.String()
	if err := publish(ctx, s.pool, &id); err != nil {
		return Settlement{}, err
	}
	return s.Get(ctx, st.MerchantID, st.Date)
}

// merchantInfo is what settlement needs of a merchant.
type merchantInfo struct {
	id, code, name, currency string
	account, payout          int64
}

func (s *Service) merchant(ctx context.Context, id string) (merchantInfo, error) {
	var m merchantInfo
	err := s.pool.QueryRow(ctx, `SELECT id, code, name, currency, account_id, payout_account_id FROM merchants WHERE id = $1`, id).
		Scan(&m.id, &m.code, &m.name, &m.currency, &m.account, &m.payout)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, errs.E(errs.NotFound, "merchant not found")
	}
	return m, err
}

const settlementColumns = `merchant_id, business_date::text, status, currency, time_zone, period_start, period_end,
	payments_count, payments_amount, refunds_count, refunds_amount, fees, net, transfer_id::text, file_name, file_size,
	sha256, generated_at, settled_at, format_version`

func scanSettlement(row pgx.Row) (Settlement, error) {
	var st Settlement
	err := row.Scan(&st.MerchantID, &st.Date, &st.Status, &st.Currency, &st.TimeZone, &st.PeriodStart, &st.PeriodEnd,
		&st.PaymentsCount, &st.PaymentsAmount,
		&st.RefundsCount, &st.RefundsAmount, &st.Fees, &st.Net, &st.TransferID, &st.FileName, &st.FileSize, &st.SHA256,
		&st.GeneratedAt, &st.SettledAt, &st.FormatVersion)
	return st, err
}

// Get reads a merchant's settlement of a day, whatever its status.
func (s *Service) Get(ctx context.Context, merchantID, date string) (Settlement, error) {
	if _, err := s.ParseDay(date); err != nil {
		return Settlement{}, err
	}
	st, err := scanSettlement(s.pool.QueryRow(ctx, `SELECT `+settlementColumns+` FROM settlements
		WHERE merchant_id::text = $1 AND business_date = $2::date`, merchantID, date))
	if errors.Is(err, pgx.ErrNoRows) {
		return Settlement{}, errs.E(errs.NotFound, "no settlement for %s", date)
	}
	if err != nil {
		return Settlement{}, fmt.Errorf("get settlement: %w", err)
	}
	return st, nil
}

// Page is a page of settlements, newest first.
type Page struct {
	Data       []Settlement `json:"data"`
	HasMore    bool         `json:"has_more"`
	NextCursor string       `json:"next_cursor,omitempty" doc:"Pass as starting_after: the last date of this page."`
}

// List pages through a merchant's settled days in [from, to], newest first.
func (s *Service) List(ctx context.Context, merchantID, from, to, startingAfter string, limit int) (Page, error) {
	if limit <= 0 {
		limit = 31
	}
	if limit > 366 {
		return Page{}, errs.E(errs.Invalid, "limit must be 1 to 366")
	}
	bound := func(v, def string) (string, error) {
		if v == "" {
			return def, nil
		}
		_, err := s.ParseDay(v)
		return v, err
	}
	var err error
	if from, err = bound(from, "0001-01-01"); err != nil {
		return Page{}, err
	}
	if to, err = bound(to, "9999-12-31"); err != nil {
		return Page{}, err
	}
	if startingAfter, err = bound(startingAfter, "9999-12-31"); err != nil {
		return Page{}, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+settlementColumns+` FROM settlements
		WHERE merchant_id::text = $1 AND status = 'settled' AND business_date BETWEEN $2::date AND $3::date
		AND business_date < $4::date ORDER BY business_date DESC LIMIT $5`, merchantID, from, to, startingAfter, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("list settlements: %w", err)
	}
	defer rows.Close()
	p := Page{Data: []Settlement{}}
	for rows.Next() {
		st, err := scanSettlement(rows)
		if err != nil {
			return Page{}, err
		}
		p.Data = append(p.Data, st)
	}
	if err := rows.Err(); err != nil {
		return Page{}, err
	}
	if len(p.Data) > limit {
		p.Data, p.HasMore = p.Data[:limit], true
		p.NextCursor = p.Data[limit-1].Date
	}
	return p, nil
}

// Open streams a settled day's file. A pending settlement has no file to
// serve: it is not published until its transfer committed.
func (s *Service) Open(ctx context.Context, merchantID, date string) (Settlement, io.ReadCloser, error) {
	st, err := s.Get(ctx, merchantID, date)
	if err != nil {
		return Settlement{}, nil, err
	}
	if st.Status != "settled" {
		return Settlement{}, nil, errs.E(errs.NotFound, "no settlement for %s", date)
	}
	r, err := s.files.Open(ctx, FileKey{MerchantID: st.MerchantID, Date: st.Date})
	return st, r, err
}
