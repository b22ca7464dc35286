package settlement_test

import (
	"context"
	"strings"
	"testing"
)

// TestDaysSettleInOrder: a merchant's days settle one after another. A day
// cannot be settled while the day before it is not (its period would reach
// back over that day and pay its payments out twice), nor after a later day
// was; settled in order, each payment is paid out once.
func TestDaysSettleInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "2026-04-01")
	ctx := context.Background()
	if _, err := f.svc.Run(ctx, "2026-04-01", "", false); err != nil {
		t.Fatal(err)
	}
	f.pay(t, 1000, day("2026-04-02", 10, 0, 0))
	f.pay(t, 2000, day("2026-04-03", 10, 0, 0))
	out, err := f.svc.Run(ctx, "2026-04-03", "", false)
	if err == nil || len(out) != 1 || out[0].Result != "failed" || !strings.Contains(out[0].Error, "2026-04-02") {
		t.Fatalf("settling 04-03 before 04-02 = %+v, %v; want a refusal naming 04-02", out, err)
	}
	if _, err := f.svc.Get(ctx, f.m.MerchantID, "2026-04-03"); err == nil {
		t.Errorf("the refused day was recorded")
	}
	for _, d := range []string{"2026-04-02", "2026-04-03"} {
		if _, err := f.svc.Run(ctx, d, "", false); err != nil {
			t.Fatalf("settle %s: %v", d, err)
		}
	}
	if out, err := f.svc.Run(ctx, "2026-04-01", "", false); err != nil || out[0].Result != "already_settled" {
		t.Errorf("rerun of the first day = %+v, %v; want already_settled", out, err)
	}
	d1, _ := f.svc.Get(ctx, f.m.MerchantID, "2026-04-02")
	d2, _ := f.svc.Get(ctx, f.m.MerchantID, "2026-04-03")
	if d1.PaymentsAmount != 1000 || d2.PaymentsAmount != 2000 || !d2.PeriodStart.Equal(d1.PeriodEnd) {
		t.Errorf("days = %d over [%v, %v) and %d over [%v, %v); want 1000 then 2000, back to back",
			d1.PaymentsAmount, d1.PeriodStart, d1.PeriodEnd, d2.PaymentsAmount, d2.PeriodStart, d2.PeriodEnd)
	}
	var payout int64
	if err := f.env.Pool.QueryRow(ctx, `SELECT a.balance FROM accounts a JOIN merchants m ON m.payout_account_id = a.id
		WHERE m.id = $1`, f.m.MerchantID).Scan(&payout); err != nil {
		t.Fatal(err)
	}
	if payout != d1.Net+d2.Net {
		t.Errorf("payout account holds %d; want the two nets, %d", payout, d1.Net+d2.Net)
	}
	// A gap is refused too: 04-05 while 04-04 is not settled.
	if _, err := f.svc.Run(ctx, "2026-04-05", "", false); err == nil {
		t.Errorf("settled 04-05 over an unsettled 04-04")
	}
}
