package merchant

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/testenv"
)

// The orders of payments resolved together are read with one loader query:
// its prepared statement must keep its generic plan whatever the number of
// refs (postgres.NewLoader).
func TestOrdersByRefQueryKeepsItsGenericPlan(t *testing.T) {
	pool := testenv.OneConnection(t)
	s := &Service{pool: postgres.NewDB(pool, postgres.DBOptions{})}
	load := func() {
		t.Helper()
		for n := range 12 {
			refs := make([]string, n%4+1)
			for i := range refs {
				refs[i] = uuid.NewString()
			}
			if _, err := s.loadOrdersByRef(context.Background(), refs); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A plan made while the table is empty (a new database) is kept as it
	// fills: it must not scan it.
	load()
	if _, _, plan := testenv.PlanCache(t, pool, "o.merchant_order_no, o.ref", `'{ref1}'`); strings.Contains(plan, "Seq Scan") {
		t.Errorf("the orders-by-ref query, planned on an empty table, scans it:\n%s", plan)
	}
	// With the statistics of some thousands of orders, as in the load runs,
	// the planner weighs plans anew.
	for _, q := range []string{
		`INSERT INTO accounts (owner, kind, currency) VALUES ('merchant:m', 'merchant', 'CNY')`,
		`INSERT INTO merchants (id, code, name, city, mcc, country, currency, fee_bps, account_id, payout_account_id)
			SELECT gen_random_uuid(), 'm', 'M', 'Shanghai', '5812', 'CN', 'CNY', 0, id, id FROM accounts`,
		`INSERT INTO orders (id, merchant_id, merchant_order_no, ref, amount, currency, expires_at)
			SELECT gen_random_uuid(), m.id, 'no' || g, 'ref' || g, 100, 'CNY', now() FROM merchants m, generate_series(1, 20000) g`,
		`ANALYZE orders`,
	} {
		if _, err := pool.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	load()
	generic, custom, plan := testenv.PlanCache(t, pool, "o.merchant_order_no, o.ref", `'{ref1}'`)
	if generic == 0 {
		t.Errorf("the orders-by-ref query was planned for every call (%d custom plans, %d generic)", custom, generic)
	}
	if strings.Contains(plan, "Seq Scan") {
		t.Errorf("the orders-by-ref query scans a table:\n%s", plan)
	}
}
