package gateway_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/wallet"
)

// TestAmbiguousCommitIsAnsweredFromTheLedger: the connection to PostgreSQL
// is lost while a payment's batch waits for its COMMIT, so the gateway
// cannot know whether the payment committed (it did: the server finishes a
// COMMIT whose client has gone). It answers 503 — retry with the same key —
// and the retry is answered from the ledger with the original payment; the
// ledger holds exactly one transfer for the key.
func TestAmbiguousCommitIsAnsweredFromTheLedger(t *testing.T) {
	t.Parallel()
	env := gatewaytest.Start(t, func(o *gatewaytest.Options) { o.PostgresProxy = true })
	p := env.NewPayer(t, 10_000)
	m := env.NewMerchant(t, nil)
	o := env.CreateOrder(t, m, 1234)
	ctx := context.Background()
	// A deferred trigger makes this payment's COMMIT take seconds, long
	// enough to lose the connection in the middle of it.
	if _, err := env.Pool.Exec(ctx, `CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON postings DEFERRABLE INITIALLY DEFERRED
			FOR EACH ROW WHEN (NEW.amount = -1234) EXECUTE FUNCTION slow_commit()`); err != nil {
		t.Fatal(err)
	}
	pay := func() gatewaytest.Response {
		return env.Do(t, "POST", "/v1/wallet/payments", map[string]any{"qr_payload": o.QRPayload, "card_id": p.CardID},
			p.Idem("ambiguous-1")...)
	}
	answer := make(chan gatewaytest.Response, 1)
	go func() { answer <- pay() }()
	// Wait until the batch is inside its COMMIT, then cut every connection.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event = 'PgSleep' AND query ILIKE 'commit%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the payment's COMMIT never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	env.PostgresProxy.Cut()
	first := <-answer
	if first.Status != http.StatusServiceUnavailable || first.Code() != "unavailable" {
		t.Fatalf("payment whose COMMIT answer was lost = %d %s; want 503 unavailable", first.Status, first.Body)
	}
	// The server finishes the COMMIT. PostgreSQL stays unreachable until it
	// has: the driver, on losing a connection, also sends the server a
	// cancel request for the statement in flight, and one let through
	// while the COMMIT still runs would roll the payment back.
	direct, err := pgx.Connect(ctx, env.SchemaURL) // not through the proxy
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	transfers := func() int {
		t.Helper()
		var n int
		if err := direct.QueryRow(ctx, `SELECT count(*) FROM transfers WHERE idem_key = 'ambiguous-1'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for deadline := time.Now().Add(30 * time.Second); transfers() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the payment whose COMMIT answer was lost never committed")
		}
	}
	env.PostgresProxy.Restore()

	// The retry finds the payment in the ledger.
	var retry gatewaytest.Response
	for deadline := time.Now().Add(15 * time.Second); ; {
		retry = pay()
		if retry.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := transfers(); n != 1 {
		t.Errorf("the ledger holds %d transfers for the key; want exactly 1", n)
	}
	if retry.Status != http.StatusCreated || retry.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry with the same key = %d %s (Idempotent-Replayed %q); want 201 answered from the ledger",
			retry.Status, retry.Body, retry.Header.Get("Idempotent-Replayed"))
	}
	var paid struct {
		OrderID string `json:"order_id"`
		Amount  int64  `json:"amount"`
	}
	retry.JSON(t, &paid)
	if paid.OrderID != o.ID || paid.Amount != -1234 {
		t.Errorf("retry answered %+v; want the payment of order %s", paid, o.ID)
	}
	if again := pay(); again.Status != http.StatusCreated || string(again.Body) != string(retry.Body) {
		t.Errorf("a second retry = %d %s; want the same answer", again.Status, again.Body)
	}
	if got := balance(t, env, p.Customer); got != 10_000-1234 {
		t.Errorf("the wallet holds %d; want %d, paid once", got, 10_000-1234)
	}
	// The card's limits count the payment once: the retry took over the
	// reservation the first attempt left (its outcome unknown) and, finding
	// the payment in the ledger, keeps it rather than giving it back.
	var lv wallet.LimitsView
	env.Do(t, "GET", "/v1/wallet/cards/"+p.CardID+"/limits", nil, p.Auth()...).JSON(t, &lv)
	if lv.UsedToday.Amount != 10_000+1234 || lv.UsedToday.Count != 2 {
		t.Errorf("the card's usage today = %+v; want the top-up of 10000 and the one payment of 1234", lv.UsedToday)
	}
	if r, err := ledger.Check(ctx, env.Pool); err != nil || !r.OK() {
		t.Errorf("ledger check: %+v, %v", r, err)
	}
}
