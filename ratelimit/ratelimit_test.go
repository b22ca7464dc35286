package ratelimit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/qrpay/qrpay/ratelimit"
	"github.com/qrpay/qrpay/testenv"
)

func TestParseLimit(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want ratelimit.Limit
		ok   bool
	}{
		{"30/1m", ratelimit.Limit{Events: 30, Per: time.Minute}, true},
		{" 5/15m ", ratelimit.Limit{Events: 5, Per: 15 * time.Minute}, true},
		{"off", ratelimit.Limit{}, true},
		{"0", ratelimit.Limit{}, true},
		{"30", ratelimit.Limit{}, false},
		{"-1/1m", ratelimit.Limit{}, false},
		{"3/forever", ratelimit.Limit{}, false},
		{"3/0s", ratelimit.Limit{}, false},
	} {
		got, err := ratelimit.ParseLimit(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseLimit(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestAllow: a budget of three a minute lets a burst of three through,
// then one every twenty seconds; a refused event does not push the next
// allowed one further away.
func TestAllow(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	rl := ratelimit.New(rdb, prefix)
	ctx := context.Background()
	l := ratelimit.Limit{Events: 3, Per: time.Minute}
	now := time.Unix(1_800_000_000, 0)
	for i := range 3 {
		if wait, err := rl.Allow(ctx, "k", l, now); err != nil || wait != 0 {
			t.Fatalf("event %d = %v, %v; want allowed", i+1, wait, err)
		}
	}
	for range 5 {
		if wait, err := rl.Allow(ctx, "k", l, now); err != nil || wait != 20*time.Second {
			t.Fatalf("fourth event = %v, %v; want refused for 20s", wait, err)
		}
	}
	if wait, _ := rl.Allow(ctx, "other", l, now); wait != 0 {
		t.Errorf("another key = %v; want allowed", wait)
	}
	if wait, _ := rl.Allow(ctx, "k", l, now.Add(20*time.Second)); wait != 0 {
		t.Errorf("20s later = %v; want allowed", wait)
	}
	if wait, _ := rl.Allow(ctx, "k", ratelimit.Limit{}, now); wait != 0 {
		t.Errorf("an off limit = %v; want allowed", wait)
	}
}

// TestAllowConcurrent: of many events at once, exactly the burst passes.
func TestAllowConcurrent(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	rl := ratelimit.New(rdb, prefix)
	now := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	allowed := 0
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait, err := rl.Allow(context.Background(), "k", ratelimit.Limit{Events: 10, Per: time.Hour}, now)
			if err != nil {
				t.Error(err)
				return
			}
			if wait == 0 {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 10 {
		t.Errorf("allowed = %d of 40 at once; want 10", allowed)
	}
}

// TestLockout: three wrong secrets lock for the lockout's duration; a right
// one in between clears the count; checks beyond the guesses left are
// busy, not counted.
func TestLockout(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	rl := ratelimit.New(rdb, prefix)
	ctx := context.Background()
	l := ratelimit.Lockout{Max: 3, For: 10 * time.Minute}
	now := time.Unix(1_800_000_000, 0)
	try := func(right bool) (ratelimit.Check, bool) {
		t.Helper()
		a, c, _, err := rl.Begin(ctx, "s", l, now)
		if err != nil {
			t.Fatal(err)
		}
		if c != ratelimit.Reserved {
			return c, false
		}
		locked, err := rl.Finish(ctx, a, right, now)
		if err != nil {
			t.Fatal(err)
		}
		return c, locked
	}
	try(false)
	try(false)
	try(true) // clears
	try(false)
	try(false)
	if c, locked := try(false); c != ratelimit.Reserved || !locked {
		t.Fatalf("third wrong secret in a row = %v, locked %v; want reserved and locking", c, locked)
	}
	_, c, wait, err := rl.Begin(ctx, "s", l, now.Add(time.Minute))
	if err != nil || c != ratelimit.Locked || wait != 9*time.Minute {
		t.Fatalf("while locked = %v, %v, %v; want locked for 9m", c, wait, err)
	}
	now = now.Add(10 * time.Minute)
	if c, locked := try(false); c != ratelimit.Reserved || locked {
		t.Errorf("after the lock = %v, locked %v; want a fresh count", c, locked)
	}

	// Three checks in flight use up the three guesses: a fourth is busy,
	// and cancelling one frees its place.
	var held []ratelimit.Attempt
	for range 3 {
		a, c, _, _ := rl.Begin(ctx, "burst", l, now)
		if c != ratelimit.Reserved {
			t.Fatalf("check in flight = %v; want reserved", c)
		}
		held = append(held, a)
	}
	if _, c, _, _ := rl.Begin(ctx, "burst", l, now); c != ratelimit.Busy {
		t.Errorf("fourth check in flight = %v; want busy", c)
	}
	if err := rl.Cancel(ctx, held[0]); err != nil {
		t.Fatal(err)
	}
	a, c, _, _ := rl.Begin(ctx, "burst", l, now)
	if c != ratelimit.Reserved {
		t.Errorf("after a cancel = %v; want reserved", c)
	}
	for _, a := range append(held[1:], a) {
		if locked, _ := rl.Finish(ctx, a, true, now); locked {
			t.Error("a right secret locked")
		}
	}
	// Finishing twice (a resent command) counts once.
	a, _, _, _ = rl.Begin(ctx, "twice", l, now)
	rl.Finish(ctx, a, false, now)
	rl.Finish(ctx, a, false, now)
	rl.Finish(ctx, a, false, now)
	if _, c, _, _ := rl.Begin(ctx, "twice", l, now); c != ratelimit.Reserved {
		t.Errorf("after one failure finished thrice = %v; want reserved (not locked)", c)
	}
}

func TestSubject(t *testing.T) {
	a, b := ratelimit.Subject([]byte("k"), "+8613800138000"), ratelimit.Subject([]byte("k"), "+8613800138001")
	if a == b || len(a) != 22 || ratelimit.Subject([]byte("other"), "+8613800138000") == a {
		t.Errorf("Subject = %q, %q; want distinct 22-character keyed hashes", a, b)
	}
}
