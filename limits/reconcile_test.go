package limits_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/limits"
)

// TestReconcileSettlesForgottenReservations: reservations whose process
// never committed or released them (it died between Reserve and Commit)
// are settled by the ledger once older than the grace period — committed
// when the ledger holds their transfer, released when it does not — so the
// counters and the pending count converge to the ledger, and a card the
// forgotten reservations had filled pays again.
func TestReconcileSettlesForgottenReservations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	now := noon(t)
	day, start, _ := limits.DayBounds(now, e.loc)
	_ = day
	var mu sync.Mutex
	inLedger := map[limits.Ref]bool{}
	const grace = 2 * time.Minute
	e.store.Reconciling(grace, func(_ context.Context, ref limits.Ref) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return inLedger[ref], nil
	})
	lim := limits.Limits{PerTransaction: 1000, DailyAmount: 1000, DailyCount: 10}
	committed := limits.Ref{Scope: "wallet:w", Key: "pay-1"}
	lost := limits.Ref{Scope: "wallet:w", Key: "pay-2"}
	if _, err := e.store.ReserveFor(ctx, "card", 300, lim, now, committed); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.ReserveFor(ctx, "card", 600, lim, now, lost); err != nil {
		t.Fatal(err)
	}
	// The first one's transfer committed; then the process died.
	mu.Lock()
	inLedger[committed] = true
	mu.Unlock()
	e.ledger.post("card", start, 300)

	// Within the grace period nothing is settled: the transfers may still
	// be on their way.
	if n, _ := e.store.Pending(ctx, "card", now.Add(time.Minute)); n != 2 {
		t.Fatalf("pending within the grace period = %d; want 2", n)
	}
	if _, err := e.store.ReserveFor(ctx, "card", 200, lim, now.Add(time.Minute), limits.Ref{Scope: "wallet:w", Key: "pay-3"}); !errs.Is(err, errs.LimitExceeded) {
		t.Fatalf("reserve within the grace period: %v; want limit_exceeded", err)
	}

	// After it, a payment that fits the ledger's usage goes through: the
	// refusal reconciled the card and tried again.
	later := now.Add(grace + time.Second)
	if _, err := e.store.ReserveFor(ctx, "card", 700, lim, later, limits.Ref{Scope: "wallet:w", Key: "pay-4"}); err != nil {
		t.Fatalf("reserve after the grace period: %v; want the lost reservation given back", err)
	}
	if u := e.usage(t, "card", later); u.Amount != 1000 || u.Count != 2 {
		t.Errorf("usage = %+v; want the committed 300 and the new 700 in 2 payments", u)
	}
	if n, err := e.store.Pending(ctx, "card", later); err != nil || n != 1 {
		t.Errorf("pending = %d, %v; want only the new reservation", n, err)
	}
}

// TestRetryOfADeadRequestCountsOnce: a payment's process dies after
// reserving; after its idempotency lease the client sends it again with the
// same key and body, and this time it commits. The payment counts once: the
// retry takes over the dead attempt's reservation rather than adding one
// that the ledger would then confirm twice.
func TestRetryOfADeadRequestCountsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	now := noon(t)
	_, start, _ := limits.DayBounds(now, e.loc)
	var mu sync.Mutex
	inLedger := map[limits.Ref]bool{}
	const grace = 2 * time.Minute
	e.store.Reconciling(grace, func(_ context.Context, ref limits.Ref) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return inLedger[ref], nil
	})
	lim := limits.Limits{PerTransaction: 1000, DailyAmount: 5000, DailyCount: 10}
	ref := limits.Ref{Scope: "wallet:w", Key: "pay-1"}
	if _, err := e.store.ReserveFor(ctx, "card", 300, lim, now, ref); err != nil {
		t.Fatal(err) // and the process dies
	}
	later := now.Add(grace + time.Second)
	r, err := e.store.ReserveFor(ctx, "card", 300, lim, later, ref)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	inLedger[ref] = true
	mu.Unlock()
	e.ledger.post("card", start, 300)
	if err := e.store.Commit(ctx, r); err != nil {
		t.Fatal(err)
	}
	if u := e.usage(t, "card", later.Add(grace+time.Second)); u.Amount != 300 || u.Count != 1 {
		t.Errorf("usage = %+v; want the one payment of 300", u)
	}
	if n, err := e.store.Pending(ctx, "card", later.Add(grace+time.Second)); err != nil || n != 0 {
		t.Errorf("pending = %d, %v; want 0", n, err)
	}
}

// TestReconcileLeavesAReservationTakenOver: a retry takes over a dead
// attempt's reservation just as the card is reconciled. Reconciliation,
// which read the reservation before the retry took it over and found the
// transfer not yet in the ledger, must not release it from under the
// retry, whose commit would then find nothing to commit.
func TestReconcileLeavesAReservationTakenOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	now := noon(t)
	_, start, _ := limits.DayBounds(now, e.loc)
	const grace = 2 * time.Minute
	lim := limits.Limits{PerTransaction: 1000, DailyAmount: 5000, DailyCount: 10}
	ref := limits.Ref{Scope: "wallet:w", Key: "pay-1"}
	later := now.Add(grace + time.Second)
	var retry limits.Reservation
	// The ledger is asked while the retry takes the reservation over.
	e.store.Reconciling(grace, func(ctx context.Context, got limits.Ref) (bool, error) {
		if got == ref && retry.ID == "" {
			var err error
			if retry, err = e.store.ReserveFor(ctx, "card", 300, lim, later, ref); err != nil {
				t.Errorf("retry: %v", err)
			}
		}
		return false, nil
	})
	if _, err := e.store.ReserveFor(ctx, "card", 300, lim, now, ref); err != nil {
		t.Fatal(err) // and the process dies
	}
	if _, err := e.store.Reconcile(ctx, "card", later); err != nil {
		t.Fatal(err)
	}
	e.ledger.post("card", start, 300)
	if err := e.store.Commit(ctx, retry); err != nil {
		t.Fatal(err)
	}
	if u := e.usage(t, "card", later); u.Amount != 300 || u.Count != 1 {
		t.Errorf("usage = %+v; want the retried payment of 300", u)
	}
}
