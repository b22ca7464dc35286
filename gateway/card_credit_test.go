package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
)

// creditOutcomes counts the recorded outcomes of pushes to cards.
func creditOutcomes(t *testing.T, env *gatewaytest.Env) map[string]int {
	t.Helper()
	rows, err := env.Pool.Query(context.Background(), `SELECT outcome, count(*) FROM card_credits GROUP BY outcome`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var o string
		var n int
		if err := rows.Scan(&o, &n); err != nil {
			t.Fatal(err)
		}
		out[o] = n
	}
	return out
}

// TestRefundToCardIsPushedAgain: the card part of a refund of a
// card-funded payment stands in the ledger whatever the issuer answers;
// a push the issuer could not take, or whose answer was lost, is asked
// again under the refund's reference by the resolver, on any replica,
// until the issuer answers: each card is credited once, a declined push is
// recorded and not asked again, and one that went through at once is not
// asked again either.
func TestRefundToCardIsPushedAgain(t *testing.T) {
	t.Parallel()
	issuer := newLedgerIssuer(map[int64][]string{
		700: {"unavailable", "unavailable"},
		600: {"lost-after"},
		500: {"decline"},
	})
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) { o.Issuer = issuer })
	replica := env.Replica(t, func(o *gatewaytest.Options) { o.Issuer = issuer })
	p := env.NewPayer(t, 0)
	m := env.NewMerchant(t, map[string]any{"name": "Refund Row"})
	for i, amount := range []int64{700, 600, 500, 400} {
		o := env.CreateOrder(t, m, amount)
		if r := env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": o.QRPayload, "card_id": p.CardID,
			"funding": "card"}, p.Idem(string(rune('a'+i)))...); r.Status != 201 {
			t.Fatalf("card-funded payment of %d = %d %s", amount, r.Status, r.Body)
		}
		env.Refund(t, m, o.ID, amount) // stands whatever the issuer answers
	}
	if got := creditOutcomes(t, env); got["credited"] != 1 || got["declined"] != 1 {
		t.Errorf("outcomes after the refunds = %v; want the 400 credited and the 500 declined", got)
	}
	ctx := context.Background()
	if res, err := env.Wallet.ResolveCardCredits(ctx, time.Hour); err != nil || res.Credited+res.Declined+res.Pending != 0 {
		t.Fatalf("resolving pushes older than an hour = %+v, %v; want nothing", res, err)
	}
	// The 700: unavailable once more, then credited; the 600 was credited
	// with its answer lost: asked again, it answers so.
	res, err := env.Wallet.ResolveCardCredits(ctx, 0)
	if err != nil || res.Pending != 1 || res.Credited != 1 {
		t.Errorf("first round = %+v, %v; want the 600 credited and the 700 still pending", res, err)
	}
	res, err = replica.Wallet.ResolveCardCredits(ctx, 0)
	if err != nil || res.Credited != 1 || res.Pending != 0 {
		t.Errorf("second round, on the replica = %+v, %v; want the 700 credited", res, err)
	}
	if res, err := env.Wallet.ResolveCardCredits(ctx, 0); err != nil || res.Credited+res.Declined+res.Pending != 0 {
		t.Errorf("third round = %+v, %v; want nothing left", res, err)
	}
	credits, _ := issuer.made()
	for _, amount := range []int64{700, 600, 400} {
		if credits[amount] != 1 {
			t.Errorf("the card got %d credits of %d; want 1 (all: %v)", credits[amount], amount, credits)
		}
	}
	if credits[500] != 0 {
		t.Errorf("the declined 500 was credited %d times", credits[500])
	}
	if got := creditOutcomes(t, env); got["credited"] != 3 || got["declined"] != 1 {
		t.Errorf("outcomes = %v; want 3 credited, 1 declined", got)
	}
	checkLedger(t, env)
}
