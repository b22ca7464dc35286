package otp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/errs"
)

// Approvals keeps the server's challenges that a registered device signs to
// approve one payment or transfer. A challenge holds the exact bytes to be
// signed and the hash of the operation it is for; it is handed out once,
// by Take, to a request for that same operation.
type Approvals struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewApprovals returns the store of approval challenges; each lives ttl.
func NewApprovals(rdb redis.UniversalClient, prefix string, ttl time.Duration) *Approvals {
	if ttl <= 0 {
		ttl = 2 * time.Minute
	}
	return &Approvals{rdb: rdb, prefix: prefix + "approval:", ttl: ttl}
}

// TTL is how long a challenge lives.
func (a *Approvals) TTL() time.Duration { return a.ttl }

// Challenge is an approval challenge as the device sees it.
type Challenge struct {
	ID        string
	Nonce     string
	ExpiresAt time.Time
	// Message is what the device signs, byte for byte.
	Message string
}

// Create stores a challenge for the operation whose canonical form is op
// (see Operation) and returns it, its message being
//
//	qrpay-approval-v1
//	challenge:<id>
//	nonce:<nonce>
//	expires_at:<unix seconds>
//	<op>
func (a *Approvals) Create(ctx context.Context, op string, now time.Time) (Challenge, error) {
	nonce := make([]byte, 24)
	_, _ = rand.Read(nonce)
	c := Challenge{ID: "ap_" + rand.Text(), Nonce: base64.RawURLEncoding.EncodeToString(nonce),
		ExpiresAt: now.Add(a.ttl).Truncate(time.Second)}
	c.Message = strings.Join([]string{"qrpay-approval-v1", "challenge:" + c.ID, "nonce:" + c.Nonce,
		"expires_at:" + strconv.FormatInt(c.ExpiresAt.Unix(), 10), op}, "\n")
	_, err := a.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, a.prefix+c.ID, "op", opHash(op), "msg", c.Message, "exp", c.ExpiresAt.UnixMilli())
		p.PExpire(ctx, a.prefix+c.ID, a.ttl+cleanupAfter)
		return nil
	})
	if err != nil {
		return Challenge{}, errs.Wrap(errs.Unavailable, err, "approvals are unavailable; try again shortly")
	}
	return c, nil
}

// takeScript: KEYS[1] the challenge; ARGV = op hash, now (ms). It marks
// the challenge used and answers its message, or answers missing, used,
// expired or mismatch. Marking comes before the signature is checked, in
// the same step as the lookup: of any number of requests carrying one
// challenge, one gets its message, and a forged signature burns the
// challenge rather than leaving it to be tried again.
var takeScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'op', 'msg', 'exp', 'used')
if not h[1] then return {'missing'} end
if h[4] then return {'used'} end
if tonumber(ARGV[2]) >= tonumber(h[3]) then return {'expired'} end
if h[1] ~= ARGV[1] then return {'mismatch'} end
redis.call('HSET', KEYS[1], 'used', 1)
return {'ok', h[2]}
`)

// Take uses up challenge id for the operation op and returns the message
// its signature must be over. Any refusal is approval_invalid.
func (a *Approvals) Take(ctx context.Context, id, op string, now time.Time) (string, error) {
	if id == "" || len(id) > 64 {
		return "", errs.E(errs.ApprovalInvalid, "approval.challenge_id is missing")
	}
	res, err := takeScript.Run(ctx, a.rdb, []string{a.prefix + id}, opHash(op), now.UnixMilli()).StringSlice()
	if err != nil {
		return "", errs.Wrap(errs.Unavailable, err, "approvals are unavailable; try again shortly")
	}
	switch res[0] {
	case "ok":
		return res[1], nil
	case "used":
		return "", errs.E(errs.ApprovalInvalid, "this approval was used already; ask for a new challenge")
	case "mismatch":
		return "", errs.E(errs.ApprovalInvalid, "this approval was made for another operation")
	}
	return "", errs.E(errs.ApprovalInvalid, "the approval challenge is unknown or expired; ask for a new one")
}

// Operation is the canonical form of an approved operation: one
// "name:value" line per field, in the order given.
func Operation(fields ...[2]string) string {
	lines := make([]string, len(fields))
	for i, f := range fields {
		lines[i] = f[0] + ":" + f[1]
	}
	return strings.Join(lines, "\n")
}

func opHash(op string) string {
	h := sha256.Sum256([]byte(op))
	return base64.RawURLEncoding.EncodeToString(h[:])
}
