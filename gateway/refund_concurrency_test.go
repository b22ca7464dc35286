package gateway_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/merchant"
)

// TestConcurrentRefundsOfOneOrder: refunds of one order arriving at once
// are decided one after another, so none gets a transient "try again" —
// and no answer a key replays is one the same request would not meet again.
// Every refund that fits succeeds; every one that does not is refused with
// refund_exceeds_payment; each key replays exactly its own answer.
func TestConcurrentRefundsOfOneOrder(t *testing.T) {
	t.Parallel()
	const n, each = 32, 100
	tests := []struct {
		name     string
		paid     int64
		succeed  int
		refunded string
		replicas bool // half the refunds go through a second gateway
	}{
		{name: "all fit", paid: n * each, succeed: n, refunded: merchant.StatusRefunded},
		{name: "some fit", paid: 10*each + 50, succeed: 10, refunded: merchant.StatusPartiallyRefunded},
		{name: "all fit, two replicas", paid: n * each, succeed: n, refunded: merchant.StatusRefunded, replicas: true},
	}
	env := gatewaytest.Start(t)
	replica := env.Replica(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := env.NewMerchant(t, nil)
			p := newPayer(t, env, tt.paid)
			o := createOrder(t, env, k, "refund-race", tt.paid)
			if r := p.pay(t, env, o.QRPayload, "pay-"+o.ID); r.Status != http.StatusCreated {
				t.Fatalf("pay = %d %s", r.Status, r.Body)
			}
			refund := func(i int) gatewaytest.Response {
				via := env
				if tt.replicas && i%2 == 1 {
					via = replica
				}
				return via.Signed(t, k, "POST", "/v1/orders/"+o.ID+"/refunds",
					map[string]any{"refund_no": fmt.Sprint("R", i), "amount": each}, "Idempotency-Key", fmt.Sprint("refund-", i))
			}
			rs := make([]gatewaytest.Response, n)
			var wg sync.WaitGroup
			for i := range rs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rs[i] = refund(i)
				}()
			}
			wg.Wait()
			ok := 0
			for i, r := range rs {
				switch {
				case r.Status == http.StatusCreated:
					ok++
				case r.Status == http.StatusUnprocessableEntity && r.Code() == "refund_exceeds_payment":
				default:
					t.Errorf("refund %d = %d %s; want 201, or 422 refund_exceeds_payment", i, r.Status, r.Body)
				}
			}
			if ok != tt.succeed {
				t.Errorf("%d of %d refunds of %d against %d succeeded; want %d", ok, n, each, tt.paid, tt.succeed)
			}
			var got merchant.Order
			env.Signed(t, k, "GET", "/v1/orders/"+o.ID, nil).JSON(t, &got)
			if got.RefundedAmount != int64(tt.succeed*each) || got.Status != tt.refunded {
				t.Errorf("order refunded %d, status %s; want %d, %s", got.RefundedAmount, got.Status, tt.succeed*each, tt.refunded)
			}
			if b := balance(t, env, p.customer); b != int64(tt.succeed*each) {
				t.Errorf("wallet balance after the refunds = %d; want %d", b, tt.succeed*each)
			}
			checkLedger(t, env)
			for i, first := range rs {
				again := refund(i)
				if again.Status != first.Status || string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
					t.Errorf("replay of refund %d = %d %s (replayed %q); want its first answer %d %s",
						i, again.Status, again.Body, again.Header.Get("Idempotent-Replayed"), first.Status, first.Body)
				}
			}
		})
	}
}
