// Package ratelimit keeps request budgets in Redis, so that every gateway
// replica spends from the same ones: a Limiter (how often a subject may
// ask) and a Lockout (how many wrong secrets a subject may send before it
// is refused for a while). Both are one atomic Lua script per call, each
// touching one key, so they work unchanged on Redis Cluster.
//
// Time comes from the caller (its clock, in milliseconds), not from
// Redis, so that a service's tests can move time forward; replicas'
// clocks differ by milliseconds, which budgets measured in seconds
// do not notice.
package ratelimit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limit allows Events per Per on average, and bursts of up to Events at
// once. A zero Limit (or one with a zero field) is off: everything passes.
type Limit struct {
	Events int
	Per    time.Duration
}

// Off reports whether the limit lets everything through.
func (l Limit) Off() bool { return l.Events <= 0 || l.Per <= 0 }

// String formats the limit as ParseLimit reads it.
func (l Limit) String() string {
	if l.Off() {
		return "off"
	}
	return strconv.Itoa(l.Events) + "/" + l.Per.String()
}

// ParseLimit reads "EVENTS/DURATION", such as "30/1m" (thirty a minute) or
// "5/15m"; "off" or "0" turns the limit off.
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Limit{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	events, err := strconv.Atoi(n)
	if !ok || err != nil || events <= 0 {
		return Limit{}, fmt.Errorf("rate limit %q: want EVENTS/DURATION such as 30/1m, or off", s)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Millisecond {
		return Limit{}, fmt.Errorf("rate limit %q: want EVENTS/DURATION such as 30/1m, or off", s)
	}
	return Limit{Events: events, Per: d}, nil
}

// UnmarshalText lets configuration readers parse a Limit.
func (l *Limit) UnmarshalText(b []byte) error {
	v, err := ParseLimit(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Limiter spends request budgets kept in Redis.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string
}

// New returns a limiter whose keys start with prefix + "rl:".
func New(rdb redis.UniversalClient, prefix string) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix + "rl:"}
}

// gcraScript is the generic cell rate algorithm: KEYS[1] holds the
// theoretical arrival time (TAT) of the next event, in ms. ARGV = now,
// the emission interval (Per/Events) and the burst tolerance (Per), in ms.
// An event is allowed when it would not push the TAT beyond now + Per; a
// refused event changes nothing, so hammering a full budget does not
// extend the wait. It answers 0, or how many ms until an event would be
// allowed.
var gcraScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next = tat + interval
if next - burst > now then return next - burst - now end
redis.call('SET', KEYS[1], next, 'PX', next - now)
return 0
`)

// Allow spends one event of the budget of key under l, at now. It returns
// zero when the event is allowed, or how long until one would be.
func (rl *Limiter) Allow(ctx context.Context, key string, l Limit, now time.Time) (time.Duration, error) {
	if l.Off() {
		return 0, nil
	}
	interval := max(l.Per.Milliseconds()/int64(l.Events), 1)
	wait, err := gcraScript.Run(ctx, rl.rdb, []string{rl.prefix + key}, now.UnixMilli(), interval, l.Per.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("rate limit: %w", err)
	}
	return time.Duration(wait) * time.Millisecond, nil
}

// Subject turns a value that must not appear in Redis as such (a phone
// number, a client address) into a key part: an HMAC-SHA256 under key,
// truncated to 128 bits.
func Subject(key []byte, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}
