package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/testenv"
)

type fixture struct {
	pool     *pgxpool.Pool
	l        *ledger.Ledger
	clearing ledger.Account
	wallets  []ledger.Account
}

func newFixture(t *testing.T, wallets int) *fixture {
	t.Helper()
	pool := testenv.Postgres(t)
	l := ledger.New(pool, ledger.Options{})
	t.Cleanup(l.Close)
	ctx := context.Background()
	f := &fixture{pool: pool, l: l}
	var err error
	f.clearing, err = ledger.CreateAccount(ctx, pool, "issuer:test", ledger.Clearing, "CNY")
	if err != nil {
		t.Fatal(err)
	}
	for i := range wallets {
		a, err := ledger.CreateAccount(ctx, pool, "wallet:"+string(rune('a'+i)), ledger.Wallet, "CNY")
		if err != nil {
			t.Fatal(err)
		}
		f.wallets = append(f.wallets, a)
	}
	return f
}

func move(from, to int64, amount int64, key string) ledger.Transfer {
	return ledger.Transfer{
		Kind: "test", Currency: "CNY", Scope: "test", Key: key,
		Postings: []ledger.Posting{{AccountID: from, Amount: -amount}, {AccountID: to, Amount: amount}},
	}
}

func (f *fixture) fund(t *testing.T, a ledger.Account, amount int64) {
	t.Helper()
	if _, err := f.l.Post(context.Background(), move(f.clearing.ID, a.ID, amount, uuid.NewString())); err != nil {
		t.Fatalf("fund %d: %v", a.ID, err)
	}
}

func (f *fixture) balance(t *testing.T, id int64) int64 {
	t.Helper()
	a, err := ledger.GetAccount(context.Background(), f.pool, id)
	if err != nil {
		t.Fatal(err)
	}
	return a.Balance
}

func (f *fixture) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPostRejectsInvalidTransfers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2)
	a, b := f.wallets[0].ID, f.wallets[1].ID
	usd, err := ledger.CreateAccount(context.Background(), f.pool, "wallet:usd", ledger.Wallet, "USD")
	if err != nil {
		t.Fatal(err)
	}
	f.fund(t, f.wallets[0], 1000)
	transfers, postings := f.count(t, "transfers"), f.count(t, "postings")

	p := func(acct, amount int64) ledger.Posting { return ledger.Posting{AccountID: acct, Amount: amount} }
	tests := []struct {
		name     string
		transfer ledger.Transfer
		want     errs.Code
	}{
		{"zero amount", ledger.Transfer{Postings: []ledger.Posting{p(a, 0), p(b, 0)}}, errs.Invalid},
		{"unbalanced", ledger.Transfer{Postings: []ledger.Posting{p(a, -10), p(b, 9)}}, errs.Invalid},
		{"one posting", ledger.Transfer{Postings: []ledger.Posting{p(a, -10)}}, errs.Invalid},
		{"same account twice", ledger.Transfer{Postings: []ledger.Posting{p(a, -10), p(a, 10)}}, errs.Invalid},
		{"huge amount", move(a, b, ledger.MaxAmount+1, "k"), errs.Invalid},
		{"unknown account", move(a, 999999, 10, "k"), errs.NotFound},
		{"mixed currencies", move(a, usd.ID, 10, "k"), errs.Invalid},
		{"bad currency", ledger.Transfer{Currency: "cny"}, errs.Invalid},
		{"no key", ledger.Transfer{Key: "-"}, errs.Invalid},
		{"metadata not an object", ledger.Transfer{Metadata: json.RawMessage(`[1]`)}, errs.Invalid},
		{"insufficient funds", move(a, b, 1001, "k"), errs.InsufficientFunds},
		{"from an empty wallet", move(b, a, 1, "k"), errs.InsufficientFunds},
	}
	for _, tt := range tests {
		tr := tt.transfer
		if tr.Kind == "" {
			tr.Kind = "test"
		}
		if tr.Currency == "" {
			tr.Currency = "CNY"
		}
		if tr.Scope == "" {
			tr.Scope = "test"
		}
		switch tr.Key {
		case "":
			tr.Key = uuid.NewString()
		case "-":
			tr.Key = ""
			tr.Postings = []ledger.Posting{p(a, -1), p(b, 1)}
		}
		if tr.Postings == nil {
			tr.Postings = []ledger.Posting{p(a, -1), p(b, 1)}
		}
		_, err := f.l.Post(context.Background(), tr)
		if got := errs.CodeOf(err); got != tt.want {
			t.Errorf("%s: Post error = %v (code %q); want code %q", tt.name, err, got, tt.want)
		}
	}
	if got := f.count(t, "transfers"); got != transfers {
		t.Errorf("transfers = %d after rejected posts; want %d", got, transfers)
	}
	if got := f.count(t, "postings"); got != postings {
		t.Errorf("postings = %d after rejected posts; want %d", got, postings)
	}
	if got := f.balance(t, a); got != 1000 {
		t.Errorf("balance(a) = %d; want 1000", got)
	}
	if got := f.balance(t, b); got != 0 {
		t.Errorf("balance(b) = %d; want 0", got)
	}
}

func TestPostIdempotency(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2)
	f.fund(t, f.wallets[0], 500)
	ctx := context.Background()
	a, b := f.wallets[0].ID, f.wallets[1].ID

	first, err := f.l.Post(ctx, move(a, b, 100, "k1"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Replayed {
		t.Errorf("first Post: Replayed = true")
	}
	if p, _ := first.Posting(a); p.BalanceAfter != 400 {
		t.Errorf("first Post: balance after on a = %d; want 400", p.BalanceAfter)
	}
	again, err := f.l.Post(ctx, move(a, b, 100, "k1"))
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if again.ID != first.ID || !again.Replayed || len(again.Postings) != 2 {
		t.Errorf("replay = %+v; want transfer %s replayed with its postings", again, first.ID)
	}
	_, err = f.l.Post(ctx, move(a, b, 101, "k1"))
	if !errs.Is(err, errs.IdempotencyMismatch) {
		t.Errorf("same key, other amount: err = %v; want idempotency_mismatch", err)
	}
	if got := f.balance(t, a); got != 400 {
		t.Errorf("balance(a) = %d; want 400", got)
	}
	// A key whose transfer was rejected was never used: it may be used again.
	if _, err := f.l.Post(ctx, move(a, b, 1000, "k2")); !errs.Is(err, errs.InsufficientFunds) {
		t.Fatalf("overdraft: err = %v; want insufficient_funds", err)
	}
	if _, err := f.l.Post(ctx, move(a, b, 400, "k2")); err != nil {
		t.Errorf("retry of a rejected key: %v", err)
	}
	if got := f.balance(t, b); got != 500 {
		t.Errorf("balance(b) = %d; want 500", got)
	}
}

// TestOrderChangeRejectsOnlyItsTransfer: of several payments of one order
// in flight at once, exactly one commits with the order's change and its
// event; the others fail alone, with nothing of theirs written.
func TestOrderChangeRejectsOnlyItsTransfer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 4)
	ctx := context.Background()
	shop, err := ledger.CreateAccount(ctx, f.pool, "merchant:test", ledger.Merchant, "CNY")
	if err != nil {
		t.Fatal(err)
	}
	merchantID, orderID := uuid.New(), uuid.New()
	if _, err := f.pool.Exec(ctx, `INSERT INTO merchants (id, code, name, city, mcc, country, currency, fee_bps, account_id, payout_account_id)
		VALUES ($1, 'MTEST', 'Test', 'Shanghai', '5814', 'CN', 'CNY', 0, $2, $2)`, merchantID, shop.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `INSERT INTO orders (id, merchant_id, merchant_order_no, ref, amount, currency, expires_at)
		VALUES ($1, $2, 'o-1', 'ref-1', 30, 'CNY', now() + interval '1 hour')`, orderID, merchantID); err != nil {
		t.Fatal(err)
	}
	pay := func(w ledger.Account, key string) ledger.Transfer {
		tr := move(w.ID, shop.ID, 30, key)
		tr.Kind = "payment"
		tr.Links = ledger.Links{MerchantID: merchantID, OrderID: orderID, MCC: "5814"}
		tr.Order = &ledger.OrderChange{Op: ledger.OrderPay, OrderID: orderID, MerchantID: merchantID, Status: "paid",
			Now: time.Now(), WalletAccountID: w.ID, Card: "**** 1111",
			Event: ledger.Event{ID: uuid.New(), Type: "order.paid", CreatedAt: time.Now(),
				Payload: fmt.Appendf(nil, `{"sequence":%d,"data":{"order":{"paid_at":%s}}}`, ledger.Sequence, mustJSON(t, ledger.Stamp))}}
		return tr
	}
	for _, w := range f.wallets {
		f.fund(t, w, 30)
	}
	var wg sync.WaitGroup
	results := make([]error, len(f.wallets))
	paid := make([]ledger.Transfer, len(f.wallets))
	for i, w := range f.wallets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paid[i], results[i] = f.l.Post(ctx, pay(w, "pay-"+strconv.Itoa(i)))
		}()
	}
	wg.Wait()
	var winner ledger.Transfer
	for i, err := range results {
		switch {
		case err == nil:
			if winner.ID != uuid.Nil {
				t.Fatalf("two payments of one order committed: %s and %s", winner.ID, paid[i].ID)
			}
			winner = paid[i]
		case !errs.Is(err, errs.OrderAlreadyPaid):
			t.Errorf("payment %d: err = %v; want order_already_paid", i, err)
		}
	}
	if winner.ID == uuid.Nil {
		t.Fatal("no payment committed")
	}
	if got := f.balance(t, shop.ID); got != 30 {
		t.Errorf("balance(merchant) = %d; want 30", got)
	}
	var status string
	var paymentID uuid.UUID
	var paidAt time.Time
	if err := f.pool.QueryRow(ctx, `SELECT status, payment_id, paid_at FROM orders WHERE id = $1`, orderID).
		Scan(&status, &paymentID, &paidAt); err != nil {
		t.Fatal(err)
	}
	if status != "paid" || paymentID != winner.ID || !paidAt.Equal(winner.CreatedAt) {
		t.Errorf("order = %s, payment %s, paid at %v; want paid, %s, %v", status, paymentID, paidAt, winner.ID, winner.CreatedAt)
	}
	var events, seq int
	var stamped bool
	if err := f.pool.QueryRow(ctx, `SELECT count(*), max(sequence), bool_and((payload->'data'->'order'->>'paid_at')::timestamptz = $2
		AND (payload->>'sequence')::int = sequence) FROM webhook_events WHERE order_id = $1`, orderID, winner.CreatedAt).Scan(&events, &seq, &stamped); err != nil {
		t.Fatal(err)
	}
	if events != 1 || seq != 1 || !stamped {
		t.Errorf("events = %d (sequence %d, stamped %v); want 1 (1, true)", events, seq, stamped)
	}
	got, err := ledger.GetTransfer(ctx, f.pool, winner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Links.OrderID != orderID || got.Links.MerchantID != merchantID || got.Links.MCC != "5814" {
		t.Errorf("links = %+v; want order %s, merchant %s, mcc 5814", got.Links, orderID, merchantID)
	}
	if n := f.count(t, "transfers WHERE kind = 'payment'"); n != 1 {
		t.Errorf("payment transfers = %d; want 1", n)
	}
}

func TestCloseAccount(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2)
	ctx := context.Background()
	a, b := f.wallets[0], f.wallets[1]
	f.fund(t, a, 10)
	closeIt := func(id int64) error {
		tx, err := f.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if err := ledger.CloseAccount(ctx, tx, id); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	if err := closeIt(a.ID); !errs.Is(err, errs.Conflict) {
		t.Errorf("close with balance: err = %v; want conflict", err)
	}
	if err := closeIt(b.ID); err != nil {
		t.Fatalf("close empty: %v", err)
	}
	if _, err := f.l.Post(ctx, move(a.ID, b.ID, 5, "to-closed")); !errs.Is(err, errs.AccountClosed) {
		t.Errorf("transfer to a closed account: err = %v; want account_closed", err)
	}
}

// TestUnstorableDataIsTheCallersFault: metadata PostgreSQL refuses (a NUL in
// jsonb) fails its transfer as invalid, never as unavailable, so a caller
// sending it again and again cannot open the breaker for everyone.
func TestUnstorableDataIsTheCallersFault(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2)
	ctx := context.Background()
	f.fund(t, f.wallets[0], 100)
	for i := range 10 {
		tr := move(f.wallets[0].ID, f.wallets[1].ID, 1, fmt.Sprint("nul-", i))
		tr.Metadata = json.RawMessage(`{"note":"a\u0000b"}`)
		if _, err := f.l.Post(ctx, tr); !errs.Is(err, errs.Invalid) {
			t.Fatalf("post %d: err = %v; want invalid", i, err)
		}
	}
	if got := f.l.BreakerState(); got != "closed" {
		t.Errorf("breaker = %s; want closed", got)
	}
	if _, err := f.l.Post(ctx, move(f.wallets[0].ID, f.wallets[1].ID, 1, "fine")); err != nil {
		t.Errorf("a good transfer after the bad ones: %v", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
