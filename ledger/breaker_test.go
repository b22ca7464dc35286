package ledger_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/ledger"
	"github.com/qrpay/qrpay/postgres"
	"github.com/qrpay/qrpay/testenv"
)

// TestBreakerOpensAndRecovers cuts the ledger off from PostgreSQL: posts fail
// as unavailable, the breaker opens and fails them fast without touching the
// database, and once Postgres is reachable again posting resumes by itself.
func TestBreakerOpensAndRecovers(t *testing.T) {
	t.Parallel()
	schemaURL := testenv.Schema(t)
	u, err := url.Parse(schemaURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr
	pool, err := postgres.Open(context.Background(), u.String(), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	l := ledger.New(pool, ledger.Options{BreakerFailures: 3, BreakerOpenFor: 300 * time.Millisecond, TxTimeout: 2 * time.Second})
	t.Cleanup(l.Close)
	ctx := context.Background()
	clearing, err := ledger.CreateAccount(ctx, pool, "issuer:test", ledger.Clearing, "CNY")
	if err != nil {
		t.Fatal(err)
	}
	wallet, err := ledger.CreateAccount(ctx, pool, "wallet:x", ledger.Wallet, "CNY")
	if err != nil {
		t.Fatal(err)
	}
	post := func() error {
		_, err := l.Post(ctx, move(clearing.ID, wallet.ID, 1, uuid.NewString()))
		return err
	}
	if err := post(); err != nil {
		t.Fatalf("post before the cut: %v", err)
	}
	// Business errors never trip the breaker.
	for range 10 {
		if _, err := l.Post(ctx, move(wallet.ID, clearing.ID, 1000, uuid.NewString())); !errs.Is(err, errs.InsufficientFunds) {
			t.Fatalf("overdraft: %v", err)
		}
	}
	if got := l.BreakerState(); got != "closed" {
		t.Fatalf("breaker after business errors = %s; want closed", got)
	}

	proxy.Cut()
	for i := 0; l.BreakerState() != "open"; i++ {
		if err := post(); !errs.Is(err, errs.Unavailable) {
			t.Fatalf("post %d while cut: err = %v; want unavailable", i, err)
		}
		if i > 10 {
			t.Fatalf("breaker still %s after %d failures", l.BreakerState(), i)
		}
	}
	err = post()
	var e *errs.Error
	if !errors.As(err, &e) || e.Code != errs.Unavailable || e.RetryAfter <= 0 {
		t.Fatalf("post while open: err = %v; want unavailable with RetryAfter", err)
	}
	if !strings.Contains(err.Error(), "open") {
		t.Errorf("post while open: err = %v; want the breaker's refusal", err)
	}

	proxy.Restore()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := post()
		if err == nil {
			break
		}
		if !errs.Is(err, errs.Unavailable) || time.Now().After(deadline) {
			t.Fatalf("post after restore: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := l.BreakerState(); got != "closed" {
		t.Errorf("breaker after recovery = %s; want closed", got)
	}
	report, err := ledger.Check(ctx, pool)
	if err != nil || !report.OK() {
		t.Errorf("ledger check after the outage: %+v, %v", report, err)
	}
	if got, _ := ledger.GetAccount(ctx, pool, wallet.ID); got.Balance < 2 {
		t.Errorf("wallet balance = %d; want at least the 2 acknowledged posts", got.Balance)
	}
}
