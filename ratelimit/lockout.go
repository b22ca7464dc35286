package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lockout counts a subject's wrong secrets: after Max of them it refuses
// the subject for For, and the failures are forgotten For after the last
// one. A check is reserved before the secret is verified, so that many
// guesses sent at once still get at most Max tries; the reservations
// beyond them are refused as Busy, not counted. Only a wrong secret counts:
// a burst of right ones never locks.
type Lockout struct {
	Max int
	For time.Duration
}

// Check is the state a subject's check began in.
type Check int

// The states.
const (
	Reserved Check = iota // the check may go ahead; call Finish with its result
	Locked                // the subject is locked; nothing was reserved
	Busy                  // more checks are in flight than wrong guesses are left; nothing was reserved
)

// Attempt is one reserved check.
type Attempt struct {
	key, id string
	l       Lockout
}

// The lockout's hash, KEYS[1], holds `failed` (wrong secrets since the
// last success or lock), `until` (ms: locked until then) and one field
// `a:<id>` per check in flight. Every script is idempotent, because
// go-redis resends a command whose reply was lost: a resent begin finds
// its own reservation, a resent finish finds it gone and does nothing.
// The key lives For after its last change (at least a minute, so that a
// reservation outlives its check); that is what forgets old failures.

// beginScript: ARGV = attempt id, now (ms), max, ttl (ms). It answers
// {'ok'}, {'busy'} or {'locked', ms left}.
var beginScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'failed', 'until', 'a:' .. ARGV[1])
if h[3] then return {'ok'} end
local now, max = tonumber(ARGV[2]), tonumber(ARGV[3])
local failed, untilms = tonumber(h[1] or '0'), tonumber(h[2] or '0')
if untilms > now then return {'locked', untilms - now} end
if untilms > 0 then
  failed = 0
  redis.call('HSET', KEYS[1], 'failed', 0, 'until', 0)
end
local pending = redis.call('HLEN', KEYS[1]) - 2
if pending < 0 then pending = 0 end
if failed + pending >= max then return {'busy'} end
redis.call('HSET', KEYS[1], 'a:' .. ARGV[1], 1, 'failed', failed, 'until', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {'ok'}
`)

// finishScript: ARGV = attempt id, right (1 or 0), now (ms), max, lockout
// (ms), ttl (ms). It answers 1 when this wrong secret locked the subject.
var finishScript = redis.NewScript(`
if redis.call('HDEL', KEYS[1], 'a:' .. ARGV[1]) == 0 then return 0 end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'failed', 0)
  return 0
end
local failed = redis.call('HINCRBY', KEYS[1], 'failed', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if failed >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'until', tonumber(ARGV[3]) + tonumber(ARGV[5]))
  return 1
end
return 0
`)

// Begin reserves a check of key's secret at now. When the answer is
// Reserved, the caller verifies the secret and calls Finish; when Locked,
// wait is how long the lock has left.
func (rl *Limiter) Begin(ctx context.Context, key string, l Lockout, now time.Time) (a Attempt, c Check, wait time.Duration, err error) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	a = Attempt{key: rl.prefix + key, id: base64.RawURLEncoding.EncodeToString(b), l: l}
	res, err := beginScript.Run(ctx, rl.rdb, []string{a.key}, a.id, now.UnixMilli(), l.Max, l.ttl().Milliseconds()).Slice()
	if err != nil {
		return Attempt{}, 0, 0, fmt.Errorf("lockout: %w", err)
	}
	switch res[0] {
	case "ok":
		return a, Reserved, 0, nil
	case "busy":
		return Attempt{}, Busy, 0, nil
	}
	ms, _ := res[1].(int64)
	return Attempt{}, Locked, time.Duration(ms) * time.Millisecond, nil
}

// Finish records the result of a reserved check: a right secret clears the
// failures, a wrong one counts and may lock. It reports whether this
// failure locked the subject.
func (rl *Limiter) Finish(ctx context.Context, a Attempt, right bool, now time.Time) (locked bool, err error) {
	ok := "0"
	if right {
		ok = "1"
	}
	n, err := finishScript.Run(ctx, rl.rdb, []string{a.key}, a.id, ok, now.UnixMilli(), a.l.Max,
		a.l.For.Milliseconds(), a.l.ttl().Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("lockout: %w", err)
	}
	return n == 1, nil
}

// Cancel gives a reserved check back uncounted (it was never made).
func (rl *Limiter) Cancel(ctx context.Context, a Attempt) error {
	if err := rl.rdb.HDel(ctx, a.key, "a:"+a.id).Err(); err != nil {
		return fmt.Errorf("lockout: %w", err)
	}
	return nil
}

func (l Lockout) ttl() time.Duration { return max(l.For, time.Minute) }
