package wallet

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/testenv"
)

// Every payment reads its wallet and card through one loader query, with as
// many keys as payments arrived together. Its prepared statement must
// settle on the generic plan whatever the number of keys (planning each
// call anew for its own count cost more than running it), and that plan
// must not depend on the tables' size when it was made.
func TestWalletCardQueryKeepsItsGenericPlan(t *testing.T) {
	pool := testenv.OneConnection(t)
	s := &Service{pool: postgres.NewDB(pool, postgres.DBOptions{})}
	// A thousand wallets of one card each, as in the load runs.
	seed := []string{
		`INSERT INTO accounts (owner, kind, currency) SELECT 'wallet:' || g, 'wallet', 'CNY' FROM generate_series(1, 1000) g`,
		`INSERT INTO customers (id, phone, password_hash, account_id, currency)
			SELECT gen_random_uuid(), '+86' || id, 'x', id, 'CNY' FROM accounts`,
		`INSERT INTO cards (id, customer_id, token, brand, last4, exp_month, exp_year, holder_name, issuer_ref,
				limit_per_txn, limit_daily_amount, limit_daily_count)
			SELECT gen_random_uuid(), id, 'tok', 'visa', '1111', 12, 2030, 'A', 'ref', 1, 1, 1 FROM customers`,
		`ANALYZE accounts, customers, cards`,
	}
	testenv.LoaderPlan(t, pool, "AS q(wallet_id, card_id, device_id)",
		fmt.Sprintf(`'{%s}', '{%s}', '{""}'`, uuid.New(), uuid.New()), seed, func(n int) {
			keys := make([]walletCard, n)
			for i := range keys {
				keys[i] = walletCard{wallet: uuid.NewString(), card: uuid.NewString(), device: []string{"", "phone"}[i%2]}
			}
			if _, err := s.loadWalletCards(context.Background(), keys); err != nil {
				t.Fatal(err)
			}
		})
}

// TestSessionQueryKeepsItsGenericPlan: the session lookup of every request
// that misses the in-process cache runs, shared by the requests that miss
// together, with a generic plan made once per connection that finds each
// token hash by its index on any size of table.
func TestSessionQueryKeepsItsGenericPlan(t *testing.T) {
	pool := testenv.OneConnection(t)
	s := &Service{pool: postgres.NewDB(pool, postgres.DBOptions{})}
	seed := []string{
		`INSERT INTO accounts (owner, kind, currency) SELECT 'wallet:' || g, 'wallet', 'CNY' FROM generate_series(1, 1000) g`,
		`INSERT INTO customers (id, phone, password_hash, account_id, currency)
			SELECT gen_random_uuid(), '+86' || id, 'x', id, 'CNY' FROM accounts`,
		`INSERT INTO sessions (id, token_hash, customer_id, expires_at)
			SELECT gen_random_uuid(), sha256(id::text::bytea), id, now() + interval '1 day' FROM customers`,
		`ANALYZE accounts, customers, sessions`,
	}
	testenv.LoaderPlan(t, pool, "AS k(token_hash)", `'{"\\x00"}'`, seed, func(n int) {
		hashes := make([]string, n)
		for i := range hashes {
			hashes[i] = string(hashToken(uuid.NewString()))
		}
		if _, err := s.loadSessions(context.Background(), hashes); err != nil {
			t.Fatal(err)
		}
	})
}
