package limits_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/limits"
)

// race runs fn(i) for i in [0, n) on n goroutines released together, so
// they hit Redis at the same moment.
func race(n int, fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func TestConcurrentDailyAmountHoldsExactly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, now, card := context.Background(), noon(t), "card-1"
	const n, amount, limit = 100, 7, 500 // 7 does not divide 500: 71 fit, 3 left over
	lim := limits.Limits{PerTransaction: amount, DailyAmount: limit, DailyCount: 1000}
	var ok, refused, other atomic.Int64
	race(n, func(int) {
		_, err := e.store.Reserve(ctx, card, amount, lim, now)
		switch {
		case err == nil:
			ok.Add(1)
		case errs.Is(err, errs.LimitExceeded):
			refused.Add(1)
		default:
			other.Add(1)
			t.Errorf("Reserve = %v; want success or limit_exceeded", err)
		}
	})
	if got, want := ok.Load(), int64(limit/amount); got != want {
		t.Errorf("%d concurrent Reserve(%d) against daily amount %d: %d succeeded; want %d", n, amount, limit, got, want)
	}
	if got, want := refused.Load(), n-int64(limit/amount); got != want {
		t.Errorf("refused = %d; want %d", got, want)
	}
	want := limits.Usage{Amount: limit / amount * amount, Count: limit / amount}
	if got := e.usage(t, card, now); got != want {
		t.Errorf("Usage = %+v; want %+v", got, want)
	}
}

func TestConcurrentDailyCountHoldsExactly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, now, card := context.Background(), noon(t), "card-1"
	const n, count = 100, 37
	lim := limits.Limits{PerTransaction: 10, DailyAmount: 1 << 40, DailyCount: count}
	var ok atomic.Int64
	race(n, func(int) {
		_, err := e.store.Reserve(ctx, card, 3, lim, now)
		switch {
		case err == nil:
			ok.Add(1)
		case !errs.Is(err, errs.LimitExceeded):
			t.Errorf("Reserve = %v; want success or limit_exceeded", err)
		}
	})
	if got := ok.Load(); got != count {
		t.Errorf("%d concurrent Reserve against daily count %d: %d succeeded; want %d", n, count, got, count)
	}
	if got, want := e.usage(t, card, now), (limits.Usage{Amount: 3 * count, Count: count}); got != want {
		t.Errorf("Usage = %+v; want %+v", got, want)
	}
}

// Payments reserve, then commit or release, all at once. Released
// reservations make room for others, so how many succeed depends on the
// interleaving; what must hold is that usage ends equal to exactly what was
// committed, and that it never passed the limit.
func TestConcurrentReserveCommitRelease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, now, card := context.Background(), noon(t), "card-1"
	const n, limit = 100, 1000
	lim := limits.Limits{PerTransaction: 100, DailyAmount: limit, DailyCount: 60}
	var committed, committedCount, released atomic.Int64
	race(n, func(i int) {
		amount := int64(i%7+1) * 10
		r, err := e.store.Reserve(ctx, card, amount, lim, now)
		if err != nil {
			if !errs.Is(err, errs.LimitExceeded) {
				t.Errorf("Reserve(%d) = %v; want success or limit_exceeded", amount, err)
			}
			return
		}
		if i%3 == 0 {
			if err := e.store.Release(ctx, r); err != nil {
				t.Errorf("Release = %v", err)
			}
			released.Add(1)
			return
		}
		if err := e.store.Commit(ctx, r); err != nil {
			t.Errorf("Commit = %v", err)
		}
		committed.Add(amount)
		committedCount.Add(1)
	})
	want := limits.Usage{Amount: committed.Load(), Count: committedCount.Load()}
	if got := e.usage(t, card, now); got != want {
		t.Errorf("Usage after concurrent commits and releases = %+v; want the committed %+v", got, want)
	}
	if want.Amount > limit || want.Count > lim.DailyCount {
		t.Errorf("committed %+v; want within %+v", want, lim)
	}
	if released.Load() == 0 || want.Count == 0 {
		t.Errorf("released %d, committed %d; want some of each for the test to mean anything", released.Load(), want.Count)
	}
	if p, err := e.store.Pending(ctx, card, now); err != nil || p != 0 {
		t.Errorf("Pending = %d, %v; want 0", p, err)
	}
}

// TestConcurrentLimitsHoldThroughAutopipeline: the gateway sends the
// reservation scripts through the client's autopipeliner, which merges the
// scripts of concurrent requests into shared round trips (on a cluster, one
// pipeline per master). Each card's daily amount still holds exactly, for
// cards whose keys lie on different nodes.
func TestConcurrentLimitsHoldThroughAutopipeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ap, err := e.rdb.AutoPipeline()
	if err != nil {
		t.Fatalf("AutoPipeline on a %T: %v", e.rdb, err)
	}
	store := e.store.Batching(ap)
	ctx, now := context.Background(), noon(t)
	const cards, perCard, amount, limit = 8, 40, 7, 100 // 14 of 40 fit on each card
	lim := limits.Limits{PerTransaction: amount, DailyAmount: limit, DailyCount: 1000}
	var ok [cards]atomic.Int64
	race(cards*perCard, func(i int) {
		card := fmt.Sprint("ap-card-", i%cards)
		_, err := store.Reserve(ctx, card, amount, lim, now)
		switch {
		case err == nil:
			ok[i%cards].Add(1)
		case errs.Is(err, errs.LimitExceeded):
		default:
			t.Errorf("Reserve(%s) = %v; want success or limit_exceeded", card, err)
		}
	})
	for c := range cards {
		card := fmt.Sprint("ap-card-", c)
		if got := ok[c].Load(); got != limit/amount {
			t.Errorf("%s: %d of %d concurrent reservations succeeded; want %d", card, got, perCard, limit/amount)
		}
		if got, want := e.usage(t, card, now), (limits.Usage{Amount: limit / amount * amount, Count: limit / amount}); got != want {
			t.Errorf("%s: Usage = %+v; want %+v", card, got, want)
		}
	}
}
