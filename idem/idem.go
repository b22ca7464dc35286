// Package idem is the fast path of idempotency: a Redis record per
// (caller, Idempotency-Key) that says whether a request is in flight or
// finished, and holds a finished request's response for replay.
//
// Redis is not the final guard. A record can be lost (Redis restarts, a lease
// expires while a request is stuck); the request then runs again and meets
// the PostgreSQL unique constraint on the same key, which returns the
// original transfer. So this package may err only towards running a request
// twice, never towards moving money twice.
package idem

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/errs"
)

// State is what Begin found.
type State int

// The states of a key.
const (
	// Claimed: the caller owns the key and must Finish or Abandon it.
	Claimed State = iota
	// InProgress: another request with this key is running.
	InProgress
	// Done: a request with this key finished; Record holds its response.
	Done
	// Mismatch: the key was used with a different request.
	Mismatch
)

// Record is a finished request's response.
type Record struct {
	Status      int
	ContentType string
	Body        []byte
}

// Outcome is the result of Begin.
type Outcome struct {
	State State
	// Token proves ownership of a Claimed key.
	Token string
	// RetryAfter is the remaining lease of an InProgress key.
	RetryAfter time.Duration
	Record     Record
}

// Store keeps idempotency records in Redis.
type Store struct {
	rdb     redis.UniversalClient
	scripts redis.Scripter // rdb, or an autopipeliner in front of it
	prefix  string
	lease   time.Duration
	retain  time.Duration
}

// New returns a store. lease bounds how long a claim blocks duplicates if
// its owner dies; retain is how long finished responses are replayed
// (at least 24 h).
func New(rdb redis.UniversalClient, prefix string, lease, retain time.Duration) *Store {
	return &Store{rdb: rdb, scripts: rdb, prefix: prefix, lease: lease, retain: retain}
}

// Batching runs the store's scripts through sc, typically rdb's
// autopipeliner: the claims and records of concurrent requests then share
// round trips to Redis instead of taking one each.
func (s *Store) Batching(sc redis.Scripter) *Store {
	s.scripts = sc
	return s
}

// key shares one hash tag per caller, so a caller's keys live on one
// cluster slot.
func (s *Store) key(scope, key string) string {
	return s.prefix + "idem:{" + scope + "}:" + key
}

// begin claims the key unless it exists. The claim token is the caller's
// own: when a reply is lost and Begin is retried with the same token, the
// script recognises the claim as ours instead of reporting it in progress.
var begin = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'state', 'token', 'fp', 'status', 'ctype', 'body')
if not h[1] then
  redis.call('HSET', KEYS[1], 'state', 'pending', 'token', ARGV[1], 'fp', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'claimed'}
end
if h[1] == 'pending' and h[2] == ARGV[1] then return {'claimed'} end
if h[3] ~= ARGV[2] then return {'mismatch'} end
if h[1] == 'pending' then return {'in_progress', tostring(redis.call('PTTL', KEYS[1]))} end
return {'done', h[4], h[5], h[6]}
`)

// finish stores the response if the claim is still ours.
var finish = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'ctype', ARGV[3], 'body', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

// abandon drops a pending claim if it is still ours.
var abandon = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'pending' then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Begin looks up (scope, key) and claims it when it is new. fingerprint
// identifies the request (its body); a different one under a used key is a
// Mismatch. When Redis cannot be reached Begin returns unavailable: money-
// moving requests fail closed.
func (s *Store) Begin(ctx context.Context, scope, key, fingerprint string) (Outcome, error) {
	token := newToken()
	var res []any
	var err error
	for attempt := 0; attempt < 2; attempt++ { // a lost reply is retried with the same token
		res, err = begin.Run(ctx, s.scripts, []string{s.key(scope, key)},
			token, fingerprint, s.lease.Milliseconds()).Slice()
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return Outcome{}, errs.Wrap(errs.Unavailable, err, "idempotency store unavailable; try again")
	}
	switch res[0] {
	case "claimed":
		return Outcome{State: Claimed, Token: token}, nil
	case "mismatch":
		return Outcome{State: Mismatch}, nil
	case "in_progress":
		ms, _ := strconv.ParseInt(fmt.Sprint(res[1]), 10, 64)
		return Outcome{State: InProgress, RetryAfter: time.Duration(max(ms, 1000)) * time.Millisecond}, nil
	}
	status, _ := strconv.Atoi(fmt.Sprint(res[1]))
	return Outcome{State: Done, Record: Record{
		Status: status, ContentType: fmt.Sprint(res[2]), Body: []byte(fmt.Sprint(res[3])),
	}}, nil
}

// Finish stores a claimed request's response for replay.
func (s *Store) Finish(ctx context.Context, scope, key, token string, r Record) error {
	err := finish.Run(ctx, s.scripts, []string{s.key(scope, key)},
		token, r.Status, r.ContentType, r.Body, s.retain.Milliseconds()).Err()
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "idempotency store unavailable")
	}
	return nil
}

// Abandon releases a claim whose request should be retried (it failed for
// a reason outside the request itself).
func (s *Store) Abandon(ctx context.Context, scope, key, token string) error {
	if err := abandon.Run(ctx, s.scripts, []string{s.key(scope, key)}, token).Err(); err != nil {
		return errs.Wrap(errs.Unavailable, err, "idempotency store unavailable")
	}
	return nil
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
