package sdk_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/sdk"
)

// TestShiftThroughTheSDK closes a terminal's shift with the SDK: the order
// list's totals, the shift's summary and a receipt, for a terminal id that
// needs escaping in a path.
func TestShiftThroughTheSDK(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	key := env.NewMerchant(t, map[string]any{"name": "SDK Noodles", "fee_bps": 100})
	client := sdk.NewClient(env.URL, key.KeyID, key.Secret)
	ctx := context.Background()
	payer := env.NewPayer(t, 100000)
	const terminal = "Till 2/B"
	start := time.Now().Add(-time.Minute)

	var paid, open *sdk.Order
	for i, amount := range []int64{5000, 3000} {
		o, err := client.CreateOrder(ctx, &sdk.OrderParams{MerchantOrderNo: "SH-" + string(rune('A'+i)), Amount: amount,
			Description: "noodles", TerminalID: terminal})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			env.Pay(t, payer, o.QRPayload)
			paid = o
		} else {
			open = o
		}
	}
	if _, err := client.CreateRefund(ctx, paid.ID, &sdk.RefundParams{RefundNo: "SH-A-1", Amount: 1000}); err != nil {
		t.Fatal(err)
	}

	page, err := client.ListOrdersPage(ctx, &sdk.ListOrdersParams{TerminalID: terminal, From: start, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || !page.HasMore || page.Totals.Count != 2 || page.Totals.Amount != 8000 || len(page.Totals.ByStatus) != 6 {
		t.Errorf("ListOrdersPage = %d orders, more %v, totals %+v; want 1 of 2 orders of 8000", len(page.Data), page.HasMore, page.Totals)
	}
	for _, st := range page.Totals.ByStatus {
		if st.Status == sdk.OrderPartiallyRefunded && (st.Count != 1 || st.Amount != 5000 || st.RefundedAmount != 1000) {
			t.Errorf("partially refunded = %+v; want the paid order, 1000 refunded", st)
		}
	}
	n := 0
	for o, err := range client.ListOrders(ctx, &sdk.ListOrdersParams{TerminalID: terminal, Status: sdk.OrderCreated}) {
		if err != nil {
			t.Fatal(err)
		}
		if o.TerminalID != terminal {
			t.Errorf("listed %+v; want only %s's", o, terminal)
		}
		n++
	}
	if n != 1 {
		t.Errorf("open orders of %s = %d; want 1", terminal, n)
	}

	sum, err := client.ShiftSummary(ctx, terminal, start, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// 100 bps of 5000 is 50; the refund of a fifth gives back 10 of it.
	want := sdk.ShiftTotals{Payments: 1, Gross: 5000, Refunds: 1, Refunded: 1000, FeesCharged: 50, FeesRefunded: 10, Fees: 40, Net: 3960}
	if sum.ShiftTotals != want || sum.TerminalID != terminal || len(sum.Ways) != 3 || sum.Ways[0].Way != sdk.WayDynamicQR || sum.Ways[0].ShiftTotals != want {
		t.Errorf("ShiftSummary = %+v; want %+v by dynamic QR", sum, want)
	}
	if _, err := client.ShiftSummary(ctx, "no such till", time.Time{}, time.Time{}); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("ShiftSummary(unknown terminal) = %v; want ErrNotFound", err)
	}

	rc, err := client.Receipt(ctx, paid.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rc.MerchantName != "SDK Noodles" || rc.TerminalID != terminal || rc.Amount != 5000 || rc.Fee != 50 || rc.Funding != "balance" ||
		rc.Status != sdk.OrderPartiallyRefunded || len(rc.Refunds) != 1 || rc.Refunds[0].RefundNo != "SH-A-1" {
		t.Errorf("Receipt = %+v", rc)
	}
	if _, err := client.Receipt(ctx, open.ID); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("Receipt(an unpaid order) = %v; want ErrConflict", err)
	}
}
