package merchant

import (
	"context"
	"fmt"
	"time"

	"github.com/qrpay/qrpay/errs"
)

// OrderTotals sums the orders a listing's filter selects, by status.
type OrderTotals struct {
	Currency string        `json:"currency" example:"CNY"`
	Count    int64         `json:"count" example:"42"`
	Amount   int64         `json:"amount" example:"50400" doc:"The orders' amounts, minor units."`
	ByStatus []StatusTotal `json:"by_status" doc:"Every status, in a fixed order, zeros included."`
}

// StatusTotal is the orders in one status.
type StatusTotal struct {
	Status         string `json:"status" example:"paid" enum:"created,paid,partially_refunded,refunded,closed,expired"`
	Count          int64  `json:"count" example:"40"`
	Amount         int64  `json:"amount" example:"48000" doc:"The orders' amounts, minor units."`
	RefundedAmount int64  `json:"refunded_amount" example:"500" doc:"Refunded of them so far, minor units."`
}

// statuses is the order of OrderTotals.ByStatus.
var statuses = []string{StatusCreated, StatusPaid, StatusPartiallyRefunded, StatusRefunded, StatusClosed, StatusExpired}

// orderTotals sums the orders of m matching where (an orderFilter with
// its arguments, the merchant first).
func (s *Service) orderTotals(ctx context.Context, m Merchant, where string, args []any) (OrderTotals, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+effectiveStatus+`, count(*), coalesce(sum(o.amount), 0)::bigint,
		coalesce(sum(o.refunded_amount), 0)::bigint
		FROM orders o WHERE o.merchant_id = $1 AND `+where+` GROUP BY 1`, args...)
	if err != nil {
		return OrderTotals{}, fmt.Errorf("order totals: %w", err)
	}
	defer rows.Close()
	by := map[string]StatusTotal{}
	for rows.Next() {
		var st StatusTotal
		if err := rows.Scan(&st.Status, &st.Count, &st.Amount, &st.RefundedAmount); err != nil {
			return OrderTotals{}, fmt.Errorf("order totals: %w", err)
		}
		by[st.Status] = st
	}
	if err := rows.Err(); err != nil {
		return OrderTotals{}, fmt.Errorf("order totals: %w", err)
	}
	t := OrderTotals{Currency: m.Currency, ByStatus: make([]StatusTotal, 0, len(statuses))}
	for _, status := range statuses {
		st := by[status]
		st.Status = status
		t.ByStatus = append(t.ByStatus, st)
		t.Count, t.Amount = t.Count+st.Count, t.Amount+st.Amount
	}
	return t, nil
}

// Ways of paying, as summaries and receipts name them. The QR ways are
// merchant-presented: the customer scans the merchant's QR. A payment
// code is customer-presented: the POS scans the code the customer shows.
const (
	WayDynamicQR   = "dynamic_qr"   // an order's own QR, with its amount
	WayStaticQR    = "static_qr"    // the merchant's printed QR; the customer types the amount
	WayPaymentCode = "payment_code" // the customer's payment code, charged by the POS
)

// ways is the order of ShiftSummary.Ways.
var ways = []string{WayDynamicQR, WayStaticQR, WayPaymentCode}

// orderWay is the SQL of the way the order o was paid: an order knows it
// by how it was made (static for a static QR's payment, the reference
// prefix for a code charge's order).
const orderWay = `CASE WHEN o.static THEN '` + WayStaticQR + `' WHEN o.ref LIKE '` + codeRefPrefix + `%' THEN '` +
	WayPaymentCode + `' ELSE '` + WayDynamicQR + `' END`

// ShiftSummary is what a terminal took in a period: what a POS needs to
// close a shift. It is read from the ledger: Net is exactly what the
// period's payments and refunds of the terminal's orders moved on the
// merchant's account, and Fees what they moved on the gateway's.
type ShiftSummary struct {
	TerminalID string    `json:"terminal_id" example:"POS1"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to" doc:"Exclusive."`
	Currency   string    `json:"currency" example:"CNY"`
	WayTotals
	Ways []WaySummary `json:"ways" doc:"The totals by way of paying, every known way in a fixed order, zeros included; new ways may be added."`
}

// WaySummary is a shift's totals for one way of paying.
type WaySummary struct {
	Way string `json:"way" example:"dynamic_qr" doc:"dynamic_qr: the order's QR; static_qr: the merchant's printed QR; payment_code: the customer's payment code, charged by the POS. More ways may appear."`
	WayTotals
}

// WayTotals are a shift's counts and sums, minor units.
type WayTotals struct {
	Payments     int64 `json:"payments" example:"40" doc:"Payments received in the period."`
	Gross        int64 `json:"gross" example:"48000" doc:"What those payments paid."`
	Refunds      int64 `json:"refunds" example:"2" doc:"Refunds made in the period, of orders paid at any time."`
	Refunded     int64 `json:"refunded" example:"700" doc:"What those refunds returned to customers."`
	Fees         int64 `json:"fees" example:"284" doc:"The gateway's fees on the payments, less the fees given back with the refunds."`
	FeesCharged  int64 `json:"fees_charged" example:"288"`
	FeesRefunded int64 `json:"fees_refunded" example:"4"`
	Net          int64 `json:"net" example:"47016" doc:"gross − refunded − fees: what the merchant is owed for the period."`
}

func (t *WayTotals) add(o WayTotals) {
	t.Payments, t.Gross, t.Refunds, t.Refunded = t.Payments+o.Payments, t.Gross+o.Gross, t.Refunds+o.Refunds, t.Refunded+o.Refunded
	t.Fees, t.FeesCharged, t.FeesRefunded, t.Net = t.Fees+o.Fees, t.FeesCharged+o.FeesCharged, t.FeesRefunded+o.FeesRefunded, t.Net+o.Net
}

// MaxShift bounds a summary's period.
const MaxShift = 31 * 24 * time.Hour

// ShiftSummary sums the payments and refunds of the caller's orders from
// terminal in [from, to), by the time the ledger committed them. A zero to
// is now; a zero from is a day before to. A terminal no order was ever
// created for is not found.
func (s *Service) ShiftSummary(ctx context.Context, c Caller, terminal string, from, to time.Time) (ShiftSummary, error) {
	if !Printable(terminal, 32) {
		return ShiftSummary{}, errs.E(errs.Invalid, "terminal_id must be 1 to 32 printable characters")
	}
	if to.IsZero() {
		to = s.now()
	}
	if from.IsZero() {
		from = to.Add(-24 * time.Hour)
	}
	switch {
	case !from.Before(to):
		return ShiftSummary{}, errs.E(errs.Invalid, "from must be before to")
	case to.Sub(from) > MaxShift:
		return ShiftSummary{}, errs.E(errs.Invalid, "the period may be at most %d days", int(MaxShift/(24*time.Hour)))
	}
	m, err := s.Get(ctx, c.MerchantID)
	if err != nil {
		return ShiftSummary{}, err
	}
	// A terminal is known by its orders: one that never had any is not
	// found, rather than summed to zeros.
	var known bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders WHERE merchant_id = $1 AND terminal_id = $2)`,
		m.ID, terminal).Scan(&known); err != nil {
		return ShiftSummary{}, fmt.Errorf("shift summary: %w", err)
	}
	if !known {
		return ShiftSummary{}, errs.E(errs.NotFound, "terminal %q has no orders", terminal)
	}
	// The period's postings on the merchant's account, as settlement reads
	// them (postings_account_time): each is what the merchant got or gave
	// back; its transfer's amount is what the transfer moved (a payment's
	// gross, a refund's amount), and the difference the fee. A payment
	// whose fee is all of it (fee_bps 10000) posts nothing to the merchant
	// and is in no summary, as in no settlement file.
	rows, err := s.pool.Query(ctx, `SELECT t.kind, `+orderWay+`, count(*), coalesce(sum(t.amount), 0)::bigint,
			coalesce(sum(p.amount), 0)::bigint
		FROM postings p
		JOIN transfers t ON t.id = p.transfer_id
		JOIN orders o ON o.id = t.order_id
		WHERE p.account_id = $1 AND p.created_at >= $3 AND p.created_at < $4
			AND t.kind IN ('payment', 'refund') AND o.terminal_id = $2
		GROUP BY 1, 2`, m.AccountID, terminal, from, to)
	if err != nil {
		return ShiftSummary{}, fmt.Errorf("shift summary: %w", err)
	}
	defer rows.Close()
	by := map[string]WayTotals{}
	for rows.Next() {
		var kind, way string
		var n, moved, merchantSide int64
		if err := rows.Scan(&kind, &way, &n, &moved, &merchantSide); err != nil {
			return ShiftSummary{}, fmt.Errorf("shift summary: %w", err)
		}
		t := by[way]
		if kind == "payment" {
			t.Payments, t.Gross, t.FeesCharged = t.Payments+n, t.Gross+moved, t.FeesCharged+moved-merchantSide
		} else {
			t.Refunds, t.Refunded, t.FeesRefunded = t.Refunds+n, t.Refunded+moved, t.FeesRefunded+moved+merchantSide
		}
		t.Fees, t.Net = t.FeesCharged-t.FeesRefunded, t.Net+merchantSide
		by[way] = t
	}
	if err := rows.Err(); err != nil {
		return ShiftSummary{}, fmt.Errorf("shift summary: %w", err)
	}
	sum := ShiftSummary{TerminalID: terminal, From: from, To: to, Currency: m.Currency, Ways: make([]WaySummary, 0, len(ways))}
	for _, way := range ways {
		sum.Ways = append(sum.Ways, WaySummary{Way: way, WayTotals: by[way]})
		sum.add(by[way])
	}
	return sum, nil
}
