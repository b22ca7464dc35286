package payment_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/payment"
	"github.com/qrpay/qrpay/wallet"
)

// TestOrderPaidOnceAndRefundedWithinIt drives the payment service itself,
// against real PostgreSQL and Redis: of many wallets paying one order at
// once exactly one pays; concurrent refunds never exceed the payment; and
// the ledger balances throughout.
func TestOrderPaidOnceAndRefundedWithinIt(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	ctx := context.Background()
	k := env.NewMerchant(t, nil)
	o := env.CreateOrder(t, k, 1000)
	const payers = 8
	var wg sync.WaitGroup
	results := make([]error, payers)
	for i := range payers {
		p := env.NewPayer(t, 2000)
		pr, err := env.Wallet.Authenticate(ctx, p.Token)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = env.Payment.Pay(ctx, pr, payment.PayInput{OrderID: o.ID, CardID: p.CardID},
				wallet.Request{Key: "pay-once", Fingerprint: []byte(p.CardID)})
		}()
	}
	wg.Wait()
	paid := 0
	for _, err := range results {
		switch {
		case err == nil:
			paid++
		case !errs.Is(err, errs.OrderAlreadyPaid):
			t.Errorf("pay: %v; want success or order_already_paid", err)
		}
	}
	if paid != 1 {
		t.Fatalf("%d payments of one order succeeded; want exactly 1", paid)
	}

	caller, _, err := env.Merchant.KeySecret(ctx, k.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	refunded := make([]int64, 6)
	for i := range refunded {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := env.Payment.Refund(ctx, caller, o.ID, payment.RefundInput{RefundNo: fmt.Sprint("R", i), Amount: 300})
			if err == nil {
				refunded[i] = r.Amount
			} else if !errs.Is(err, errs.RefundExceedsPayment) {
				t.Errorf("refund %d: %v; want success or refund_exceeds_payment", i, err)
			}
		}()
	}
	wg.Wait()
	var sum int64
	for _, a := range refunded {
		sum += a
	}
	if sum != 900 {
		t.Errorf("refunded %d of a 1000 payment in refunds of 300; want 900", sum)
	}
	got, err := env.Merchant.GetOrder(ctx, caller, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RefundedAmount != sum {
		t.Errorf("order refunded_amount = %d; the refunds that succeeded sum to %d", got.RefundedAmount, sum)
	}
	report, err := ledger.Check(ctx, env.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if !report.OK() {
		t.Errorf("ledger check: %+v", report)
	}
}
