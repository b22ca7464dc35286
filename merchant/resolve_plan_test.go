package merchant

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/testenv"
)

// The orders of payments resolved together are read with one loader query:
// its prepared statement must keep its generic plan whatever the number of
// refs, and that plan must not depend on the table's size when it was made
// (postgres.NewLoader).
func TestOrdersByRefQueryKeepsItsGenericPlan(t *testing.T) {
	pool := testenv.OneConnection(t)
	s := &Service{pool: postgres.NewDB(pool, postgres.DBOptions{})}
	// Some thousands of orders, as in the load runs.
	seed := []string{
		`INSERT INTO accounts (owner, kind, currency) VALUES ('merchant:m', 'merchant', 'CNY')`,
		`INSERT INTO merchants (id, code, name, city, mcc, country, currency, fee_bps, account_id, payout_account_id)
			SELECT gen_random_uuid(), 'm', 'M', 'Shanghai', '5812', 'CN', 'CNY', 0, id, id FROM accounts`,
		`INSERT INTO orders (id, merchant_id, merchant_order_no, ref, amount, currency, expires_at)
			SELECT gen_random_uuid(), m.id, 'no' || g, 'ref' || g, 100, 'CNY', now() FROM merchants m, generate_series(1, 20000) g`,
		`ANALYZE orders`,
	}
	testenv.LoaderPlan(t, pool, "o.merchant_order_no, o.ref", `'{ref1}'`, seed, func(n int) {
		refs := make([]string, n)
		for i := range refs {
			refs[i] = uuid.NewString()
		}
		if _, err := s.loadOrdersByRef(context.Background(), refs); err != nil {
			t.Fatal(err)
		}
	})
}
