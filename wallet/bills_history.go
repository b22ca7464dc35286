package wallet

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
)

// Bills: the wallet's history, monthly statements and spending analysis,
// read from the ledger's postings on the wallet's account. docs/bills.md
// describes the routes, the statement file and the category table.
//
// Two orders matter here. Posting ids grow per account in the order money
// moved (the account row is locked while a posting is written), so
// balance_after chains along ids and a page cursor on the id is stable.
// created_at, stamped with PostgreSQL's clock once the ledger holds the
// account's lock, is the date the customer sees and what dates and months
// select on. The two agree unless the database clock steps back, and any
// disorder stays below how long a ledger transaction lasts (ledger.Options.TxTimeout,
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
	TypeTopUp:              `t.kind = 'topup'`,
	TypeTransferIn:         `(t.kind = 'transfer' AND p.amount > 0)`,
	TypeTransferOut:        `(t.kind = 'transfer' AND p.amount < 0)`,
	TypePayment:            `t.kind = 'payment'`,
	TypeRefund:             `t.kind = 'refund'`,
	TypeWithdrawal:         `t.kind = 'withdrawal'`,
	TypeWithdrawalReversal: `t.kind = 'withdrawal_reversal'`,
}

// HistoryItem is one movement in the wallet's history.
type HistoryItem struct {
	ID           string    `json:"id" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b" doc:"The ledger transfer id: the reference of a top-up or transfer, and the id for GET /v1/wallet/movements/{id}."`
	Type         string    `json:"type" example:"payment" enum:"topup,transfer_in,transfer_out,payment,refund,withdrawal,withdrawal_reversal"`
	Amount       int64     `json:"amount" example:"-1200" doc:"Minor units, signed: negative when money left the wallet."`
	Currency     string    `json:"currency" example:"CNY"`
	BalanceAfter int64     `json:"balance_after" example:"8800" doc:"The wallet's balance right after this movement."`
	Counterparty string    `json:"counterparty,omitempty" example:"Blue Bottle Coffee" doc:"The merchant's name, or the other wallet's phone number masked."`
	Card         string    `json:"card,omitempty" example:"**** 1111" doc:"The card of a top-up, payment or withdrawal, masked."`
	Category     string    `json:"category,omitempty" example:"dining" doc:"Spending category of a payment or refund, from the merchant's MCC."`
	OrderID      string    `json:"order_id,omitempty" example:"0193a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5c" doc:"The merchant order of a payment or refund."`
	RefundID     string    `json:"refund_id,omitempty" example:"" doc:"The merchant's refund, for a refund."`
	Note         string    `json:"note,omitempty" example:"dinner" doc:"The sender's note on a transfer."`
	Funding      string    `json:"funding,omitempty" example:"balance" enum:"balance,card,balance_then_card" doc:"A payment's: where its money came from; a refund's: where it went back to."`
	CardAmount   int64     `json:"card_amount,omitempty" example:"0" doc:"The part of amount charged to (or returned to) the card, signed like amount; amount less card_amount moved the balance."`
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
	args := []any{p.AccountID, p.WalletID}
	var where []string
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
				return HistoryPage{}, errs.E(errs.Invalid, "type must be one of topup, transfer_in, transfer_out, payment, refund, withdrawal, withdrawal_reversal")
			}
			conds = append(conds, c)
		}
		where = append(where, "("+strings.Join(conds, " OR ")+")")
	}
	cond, limit := "", arg(q.Limit+1)
	if len(where) > 0 {
		cond = " AND " + strings.Join(where, " AND ")
	}
	// The wallet's own postings, and the card-funded payments and refunds
	// that posted nothing on its account, each by the posting of their
	// card leg (on an issuer clearing account).
	sql := `(SELECT ` + itemColumns + ` FROM postings p JOIN transfers t ON t.id = p.transfer_id
			WHERE p.account_id = $1` + cond + ` ORDER BY p.id DESC LIMIT ` + limit + `)
		UNION ALL
		(SELECT ` + cardItemColumns + ` FROM transfers t JOIN postings p ON p.transfer_id = t.id
			JOIN accounts a ON a.id = p.account_id AND a.kind = 'clearing'
			WHERE t.wallet_id = $2::uuid AND t.funding = 'card'` + cond + ` ORDER BY p.id DESC LIMIT ` + limit + `)
		ORDER BY 1 DESC LIMIT ` + limit
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
// transfer and its links, and the display fields of its metadata (the
// wallet writes them; PostgreSQL extracts them several times faster than
// decoding the JSON here).
const itemColumns = `p.id, p.amount, p.balance_after, p.created_at, t.id, t.kind, t.currency,
	coalesce(t.metadata->>'card', ''), coalesce(t.metadata->>'note', ''), coalesce(t.order_id::text, ''),
	coalesce(t.metadata->>'refund_id', ''), coalesce(t.metadata->>'merchant', ''), coalesce(t.mcc, ''),
	coalesce(t.metadata->>'from_phone', ''), coalesce(t.metadata->>'to_phone', ''),
	coalesce(t.funding, ''), CASE WHEN t.funding = 'balance_then_card' THEN ` + cardLeg + ` ELSE 0 END`

// cardLeg is the card part of transfer t: its postings on issuer clearing
// accounts, signed as the wallet sees them.
const cardLeg = `(SELECT coalesce(sum(c.amount), 0)::bigint FROM postings c JOIN accounts ca ON ca.id = c.account_id
	WHERE c.transfer_id = t.id AND ca.kind = 'clearing')`

// cardItemColumns are itemColumns for a card-funded payment or refund,
// read from its card leg's posting p: the wallet's balance is the one it
// had then, unchanged by it.
const cardItemColumns = `p.id, 0::bigint, coalesce((SELECT w.balance_after FROM postings w
		WHERE w.account_id = $1 AND w.id < p.id ORDER BY w.id DESC LIMIT 1), 0), p.created_at, t.id, t.kind, t.currency,
	coalesce(t.metadata->>'card', ''), coalesce(t.metadata->>'note', ''), coalesce(t.order_id::text, ''),
	coalesce(t.metadata->>'refund_id', ''), coalesce(t.metadata->>'merchant', ''), coalesce(t.mcc, ''),
	'', '', t.funding, p.amount`

// scanItems reads rows of itemColumns. A transfer is in or out by the sign
// of the wallet's posting, and its counterparty is the other wallet. A
// payment's or refund's amount is all of it, the card's part included.
// The wallet's own part of it (what moved the balance) is Amount less
// CardAmount.
func scanItems(rows pgx.Rows, each func(HistoryItem) error) error {
	defer rows.Close()
	for rows.Next() {
		var it HistoryItem
		var id uuid.UUID
		var kind, mcc, fromPhone, toPhone string
		if err := rows.Scan(&it.postingID, &it.Amount, &it.BalanceAfter, &it.CreatedAt, &id, &kind, &it.Currency,
			&it.Card, &it.Note, &it.OrderID, &it.RefundID, &it.Counterparty, &mcc, &fromPhone, &toPhone,
			&it.Funding, &it.CardAmount); err != nil {
			return err
		}
		it.Amount += it.CardAmount
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
			if it.Funding == "" {
				it.Funding = string(FundingBalance)
			}
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
