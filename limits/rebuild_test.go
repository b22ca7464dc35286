package limits_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/limits"
)

func TestRebuildAfterRedisLoss(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, now, card := context.Background(), noon(t), "card-1"
	_, start, _ := limits.DayBounds(now, e.loc)
	lim := limits.Limits{PerTransaction: 500, DailyAmount: 500, DailyCount: 10}
	for range 3 {
		r, err := e.store.Reserve(ctx, card, 100, lim, now)
		if err != nil {
			t.Fatalf("Reserve = %v", err)
		}
		e.ledger.post(card, start, 100)
		if err := e.store.Commit(ctx, r); err != nil {
			t.Fatalf("Commit = %v", err)
		}
	}
	if n := e.ledger.calls.Load(); n != 1 {
		t.Fatalf("Seed calls on the day's first use = %d; want 1", n)
	}

	e.forget(t)
	if _, err := e.store.Reserve(ctx, card, 100, lim, now); err != nil {
		t.Fatalf("Reserve after loss = %v; want success (300 + 100 <= 500)", err)
	}
	if n := e.ledger.calls.Load(); n != 2 {
		t.Errorf("Seed calls after the loss = %d; want 2 (one rebuild)", n)
	}
	if got, want := e.usage(t, card, now), (limits.Usage{Amount: 400, Count: 4}); got != want {
		t.Errorf("Usage after rebuild = %+v; want %+v (seeded 300/3 plus the new reserve)", got, want)
	}
	if _, err := e.store.Reserve(ctx, card, 200, lim, now); !errs.Is(err, errs.LimitExceeded) {
		t.Errorf("Reserve(200) with 400 of 500 used after rebuild = %v; want limit_exceeded", err)
	}
	if _, err := e.store.Reserve(ctx, card, 100, lim, now); err != nil {
		t.Errorf("Reserve(100) with 400 of 500 used after rebuild = %v; want success", err)
	}
	if n := e.ledger.calls.Load(); n != 2 {
		t.Errorf("Seed calls = %d; want still 2", n)
	}
}

// A day with nothing spent is seeded once, not on every call.
func TestZeroUsageDaySeededOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, now, card := context.Background(), noon(t), "card-1"
	for range 3 {
		if got := e.usage(t, card, now); got != (limits.Usage{}) {
			t.Fatalf("Usage = %+v; want zero", got)
		}
	}
	r, err := e.store.Reserve(ctx, card, 10, wide, now)
	if err != nil {
		t.Fatalf("Reserve = %v", err)
	}
	if err := e.store.Release(ctx, r); err != nil {
		t.Fatalf("Release = %v", err)
	}
	if _, err := e.store.Reserve(ctx, card, 10, wide, now); err != nil {
		t.Fatalf("Reserve = %v", err)
	}
	if n := e.ledger.calls.Load(); n != 1 {
		t.Errorf("Seed calls for a zero-usage day = %d; want 1", n)
	}
}

func TestConcurrentFirstReservesSeedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, now, card := context.Background(), noon(t), "card-1"
	_, start, _ := limits.DayBounds(now, e.loc)
	for range 3 {
		e.ledger.post(card, start, 100) // committed before Redis lost the day
	}
	e.ledger.delay = 50 * time.Millisecond
	const n, amount, limit = 50, 70, 1000 // (1000-300)/70 = 10 fit
	lim := limits.Limits{PerTransaction: amount, DailyAmount: limit, DailyCount: 100}
	var ok atomic.Int64
	race(n, func(int) {
		_, err := e.store.Reserve(ctx, card, amount, lim, now)
		switch {
		case err == nil:
			ok.Add(1)
		case !errs.Is(err, errs.LimitExceeded):
			t.Errorf("Reserve = %v; want success or limit_exceeded", err)
		}
	})
	if got := e.ledger.calls.Load(); got != 1 {
		t.Errorf("Seed calls for %d concurrent first reserves = %d; want 1", n, got)
	}
	if got := ok.Load(); got != 10 {
		t.Errorf("successful reserves = %d; want 10", got)
	}
	if got, want := e.usage(t, card, now), (limits.Usage{Amount: 1000, Count: 13}); got != want {
		t.Errorf("Usage = %+v; want %+v", got, want)
	}
}

// Two replicas rebuild the same day at once. Each may read the ledger, but
// only one seed lands: the usage is counted once.
func TestConcurrentRebuildAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, now, card := context.Background(), noon(t), "card-1"
	_, start, _ := limits.DayBounds(now, e.loc)
	for range 4 {
		e.ledger.post(card, start, 50)
	}
	e.ledger.delay = 100 * time.Millisecond
	replicas := []*limits.Store{e.store, limits.New(e.rdb, e.prefix, e.loc, e.ledger.seed)}
	const n, amount, limit = 40, 30, 500 // (500-200)/30 = 10 fit
	lim := limits.Limits{PerTransaction: amount, DailyAmount: limit, DailyCount: 100}
	var ok atomic.Int64
	race(n, func(i int) {
		_, err := replicas[i%2].Reserve(ctx, card, amount, lim, now)
		switch {
		case err == nil:
			ok.Add(1)
		case !errs.Is(err, errs.LimitExceeded):
			t.Errorf("Reserve = %v; want success or limit_exceeded", err)
		}
	})
	if got := e.ledger.calls.Load(); got < 1 || got > 2 {
		t.Errorf("Seed calls from 2 replicas = %d; want 1 or 2 (at most one per replica)", got)
	}
	if got := ok.Load(); got != 10 {
		t.Errorf("successful reserves = %d; want 10", got)
	}
	if got, want := e.usage(t, card, now), (limits.Usage{Amount: 500, Count: 14}); got != want {
		t.Errorf("Usage = %+v; want %+v (seeded 200/4 once plus 10 reserves)", got, want)
	}
}

func TestSeedFailureFailsClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, now, card := context.Background(), noon(t), "card-1"
	e.ledger.fail = errors.New("postgres: connection refused")
	if _, err := e.store.Reserve(ctx, card, 10, wide, now); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("Reserve with the ledger down = %v; want unavailable", err)
	}
	e.ledger.fail = errs.E(errs.Internal, "boom")
	if _, err := e.store.Reserve(ctx, card, 10, wide, now); !errs.Is(err, errs.Internal) {
		t.Fatalf("Reserve with Seed returning internal = %v; want internal passed through", err)
	}
	// Nothing was seeded, so once the ledger is back the day is rebuilt.
	e.ledger.fail = nil
	if _, err := e.store.Reserve(ctx, card, 10, wide, now); err != nil {
		t.Fatalf("Reserve with the ledger back = %v; want success", err)
	}
	if n := e.ledger.calls.Load(); n != 3 {
		t.Errorf("Seed calls = %d; want 3", n)
	}
}
