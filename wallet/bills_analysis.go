package wallet

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/postgres"
)

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
	Withdrawals  Total           `json:"withdrawals" doc:"Money sent to the wallet's cards, less withdrawals the issuer refused: not spending."`
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
		if groups, err = spendGroups(ctx, tx, p.AccountID, p.WalletID, from, end); err != nil {
			return err
		}
		cardMonths, err := cardSpendByMonth(ctx, tx, p.WalletID, bounds)
		if err != nil {
			return err
		}
		for i := range 12 {
			t, days, err := s.totalsByDay(ctx, tx, p.AccountID, bounds[i], bounds[i+1], dbNow, opened)
			if err != nil {
				return err
			}
			fresh = append(fresh, days...)
			paid, refunded := t[totalKey{TypePayment, false}], t[totalKey{TypeRefund, true}]
			c := cardMonths[i]
			paid.Amount, paid.Count = paid.Amount+c.payments, paid.Count+c.paymentCount
			refunded.Amount, refunded.Count = refunded.Amount+c.refunds, refunded.Count+c.refundCount
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
	analyse(&a, groups, q.Top)
	return a, nil
}

// spendGroup is the period's movements of one kind and direction at one
// merchant (payments and refunds), or of one kind (the rest).
type spendGroup struct {
	typ                   string
	mcc, merchantID, name string
	latest, count, sum    int64 // latest is the greatest posting id, to pick a merchant's latest name
}

// spendGroups groups the account's movements in [from, to) in the database.
// A payment or refund counts whole, whatever funded it: its card part
// (cardLeg) is spending as much as its balance part, and one funded by the
// card alone, which posted nothing on the account, is found by its wallet.
func spendGroups(ctx context.Context, tx pgx.Tx, accountID int64, walletID string, from, to time.Time) ([]spendGroup, error) {
	rows, err := tx.Query(ctx, `SELECT kind, credit, mcc, merchant, name, max(id), count(*), sum(amount)::bigint FROM (
			SELECT t.kind, p.amount > 0 AS credit, coalesce(t.mcc, '') AS mcc, coalesce(t.merchant_id::text, '') AS merchant,
				coalesce(t.metadata->>'merchant', '') AS name, p.id,
				p.amount + CASE WHEN t.funding = 'balance_then_card' THEN `+cardLeg+` ELSE 0 END AS amount
			FROM postings p JOIN transfers t ON t.id = p.transfer_id
			WHERE p.account_id = $1 AND p.created_at >= $2 AND p.created_at < $3
			UNION ALL
			SELECT t.kind, p.amount > 0, coalesce(t.mcc, ''), coalesce(t.merchant_id::text, ''),
				coalesce(t.metadata->>'merchant', ''), p.id, p.amount
			FROM transfers t JOIN postings p ON p.transfer_id = t.id JOIN accounts a ON a.id = p.account_id AND a.kind = 'clearing'
			WHERE t.wallet_id = $4::uuid AND t.funding = 'card' AND p.created_at >= $2 AND p.created_at < $3) m
		GROUP BY 1, 2, 3, 4, 5`, accountID, from, to, walletID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var groups []spendGroup
	for rows.Next() {
		var g spendGroup
		var kind string
		var credit bool
		if err := rows.Scan(&kind, &credit, &g.mcc, &g.merchantID, &g.name, &g.latest, &g.count, &g.sum); err != nil {
			return nil, err
		}
		g.typ = movementType(kind, credit)
		groups = append(groups, g)
	}
	return groups, rows.Err()
}

// cardSpendByMonth is the card parts of the wallet's payments and refunds
// in each period [bounds[i], bounds[i+1]), which the balance's daily
// totals (totalsByDay) do not hold. A payment funded by the card alone is
// counted here; a split one is counted with its balance part.
func cardSpendByMonth(ctx context.Context, tx pgx.Tx, walletID string, bounds []time.Time) ([]spend, error) {
	months := make([]spend, len(bounds)-1)
	rows, err := tx.Query(ctx, `SELECT t.kind, width_bucket(p.created_at, $2::timestamptz[]),
			count(*) FILTER (WHERE t.funding = 'card'), sum(p.amount)::bigint
		FROM transfers t JOIN postings p ON p.transfer_id = t.id JOIN accounts a ON a.id = p.account_id AND a.kind = 'clearing'
		WHERE t.wallet_id = $1::uuid AND t.funding IN ('card', 'balance_then_card') AND t.kind IN ('payment', 'refund')
			AND p.created_at >= $3 AND p.created_at < $4
		GROUP BY 1, 2`, walletID, bounds, bounds[0], bounds[len(bounds)-1])
	if err != nil {
		return nil, fmt.Errorf("card spending: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var bucket int
		var n, sum int64
		if err := rows.Scan(&kind, &bucket, &n, &sum); err != nil {
			return nil, fmt.Errorf("card spending: %w", err)
		}
		if bucket >= 1 && bucket <= len(months) {
			m := &months[bucket-1]
			if kind == TypePayment {
				m.payments, m.paymentCount = m.payments+sum, m.paymentCount+n
			} else {
				m.refunds, m.refundCount = m.refunds+sum, m.refundCount+n
			}
		}
	}
	return months, rows.Err()
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
		case TypeWithdrawal:
			other = &a.Withdrawals
		case TypeWithdrawalReversal:
			a.Withdrawals.Count, a.Withdrawals.Amount = a.Withdrawals.Count-g.count, a.Withdrawals.Amount-abs(g.sum)
			continue
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
