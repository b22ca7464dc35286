package limits_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Shanghai on machines without a zoneinfo database

	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/limits"
	"github.com/qrpay/qrpay/testenv"
)

func shanghai(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatalf("LoadLocation(Asia/Shanghai): %v", err)
	}
	return loc
}

// ledger stands in for PostgreSQL's committed usage: what SeedFunc reads.
// It is the caller's side of the contract, not a Redis fake; Redis is real.
type ledger struct {
	mu    sync.Mutex
	used  map[string]limits.Usage // by card and day start
	calls atomic.Int64
	// delay widens the window in which concurrent payments find a day
	// missing, so the rebuild tests really race.
	delay time.Duration
	// fail, when set, is returned instead of usage.
	fail error

	lastStart, lastEnd time.Time
}

func newLedger() *ledger { return &ledger{used: map[string]limits.Usage{}} }

func (l *ledger) seed(ctx context.Context, cardID string, start, end time.Time) (limits.Usage, error) {
	l.calls.Add(1)
	if l.delay > 0 {
		time.Sleep(l.delay)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastStart, l.lastEnd = start, end
	if l.fail != nil {
		return limits.Usage{}, l.fail
	}
	return l.used[cardID+"/"+start.String()], nil
}

// post records a committed payment, as the ledger transaction would.
func (l *ledger) post(cardID string, start time.Time, amount int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.used[cardID+"/"+start.String()]
	u.Amount += amount
	u.Count++
	l.used[cardID+"/"+start.String()] = u
}

type env struct {
	store  *limits.Store
	ledger *ledger
	rdb    redis.UniversalClient
	prefix string
	loc    *time.Location
}

func newEnv(t testing.TB) *env {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	loc := shanghai(t)
	l := newLedger()
	return &env{store: limits.New(rdb, prefix, loc, l.seed), ledger: l, rdb: rdb, prefix: prefix, loc: loc}
}

// forget deletes every key of the test, as a Redis restart without
// persistence would.
func (e *env) forget(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	if err := testenv.DeleteKeys(ctx, e.rdb, e.prefix+"*"); err != nil {
		t.Fatalf("delete the keys: %v", err)
	}
}

func (e *env) usage(t testing.TB, card string, now time.Time) limits.Usage {
	t.Helper()
	u, err := e.store.Usage(context.Background(), card, now)
	if err != nil {
		t.Fatalf("Usage(%s) error: %v", card, err)
	}
	return u
}

// noon is a fixed instant in the middle of a Shanghai business day.
func noon(t testing.TB) time.Time {
	return time.Date(2025, 3, 10, 12, 0, 0, 0, shanghai(t))
}

var wide = limits.Limits{PerTransaction: 1 << 40, DailyAmount: 1 << 40, DailyCount: 1 << 40}

func TestReserveRefusals(t *testing.T) {
	t.Parallel()
	lim := limits.Limits{PerTransaction: 100, DailyAmount: 250, DailyCount: 3}
	tests := []struct {
		name   string
		before []int64 // reserved earlier the same day
		amount int64
		lim    limits.Limits
		code   errs.Code // "" for success
		says   string    // which limit the message names
	}{
		{name: "at per-transaction limit", amount: 100, lim: lim},
		{name: "over per-transaction limit", amount: 101, lim: lim, code: errs.LimitExceeded, says: "per-transaction"},
		{name: "exactly at daily amount", before: []int64{100, 100}, amount: 50, lim: lim},
		{name: "over daily amount", before: []int64{100, 100}, amount: 51, lim: lim, code: errs.LimitExceeded, says: "daily amount"},
		{name: "exactly at daily count", before: []int64{10, 10}, amount: 10, lim: lim},
		{name: "over daily count", before: []int64{10, 10, 10}, amount: 1, lim: lim, code: errs.LimitExceeded, says: "daily count"},
		{name: "zero limit allows nothing", amount: 1, lim: limits.Limits{PerTransaction: 1, DailyAmount: 0, DailyCount: 1}, code: errs.LimitExceeded, says: "daily amount"},
		{name: "zero amount", amount: 0, lim: lim, code: errs.Invalid},
		{name: "negative amount", amount: -5, lim: lim, code: errs.Invalid},
		{name: "negative limit", amount: 5, lim: limits.Limits{PerTransaction: 100, DailyAmount: -1, DailyCount: 3}, code: errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx, now, card := context.Background(), noon(t), "card-1"
			for _, a := range tt.before {
				if _, err := e.store.Reserve(ctx, card, a, lim, now); err != nil {
					t.Fatalf("Reserve(%d) before = %v; want success", a, err)
				}
			}
			was := e.usage(t, card, now)
			_, err := e.store.Reserve(ctx, card, tt.amount, tt.lim, now)
			if got := errs.CodeOf(err); got != tt.code {
				t.Fatalf("Reserve(%d, %+v) after %v = %v; want code %q", tt.amount, tt.lim, tt.before, err, tt.code)
			}
			if tt.code == "" {
				return
			}
			var e2 *errs.Error
			errors.As(err, &e2)
			if tt.says != "" && !strings.Contains(e2.Message, tt.says) {
				t.Errorf("Reserve(%d) message = %q; want it to name the %s limit", tt.amount, e2.Message, tt.says)
			}
			if strings.ContainsAny(e2.Message, "0123456789") {
				t.Errorf("Reserve(%d) message = %q; want no figures (usage and limits are not the client's to read here)", tt.amount, e2.Message)
			}
			if got := e.usage(t, card, now); got != was {
				t.Errorf("Usage after refused Reserve = %+v; want unchanged %+v", got, was)
			}
		})
	}
}

func TestCommitAndRelease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, now, card := context.Background(), noon(t), "card-1"
	reserve := func(amount int64) limits.Reservation {
		t.Helper()
		r, err := e.store.Reserve(ctx, card, amount, wide, now)
		if err != nil {
			t.Fatalf("Reserve(%d) = %v; want success", amount, err)
		}
		return r
	}
	check := func(step string, want limits.Usage, wantPending int) {
		t.Helper()
		if got := e.usage(t, card, now); got != want {
			t.Errorf("after %s: Usage = %+v; want %+v", step, got, want)
		}
		n, err := e.store.Pending(ctx, card, now)
		if err != nil || n != wantPending {
			t.Errorf("after %s: Pending = %d, %v; want %d", step, n, err, wantPending)
		}
	}

	a, b, c := reserve(100), reserve(30), reserve(7)
	check("three reserves", limits.Usage{Amount: 137, Count: 3}, 3)

	for i := range 2 {
		if err := e.store.Commit(ctx, a); err != nil {
			t.Fatalf("Commit #%d = %v", i+1, err)
		}
	}
	check("commit twice", limits.Usage{Amount: 137, Count: 3}, 2)

	for i := range 2 {
		if err := e.store.Release(ctx, b); err != nil {
			t.Fatalf("Release #%d = %v", i+1, err)
		}
	}
	check("release twice", limits.Usage{Amount: 107, Count: 2}, 1)

	if err := e.store.Release(ctx, a); err != nil {
		t.Fatalf("Release after Commit = %v", err)
	}
	check("release after commit", limits.Usage{Amount: 107, Count: 2}, 1)

	if err := e.store.Commit(ctx, b); err != nil {
		t.Fatalf("Commit after Release = %v", err)
	}
	check("commit after release", limits.Usage{Amount: 107, Count: 2}, 1)

	// The amount given back is the one Redis recorded, not the caller's.
	forged := c
	forged.Amount = 1000
	if err := e.store.Release(ctx, forged); err != nil {
		t.Fatalf("Release = %v", err)
	}
	check("release with a forged amount", limits.Usage{Amount: 100, Count: 1}, 0)

	if err := e.store.Commit(ctx, limits.Reservation{CardID: card, ID: "x", Day: "not-a-day"}); !errs.Is(err, errs.Invalid) {
		t.Errorf("Commit(bad day) = %v; want invalid", err)
	}
}

func TestLoweredLimitAppliesImmediately(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, now, card := context.Background(), noon(t), "card-1"
	high := limits.Limits{PerTransaction: 500, DailyAmount: 1000, DailyCount: 10}
	for range 3 {
		if _, err := e.store.Reserve(ctx, card, 100, high, now); err != nil {
			t.Fatalf("Reserve(100, %+v) = %v; want success", high, err)
		}
	}
	tests := []struct {
		lim  limits.Limits
		says string
	}{
		{limits.Limits{PerTransaction: 50, DailyAmount: 1000, DailyCount: 10}, "per-transaction"},
		{limits.Limits{PerTransaction: 500, DailyAmount: 300, DailyCount: 10}, "daily amount"},
		{limits.Limits{PerTransaction: 500, DailyAmount: 1000, DailyCount: 3}, "daily count"},
	}
	for _, tt := range tests {
		_, err := e.store.Reserve(ctx, card, 100, tt.lim, now)
		if !errs.Is(err, errs.LimitExceeded) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("Reserve(100, %+v) after 300 used = %v; want the %s limit exceeded", tt.lim, err, tt.says)
		}
	}
	if got, want := e.usage(t, card, now), (limits.Usage{Amount: 300, Count: 3}); got != want {
		t.Errorf("Usage = %+v; want %+v", got, want)
	}
}

func TestDayBounds(t *testing.T) {
	t.Parallel()
	loc := shanghai(t)
	tests := []struct {
		now        time.Time
		day        string
		start, end time.Time
	}{
		{time.Date(2025, 3, 9, 15, 59, 59, 0, time.UTC), "2025-03-09",
			time.Date(2025, 3, 8, 16, 0, 0, 0, time.UTC), time.Date(2025, 3, 9, 16, 0, 0, 0, time.UTC)},
		{time.Date(2025, 3, 9, 16, 0, 0, 0, time.UTC), "2025-03-10",
			time.Date(2025, 3, 9, 16, 0, 0, 0, time.UTC), time.Date(2025, 3, 10, 16, 0, 0, 0, time.UTC)},
		{time.Date(2024, 12, 31, 16, 0, 0, 0, time.UTC), "2025-01-01",
			time.Date(2024, 12, 31, 16, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 16, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		day, start, end := limits.DayBounds(tt.now, loc)
		if day != tt.day || !start.Equal(tt.start) || !end.Equal(tt.end) {
			t.Errorf("DayBounds(%s, Asia/Shanghai) = %s, %s, %s; want %s, %s, %s",
				tt.now.Format(time.RFC3339), day, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339),
				tt.day, tt.start.Format(time.RFC3339), tt.end.Format(time.RFC3339))
		}
	}
}

func TestDayBoundaryInLocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, card := context.Background(), "card-1"
	lastSecond := time.Date(2025, 3, 9, 15, 59, 59, 0, time.UTC) // 23:59:59 in Shanghai
	midnight := time.Date(2025, 3, 9, 16, 0, 0, 0, time.UTC)     // 00:00:00 the next day
	one := limits.Limits{PerTransaction: 100, DailyAmount: 100, DailyCount: 1}

	r1, err := e.store.Reserve(ctx, card, 100, one, lastSecond)
	if err != nil {
		t.Fatalf("Reserve at 23:59:59 = %v; want success", err)
	}
	if _, err := e.store.Reserve(ctx, card, 100, one, lastSecond); !errs.Is(err, errs.LimitExceeded) {
		t.Fatalf("second Reserve at 23:59:59 = %v; want limit_exceeded", err)
	}
	r2, err := e.store.Reserve(ctx, card, 100, one, midnight)
	if err != nil {
		t.Fatalf("Reserve at 00:00:00 = %v; want success (a new day)", err)
	}
	if r1.Day != "2025-03-09" || r2.Day != "2025-03-10" {
		t.Errorf("reservation days = %s, %s; want 2025-03-09, 2025-03-10", r1.Day, r2.Day)
	}
	_, start, end := limits.DayBounds(midnight, e.loc)
	if !e.ledger.lastStart.Equal(start) || !e.ledger.lastEnd.Equal(end) {
		t.Errorf("Seed got [%s, %s); want [%s, %s)", e.ledger.lastStart, e.ledger.lastEnd, start, end)
	}

	// A reservation made before midnight is still outstanding after it, and
	// committing it after midnight leaves it counted on its own day.
	if n, err := e.store.Pending(ctx, card, midnight); err != nil || n != 2 {
		t.Errorf("Pending at 00:00:00 = %d, %v; want 2 (one from each day)", n, err)
	}
	if err := e.store.Release(ctx, r1); err != nil {
		t.Fatalf("Release = %v", err)
	}
	if got := e.usage(t, card, lastSecond); got != (limits.Usage{}) {
		t.Errorf("Usage on 2025-03-09 after release = %+v; want zero", got)
	}
	if got := e.usage(t, card, midnight); got != (limits.Usage{Amount: 100, Count: 1}) {
		t.Errorf("Usage on 2025-03-10 = %+v; want {100 1}", got)
	}
}

func TestKeysShareHashTagAndExpire(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, now := context.Background(), noon(t) // 12:00, so the day started 12 h ago
	if _, err := e.store.Reserve(ctx, "card-9", 1, wide, now); err != nil {
		t.Fatalf("Reserve = %v", err)
	}
	keys, err := testenv.Keys(ctx, e.rdb, e.prefix+"*")
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	if want := e.prefix + "limits:{card:card-9}:2025-03-10"; len(keys) != 1 || keys[0] != want {
		t.Fatalf("keys = %v; want [%s]", keys, want)
	}
	ttl, err := e.rdb.PTTL(ctx, keys[0]).Result()
	if err != nil {
		t.Fatalf("PTTL: %v", err)
	}
	if ttl <= 35*time.Hour || ttl > 36*time.Hour {
		t.Errorf("PTTL(%s) = %v; want just under 36h (48h after the day's start)", keys[0], ttl)
	}
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rdb := redis.NewClient(&redis.Options{
		Addr: addr, DialTimeout: 200 * time.Millisecond, DialerRetries: 1,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, MaxRetries: -1,
	})
	t.Cleanup(func() { rdb.Close() })
	l := newLedger()
	s := limits.New(rdb, "unreachable:", shanghai(t), l.seed)
	now := noon(t)
	r := limits.Reservation{CardID: "card-1", ID: "r1", Day: "2025-03-10", Amount: 1}
	ops := map[string]func(ctx context.Context) error{
		"Reserve": func(ctx context.Context) error { _, err := s.Reserve(ctx, "card-1", 1, wide, now); return err },
		"Commit":  func(ctx context.Context) error { return s.Commit(ctx, r) },
		"Release": func(ctx context.Context) error { return s.Release(ctx, r) },
		"Usage":   func(ctx context.Context) error { _, err := s.Usage(ctx, "card-1", now); return err },
		"Pending": func(ctx context.Context) error { _, err := s.Pending(ctx, "card-1", now); return err },
	}
	for name, op := range ops {
		// The deadline is a backstop: failing by itself (connection refused)
		// rather than by the caller's deadline is what "fails fast" means.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := op(ctx)
		cancel()
		if !errs.Is(err, errs.Unavailable) {
			t.Errorf("%s with Redis down = %v; want unavailable", name, err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with Redis down = %v; want it to fail before the caller's deadline", name, err)
		}
	}
	if n := l.calls.Load(); n != 0 {
		t.Errorf("Seed calls with Redis down = %d; want 0 (nothing to seed into)", n)
	}
}

func BenchmarkReserveCommit(b *testing.B) {
	e := newEnv(b)
	ctx, now := context.Background(), time.Now()
	for b.Loop() {
		r, err := e.store.Reserve(ctx, "card-1", 100, wide, now)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.store.Commit(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReserveCommitParallel(b *testing.B) {
	e := newEnv(b)
	ctx, now := context.Background(), time.Now()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		card := "card-" + string(rune('a'+next.Add(1)%26))
		for pb.Next() {
			r, err := e.store.Reserve(ctx, card, 100, wide, now)
			if err != nil {
				b.Error(err)
				return
			}
			if err := e.store.Commit(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
