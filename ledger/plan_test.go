package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/testenv"
)

// A batch's statements take arrays of a different length nearly every
// time: each must run its generic plan (never planned anew per batch), and
// that plan must reach rows through an index, whatever the table's size
// when the plan was made.
func TestBatchStatementsRunGenericPlans(t *testing.T) {
	// The tables are nearly empty, as in a new database: a plan that scans
	// them looks cheapest now and would be kept as they grow.
	pool := testenv.OneConnection(t)
	ctx := context.Background()
	l := ledger.New(pool, ledger.Options{Committers: 1})
	defer l.Close()
	clearing, err := ledger.CreateAccount(ctx, pool, "issuer:plan", ledger.Clearing, "CNY")
	if err != nil {
		t.Fatal(err)
	}
	shop, err := ledger.CreateAccount(ctx, pool, "merchant:plan", ledger.Merchant, "CNY")
	if err != nil {
		t.Fatal(err)
	}
	merchantID := uuid.New()
	if _, err := pool.Exec(ctx, `INSERT INTO merchants (id, code, name, city, mcc, country, currency, fee_bps, account_id, payout_account_id)
		VALUES ($1, 'MPLAN', 'Plan', 'Shanghai', '5814', 'CN', 'CNY', 0, $2, $2)`, merchantID, shop.ID); err != nil {
		t.Fatal(err)
	}
	var wallets []ledger.Account
	for i := range 3 {
		a, err := ledger.CreateAccount(ctx, pool, fmt.Sprintf("wallet:plan%d", i), ledger.Wallet, "CNY")
		if err != nil {
			t.Fatal(err)
		}
		wallets = append(wallets, a)
	}
	for i := range 12 {
		// Top-ups of one to three wallets (arrays of 2 to 4 accounts), then
		// a payment of an order.
		n := i%3 + 1
		postings := []ledger.Posting{{AccountID: clearing.ID, Amount: -int64(10 * n)}}
		for _, w := range wallets[:n] {
			postings = append(postings, ledger.Posting{AccountID: w.ID, Amount: 10})
		}
		if _, err := l.Post(ctx, ledger.Transfer{Kind: "test", Currency: "CNY", Scope: "plan", Key: uuid.NewString(),
			Postings: postings}); err != nil {
			t.Fatal(err)
		}
		orderID := uuid.New()
		if _, err := pool.Exec(ctx, `INSERT INTO orders (id, merchant_id, merchant_order_no, ref, amount, currency, expires_at)
			VALUES ($1, $2, $3, $3, 10, 'CNY', now() + interval '1 hour')`, orderID, merchantID, fmt.Sprint("plan-", i)); err != nil {
			t.Fatal(err)
		}
		pay := ledger.Transfer{Kind: "payment", Currency: "CNY", Scope: "plan", Key: uuid.NewString(),
			Postings: []ledger.Posting{{AccountID: wallets[0].ID, Amount: -10}, {AccountID: shop.ID, Amount: 10}},
			Links:    ledger.Links{MerchantID: merchantID, OrderID: orderID, MCC: "5814"},
			Order: &ledger.OrderChange{Op: ledger.OrderPay, OrderID: orderID, MerchantID: merchantID, Status: "paid",
				Now: time.Now(), WalletAccountID: wallets[0].ID, Card: "**** 1111",
				Event: ledger.Event{ID: uuid.New(), Type: "order.paid", CreatedAt: time.Now(), Payload: []byte(`{}`)}}}
		if _, err := l.Post(ctx, pay); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range []struct{ fragment, args string }{
		{"FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE", `'{1,2,3}'`},
		{"UPDATE accounts SET balance", `'{1,2,3}', '{0,0,0}'`},
		{"INSERT INTO postings", `'{}', '{}', '{}', '{}', '{}'`},
		{"FROM orders WHERE id = ANY($1) ORDER BY id FOR UPDATE", fmt.Sprintf(`'{%s}'`, uuid.New())},
		{"UPDATE orders o SET status", fmt.Sprintf(`'{%s}', '{paid}', '{0}', '{0}', '{1}', '{NULL}', '{0}', '{NULL}', '{0}', '{NULL}', '{NULL}'`, uuid.New())},
	} {
		generic, custom, plan := testenv.PlanCache(t, pool, st.fragment, st.args)
		if custom > 0 || generic == 0 {
			t.Errorf("%q: %d custom plans, %d generic; want generic plans only", st.fragment, custom, generic)
		}
		if strings.Contains(plan, "Seq Scan") {
			t.Errorf("%q scans a table:\n%s", st.fragment, plan)
		}
	}
}
