package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/testenv"
)

// TestMigrationFillsTransferLinks: transfers written before the typed
// links existed get them from the metadata keys they were written with.
func TestMigrationFillsTransferLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, testenv.EmptySchema(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := postgres.MigrateTo(ctx, pool, 5); err != nil {
		t.Fatal(err)
	}
	wallet, card, merchant, order := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	payment, topup, transfer, refund := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO accounts (owner, kind, currency) VALUES ('w', 'wallet', 'CNY'), ('m', 'merchant', 'CNY')`, nil},
		{`INSERT INTO customers (id, phone, password_hash, account_id, currency) VALUES ($1, '+8613800000000', 'x', 1, 'CNY')`, []any{wallet}},
		{`INSERT INTO merchants (id, code, name, city, mcc, country, currency, fee_bps, account_id, payout_account_id)
			VALUES ($1, 'M1', 'Shop', 'Shanghai', '5814', 'CN', 'CNY', 0, 2, 2)`, []any{merchant}},
		{`INSERT INTO transfers (id, kind, currency, amount, idem_scope, idem_key, fingerprint, metadata) VALUES
			($1, 'payment', 'CNY', 10, 's', 'k1', '\x00', jsonb_build_object('card_id', $5::text, 'wallet_id', $6::text,
				'merchant_id', $7::text, 'order_id', $8::text, 'mcc', '5814')),
			($2, 'topup', 'CNY', 10, 's', 'k2', '\x00', jsonb_build_object('card_id', $5::text)),
			($3, 'transfer', 'CNY', 10, 's', 'k3', '\x00', jsonb_build_object('from_wallet', $6::text)),
			($4, 'refund', 'CNY', 5, 's', 'k4', '\x00', jsonb_build_object('order_id', $8::text))`,
			[]any{payment, topup, transfer, refund, card, wallet, merchant, order}},
		{`INSERT INTO postings (transfer_id, account_id, amount, balance_after, created_at) VALUES ($1, 1, 10, 10, now())`, []any{topup}},
		{`INSERT INTO orders (id, merchant_id, merchant_order_no, ref, amount, currency, expires_at, status, wallet_id, payment_id)
			VALUES ($1, $2, 'o1', 'r1', 10, 'CNY', now(), 'partially_refunded', $3, $4)`, []any{order, merchant, wallet, payment}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	nilID := uuid.Nil
	for _, c := range []struct {
		id                            uuid.UUID
		wallet, card, merchant, order uuid.UUID
		mcc                           string
	}{
		{payment, wallet, card, merchant, order, "5814"},
		{topup, wallet, card, nilID, nilID, ""},
		{transfer, wallet, nilID, nilID, nilID, ""},
		{refund, wallet, nilID, merchant, order, "5814"},
	} {
		var w, cd, m, o *uuid.UUID
		var mcc *string
		if err := pool.QueryRow(ctx, `SELECT wallet_id, card_id, merchant_id, order_id, mcc FROM transfers WHERE id = $1`, c.id).
			Scan(&w, &cd, &m, &o, &mcc); err != nil {
			t.Fatal(err)
		}
		got := []uuid.UUID{deref(w), deref(cd), deref(m), deref(o)}
		want := []uuid.UUID{c.wallet, c.card, c.merchant, c.order}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("transfer %s: links (wallet, card, merchant, order) = %v; want %v", c.id, got, want)
				break
			}
		}
		if (mcc == nil && c.mcc != "") || (mcc != nil && *mcc != c.mcc) {
			t.Errorf("transfer %s: mcc = %v; want %q", c.id, mcc, c.mcc)
		}
	}
}

func deref(id *uuid.UUID) uuid.UUID {
	if id == nil {
		return uuid.Nil
	}
	return *id
}

// TestMigrationWebhookSecretRotation: a merchant onboarded before webhook
// secrets could be rotated keeps its secret's generation, and no previous
// secret signs beside it.
func TestMigrationWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, testenv.EmptySchema(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := postgres.MigrateTo(ctx, pool, 6); err != nil {
		t.Fatal(err)
	}
	merchant := uuid.New()
	if _, err := pool.Exec(ctx, `INSERT INTO accounts (owner, kind, currency) VALUES ('m', 'merchant', 'CNY')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO merchants (id, code, name, city, mcc, country, currency, fee_bps,
		account_id, payout_account_id, webhook_secret_gen) VALUES ($1, 'M1', 'Shop', 'Shanghai', '5814', 'CN', 'CNY', 0, 1, 1, 3)`,
		merchant); err != nil {
		t.Fatal(err)
	}
	applied, err := postgres.Migrate(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 {
		t.Fatal("no migration after version 6 was applied")
	}
	var gen int
	var prevUntil *time.Time
	var key *string
	if err := pool.QueryRow(ctx, `SELECT webhook_secret_gen, webhook_secret_prev_until, webhook_secret_rotation_key
		FROM merchants WHERE id = $1`, merchant).Scan(&gen, &prevUntil, &key); err != nil {
		t.Fatal(err)
	}
	if gen != 3 || prevUntil != nil || key != nil {
		t.Errorf("after migrating: generation %d, previous until %v, rotation key %v; want 3, none, none", gen, prevUntil, key)
	}
}
