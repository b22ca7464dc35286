package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/merchant"
	"github.com/qrpay/qrpay/wallet"
)

func listOrders(t *testing.T, env *gatewaytest.Env, k gatewaytest.MerchantKey, q url.Values) merchant.OrderPage {
	t.Helper()
	r := env.Signed(t, k, "GET", "/v1/orders?"+q.Encode(), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("list orders ?%s = %d %s", q.Encode(), r.Status, r.Body)
	}
	var page merchant.OrderPage
	r.JSON(t, &page)
	return page
}

func shiftSummary(t *testing.T, env *gatewaytest.Env, k gatewaytest.MerchantKey, terminal string, from, to time.Time) merchant.ShiftSummary {
	t.Helper()
	q := url.Values{"from": {from.Format(time.RFC3339Nano)}, "to": {to.Format(time.RFC3339Nano)}}
	r := env.Signed(t, k, "GET", "/v1/terminals/"+url.PathEscape(terminal)+"/summary?"+q.Encode(), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("summary of %s = %d %s", terminal, r.Status, r.Body)
	}
	var s merchant.ShiftSummary
	r.JSON(t, &s)
	return s
}

func byStatus(tt merchant.OrderTotals) map[string][2]int64 {
	m := map[string][2]int64{}
	for _, st := range tt.ByStatus {
		m[st.Status] = [2]int64{st.Count, st.Amount}
	}
	return m
}

// TestListOrdersByTerminalAndTime lists orders by terminal and creation
// time, a page at a time: every page carries the totals of the whole
// filter, by status.
func TestListOrdersByTerminalAndTime(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)
	p := newPayer(t, env, 50000)
	paid := createOrder(t, env, k, "L-1", 1000)
	p.pay(t, env, paid.QRPayload, "pay-L-1")
	closed := createOrder(t, env, k, "L-2", 2000)
	if r := env.Signed(t, k, "POST", "/v1/orders/"+closed.ID+"/close", nil); r.Status != http.StatusOK {
		t.Fatalf("close = %d %s", r.Status, r.Body)
	}
	createOrder(t, env, k, "L-3", 3000, map[string]any{"terminal_id": "POS2"})
	env.Clock.Advance(time.Minute)
	mid := env.Clock.Now()
	open := createOrder(t, env, k, "L-4", 4000)

	all := listOrders(t, env, k, url.Values{"terminal_id": {"POS1"}})
	if len(all.Data) != 3 || all.Totals.Count != 3 || all.Totals.Amount != 7000 || all.Totals.Currency != "CNY" {
		t.Errorf("POS1 orders = %d, totals %+v; want 3 orders of 7000 CNY", len(all.Data), all.Totals)
	}
	want := map[string][2]int64{"created": {1, 4000}, "paid": {1, 1000}, "closed": {1, 2000}, "partially_refunded": {}, "refunded": {}, "expired": {}}
	if got := byStatus(all.Totals); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("POS1 totals by status = %v; want %v", got, want)
	}
	// A page at a time: the same totals on every page, each order once.
	seen := map[string]bool{}
	q := url.Values{"terminal_id": {"POS1"}, "limit": {"1"}}
	for pages := 0; ; pages++ {
		page := listOrders(t, env, k, q)
		if fmt.Sprint(page.Totals) != fmt.Sprint(all.Totals) {
			t.Errorf("page %d totals = %+v; want %+v", pages, page.Totals, all.Totals)
		}
		for _, o := range page.Data {
			if seen[o.ID] || o.TerminalID != "POS1" {
				t.Errorf("order %s (terminal %q) listed again or from another terminal", o.ID, o.TerminalID)
			}
			seen[o.ID] = true
		}
		if !page.HasMore || pages > 5 {
			break
		}
		q.Set("starting_after", page.NextCursor)
	}
	if len(seen) != 3 {
		t.Errorf("paged through %d orders; want 3", len(seen))
	}
	later := listOrders(t, env, k, url.Values{"from": {mid.Format(time.RFC3339Nano)}})
	if len(later.Data) != 1 || later.Data[0].ID != open.ID || later.Totals.Count != 1 {
		t.Errorf("orders from %s = %+v; want only %s", mid, later.Data, open.ID)
	}
	earlier := listOrders(t, env, k, url.Values{"to": {mid.Format(time.RFC3339Nano)}, "status": {"paid"}})
	if len(earlier.Data) != 1 || earlier.Data[0].ID != paid.ID || earlier.Totals.Amount != 1000 {
		t.Errorf("paid orders before %s = %+v, totals %+v; want only %s", mid, earlier.Data, earlier.Totals, paid.ID)
	}
	// Past its expiry an order counts as expired, before the sweeper runs.
	env.Clock.Advance(time.Hour)
	if got := byStatus(listOrders(t, env, k, url.Values{"terminal_id": {"POS1"}}).Totals); got["expired"] != [2]int64{1, 4000} || got["created"] != [2]int64{} {
		t.Errorf("after the expiry, totals = %v; want the open order expired", got)
	}
	for _, bad := range []url.Values{{"from": {"yesterday"}}, {"from": {mid.Format(time.RFC3339)}, "to": {mid.Add(-time.Hour).Format(time.RFC3339)}}} {
		if r := env.Signed(t, k, "GET", "/v1/orders?"+bad.Encode(), nil); r.Status != http.StatusBadRequest || r.Code() != "invalid" {
			t.Errorf("list ?%s = %d %s; want 400 invalid", bad.Encode(), r.Status, r.Body)
		}
	}
}

// TestShiftSummaryEqualsLedger: a terminal's payments and (partial and
// full) refunds, summed for a shift, equal what the ledger moved on the
// merchant's and the gateway's accounts; two shifts side by side add up to
// one spanning both.
func TestShiftSummaryEqualsLedger(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, map[string]any{"fee_bps": 60})
	p := newPayer(t, env, 100000)
	start := time.Now().Add(-time.Minute)
	var orders []merchant.Order
	for i, amount := range []int64{1000, 2500, 3333} {
		o := createOrder(t, env, k, fmt.Sprint("S-", i), amount)
		if r := p.pay(t, env, o.QRPayload, fmt.Sprint("pay-S-", i)); r.Status != http.StatusCreated {
			t.Fatalf("pay = %d %s", r.Status, r.Body)
		}
		orders = append(orders, o)
	}
	other := createOrder(t, env, k, "S-other", 500, map[string]any{"terminal_id": "POS2"})
	p.pay(t, env, other.QRPayload, "pay-S-other")
	createOrder(t, env, k, "S-open", 900) // never paid
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	env.Refund(t, k, orders[1].ID, 700)  // partial
	env.Refund(t, k, orders[1].ID, 300)  // partial again
	env.Refund(t, k, orders[0].ID, 1000) // full
	end := time.Now().Add(time.Minute)

	var fees, feesRefunded int64
	for _, o := range orders {
		var got merchant.Order
		env.Signed(t, k, "GET", "/v1/orders/"+o.ID, nil).JSON(t, &got)
		fees += got.Fee
	}
	if err := env.Pool.QueryRow(context.Background(), `SELECT coalesce(sum(fee_refunded), 0)::bigint FROM refunds WHERE order_id = ANY($1::uuid[])`,
		[]string{orders[0].ID, orders[1].ID, orders[2].ID}).Scan(&feesRefunded); err != nil {
		t.Fatal(err)
	}
	whole := shiftSummary(t, env, k, "POS1", start, end)
	want := merchant.WayTotals{Payments: 3, Gross: 6833, Refunds: 3, Refunded: 2000, FeesCharged: fees, FeesRefunded: feesRefunded,
		Fees: fees - feesRefunded, Net: 6833 - 2000 - (fees - feesRefunded)}
	if whole.WayTotals != want || whole.Currency != "CNY" || whole.TerminalID != "POS1" {
		t.Errorf("summary = %+v; want %+v", whole.WayTotals, want)
	}
	if len(whole.Ways) != 3 || whole.Ways[0].Way != "dynamic_qr" || whole.Ways[0].WayTotals != want ||
		whole.Ways[1].Way != "static_qr" || whole.Ways[1].WayTotals != (merchant.WayTotals{}) ||
		whole.Ways[2].Way != "payment_code" || whole.Ways[2].WayTotals != (merchant.WayTotals{}) {
		t.Errorf("ways = %+v; want all of it paid by dynamic QR", whole.Ways)
	}
	// Against the ledger: the merchant's account holds exactly the two
	// terminals' nets, and the fee accounts their fees.
	pos2 := shiftSummary(t, env, k, "POS2", start, end)
	var merchantBalance, feeBalance int64
	ctx := context.Background()
	if err := env.Pool.QueryRow(ctx, `SELECT a.balance FROM accounts a JOIN merchants m ON m.account_id = a.id WHERE m.id = $1`,
		k.MerchantID).Scan(&merchantBalance); err != nil {
		t.Fatal(err)
	}
	if err := env.Pool.QueryRow(ctx, `SELECT coalesce(sum(balance), 0)::bigint FROM accounts WHERE kind = 'fee'`).Scan(&feeBalance); err != nil {
		t.Fatal(err)
	}
	if whole.Net+pos2.Net != merchantBalance {
		t.Errorf("POS1 net %d + POS2 net %d != the merchant's ledger balance %d", whole.Net, pos2.Net, merchantBalance)
	}
	if whole.Fees+pos2.Fees != feeBalance {
		t.Errorf("POS1 fees %d + POS2 fees %d != the fee accounts' balance %d", whole.Fees, pos2.Fees, feeBalance)
	}
	// Two shifts split at mid: the payments in the first, the refunds in
	// the second, adding up to the whole.
	first, second := shiftSummary(t, env, k, "POS1", start, mid), shiftSummary(t, env, k, "POS1", mid, end)
	if first.Payments != 3 || first.Refunds != 0 || second.Payments != 0 || second.Refunds != 3 || second.Net >= 0 {
		t.Errorf("first shift %+v, second %+v; want the payments, then the refunds", first.WayTotals, second.WayTotals)
	}
	sum := first.WayTotals
	sum.Payments, sum.Gross, sum.Refunds, sum.Refunded = sum.Payments+second.Payments, sum.Gross+second.Gross, sum.Refunds+second.Refunds, sum.Refunded+second.Refunded
	sum.Fees, sum.FeesCharged, sum.FeesRefunded, sum.Net = sum.Fees+second.Fees, sum.FeesCharged+second.FeesCharged, sum.FeesRefunded+second.FeesRefunded, sum.Net+second.Net
	if sum != whole.WayTotals {
		t.Errorf("two shifts add up to %+v; want %+v", sum, whole.WayTotals)
	}
	// Over a settled business day, the terminals' summaries add up to the
	// settlement.
	day := time.Now().In(shanghai).Format(time.DateOnly)
	if r := env.Do(t, "POST", "/v1/admin/settlements/run", map[string]any{"date": day, "merchant_id": k.MerchantID, "close_early": true},
		"Authorization", "Bearer "+gatewaytest.OperatorToken); r.Status != http.StatusOK {
		t.Fatalf("settle = %d %s", r.Status, r.Body)
	}
	var st struct {
		PeriodStart    time.Time `json:"period_start"`
		PeriodEnd      time.Time `json:"period_end"`
		PaymentsCount  int64     `json:"payments_count"`
		PaymentsAmount int64     `json:"payments_amount"`
		RefundsCount   int64     `json:"refunds_count"`
		RefundsAmount  int64     `json:"refunds_amount"`
		Fees           int64     `json:"fees"`
		Net            int64     `json:"net"`
	}
	env.Signed(t, k, "GET", "/v1/settlements/"+day, nil).JSON(t, &st)
	a, b := shiftSummary(t, env, k, "POS1", st.PeriodStart, st.PeriodEnd), shiftSummary(t, env, k, "POS2", st.PeriodStart, st.PeriodEnd)
	if got := [6]int64{a.Payments + b.Payments, a.Gross + b.Gross, a.Refunds + b.Refunds, a.Refunded + b.Refunded, a.Fees + b.Fees, a.Net + b.Net}; got != [6]int64{st.PaymentsCount, st.PaymentsAmount, st.RefundsCount, st.RefundsAmount, st.Fees, st.Net} {
		t.Errorf("the terminals' day = %v; the settlement says %+v", got, st)
	}
	// Another merchant's terminal of the same name is its own: unknown here.
	if r := env.Signed(t, env.NewMerchant(t, nil), "GET", "/v1/terminals/POS1/summary", nil); r.Status != http.StatusNotFound {
		t.Errorf("another merchant's summary of POS1 = %d %s; want 404", r.Status, r.Body)
	}
	for _, q := range []string{"from=" + url.QueryEscape(end.Format(time.RFC3339)) + "&to=" + url.QueryEscape(start.Format(time.RFC3339)),
		"from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", "to=noon"} {
		if r := env.Signed(t, k, "GET", "/v1/terminals/POS1/summary?"+q, nil); r.Status != http.StatusBadRequest {
			t.Errorf("summary ?%s = %d %s; want 400", q, r.Status, r.Body)
		}
	}
	checkLedger(t, env)
}

// TestReceipts: the POS reads a paid order's receipt with its fee and
// refunds; the wallet reads its payment's, without the fee or the
// merchant's references; nobody reads another's.
func TestReceipts(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, map[string]any{"name": "Receipt Cafe", "fee_bps": 60})
	p := newPayer(t, env, 10000)
	o := createOrder(t, env, k, "RC-1", 4200, map[string]any{"description": "3 teas"})
	r := p.pay(t, env, o.QRPayload, "pay-RC-1")
	var mv wallet.Movement
	r.JSON(t, &mv)
	env.Refund(t, k, o.ID, 1200)

	r = env.Signed(t, k, "GET", "/v1/orders/"+o.ID+"/receipt", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("receipt = %d %s", r.Status, r.Body)
	}
	var rc merchant.Receipt
	r.JSON(t, &rc)
	var paid merchant.Order
	env.Signed(t, k, "GET", "/v1/orders/"+o.ID, nil).JSON(t, &paid)
	if rc.OrderID != o.ID || rc.MerchantOrderNo != "RC-1" || rc.MerchantName != "Receipt Cafe" || rc.TerminalID != "POS1" ||
		rc.Description != "3 teas" || rc.Amount != 4200 || rc.Currency != "CNY" || rc.Fee == nil || *rc.Fee != paid.Fee ||
		rc.Funding != "balance" || rc.Way != "dynamic_qr" || rc.PaymentID != mv.ID || rc.Card != p.card.Masked ||
		rc.Status != "partially_refunded" || rc.RefundedAmount != 1200 || rc.PaidAt.IsZero() {
		t.Errorf("merchant receipt = %+v", rc)
	}
	if len(rc.Refunds) != 1 || rc.Refunds[0].Amount != 1200 || rc.Refunds[0].RefundNo == "" {
		t.Errorf("merchant receipt refunds = %+v; want one of 1200 with its number", rc.Refunds)
	}

	r = env.Do(t, "GET", "/v1/wallet/payments/"+mv.ID+"/receipt", nil, p.Auth()...)
	if r.Status != http.StatusOK {
		t.Fatalf("wallet receipt = %d %s", r.Status, r.Body)
	}
	var raw map[string]any
	r.JSON(t, &raw)
	if _, ok := raw["fee"]; ok {
		t.Errorf("the wallet's receipt shows the merchant's fee: %s", r.Body)
	}
	var wr merchant.Receipt
	r.JSON(t, &wr)
	if wr.OrderID != o.ID || wr.MerchantName != "Receipt Cafe" || wr.Amount != 4200 || wr.Funding != "balance" ||
		wr.PaymentID != mv.ID || len(wr.Refunds) != 1 || wr.Refunds[0].Amount != 1200 || wr.Refunds[0].RefundNo != "" {
		t.Errorf("wallet receipt = %+v", wr)
	}

	// Nobody else's: another wallet, another merchant, a movement that is
	// not a payment, an order not paid.
	other := newPayer(t, env, 0)
	if r := env.Do(t, "GET", "/v1/wallet/payments/"+mv.ID+"/receipt", nil, other.Auth()...); r.Status != http.StatusNotFound {
		t.Errorf("another wallet's receipt = %d %s; want 404", r.Status, r.Body)
	}
	if r := env.Signed(t, env.NewMerchant(t, nil), "GET", "/v1/orders/"+o.ID+"/receipt", nil); r.Status != http.StatusNotFound {
		t.Errorf("another merchant's receipt = %d %s; want 404", r.Status, r.Body)
	}
	top := topUp(t, env, p.customer, p.card.ID, 100)
	if r := env.Do(t, "GET", "/v1/wallet/payments/"+top.ID+"/receipt", nil, p.Auth()...); r.Status != http.StatusNotFound {
		t.Errorf("a top-up's receipt = %d %s; want 404", r.Status, r.Body)
	}
	// A static QR's payment has a receipt too, on both sides.
	var m merchant.Merchant
	env.Signed(t, k, "GET", "/v1/merchant", nil).JSON(t, &m)
	r = env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": m.StaticQRPayload, "card_id": p.card.ID, "amount": 800}, p.Idem("static")...)
	if r.Status != http.StatusCreated {
		t.Fatalf("static pay = %d %s", r.Status, r.Body)
	}
	var smv wallet.Movement
	r.JSON(t, &smv)
	var src, swr merchant.Receipt
	env.Signed(t, k, "GET", "/v1/orders/"+smv.OrderID+"/receipt", nil).JSON(t, &src)
	env.Do(t, "GET", "/v1/wallet/payments/"+smv.ID+"/receipt", nil, p.Auth()...).JSON(t, &swr)
	if src.Way != "static_qr" || src.Amount != 800 || src.PaymentID != smv.ID || swr.Way != "static_qr" || swr.Amount != 800 || swr.Fee != nil {
		t.Errorf("static receipts: merchant %+v, wallet %+v", src, swr)
	}
	open := createOrder(t, env, k, "RC-2", 100)
	if r := env.Signed(t, k, "GET", "/v1/orders/"+open.ID+"/receipt", nil); r.Status != http.StatusConflict {
		t.Errorf("an unpaid order's receipt = %d %s; want 409", r.Status, r.Body)
	}
}
