package payment_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/gateway/gatewaytest"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/payment"
	"github.com/qrpay/qrpay/wallet"
)

// TestCardHoldVoidedWhenPostgresIsCut: PostgreSQL goes away between the
// issuer's approval and the ledger batch, so the payment provably did not
// commit: it answers unavailable, the hold is voided and the card's limits
// are given back.
func TestCardHoldVoidedWhenPostgresIsCut(t *testing.T) {
	t.Parallel()
	f := startFunding(t, func(o *gatewaytest.Options) { o.PostgresProxy = true })
	p := f.NewPayer(t, 0)
	o := f.CreateOrder(t, f.key, 900)
	pr := f.principal(t, p)
	var once sync.Once
	f.issuer.mu.Lock()
	f.issuer.onAuthorize = func() { once.Do(f.PostgresProxy.Cut) }
	f.issuer.mu.Unlock()
	_, err := f.Payment.Pay(context.Background(), pr, payment.PayInput{OrderID: o.ID, CardID: p.CardID, Funding: wallet.FundingCard},
		wallet.Request{Key: "cut-1", Fingerprint: []byte("cut-1")})
	f.PostgresProxy.Restore()
	if !errs.Is(err, errs.Unavailable) || !errors.Is(err, ledger.ErrNotCommitted) {
		t.Fatalf("pay with PostgreSQL cut = %v; want unavailable, not committed", err)
	}
	auth, voided, _ := f.issuer.calls()
	if len(auth) != 1 || len(voided) != 1 || voided[0] != auth[0] {
		t.Errorf("issuer authorized %v, voided %v; want the hold voided", auth, voided)
	}
	if amount, count := f.usage(t, p.CardID); amount != 0 || count != 0 {
		t.Errorf("card usage = %d in %d; want nothing", amount, count)
	}
	var n int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := f.Pool.QueryRow(context.Background(), `SELECT count(*) FROM transfers WHERE idem_key = 'cut-1'`).Scan(&n)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	if n != 0 {
		t.Errorf("the ledger holds %d transfers of the cut payment; want none", n)
	}
	f.checkLedger(t)
}

// TestCardHoldKeptWhenTheCommitIsAmbiguous: the connection is lost while
// a card-funded payment's batch waits for its COMMIT, which the server
// finishes. The gateway cannot know the outcome, so it keeps the hold (a
// void could leave the merchant paid with nothing charged); the retry
// under the same key is answered from the ledger and charges nothing
// again, so the one hold is the one the ledger's card leg captures.
func TestCardHoldKeptWhenTheCommitIsAmbiguous(t *testing.T) {
	t.Parallel()
	f := startFunding(t, func(o *gatewaytest.Options) { o.PostgresProxy = true })
	p := f.NewPayer(t, 0)
	o := f.CreateOrder(t, f.key, 1234)
	ctx := context.Background()
	if _, err := f.Pool.Exec(ctx, `CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON postings DEFERRABLE INITIALLY DEFERRED
			FOR EACH ROW WHEN (NEW.amount = -1234) EXECUTE FUNCTION slow_commit()`); err != nil {
		t.Fatal(err)
	}
	pay := func() gatewaytest.Response {
		return f.Do(t, "POST", "/v1/wallet/payments", map[string]any{"order_id": o.ID, "card_id": p.CardID, "funding": "card"},
			p.Idem("ambiguous-card-1")...)
	}
	answer := make(chan gatewaytest.Response, 1)
	go func() { answer <- pay() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := f.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
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
	f.PostgresProxy.Cut()
	first := <-answer
	f.PostgresProxy.Restore()
	if first.Status != http.StatusServiceUnavailable {
		t.Fatalf("payment whose COMMIT answer was lost = %d %s; want 503", first.Status, first.Body)
	}
	if _, voided, _ := f.issuer.calls(); len(voided) != 0 {
		t.Errorf("issuer voided %v on an unknown outcome; want the hold kept", voided)
	}
	var retry gatewaytest.Response
	for deadline := time.Now().Add(15 * time.Second); ; {
		retry = pay()
		if retry.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var mv wallet.Movement
	retry.JSON(t, &mv)
	if retry.Status != http.StatusCreated || mv.CardAmount != -1234 || mv.Funding != "card" {
		t.Fatalf("retry = %d %s; want the committed card-funded payment", retry.Status, retry.Body)
	}
	// A retry that reached the ledger while the first COMMIT was still
	// finishing was answered with it (a replay) and voided its own hold.
	if auth, voided, _ := f.issuer.calls(); len(auth) == 0 || sum(auth)-sum(voided) != 1234 {
		t.Errorf("issuer authorized %v, voided %v; want one hold of 1234 kept", auth, voided)
	}
	f.checkLedger(t)
}
