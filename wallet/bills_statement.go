package wallet

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/money"
	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/spreadsheet"
)

type Statement struct {
	WalletID       string    `json:"wallet_id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"`
	Month          string    `json:"month" example:"2026-03"`
	TimeZone       string    `json:"time_zone" example:"Asia/Shanghai"`
	Currency       string    `json:"currency" example:"CNY"`
	PeriodStart    time.Time `json:"period_start" doc:"The month's first instant in the time zone."`
	PeriodEnd      time.Time `json:"period_end" doc:"The next month's first instant (exclusive)."`
	Complete       bool      `json:"complete" example:"true" doc:"False for the current month: its closing balance is the balance now."`
	OpeningBalance int64     `json:"opening_balance" example:"12000"`
	ClosingBalance int64     `json:"closing_balance" example:"20800"`
	MoneyIn        Flow      `json:"money_in"`
	MoneyOut       Flow      `json:"money_out"`
	Movements      int64     `json:"movements" example:"5" doc:"Movements in the month, in and out."`
}

// Flow is the money that came in (or went out) over a period, by type.
type Flow struct {
	Count  int64       `json:"count" example:"3"`
	Amount int64       `json:"amount" example:"10000" doc:"Minor units, positive."`
	ByType []TypeTotal `json:"by_type"`
}

// TypeTotal is the count and sum of one type of movement.
type TypeTotal struct {
	Type   string `json:"type" example:"topup" enum:"topup,transfer_in,refund,withdrawal_reversal,payment,transfer_out,withdrawal"`
	Count  int64  `json:"count" example:"2"`
	Amount int64  `json:"amount" example:"10000" doc:"Minor units, positive."`
}

var (
	inTypes  = []string{TypeTopUp, TypeTransferIn, TypeRefund}
	outTypes = []string{TypePayment, TypeTransferOut}
)

// StatementFormat names the CSV layout; docs/bills.md specifies it, and a
// change of layout is a new version.
const StatementFormat = "qrpay-wallet-statement/1"

// Statement reads the statement of month (YYYY-MM). The month must have
// begun; a month before the wallet existed is all zeros. With csvOut set,
// the statement file is also written there, from the same snapshot.
func (s *Service) Statement(ctx context.Context, p Principal, month string, csvOut io.Writer) (Statement, error) {
	return s.statement(ctx, p, month, csvOut, true)
}

// statement reads a statement in one repeatable-read snapshot, so that its
// balances, totals and rows agree while money moves. The JSON statement
// takes the totals of final days from wallet_statement_days (see
// totalsByDay) and stores the final days it had to compute; the file
// computes everything from the postings, which it reads anyway.
func (s *Service) statement(ctx context.Context, p Principal, month string, csvOut io.Writer, useDays bool) (Statement, error) {
	m, err := time.ParseInLocation("2006-01", month, s.cfg.Location)
	if err != nil {
		return Statement{}, errs.E(errs.Invalid, "month must be YYYY-MM")
	}
	now := s.now()
	if m.After(now) {
		return Statement{}, errs.E(errs.Invalid, "month %s has not begun", month)
	}
	st := Statement{WalletID: p.WalletID, Month: month, TimeZone: s.cfg.Location.String(),
		PeriodStart: m, PeriodEnd: m.AddDate(0, 1, 0)}
	st.Complete = !st.PeriodEnd.After(now)
	useDays = useDays && csvOut == nil
	var fresh []dayTotal
	var stale bool
	err = postgres.InTx(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		fresh, stale = nil, false
		var dbNow, opened time.Time
		if err := tx.QueryRow(ctx, `SELECT currency, created_at, now() FROM accounts WHERE id = $1`, p.AccountID).
			Scan(&st.Currency, &opened, &dbNow); err != nil {
			return fmt.Errorf("statement account: %w", err)
		}
		var err error
		if st.OpeningBalance, err = balanceAt(ctx, tx, p.AccountID, st.PeriodStart); err != nil {
			return err
		}
		if st.ClosingBalance, err = balanceAt(ctx, tx, p.AccountID, st.PeriodEnd); err != nil {
			return err
		}
		var t totals
		if useDays {
			if t, fresh, err = s.totalsByDay(ctx, tx, p.AccountID, st.PeriodStart, st.PeriodEnd, dbNow, opened); err != nil {
				return err
			}
			if !t.addsUp(st) {
				// A stored day disagrees with the ledger: answer from the
				// ledger, and forget the month's stored days.
				stale, fresh = true, nil
			}
		}
		if !useDays || stale {
			if t, err = liveTotals(ctx, tx, p.AccountID, st.PeriodStart, st.PeriodEnd); err != nil {
				return err
			}
		}
		st.MoneyIn, st.MoneyOut, st.Movements = t.flows()
		if !t.addsUp(st) {
			return fmt.Errorf("statement %s of account %d does not add up: %d + %d − %d ≠ %d", month, p.AccountID,
				st.OpeningBalance, st.MoneyIn.Amount, st.MoneyOut.Amount, st.ClosingBalance)
		}
		if csvOut != nil {
			return s.writeStatement(ctx, tx, p.AccountID, st, csvOut)
		}
		return nil
	})
	if err != nil {
		return Statement{}, fmt.Errorf("statement: %w", err)
	}
	// Storing is best effort: a statement that could not store its days
	// computes them again next time.
	if stale {
		s.log.WarnContext(ctx, "stored statement days disagree with the ledger; dropping them", "account", p.AccountID, "month", month)
		if _, err := s.pool.Exec(ctx, `DELETE FROM wallet_statement_days WHERE account_id = $1 AND time_zone = $2
			AND day >= $3 AND day < $4`, p.AccountID, st.TimeZone, dateOf(st.PeriodStart), dateOf(st.PeriodEnd)); err != nil {
			s.log.WarnContext(ctx, "dropping stored statement days failed", "err", err)
		}
	}
	if err := s.storeDays(ctx, p.AccountID, fresh); err != nil {
		s.log.WarnContext(ctx, "storing statement days failed", "err", err)
	}
	return st, nil
}

// balanceAt is the sum of the account's postings created before at. The
// posting A latest by (created_at, id) before at carries the sum of every
// posting up to its id; the postings on the wrong side of A in id order
// are out-of-order pairs with A, so they lie within disorder of A's
// created_at and two small index range scans correct for them.
func balanceAt(ctx context.Context, tx pgx.Tx, accountID int64, at time.Time) (int64, error) {
	var b int64
	err := tx.QueryRow(ctx, `WITH a AS (
			SELECT id, created_at, balance_after FROM postings
			WHERE account_id = $1 AND created_at < $2 ORDER BY created_at DESC, id DESC LIMIT 1)
		SELECT a.balance_after
			- coalesce((SELECT sum(p.amount) FROM postings p WHERE p.account_id = $1 AND p.created_at >= $2
				AND p.created_at < a.created_at + $3::interval AND p.id < a.id), 0)
			+ coalesce((SELECT sum(p.amount) FROM postings p WHERE p.account_id = $1 AND p.created_at < $2
				AND p.created_at > a.created_at - $3::interval AND p.id > a.id), 0)
		FROM a`, accountID, at, disorder).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("balance at %s: %w", at.Format(time.RFC3339), err)
	}
	return b, nil
}

// totalKey is one type of movement in one direction.
type totalKey struct {
	typ    string
	credit bool
}

// totals sums movements by type and direction; amounts are signed.
type totals map[totalKey]TypeTotal

// add counts n postings of a ledger kind summing to sum.
func (t totals) add(kind string, credit bool, n, sum int64) totalKey {
	k := totalKey{movementType(kind, credit), credit}
	t.put(k, n, sum)
	return k
}

func (t totals) put(k totalKey, n, sum int64) {
	tt := t[k]
	tt.Type, tt.Count, tt.Amount = k.typ, tt.Count+n, tt.Amount+sum
	t[k] = tt
}

// flows splits the totals into money in and out, with positive amounts.
func (t totals) flows() (in, out Flow, movements int64) {
	ins, outs := map[string]TypeTotal{}, map[string]TypeTotal{}
	for k, tt := range t {
		side := ins
		if !k.credit {
			side, tt.Amount = outs, -tt.Amount
		}
		side[k.typ] = tt
		movements += tt.Count
	}
	return flowOf(ins, inTypes), flowOf(outs, outTypes), movements
}

func (t totals) addsUp(st Statement) bool {
	sum := st.OpeningBalance
	for _, tt := range t {
		sum += tt.Amount
	}
	return sum == st.ClosingBalance
}

// liveTotals sums the account's postings in [from, to) from the ledger.
func liveTotals(ctx context.Context, tx pgx.Tx, accountID int64, from, to time.Time) (totals, error) {
	t := totals{}
	rows, err := tx.Query(ctx, `SELECT t.kind, p.amount > 0, count(*), sum(p.amount)::bigint
		FROM postings p JOIN transfers t ON t.id = p.transfer_id
		WHERE p.account_id = $1 AND p.created_at >= $2 AND p.created_at < $3
		GROUP BY 1, 2`, accountID, from, to)
	if err != nil {
		return nil, fmt.Errorf("statement totals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var credit bool
		var n, sum int64
		if err := rows.Scan(&kind, &credit, &n, &sum); err != nil {
			return nil, fmt.Errorf("statement totals: %w", err)
		}
		t.add(kind, credit, n, sum)
	}
	return t, rows.Err()
}

// dayTotal is one stored row of wallet_statement_days: a type's count and
// signed sum on one day, or (typ "") the mark that the day is stored.
type dayTotal struct {
	day    string
	key    totalKey
	n, sum int64
}

// totalsByDay sums [from, to) from the stored totals of its final days and
// the ledger's postings for the rest; it returns the final days it had to
// compute, to be stored: those from the day the account was opened on, so
// that asking for the months of past centuries stores nothing.
//
// Why: a movement's type lives on its transfer, and joining a month of
// postings (8,300 for a wallet with 100,000 movements a year) to transfers
// costs ~20 ms, ten times the index-only scan of the postings alone. A day
// is final once it ended more than disorder ago by the database's clock
// (which stamps the postings): no posting can then still join it, so its
// totals never change and are computed once.
func (s *Service) totalsByDay(ctx context.Context, tx pgx.Tx, accountID int64, from, to, dbNow, opened time.Time) (totals, []dayTotal, error) {
	t := totals{}
	n := dbNow.Add(-disorder).In(s.cfg.Location)
	final := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, s.cfg.Location)
	if final.After(to) {
		final = to
	}
	if !final.After(from) {
		live, err := liveTotals(ctx, tx, accountID, from, to)
		return live, nil, err
	}
	tz := s.cfg.Location.String()
	rows, err := tx.Query(ctx, `SELECT day::text, type, credit, movements, amount FROM wallet_statement_days
		WHERE account_id = $1 AND time_zone = $2 AND day >= $3 AND day < $4`, accountID, tz, dateOf(from), dateOf(final))
	if err != nil {
		return nil, nil, fmt.Errorf("statement days: %w", err)
	}
	stored := map[string]bool{}
	for rows.Next() {
		var d dayTotal
		if err := rows.Scan(&d.day, &d.key.typ, &d.key.credit, &d.n, &d.sum); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("statement days: %w", err)
		}
		if d.key.typ == "" {
			stored[d.day] = true
			continue
		}
		t.put(d.key, d.n, d.sum)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("statement days: %w", err)
	}
	// Compute the days from the first missing one in one query, bucketed
	// by day (day starts come from Go, so they agree with the months'
	// whatever the zone), and keep the missing ones.
	var bounds []time.Time
	for d := from; d.Before(final); d = d.AddDate(0, 0, 1) {
		if len(bounds) > 0 || !stored[dateOf(d)] {
			bounds = append(bounds, d)
		}
	}
	var fresh []dayTotal
	keepFrom := opened.In(s.cfg.Location).Format(time.DateOnly)
	if len(bounds) > 0 {
		bounds = append(bounds, final)
		rows, err := tx.Query(ctx, `SELECT width_bucket(p.created_at, $4::timestamptz[]), t.kind, p.amount > 0, count(*), sum(p.amount)::bigint
			FROM postings p JOIN transfers t ON t.id = p.transfer_id
			WHERE p.account_id = $1 AND p.created_at >= $2 AND p.created_at < $3
			GROUP BY 1, 2, 3`, accountID, bounds[0], final, bounds)
		if err != nil {
			return nil, nil, fmt.Errorf("statement days: %w", err)
		}
		for rows.Next() {
			var b int
			var kind string
			var credit bool
			var n, sum int64
			if err := rows.Scan(&b, &kind, &credit, &n, &sum); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("statement days: %w", err)
			}
			if day := dateOf(bounds[b-1]); !stored[day] {
				k := t.add(kind, credit, n, sum)
				if day >= keepFrom {
					fresh = append(fresh, dayTotal{day: day, key: k, n: n, sum: sum})
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("statement days: %w", err)
		}
		for _, d := range bounds[:len(bounds)-1] {
			if day := dateOf(d); !stored[day] && day >= keepFrom {
				fresh = append(fresh, dayTotal{day: day})
			}
		}
	}
	if final.Before(to) {
		live, err := liveTotals(ctx, tx, accountID, final, to)
		if err != nil {
			return nil, nil, err
		}
		for k, tt := range live {
			t.put(k, tt.Count, tt.Amount)
		}
	}
	return t, fresh, nil
}

// storeDays writes computed final days; a day another request stored
// first is left as it is (it holds the same numbers).
func (s *Service) storeDays(ctx context.Context, accountID int64, days []dayTotal) error {
	if len(days) == 0 {
		return nil
	}
	var dates, types []string
	var credits []bool
	var ns, sums []int64
	for _, d := range days {
		dates, types, credits = append(dates, d.day), append(types, d.key.typ), append(credits, d.key.credit)
		ns, sums = append(ns, d.n), append(sums, d.sum)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO wallet_statement_days (account_id, time_zone, day, type, credit, movements, amount)
		SELECT $1, $2, d, t, c, n, a FROM unnest($3::date[], $4::text[], $5::bool[], $6::bigint[], $7::bigint[]) AS u(d, t, c, n, a)
		ON CONFLICT DO NOTHING`, accountID, s.cfg.Location.String(), dates, types, credits, ns, sums)
	return err
}

// dateOf is the date of t, an instant already in the wallet's zone.
func dateOf(t time.Time) string { return t.Format(time.DateOnly) }

// movementType names a ledger kind from the wallet's side.
func movementType(kind string, credit bool) string {
	if kind != "transfer" {
		return kind
	}
	if credit {
		return TypeTransferIn
	}
	return TypeTransferOut
}

// flowOf lists the known types in a fixed order, zeros included, then any
// other kind by name, so the layout of a statement never depends on data.
func flowOf(m map[string]TypeTotal, known []string) Flow {
	f := Flow{ByType: []TypeTotal{}}
	for _, t := range known {
		tt := m[t]
		tt.Type = t
		f.ByType = append(f.ByType, tt)
		delete(m, t)
	}
	rest := make([]string, 0, len(m))
	for t := range m {
		rest = append(rest, t)
	}
	slices.Sort(rest)
	for _, t := range rest {
		f.ByType = append(f.ByType, m[t])
	}
	for _, tt := range f.ByType {
		f.Count += tt.Count
		f.Amount += tt.Amount
	}
	return f
}

// writeStatement writes the statement file: H rows (key, value), a D
// header and one D row per movement in ledger order, an S header and the
// summary rows. Amounts are integer minor units, each with a decimal
// display column. Text that a spreadsheet would run as a formula is quoted
// with a leading apostrophe.
func (s *Service) writeStatement(ctx context.Context, tx pgx.Tx, accountID int64, st Statement, w io.Writer) error {
	cw := csv.NewWriter(w)
	cur := st.Currency
	for _, h := range [][2]string{
		{"format_version", StatementFormat}, {"wallet_id", st.WalletID}, {"month", st.Month},
		{"currency", cur}, {"time_zone", st.TimeZone},
		{"period_start", st.PeriodStart.Format(time.RFC3339)}, {"period_end", st.PeriodEnd.Format(time.RFC3339)},
		{"complete", strconv.FormatBool(st.Complete)},
	} {
		_ = cw.Write([]string{"H", h[0], h[1]})
	}
	_ = cw.Write([]string{"D", "time", "type", "id", "amount", "amount_display", "balance_after",
		"balance_after_display", "counterparty", "card", "category", "order_id", "refund_id", "note"})
	rows, err := tx.Query(ctx, `SELECT `+itemColumns+` FROM postings p JOIN transfers t ON t.id = p.transfer_id
		WHERE p.account_id = $1 AND p.created_at >= $2 AND p.created_at < $3 ORDER BY p.id`,
		accountID, st.PeriodStart, st.PeriodEnd)
	if err != nil {
		return fmt.Errorf("statement rows: %w", err)
	}
	err = scanItems(rows, func(it HistoryItem) error {
		counterparty := it.Counterparty // a masked phone, of our making
		if it.Type == TypePayment || it.Type == TypeRefund {
			counterparty = spreadsheet.Text(counterparty) // a merchant's name
		}
		// The statement accounts for the balance: a row is the balance's
		// part of its movement, so that the rows add up to the balances.
		amount := it.Amount - it.CardAmount
		return cw.Write([]string{"D", it.CreatedAt.In(s.cfg.Location).Format(time.RFC3339), it.Type, it.ID,
			i64(amount), money.Format(amount, cur), i64(it.BalanceAfter), money.Format(it.BalanceAfter, cur),
			counterparty, it.Card, it.Category, it.OrderID, it.RefundID, spreadsheet.Text(it.Note)})
	})
	if err != nil {
		return fmt.Errorf("statement rows: %w", err)
	}
	_ = cw.Write([]string{"S", "item", "direction", "count", "amount", "amount_display"})
	sum := func(item, dir string, n, amount int64) {
		_ = cw.Write([]string{"S", item, dir, i64(n), i64(amount), money.Format(amount, cur)})
	}
	sum("opening_balance", "", 0, st.OpeningBalance)
	for _, tt := range st.MoneyIn.ByType {
		sum(tt.Type, "in", tt.Count, tt.Amount)
	}
	for _, tt := range st.MoneyOut.ByType {
		sum(tt.Type, "out", tt.Count, tt.Amount)
	}
	sum("total_in", "in", st.MoneyIn.Count, st.MoneyIn.Amount)
	sum("total_out", "out", st.MoneyOut.Count, st.MoneyOut.Amount)
	sum("closing_balance", "", st.Movements, st.ClosingBalance)
	cw.Flush()
	return cw.Error()
}

func i64(v int64) string { return strconv.FormatInt(v, 10) }

// Analysis is where a wallet's money went over a period: spending (payments
// less their refunds) by category, by merchant and by month, plus the
// top-ups and transfers, which are not spending.
