package settlement

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/qrpay/qrpay/money"
	"github.com/qrpay/qrpay/spreadsheet"
)

// FormatVersion names the layout new files are written in.
// docs/settlement.md specifies it; a change of layout is a new version, and
// a day settled in an earlier layout is regenerated in it (verify), byte
// for byte.
const FormatVersion = FormatV2

// The layouts: version 2 adds each detail row's funding (where a
// payment's money came from, where a refund's went back to) as a last
// column.
const (
	FormatV1 = "qrpay-settlement/1"
	FormatV2 = "qrpay-settlement/2"
)

// Totals are a merchant's sums for a business day.
type Totals struct {
	PaymentsCount  int64 `json:"payments_count"`
	PaymentsAmount int64 `json:"payments_amount"`
	RefundsCount   int64 `json:"refunds_count"`
	RefundsAmount  int64 `json:"refunds_amount"`
	Fees           int64 `json:"fees"`
	Net            int64 `json:"net"`
}

// dayRows selects the day's payments and refunds as they touched the
// merchant's account, in posting order: the posting's net (what the
// merchant gets), the order it belongs to, and the gross amount and fee.
const dayRows = `
	FROM postings p
	JOIN transfers t ON t.id = p.transfer_id AND t.kind IN ('payment', 'refund')
	LEFT JOIN refunds r ON t.kind = 'refund' AND r.transfer_id = t.id
	JOIN orders o ON o.id = t.order_id
	WHERE p.account_id = $1 AND p.created_at >= $2 AND p.created_at < $3`

// totals sums the day from the ledger in one query; the file's own sums
// must agree with it.
func (s *Service) totals(ctx context.Context, m merchantInfo, day Day) (Totals, error) {
	var t Totals
	err := s.pool.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE t.kind = 'payment'),
		coalesce(sum(o.amount) FILTER (WHERE t.kind = 'payment'), 0)::bigint,
		count(*) FILTER (WHERE t.kind = 'refund'),
		coalesce(sum(r.amount) FILTER (WHERE t.kind = 'refund'), 0)::bigint,
		(coalesce(sum(o.fee) FILTER (WHERE t.kind = 'payment'), 0) - coalesce(sum(r.fee_refunded) FILTER (WHERE t.kind = 'refund'), 0))::bigint,
		coalesce(sum(p.amount), 0)::bigint`+dayRows, m.account, day.Start, day.End).
		Scan(&t.PaymentsCount, &t.PaymentsAmount, &t.RefundsCount, &t.RefundsAmount, &t.Fees, &t.Net)
	if err != nil {
		return t, fmt.Errorf("settlement totals: %w", err)
	}
	return t, nil
}

// writeFile streams the day's CSV into w row by row, straight from the
// database cursor, and returns the totals it wrote. Everything in it is a
// function of the ledger and the merchant, so writing it again gives the
// same bytes.
func (s *Service) writeFile(ctx context.Context, w io.Writer, m merchantInfo, day Day, version string) (Totals, error) {
	cw := csv.NewWriter(w)
	var t Totals
	put := func(rec ...string) error { return cw.Write(rec) }
	withFunding := version != FormatV1
	for _, h := range [][2]string{
		{"format_version", version}, {"merchant_id", m.id}, {"merchant_code", m.code}, {"merchant_name", spreadsheet.Text(m.name)},
		{"business_date", day.Date}, {"currency", m.currency}, {"time_zone", s.cfg.Location.String()},
		{"period_start", day.Start.In(s.cfg.Location).Format(time.RFC3339)}, {"period_end", day.End.In(s.cfg.Location).Format(time.RFC3339)},
	} {
		if err := put("H", h[0], h[1]); err != nil {
			return t, err
		}
	}
	header := []string{"D", "type", "time", "order_id", "merchant_order_no", "refund_id", "amount", "fee", "net",
		"amount_display", "card", "terminal_id"}
	if withFunding {
		header = append(header, "funding")
	}
	if err := put(header...); err != nil {
		return t, err
	}
	rows, err := s.pool.Query(ctx, `SELECT t.kind, p.created_at, o.id::text, o.merchant_order_no, coalesce(r.id::text, ''),
		CASE WHEN t.kind = 'payment' THEN o.amount ELSE -r.amount END,
		CASE WHEN t.kind = 'payment' THEN o.fee ELSE -r.fee_refunded END,
		p.amount, o.card_masked, o.terminal_id, coalesce(t.funding, 'balance')`+dayRows+` ORDER BY p.id`, m.account, day.Start, day.End)
	if err != nil {
		return t, fmt.Errorf("settlement rows: %w", err)
	}
	defer rows.Close()
	var sums [2]struct{ count, amount, fee, net int64 } // payments, refunds
	for rows.Next() {
		var kind, orderID, orderNo, refundID, card, terminal, funding string
		var at time.Time
		var amount, fee, net int64
		if err := rows.Scan(&kind, &at, &orderID, &orderNo, &refundID, &amount, &fee, &net, &card, &terminal, &funding); err != nil {
			return t, err
		}
		i := 0
		if kind == "refund" {
			i = 1
		}
		sums[i].count++
		sums[i].amount += amount
		sums[i].fee += fee
		sums[i].net += net
		// The merchant's order number and terminal id are the POS's text.
		rec := []string{"D", kind, at.In(s.cfg.Location).Format(time.RFC3339), orderID, spreadsheet.Text(orderNo), refundID,
			i64(amount), i64(fee), i64(net), money.Format(amount, m.currency), card, spreadsheet.Text(terminal)}
		if withFunding {
			rec = append(rec, funding)
		}
		if err := put(rec...); err != nil {
			return t, err
		}
	}
	if err := rows.Err(); err != nil {
		return t, fmt.Errorf("settlement rows: %w", err)
	}
	t = Totals{
		PaymentsCount: sums[0].count, PaymentsAmount: sums[0].amount,
		RefundsCount: sums[1].count, RefundsAmount: -sums[1].amount,
		Fees: sums[0].fee + sums[1].fee, Net: sums[0].net + sums[1].net,
	}
	if err := put("S", "type", "count", "amount", "fee", "net", "amount_display"); err != nil {
		return t, err
	}
	total := struct{ count, amount, fee, net int64 }{
		sums[0].count + sums[1].count, sums[0].amount + sums[1].amount, t.Fees, t.Net}
	for _, sr := range []struct {
		name string
		v    struct{ count, amount, fee, net int64 }
	}{{"payment", sums[0]}, {"refund", sums[1]}, {"total", total}} {
		if err := put("S", sr.name, i64(sr.v.count), i64(sr.v.amount), i64(sr.v.fee), i64(sr.v.net),
			money.Format(sr.v.amount, m.currency)); err != nil {
			return t, err
		}
	}
	cw.Flush()
	return t, cw.Error()
}

func i64(v int64) string { return strconv.FormatInt(v, 10) }
