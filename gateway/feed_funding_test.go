package gateway_test

import (
	"net/http"
	"testing"

	"github.com/qrpay/qrpay/wallet"
)

// TestFeedShowsCardFundedMovements: the wallet's notification feed shows
// every payment and refund of the wallet whatever funded it: a payment the
// card paid entirely (nothing moved on the balance), one the balance and
// the card shared, and their refunds, each with its whole amount.
func TestFeedShowsCardFundedMovements(t *testing.T) {
	t.Parallel()
	env, _ := startWithIssuer(t)
	p := env.NewPayer(t, 500)
	m := env.NewMerchant(t, map[string]any{"name": "Feed Funding Cafe"})
	pay := func(amount int64, funding, key string) string {
		t.Helper()
		o := env.CreateOrder(t, m, amount)
		r := env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": o.QRPayload, "card_id": p.CardID,
			"funding": funding}, p.Idem(key)...)
		if r.Status != http.StatusCreated {
			t.Fatalf("%s payment of %d = %d %s", funding, amount, r.Status, r.Body)
		}
		return o.ID
	}
	byCard := pay(1200, "card", "feed-card")
	split := pay(800, "balance_then_card", "feed-split")
	env.Refund(t, m, byCard, 1200)
	env.Refund(t, m, split, 800)

	var feed wallet.NotificationPage
	if r := env.Do(t, "GET", "/v1/wallet/notifications?limit=50", nil, p.Auth()...); r.Status != http.StatusOK {
		t.Fatalf("notifications = %d %s", r.Status, r.Body)
	} else {
		r.JSON(t, &feed)
	}
	type entry struct {
		typ, order string
		amount     int64
	}
	got := map[entry]int{}
	for _, n := range feed.Data {
		if n.Type != "payment" && n.Type != "refund" {
			continue
		}
		var a int64
		if n.Amount != nil {
			a = *n.Amount
		}
		got[entry{n.Type, n.OrderID, a}]++
	}
	for _, want := range []entry{{"payment", byCard, -1200}, {"payment", split, -800}, {"refund", byCard, 1200}, {"refund", split, 800}} {
		if got[want] != 1 {
			t.Errorf("the feed holds %d entries %+v; want 1 (feed: %+v)", got[want], want, got)
		}
	}
	if len(got) != 4 {
		t.Errorf("the feed's payments and refunds = %+v; want exactly the four", got)
	}
	checkLedger(t, env)
}
