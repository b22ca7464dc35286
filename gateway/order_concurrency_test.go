package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/merchant"
)

// Orders created at the same moment are stored together; each still gets
// its own answer: a new number a new order, the same order sent again the
// first one, another order under a used number 409 — and a retry whose key
// the first request already used, the first answer.
func TestConcurrentOrderCreation(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t)
	k := env.NewMerchant(t, nil)

	const distinct, same, other = 24, 12, 12
	type result struct {
		status int
		id     string
		code   string
	}
	results := make(chan result, distinct+same+other)
	send := func(body map[string]any, key string) {
		r := env.Signed(t, k, "POST", "/v1/orders", body, "Idempotency-Key", key)
		var o merchant.Order
		if r.Status == http.StatusCreated {
			r.JSON(t, &o)
		}
		results <- result{r.Status, o.ID, r.Code()}
	}
	var wg sync.WaitGroup
	for i := range distinct {
		wg.Go(func() {
			send(map[string]any{"merchant_order_no": fmt.Sprint("d-", i), "amount": 100 + i}, fmt.Sprint("d-", i))
		})
	}
	for i := range same {
		wg.Go(func() {
			send(map[string]any{"merchant_order_no": "shared", "amount": 500, "description": "tea"}, fmt.Sprint("s-", i))
		})
	}
	for i := range other {
		wg.Go(func() {
			send(map[string]any{"merchant_order_no": "shared", "amount": 501 + i, "description": "tea"}, fmt.Sprint("o-", i))
		})
	}
	wg.Wait()
	close(results)

	ids := map[string]int{}
	conflicts := 0
	for r := range results {
		switch {
		case r.status == http.StatusCreated:
			ids[r.id]++
		case r.status == http.StatusConflict && r.code == "conflict":
			conflicts++
		default:
			t.Errorf("create = %d %s", r.status, r.code)
		}
	}
	// "shared" went to whichever request stored it first: the same body
	// then gets that order back, every other body 409.
	var stored merchant.Order
	env.Signed(t, k, "GET", "/v1/orders/by-number/shared", nil).JSON(t, &stored)
	wantShared := same
	if stored.Amount != 500 {
		wantShared = 1 // one of the other bodies won; the rest and all same-body requests conflict
	}
	if ids[stored.ID] != wantShared {
		t.Errorf("order %s (amount %d) answered %d times; want %d", stored.ID, stored.Amount, ids[stored.ID], wantShared)
	}
	if len(ids) != distinct+1 {
		t.Errorf("%d distinct orders answered; want %d", len(ids), distinct+1)
	}
	if want := same + other - wantShared; conflicts != want {
		t.Errorf("%d conflicts; want %d", conflicts, want)
	}
	var rows int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM orders o
		WHERE o.merchant_order_no = 'shared' OR o.merchant_order_no LIKE 'd-%'`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != distinct+1 {
		t.Errorf("%d orders stored; want %d", rows, distinct+1)
	}
}
