package wallet

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/testenv"
)

// Every payment reads its wallet and card through one loader query, with as
// many keys as payments arrived together. Its prepared statement must
// settle on the generic plan whatever the number of keys: planning each
// call anew for its own count cost more than running it.
func TestWalletCardQueryKeepsItsGenericPlan(t *testing.T) {
	pool := testenv.OneConnection(t)
	s := &Service{pool: postgres.NewDB(pool, postgres.DBOptions{})}
	load := func() {
		t.Helper()
		for n := range 12 {
			keys := make([]walletCard, n%4+1)
			for i := range keys {
				keys[i] = walletCard{wallet: uuid.NewString(), card: uuid.NewString(), device: []string{"", "phone"}[i%2]}
			}
			if _, err := s.loadWalletCards(context.Background(), keys); err != nil {
				t.Fatal(err)
			}
		}
	}
	const fragment = "AS q(wallet_id, card_id, device_id)"
	args := fmt.Sprintf(`'{%s}', '{%s}', '{""}'`, uuid.New(), uuid.New())
	// A plan made while the tables are empty (a new database) is kept as
	// they fill: it must not scan them.
	load()
	if _, _, plan := testenv.PlanCache(t, pool, fragment, args); strings.Contains(plan, "Seq Scan") {
		t.Errorf("the wallet and card query, planned on empty tables, scans one:\n%s", plan)
	}
	// With the statistics of a thousand wallets of one card each, as in the
	// load runs, the planner weighs plans anew.
	for _, q := range []string{
		`INSERT INTO accounts (owner, kind, currency) SELECT 'wallet:' || g, 'wallet', 'CNY' FROM generate_series(1, 1000) g`,
		`INSERT INTO customers (id, phone, password_hash, account_id, currency)
			SELECT gen_random_uuid(), '+86' || id, 'x', id, 'CNY' FROM accounts`,
		`INSERT INTO cards (id, customer_id, token, brand, last4, exp_month, exp_year, holder_name, issuer_ref,
				limit_per_txn, limit_daily_amount, limit_daily_count)
			SELECT gen_random_uuid(), id, 'tok', 'visa', '1111', 12, 2030, 'A', 'ref', 1, 1, 1 FROM customers`,
		`ANALYZE accounts, customers, cards`,
	} {
		if _, err := pool.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	load()
	generic, custom, plan := testenv.PlanCache(t, pool, fragment, args)
	if generic == 0 {
		t.Errorf("the wallet and card query was planned for every call (%d custom plans, %d generic)", custom, generic)
	}
	if strings.Contains(plan, "Seq Scan") {
		t.Errorf("the wallet and card query scans a table, whose cost grows with it, not with the keys:\n%s", plan)
	}
}
