package wallet

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/gateway/errs"
	"github.com/qrpay/qrpay/gateway/postgres"
)

// Bills: the wallet's history, monthly statements and spending analysis,
// read from the ledger's postings on the wallet's account. docs/bills.md
// describes the routes, the statement file and the category table.
//
// Two orders matter here. Posting ids grow per account in the order money
// moved (the account row is locked while a posting is written), so
// balance_after chains along ids and a page cursor on the id is stable.
// created_at, stamped by the ledger's transaction with PostgreSQL's clock,
// is the date the customer sees and what dates and months select on. The
// two agree except when a transaction stamped its postings before another
// took the account's lock and wrote first (or the clock stepped back), and
// then by less than a ledger transaction lasts (ledger.Options.TxTimeout,
// 10 s by default).

// disorder bounds how far created_at may run against id order on one
// account, with a wide margin; balanceAt, idBounds and the final days of
// totalsByDay rely on it.
const disorder = time.Hour

// Movement types as the customer sees them.
const (
	TypeTopUp       = "topup"
	TypeTransferIn  = "transfer_in"
	TypeTransferOut = "transfer_out"
	TypePayment     = "payment"
	TypeRefund      = "refund"
)

// typeFilters are the SQL conditions selecting each type; a transfer is in
// or out by the sign of the wallet's posting.
var typeFilters = map[string]string{
	TypeTopUp:       `t.kind = 'topup'`,
	TypeTransferIn:  `(t.kind = 'transfer' AND p.amount > 0)`,
	TypeTransferOut: `(t.kind = 'transfer' AND p.amount < 0)`,
	TypePayment:     `t.kind = 'payment'`,
	TypeRefund:      `t.kind = 'refund'`,
}

// HistoryItem is one movement in the wallet's history.
type HistoryItem struct {
	ID           string    `json:"id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" doc:"The ledger transfer id: the reference of a top-up or transfer, and the id for GET /v1/wallet/movements/{id}."`
	Type         string    `json:"type" example:"payment" enum:"topup,transfer_in,transfer_out,payment,refund"`
	Amount       int64     `json:"amount" example:"-1200" doc:"Minor units, signed: negative when money left the wallet."`
	Currency     string    `json:"currency" example:"CNY"`
	BalanceAfter int64     `json:"balance_after" example:"8800" doc:"The wallet's balance right after this movement."`
	Counterparty string    `json:"counterparty,omitempty" example:"Blue Bottle Coffee" doc:"The merchant's name, or the other wallet's phone number masked."`
	Card         string    `json:"card,omitempty" example:"**** 1111" doc:"The card of a top-up or payment, masked."`
	Category     string    `json:"category,omitempty" example:"dining" doc:"Spending category of a payment or refund, from the merchant's MCC."`
	OrderID      string    `json:"order_id,omitempty" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c" doc:"The merchant order of a payment or refund."`
	RefundID     string    `json:"refund_id,omitempty" example:"" doc:"The merchant's refund, for a refund."`
	Note         string    `json:"note,omitempty" example:"dinner" doc:"The sender's note on a transfer."`
	CreatedAt    time.Time `json:"created_at"`

	postingID int64
}

// HistoryPage is one page of the history, newest first.
type HistoryPage struct {
	Data       []HistoryItem `json:"data"`
	HasMore    bool          `json:"has_more" example:"true"`
	NextCursor string        `json:"next_cursor,omitempty" example:"cDoxMjM0NQ" doc:"Pass as starting_after for the next page; absent on the last page."`
}

// HistoryQuery selects a page of history. From and To are days
// (YYYY-MM-DD) in the wallet's time zone, both inclusive; Types is empty
// for every type.
type HistoryQuery struct {
	Limit         int
	StartingAfter string
	From, To      string
	Types         []string
}

// History pages through the wallet's movements, newest first. The cursor
// is the last posting id shown: a movement that arrives during a walk gets
// a greater id, so it shows on no later page of that walk, only at the
// front of a new first page; no row is ever shown twice or skipped.
func (s *Service) History(ctx context.Context, p Principal, q HistoryQuery) (HistoryPage, error) {
	if q.Limit < 1 || q.Limit > 100 {
		return HistoryPage{}, errs.E(errs.Invalid, "limit must be 1 to 100")
	}
	args := []any{p.AccountID}
	where := []string{"p.account_id = $1"}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if q.StartingAfter != "" {
		id, err := decodeCursor(q.StartingAfter)
		if err != nil {
			return HistoryPage{}, err
		}
		where = append(where, "p.id < "+arg(id))
	}
	from, to, err := s.dayRange(q.From, q.To)
	if err != nil {
		return HistoryPage{}, err
	}
	if !from.IsZero() || !to.IsZero() {
		lo, hi, err := s.idBounds(ctx, p.AccountID, from, to)
		if err != nil {
			return HistoryPage{}, err
		}
		where = append(where, "p.id > "+arg(lo), "p.id < "+arg(hi))
	}
	if !from.IsZero() {
		where = append(where, "p.created_at >= "+arg(from))
	}
	if !to.IsZero() {
		where = append(where, "p.created_at < "+arg(to))
	}
	if len(q.Types) > 0 {
		var conds []string
		for _, t := range q.Types {
			c, ok := typeFilters[t]
			if !ok {
				return HistoryPage{}, errs.E(errs.Invalid, "type must be one of topup, transfer_in, transfer_out, payment, refund")
			}
			conds = append(conds, c)
		}
		where = append(where, "("+strings.Join(conds, " OR ")+")")
	}
	sql := `SELECT ` + itemColumns + ` FROM postings p JOIN transfers t ON t.id = p.transfer_id
		WHERE ` + strings.Join(where, " AND ") + ` ORDER BY p.id DESC LIMIT ` + arg(q.Limit+1)
	if !from.IsZero() || !to.IsZero() {
		// Planned for its own values each time, not as a cached generic
		// plan, so that the planner sees how narrow the id bounds are.
		args = append([]any{pgx.QueryExecModeExec}, args...)
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return HistoryPage{}, fmt.Errorf("history: %w", err)
	}
	page := HistoryPage{Data: []HistoryItem{}}
	if err := scanItems(rows, func(it HistoryItem) error { page.Data = append(page.Data, it); return nil }); err != nil {
		return HistoryPage{}, fmt.Errorf("history: %w", err)
	}
	if len(page.Data) > q.Limit {
		page.Data, page.HasMore = page.Data[:q.Limit], true
		page.NextCursor = encodeCursor(page.Data[q.Limit-1].postingID)
	}
	return page, nil
}

// idBounds returns posting ids lo and hi such that every posting of the
// account created in [from, to) (either may be zero: unbounded) has an id
// between them, exclusive. A posting created more than disorder before
// from, or at least disorder after to, cannot be out of order with any
// posting in the range, so the latest such before and the first such after
// serve; a history page then scans only the range by id, newest first,
// instead of everything after it.
func (s *Service) idBounds(ctx context.Context, accountID int64, from, to time.Time) (lo, hi int64, err error) {
	lo, hi = 0, math.MaxInt64
	if !from.IsZero() {
		err = s.pool.QueryRow(ctx, `SELECT id FROM postings WHERE account_id = $1 AND created_at < $2
			ORDER BY created_at DESC, id DESC LIMIT 1`, accountID, from.Add(-disorder)).Scan(&lo)
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
		}
	}
	if err == nil && !to.IsZero() {
		err = s.pool.QueryRow(ctx, `SELECT id FROM postings WHERE account_id = $1 AND created_at >= $2
			ORDER BY created_at, id LIMIT 1`, accountID, to.Add(disorder)).Scan(&hi)
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("history: %w", err)
	}
	return lo, hi, nil
}

// itemColumns are what a HistoryItem is made of: the posting, its
// transfer, and the metadata fields shown (extracted by PostgreSQL, which
// is several times faster than decoding the JSON here).
const itemColumns = `p.id, p.amount, p.balance_after, p.created_at, t.id, t.kind, t.currency,
	coalesce(t.metadata->>'card', ''), coalesce(t.metadata->>'note', ''), coalesce(t.metadata->>'order_id', ''),
	coalesce(t.metadata->>'refund_id', ''), coalesce(t.metadata->>'merchant', ''), coalesce(t.metadata->>'mcc', ''),
	coalesce(t.metadata->>'from_phone', ''), coalesce(t.metadata->>'to_phone', '')`

// scanItems reads rows of itemColumns. A transfer is in or out by the sign
// of the wallet's posting, and its counterparty is the other wallet.
func scanItems(rows pgx.Rows, each func(HistoryItem) error) error {
	defer rows.Close()
	for rows.Next() {
		var it HistoryItem
		var id uuid.UUID
		var kind, mcc, fromPhone, toPhone string
		if err := rows.Scan(&it.postingID, &it.Amount, &it.BalanceAfter, &it.CreatedAt, &id, &kind, &it.Currency,
			&it.Card, &it.Note, &it.OrderID, &it.RefundID, &it.Counterparty, &mcc, &fromPhone, &toPhone); err != nil {
			return err
		}
		it.ID, it.Type = id.String(), kind
		switch kind {
		case "transfer":
			if it.Amount < 0 {
				it.Type, it.Counterparty = TypeTransferOut, toPhone
			} else {
				it.Type, it.Counterparty = TypeTransferIn, fromPhone
			}
		case TypePayment, TypeRefund:
			it.Category = CategoryOf(mcc)
		default:
			it.Counterparty = ""
		}
		if err := each(it); err != nil {
			return err
		}
	}
	return rows.Err()
}

// The cursor is opaque to clients; it names a posting of the caller's own
// account, and every query is scoped to that account anyway.
const cursorPrefix = "p:"

func encodeCursor(postingID int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(postingID, 10)))
}

func decodeCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	rest, ok := strings.CutPrefix(string(b), cursorPrefix)
	id, perr := strconv.ParseInt(rest, 10, 64)
	if err != nil || !ok || perr != nil || id <= 0 {
		return 0, errs.E(errs.Invalid, "starting_after is not a cursor from this API")
	}
	return id, nil
}

// parseDay reads YYYY-MM-DD as the start of that day in the wallet's zone.
func (s *Service) parseDay(name, v string) (time.Time, error) {
	d, err := time.ParseInLocation(time.DateOnly, v, s.cfg.Location)
	if err != nil {
		return time.Time{}, errs.E(errs.Invalid, "%s must be a date, YYYY-MM-DD", name)
	}
	return d, nil
}

// dayRange turns inclusive days into [start, end) instants; either may be
// empty (zero time).
func (s *Service) dayRange(from, to string) (start, end time.Time, err error) {
	if from != "" {
		if start, err = s.parseDay("from", from); err != nil {
			return
		}
	}
	if to != "" {
		if end, err = s.parseDay("to", to); err != nil {
			return
		}
		end = end.AddDate(0, 0, 1)
	}
	if !start.IsZero() && !end.IsZero() && !start.Before(end) {
		err = errs.E(errs.Invalid, "from must not be after to")
	}
	return
}

// Statement is a wallet's account of one calendar month in its time zone:
// opening + money_in.amount − money_out.amount = closing.
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
	Type   string `json:"type" example:"topup" enum:"topup,transfer_in,refund,payment,transfer_out"`
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
			counterparty = cell(counterparty) // a merchant's name
		}
		return cw.Write([]string{"D", it.CreatedAt.In(s.cfg.Location).Format(time.RFC3339), it.Type, it.ID,
			i64(it.Amount), formatAmount(it.Amount, cur), i64(it.BalanceAfter), formatAmount(it.BalanceAfter, cur),
			counterparty, it.Card, it.Category, it.OrderID, it.RefundID, cell(it.Note)})
	})
	if err != nil {
		return fmt.Errorf("statement rows: %w", err)
	}
	_ = cw.Write([]string{"S", "item", "direction", "count", "amount", "amount_display"})
	sum := func(item, dir string, n, amount int64) {
		_ = cw.Write([]string{"S", item, dir, i64(n), i64(amount), formatAmount(amount, cur)})
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

// cell keeps a spreadsheet from reading free text (a transfer note, a
// merchant's name) as a formula (OWASP "CSV injection").
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func i64(v int64) string { return strconv.FormatInt(v, 10) }

// minorDigits are the currencies whose minor unit is not a hundredth (as in
// merchant/money.go, which this package cannot import).
var minorDigits = map[string]int{"JPY": 0, "KRW": 0, "VND": 0, "KWD": 3, "BHD": 3}

// formatAmount writes minor units as a decimal: 1200 CNY is "12.00",
// -500 JPY is "-500".
func formatAmount(minor int64, currency string) string {
	exp, ok := minorDigits[currency]
	if !ok {
		exp = 2
	}
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u, 10)
	if exp > 0 {
		if len(s) <= exp {
			s = strings.Repeat("0", exp-len(s)+1) + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Analysis is where a wallet's money went over a period: spending (payments
// less their refunds) by category, by merchant and by month, plus the
// top-ups and transfers, which are not spending.
type Analysis struct {
	From         string          `json:"from" example:"2026-03-01"`
	To           string          `json:"to" example:"2026-03-31" doc:"Inclusive."`
	TimeZone     string          `json:"time_zone" example:"Asia/Shanghai"`
	Currency     string          `json:"currency" example:"CNY"`
	Spending     Spend           `json:"spending"`
	Categories   []CategorySpend `json:"categories" doc:"Categories with any payment or refund, by net spending, largest first."`
	Merchants    []MerchantSpend `json:"merchants" doc:"The top merchants by net spending."`
	Others       *MerchantSpend  `json:"others,omitempty" doc:"Every merchant after the top ones, together; absent when there are none."`
	Months       []MonthSpend    `json:"months" doc:"The 12 months ending with the month of to, oldest first; the last ends at to."`
	TopUps       Total           `json:"top_ups"`
	TransfersIn  Total           `json:"transfers_in"`
	TransfersOut Total           `json:"transfers_out"`
}

// Spend is spending over a period. A refund counts against the payment it
// returns (its category and merchant), whenever that payment was made.
type Spend struct {
	Payments     int64 `json:"payments" example:"15000" doc:"Paid, minor units."`
	PaymentCount int64 `json:"payment_count" example:"4"`
	Refunds      int64 `json:"refunds" example:"500" doc:"Refunded, minor units, positive."`
	RefundCount  int64 `json:"refund_count" example:"1"`
	Net          int64 `json:"net" example:"14500" doc:"payments − refunds; negative when refunds exceed the period's payments."`
}

// CategorySpend is spending in one category.
type CategorySpend struct {
	Category     string `json:"category" example:"dining" enum:"dining,groceries,transport,travel,fuel,shopping,entertainment,health,education,utilities,digital,services,government,financial,other"`
	Payments     int64  `json:"payments" example:"9000"`
	PaymentCount int64  `json:"payment_count" example:"3"`
	Refunds      int64  `json:"refunds" example:"500"`
	RefundCount  int64  `json:"refund_count" example:"1"`
	Net          int64  `json:"net" example:"8500"`
	ShareBPS     int64  `json:"share_bps" example:"5862" doc:"Share of net spending in basis points; the shares of a list add up to exactly 10000 (largest remainder). A negative net has share 0."`
}

// MerchantSpend is spending at one merchant (or, as others, at the rest).
type MerchantSpend struct {
	MerchantID   string `json:"merchant_id,omitempty" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5d"`
	Name         string `json:"name" example:"Blue Bottle Coffee"`
	Category     string `json:"category,omitempty" example:"dining"`
	Merchants    int    `json:"merchants,omitempty" example:"0" doc:"For others: how many merchants it sums."`
	Payments     int64  `json:"payments" example:"9000"`
	PaymentCount int64  `json:"payment_count" example:"3"`
	Refunds      int64  `json:"refunds" example:"500"`
	RefundCount  int64  `json:"refund_count" example:"1"`
	Net          int64  `json:"net" example:"8500"`
	ShareBPS     int64  `json:"share_bps" example:"5862" doc:"Share of net spending in basis points over merchants and others together (they add up to 10000)."`
}

// MonthSpend is one month's spending.
type MonthSpend struct {
	Month        string `json:"month" example:"2026-03"`
	Payments     int64  `json:"payments" example:"15000"`
	PaymentCount int64  `json:"payment_count" example:"4"`
	Refunds      int64  `json:"refunds" example:"500"`
	RefundCount  int64  `json:"refund_count" example:"1"`
	Net          int64  `json:"net" example:"14500"`
}

// Total is a count and a positive amount.
type Total struct {
	Count  int64 `json:"count" example:"2"`
	Amount int64 `json:"amount" example:"20000"`
}

// AnalysisQuery selects the period (days, inclusive, in the wallet's time
// zone; empty To is today, empty From the first of To's month) and how many
// merchants to list before others.
type AnalysisQuery struct {
	From, To string
	Top      int
}

// spend accumulates payments and refunds.
type spend struct{ payments, paymentCount, refunds, refundCount int64 }

func (a *spend) add(kind string, n, sum int64) {
	if kind == TypePayment {
		a.payments, a.paymentCount = a.payments-sum, a.paymentCount+n
	} else {
		a.refunds, a.refundCount = a.refunds+sum, a.refundCount+n
	}
}

func (a spend) net() int64 { return a.payments - a.refunds }

// Analysis analyses the wallet's spending over a period of at most 366 days.
// The period's breakdown reads its payments and refunds with their
// merchants; the 12-month series only needs totals by type, which it takes
// from the stored days as statements do (totalsByDay).
func (s *Service) Analysis(ctx context.Context, p Principal, q AnalysisQuery) (Analysis, error) {
	loc := s.cfg.Location
	if q.Top < 1 || q.Top > 50 {
		return Analysis{}, errs.E(errs.Invalid, "top must be 1 to 50")
	}
	if q.To == "" {
		q.To = s.now().In(loc).Format(time.DateOnly)
	}
	to, err := s.parseDay("to", q.To)
	if err != nil {
		return Analysis{}, err
	}
	if q.From == "" {
		q.From = time.Date(to.Year(), to.Month(), 1, 0, 0, 0, 0, loc).Format(time.DateOnly)
	}
	from, end, err := s.dayRange(q.From, q.To)
	if err != nil {
		return Analysis{}, err
	}
	if end.After(from.AddDate(0, 0, 366)) {
		return Analysis{}, errs.E(errs.Invalid, "the period may be at most 366 days")
	}
	// The series: the 12 months ending with to's, the last one ending at to.
	last := time.Date(to.Year(), to.Month(), 1, 0, 0, 0, 0, loc)
	bounds := make([]time.Time, 13)
	for i := range 12 {
		bounds[i] = last.AddDate(0, i-11, 0)
	}
	bounds[12] = end
	a := Analysis{From: q.From, To: q.To, TimeZone: loc.String(), Categories: []CategorySpend{}, Merchants: []MerchantSpend{}}
	var groups []spendGroup
	var fresh []dayTotal
	err = postgres.InTx(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		a.Months, fresh = nil, nil
		var dbNow, opened time.Time
		if err := tx.QueryRow(ctx, `SELECT currency, created_at, now() FROM accounts WHERE id = $1`, p.AccountID).
			Scan(&a.Currency, &opened, &dbNow); err != nil {
			return err
		}
		var err error
		if groups, err = spendGroups(ctx, tx, p.AccountID, from, end); err != nil {
			return err
		}
		for i := range 12 {
			t, days, err := s.totalsByDay(ctx, tx, p.AccountID, bounds[i], bounds[i+1], dbNow, opened)
			if err != nil {
				return err
			}
			fresh = append(fresh, days...)
			paid, refunded := t[totalKey{TypePayment, false}], t[totalKey{TypeRefund, true}]
			a.Months = append(a.Months, MonthSpend{Month: bounds[i].Format("2006-01"), Payments: -paid.Amount, PaymentCount: paid.Count,
				Refunds: refunded.Amount, RefundCount: refunded.Count, Net: -paid.Amount - refunded.Amount})
		}
		return nil
	})
	if err != nil {
		return Analysis{}, fmt.Errorf("analysis: %w", err)
	}
	if err := s.storeDays(ctx, p.AccountID, fresh); err != nil {
		s.log.WarnContext(ctx, "storing statement days failed", "err", err)
	}
	var lookups []string
	for _, g := range groups {
		if g.lookup != "" {
			lookups = append(lookups, g.lookup)
		}
	}
	originals, err := s.originalPayments(ctx, p.AccountID, lookups)
	if err != nil {
		return Analysis{}, err
	}
	for i, g := range groups {
		if o, ok := originals[g.lookup]; ok && g.lookup != "" {
			groups[i].mcc, groups[i].merchantID, groups[i].name = orElse(g.mcc, o.MCC), orElse(g.merchantID, o.MerchantID), orElse(g.name, o.Merchant)
		}
	}
	analyse(&a, groups, q.Top)
	return a, nil
}

// spendGroup is the period's movements of one kind and direction at one
// merchant (payments and refunds), or of one kind (the rest).
type spendGroup struct {
	typ                   string
	mcc, merchantID, name string
	lookup                string // a refund's order id, when its metadata lacks its payment's MCC or merchant
	latest, count, sum    int64  // latest is the greatest posting id, to pick a merchant's latest name
}

// spendGroups groups the account's movements in [from, to) in the database.
func spendGroups(ctx context.Context, tx pgx.Tx, accountID int64, from, to time.Time) ([]spendGroup, error) {
	rows, err := tx.Query(ctx, `SELECT t.kind, p.amount > 0,
			coalesce(t.metadata->>'mcc', ''), coalesce(t.metadata->>'merchant_id', ''), coalesce(t.metadata->>'merchant', ''),
			CASE WHEN t.kind = 'refund' AND NOT (t.metadata ? 'mcc' AND t.metadata ? 'merchant_id')
				THEN coalesce(t.metadata->>'order_id', '') ELSE '' END,
			max(p.id), count(*), sum(p.amount)::bigint
		FROM postings p JOIN transfers t ON t.id = p.transfer_id
		WHERE p.account_id = $1 AND p.created_at >= $2 AND p.created_at < $3
		GROUP BY 1, 2, 3, 4, 5, 6`, accountID, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var groups []spendGroup
	for rows.Next() {
		var g spendGroup
		var kind string
		var credit bool
		if err := rows.Scan(&kind, &credit, &g.mcc, &g.merchantID, &g.name, &g.lookup, &g.latest, &g.count, &g.sum); err != nil {
			return nil, err
		}
		g.typ = movementType(kind, credit)
		groups = append(groups, g)
	}
	return groups, rows.Err()
}

// analyse fills the period's spending, categories, merchants and the other
// totals from its groups.
func analyse(a *Analysis, groups []spendGroup, top int) {
	type merchantAcc struct {
		spend
		id, name, category string
		latest             int64
	}
	var total spend
	byCategory := map[string]*spend{}
	byMerchant := map[string]*merchantAcc{}
	for _, g := range groups {
		var other *Total
		switch g.typ {
		case TypePayment, TypeRefund:
		case TypeTopUp:
			other = &a.TopUps
		case TypeTransferIn:
			other = &a.TransfersIn
		case TypeTransferOut:
			other = &a.TransfersOut
		default:
			continue
		}
		if other != nil {
			other.Count, other.Amount = other.Count+g.count, other.Amount+abs(g.sum)
			continue
		}
		total.add(g.typ, g.count, g.sum)
		cat := CategoryOf(g.mcc)
		if byCategory[cat] == nil {
			byCategory[cat] = &spend{}
		}
		byCategory[cat].add(g.typ, g.count, g.sum)
		key := g.merchantID
		if key == "" {
			key = "name:" + g.name
		}
		m := byMerchant[key]
		if m == nil {
			m = &merchantAcc{id: g.merchantID}
			byMerchant[key] = m
		}
		m.add(g.typ, g.count, g.sum)
		if g.latest > m.latest && g.name != "" { // the latest name and category win
			m.name, m.category, m.latest = g.name, cat, g.latest
		}
	}
	a.Spending = Spend{Payments: total.payments, PaymentCount: total.paymentCount, Refunds: total.refunds,
		RefundCount: total.refundCount, Net: total.net()}

	for _, c := range Categories {
		if sp := byCategory[c]; sp != nil {
			a.Categories = append(a.Categories, CategorySpend{Category: c, Payments: sp.payments, PaymentCount: sp.paymentCount,
				Refunds: sp.refunds, RefundCount: sp.refundCount, Net: sp.net()})
		}
	}
	slices.SortStableFunc(a.Categories, func(x, y CategorySpend) int { return compareInt(y.Net, x.Net) })
	weights := make([]int64, len(a.Categories))
	for i, c := range a.Categories {
		weights[i] = c.Net
	}
	for i, sh := range shares(weights) {
		a.Categories[i].ShareBPS = sh
	}

	merchants := make([]*merchantAcc, 0, len(byMerchant))
	for _, m := range byMerchant {
		merchants = append(merchants, m)
	}
	slices.SortFunc(merchants, func(x, y *merchantAcc) int {
		if c := compareInt(y.net(), x.net()); c != 0 {
			return c
		}
		if c := strings.Compare(x.name, y.name); c != 0 {
			return c
		}
		return strings.Compare(x.id, y.id)
	})
	weights = make([]int64, 0, top+1)
	for i, m := range merchants {
		if i < top {
			a.Merchants = append(a.Merchants, MerchantSpend{MerchantID: m.id, Name: m.name, Category: m.category,
				Payments: m.payments, PaymentCount: m.paymentCount, Refunds: m.refunds, RefundCount: m.refundCount, Net: m.net()})
			weights = append(weights, m.net())
			continue
		}
		if a.Others == nil {
			a.Others = &MerchantSpend{Name: "others"}
		}
		o := a.Others
		o.Merchants++
		o.Payments, o.PaymentCount = o.Payments+m.payments, o.PaymentCount+m.paymentCount
		o.Refunds, o.RefundCount = o.Refunds+m.refunds, o.RefundCount+m.refundCount
		o.Net += m.net()
	}
	if a.Others != nil {
		weights = append(weights, a.Others.Net)
	}
	sh := shares(weights)
	for i := range a.Merchants {
		a.Merchants[i].ShareBPS = sh[i]
	}
	if a.Others != nil {
		a.Others.ShareBPS = sh[len(sh)-1]
	}
}

// originalPayments reads the metadata of the payments that refunds of
// this wallet returned, by order id, for refunds whose own metadata lacks
// the merchant's MCC or id.
func (s *Service) originalPayments(ctx context.Context, accountID int64, orderIDs []string) (map[string]Meta, error) {
	out := map[string]Meta{}
	var ids []uuid.UUID
	for _, o := range orderIDs {
		if id, err := uuid.Parse(o); err == nil {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT o.id, t.metadata FROM orders o JOIN transfers t ON t.id = o.payment_id
		WHERE o.id = ANY($1) AND o.wallet_account_id = $2`, ids, accountID)
	if err != nil {
		return nil, fmt.Errorf("original payments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var meta []byte
		if err := rows.Scan(&id, &meta); err != nil {
			return nil, fmt.Errorf("original payments: %w", err)
		}
		var m Meta
		_ = json.Unmarshal(meta, &m)
		out[id.String()] = m
	}
	return out, rows.Err()
}

// orElse returns a unless it is empty.
func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// shares splits 10000 basis points among weights in proportion, by the
// largest-remainder (Hamilton) method: each gets the floor of its exact
// share, and the points left over go one each to the largest remainders
// (ties: the larger weight, then the earlier position). A weight below zero
// counts as zero; when no weight is positive every share is zero. The
// arithmetic is 128-bit, so no amount can overflow it.
func shares(weights []int64) []int64 {
	const whole = 10000
	out := make([]int64, len(weights))
	// Halve every weight until the total fits 64 bits: the shares of
	// amounts that large do not notice.
	var total uint64
	for shift := 0; ; shift++ {
		total = 0
		var carry uint64
		for _, w := range weights {
			if w > 0 {
				total, carry = bits.Add64(total, uint64(w)>>shift, carry)
			}
		}
		if carry == 0 {
			if shift > 0 {
				scaled := make([]int64, len(weights))
				for i, w := range weights {
					scaled[i] = w >> shift
				}
				weights = scaled
			}
			break
		}
	}
	if total == 0 {
		return out
	}
	rem := make([]uint64, len(weights))
	left := int64(whole)
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		hi, lo := bits.Mul64(uint64(w), whole)
		q, r := bits.Div64(hi, lo, total)
		out[i], rem[i] = int64(q), r
		left -= int64(q)
	}
	order := make([]int, 0, len(weights))
	for i, w := range weights {
		if w > 0 {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(i, j int) int {
		if rem[i] != rem[j] {
			if rem[i] > rem[j] {
				return -1
			}
			return 1
		}
		return compareInt(weights[j], weights[i])
	})
	for k := 0; left > 0; k++ {
		out[order[k]]++
		left--
	}
	return out
}

// The spending categories, in display order.
const (
	Dining        = "dining"
	Groceries     = "groceries"
	Transport     = "transport"
	Travel        = "travel"
	Fuel          = "fuel"
	Shopping      = "shopping"
	Entertainment = "entertainment"
	Health        = "health"
	Education     = "education"
	Utilities     = "utilities"
	Digital       = "digital"
	Services      = "services"
	Government    = "government"
	Financial     = "financial"
	Other         = "other"
)

// Categories lists every category in display order.
var Categories = []string{Dining, Groceries, Transport, Travel, Fuel, Shopping, Entertainment, Health,
	Education, Utilities, Digital, Services, Government, Financial, Other}

// mccRange maps the ISO 18245 merchant category codes lo..hi (inclusive).
type mccRange struct {
	lo, hi   int
	category string
}

// mccRanges is the category table, also in docs/bills.md. Broad ranges
// come with narrower exceptions: the narrowest range containing a code
// wins (two overlapping ranges always nest, which a test checks). A code
// in no range, or a missing one, is other.
var mccRanges = []mccRange{
	{742, 780, Services},        // veterinary, agricultural co-operatives, landscaping
	{1500, 2999, Services},      // contractors, publishing, specialty cleaning
	{3000, 3999, Travel},        // airlines, car rental agencies, hotels by brand
	{4000, 4799, Transport},     // railways, commuter transport, taxis, buses, tolls
	{4119, 4119, Health},        // ambulance services
	{4214, 4299, Services},      // freight, couriers, storage
	{4411, 4411, Travel},        // cruise lines
	{4457, 4468, Entertainment}, // boat rentals, marinas
	{4511, 4582, Travel},        // airlines, airports
	{4722, 4723, Travel},        // travel agencies, tour operators
	{4800, 4899, Utilities},     // telecommunications, cable and pay television
	{4816, 4816, Digital},       // computer network and information services
	{4829, 4829, Financial},     // money orders, wire transfers
	{4900, 4999, Utilities},     // electricity, gas, water, sanitation
	{5000, 5199, Shopping},      // wholesale goods
	{5047, 5047, Health},        // medical, dental and hospital equipment
	{5122, 5122, Health},        // drugs and druggists' sundries
	{5172, 5172, Fuel},          // petroleum products
	{5200, 5399, Shopping},      // home supply, department and discount stores
	{5400, 5499, Groceries},     // supermarkets, food stores, bakeries
	{5500, 5599, Shopping},      // car, boat and motorcycle dealers, parts
	{5541, 5542, Fuel},          // service stations, fuel dispensers
	{5600, 5799, Shopping},      // clothing, furniture, electronics, music
	{5811, 5814, Dining},        // caterers, restaurants, bars, fast food
	{5815, 5818, Digital},       // digital goods: media, games, apps
	{5900, 5999, Shopping},      // miscellaneous retail
	{5912, 5912, Health},        // drug stores and pharmacies
	{5975, 5976, Health},        // hearing aids, orthopaedic goods
	{5983, 5983, Fuel},          // fuel dealers
	{6000, 6999, Financial},     // banks, cash, securities, insurance
	{7011, 7033, Travel},        // hotels, timeshares, camps, campgrounds
	{7200, 7299, Services},      // laundry, beauty, spas and other personal services
	{7300, 7399, Services},      // business services
	{7372, 7372, Digital},       // computer programming, data processing
	{7500, 7599, Services},      // car repair, car washes
	{7511, 7519, Travel},        // car, truck and motor home rental
	{7523, 7523, Transport},     // parking lots and garages
	{7600, 7699, Services},      // repair shops
	{7800, 7999, Entertainment}, // cinemas, theatres, sports, amusement, recreation
	{8000, 8099, Health},        // doctors, dentists, hospitals, medical services
	{8100, 8199, Services},      // legal services
	{8200, 8299, Education},     // schools, colleges, universities
	{8300, 8999, Services},      // social and professional services, organisations
	{8351, 8351, Education},     // child care
	{9000, 9999, Government},    // taxes, fines, courts, postal and other government services
}

// CategoryOf maps a merchant category code to a spending category.
func CategoryOf(mcc string) string {
	if len(mcc) != 4 || strings.Trim(mcc, "0123456789") != "" {
		return Other
	}
	code, _ := strconv.Atoi(mcc)
	best, width := Other, 1<<30
	for _, r := range mccRanges {
		if code >= r.lo && code <= r.hi && r.hi-r.lo < width {
			best, width = r.category, r.hi-r.lo
		}
	}
	return best
}
