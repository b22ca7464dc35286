package payment_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/qrpay/qrpay/payment"
	"github.com/qrpay/qrpay/wallet"
)

// TestBillsShowTheFunding: the history lists a card-funded payment (which
// never touched the balance), a split one and a refund to the card, each
// with its funding and card part; the analysis counts all of it as
// spending; the month's statement accounts for the balance alone and adds
// up.
func TestBillsShowTheFunding(t *testing.T) {
	t.Parallel()
	f := startFunding(t)
	ctx := context.Background()
	p := f.NewPayer(t, 300)
	byCard := f.CreateOrder(t, f.key, 1500)
	cardPay, err := f.pay(t, p, byCard.ID, wallet.FundingCard)
	if err != nil {
		t.Fatal(err)
	}
	split := f.CreateOrder(t, f.key, 1000)
	splitPay, err := f.pay(t, p, split.ID, wallet.FundingBalanceThenCard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Payment.Refund(ctx, f.caller, byCard.ID, payment.RefundInput{RefundNo: "B1", Amount: 400}); err != nil {
		t.Fatal(err)
	}

	r := f.Do(t, "GET", "/v1/wallet/movements?limit=10", nil, p.Auth()...)
	if r.Status != http.StatusOK {
		t.Fatalf("history = %d %s", r.Status, r.Body)
	}
	var page wallet.HistoryPage
	r.JSON(t, &page)
	type row struct {
		typ, funding                     string
		amount, cardAmount, balanceAfter int64
	}
	want := []row{
		{"refund", "card", 400, 400, 0},
		{"payment", "balance_then_card", -1000, -700, 0},
		{"payment", "card", -1500, -1500, 300},
		{"topup", "", 300, 0, 300},
	}
	if len(page.Data) != len(want) {
		t.Fatalf("history has %d items: %+v; want %d", len(page.Data), page.Data, len(want))
	}
	for i, w := range want {
		it := page.Data[i]
		if got := (row{it.Type, it.Funding, it.Amount, it.CardAmount, it.BalanceAfter}); got != w {
			t.Errorf("history[%d] = %+v; want %+v", i, got, w)
		}
	}
	if page.Data[1].ID != splitPay.ID || page.Data[2].ID != cardPay.ID {
		t.Errorf("history ids %s, %s; want the split payment %s, then the card payment %s",
			page.Data[1].ID, page.Data[2].ID, splitPay.ID, cardPay.ID)
	}
	// Pages by cursor see the same items.
	var walked []string
	for cursor := ""; ; {
		r := f.Do(t, "GET", "/v1/wallet/movements?limit=1"+cursor, nil, p.Auth()...)
		var pg wallet.HistoryPage
		r.JSON(t, &pg)
		for _, it := range pg.Data {
			walked = append(walked, it.ID)
		}
		if !pg.HasMore {
			break
		}
		cursor = "&starting_after=" + pg.NextCursor
	}
	if len(walked) != len(want) || walked[2] != cardPay.ID {
		t.Errorf("walked %v one by one; want the %d items of the first page", walked, len(want))
	}

	r = f.Do(t, "GET", "/v1/wallet/analysis", nil, p.Auth()...)
	if r.Status != http.StatusOK {
		t.Fatalf("analysis = %d %s", r.Status, r.Body)
	}
	var a wallet.Analysis
	r.JSON(t, &a)
	if s := a.Spending; s.Payments != 2500 || s.PaymentCount != 2 || s.Refunds != 400 || s.RefundCount != 1 || s.Net != 2100 {
		t.Errorf("spending = %+v; want 2500 in 2 payments, 400 in 1 refund, net 2100", s)
	}
	if m := a.Months[len(a.Months)-1]; m.Payments != 2500 || m.PaymentCount != 2 || m.Refunds != 400 || m.RefundCount != 1 {
		t.Errorf("this month's spending = %+v; want 2500 in 2 payments, 400 in 1 refund", m)
	}

	month := f.Clock.Now().UTC().Format("2006-01") // the test wallet keeps UTC
	r = f.Do(t, "GET", "/v1/wallet/statements/"+month, nil, p.Auth()...)
	if r.Status != http.StatusOK {
		t.Fatalf("statement = %d %s", r.Status, r.Body)
	}
	var st wallet.Statement
	r.JSON(t, &st)
	if st.OpeningBalance+st.MoneyIn.Amount-st.MoneyOut.Amount != st.ClosingBalance || st.ClosingBalance != 0 ||
		st.MoneyOut.Amount != 300 || st.MoneyIn.Amount != 300 {
		t.Errorf("statement = in %d, out %d, %d → %d; want the balance's 300 in and 300 out, closing 0",
			st.MoneyIn.Amount, st.MoneyOut.Amount, st.OpeningBalance, st.ClosingBalance)
	}
	f.checkLedger(t)
}
