package gateway_test

import (
	"net/http"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// TestTwoReplicas runs two gateways side by side on one database and one
// Redis, as production does, and sends the same races to both: one QR paid
// by wallets through either replica, and one idempotency key sent to both.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	a := gatewaytest.Start(t)
	b := a.Replica(t)
	k := a.NewMerchant(t, nil)
	order := a.CreateOrder(t, k, 700)
	payers := make([]gatewaytest.Payer, 10)
	for i := range payers {
		payers[i] = a.NewPayer(t, 1000)
	}
	pay := func(env *gatewaytest.Env, from int) []gatewaytest.Response {
		return concurrently(t, env, 5, "POST", "/v1/wallet/payments",
			func(i int) any {
				return map[string]any{"qr_payload": order.QRPayload, "card_id": payers[from+i].CardID}
			},
			func(i int) []string { return append(payers[from+i].Auth(), "Idempotency-Key", "race") })
	}
	fromB := make(chan []gatewaytest.Response, 1)
	go func() { fromB <- pay(b, 5) }()
	all := append(pay(a, 0), <-fromB...)
	paid := 0
	for _, r := range all {
		switch {
		case r.Status == http.StatusCreated:
			paid++
		case r.Code() != "order_already_paid":
			t.Errorf("pay = %d %s", r.Status, r.Body)
		}
	}
	if paid != 1 {
		t.Errorf("payments across two replicas = %d; want 1", paid)
	}

	// One key sent to both replicas at once: one top-up.
	p := payers[0]
	body := map[string]any{"card_id": p.CardID, "amount": 300}
	res := make(chan gatewaytest.Response, 10)
	for i := range 10 {
		env := a
		if i%2 == 1 {
			env = b
		}
		go func() {
			res <- env.Do(t, "POST", "/v1/wallet/topups", body, append(p.Auth(), "Idempotency-Key", "both")...)
		}()
	}
	for range 10 {
		if r := <-res; r.Status != http.StatusCreated && r.Code() != "idempotency_in_progress" {
			t.Errorf("top-up = %d %s", r.Status, r.Body)
		}
	}
	if n := countTransfers(t, a, "topup"); n != 11 { // ten fundings and this one
		t.Errorf("top-ups = %d; want 11", n)
	}
	checkLedger(t, a)
}
