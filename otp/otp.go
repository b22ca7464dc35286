// Package otp keeps one-time codes and signed-approval challenges in Redis:
// short-lived, single-use secrets that every gateway replica shares. A code
// is stored only as a keyed hash, bound to what it was issued for (a
// purpose, a subject and the operation's parameters), and dies after its
// expiry, its first successful use or too many wrong tries, whichever comes
// first. Each check is one atomic Lua script touching one key, so two
// requests racing with one code cannot both succeed, and the store works
// unchanged on Redis Cluster.
//
// Time comes from the caller, as in package ratelimit, so that tests can
// move it forward; Redis's own expiry only cleans up, a while after.
package otp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/errs"
)

// Spec is what a code is issued for. A code verifies only against the same
// Spec: another purpose, another wallet or phone, or other parameters (a
// transfer's amount and recipient, a card's new limits) refuse it.
type Spec struct {
	Purpose string // register, login, bind_card, transfer, …
	Subject string // the wallet id, or the phone number before there is a wallet
	Binding string // the operation's parameters in a canonical form
}

// Codes issues and checks one-time codes.
type Codes struct {
	rdb         redis.UniversalClient
	prefix      string
	key         []byte
	ttl         time.Duration
	maxAttempts int
}

// cleanupAfter keeps a dead challenge's key a while past its expiry, so that
// a late try is told "expired" rather than "unknown".
const cleanupAfter = 10 * time.Minute

// NewCodes returns the store of one-time codes. key keys the hashes codes
// are stored as (derive it from a server secret); a code lives ttl and
// allows maxAttempts tries.
func NewCodes(rdb redis.UniversalClient, prefix string, key []byte, ttl time.Duration, maxAttempts int) *Codes {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	if maxAttempts <= 0 {
		maxAttempts = 5
	}
	return &Codes{rdb: rdb, prefix: prefix + "otp:", key: key, ttl: ttl, maxAttempts: maxAttempts}
}

// TTL is how long a code lives.
func (c *Codes) TTL() time.Duration { return c.ttl }

// Issue makes a new challenge for spec: its id, its six-digit code (to be
// delivered, never stored or logged) and its expiry.
func (c *Codes) Issue(ctx context.Context, spec Spec, now time.Time) (id, code string, expires time.Time, err error) {
	id = "ch_" + rand.Text()
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", "", time.Time{}, err
	}
	code = fmt.Sprintf("%06d", n.Int64())
	expires = now.Add(c.ttl)
	_, err = c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, c.prefix+id, "bind", c.bind(spec), "mac", c.mac(id, code), "exp", expires.UnixMilli(), "tries", 0)
		p.PExpire(ctx, c.prefix+id, c.ttl+cleanupAfter)
		return nil
	})
	if err != nil {
		return "", "", time.Time{}, errs.Wrap(errs.Unavailable, err, "one-time codes are unavailable; try again shortly")
	}
	return id, code, expires, nil
}

// verifyScript: KEYS[1] the challenge; ARGV = bind, mac, now (ms), max
// tries. It answers ok, missing, used, expired, exhausted, mismatch or
// wrong. Every try that reaches the comparison counts, a right one
// included, so a challenge never allows more than max guesses whatever
// arrives at once; a successful try marks it used in the same step, which
// is what makes a code single-use under concurrency. The comparison of two
// keyed hashes in Lua is not constant-time, which tells an attacker nothing
// without the key.
var verifyScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'bind', 'mac', 'exp', 'tries', 'used')
if not h[1] then return 'missing' end
if h[5] then return 'used' end
if tonumber(ARGV[3]) >= tonumber(h[3]) then return 'expired' end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
if tries > tonumber(ARGV[4]) then return 'exhausted' end
if h[1] ~= ARGV[1] then return 'mismatch' end
if h[2] ~= ARGV[2] then return 'wrong' end
redis.call('HSET', KEYS[1], 'used', 1)
return 'ok'
`)

// Verify checks code against the challenge id for spec and uses it up. It
// answers otp_invalid for a wrong code or a code issued for something
// else, and otp_expired for a challenge that can no longer be used
// (expired, used, too many wrong tries, or unknown): the caller then asks
// for a new one.
func (c *Codes) Verify(ctx context.Context, id, code string, spec Spec, now time.Time) error {
	if id == "" || len(id) > 64 || code == "" {
		return errs.E(errs.OTPInvalid, "otp needs a challenge_id and a code")
	}
	res, err := verifyScript.Run(ctx, c.rdb, []string{c.prefix + id},
		c.bind(spec), c.mac(id, code), now.UnixMilli(), c.maxAttempts).Text()
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "one-time codes are unavailable; try again shortly")
	}
	switch res {
	case "ok":
		return nil
	case "wrong":
		return errs.E(errs.OTPInvalid, "the one-time code is wrong")
	case "mismatch":
		return errs.E(errs.OTPInvalid, "this one-time code was issued for another operation")
	case "used":
		return errs.E(errs.OTPExpired, "this one-time code was used already; ask for a new one")
	case "exhausted":
		return errs.E(errs.OTPExpired, "too many wrong codes for this challenge; ask for a new one")
	case "expired", "missing":
		return errs.E(errs.OTPExpired, "the one-time code has expired; ask for a new one")
	}
	return errs.E(errs.Internal, "otp: verify script answered %q", res)
}

// bind is the keyed hash of what a challenge is for.
func (c *Codes) bind(s Spec) string {
	return c.sum("bind", s.Purpose, s.Subject, s.Binding)
}

// mac is the keyed hash a code is stored as: bound to its challenge, so a
// table of a million hashes serves for one challenge only, and useless
// without the key.
func (c *Codes) mac(id, code string) string { return c.sum("code", id, code) }

func (c *Codes) sum(parts ...string) string {
	m := hmac.New(sha256.New, c.key)
	for _, p := range parts {
		fmt.Fprintf(m, "%d:%s;", len(p), p)
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
