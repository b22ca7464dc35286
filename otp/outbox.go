package otp

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/errs"
)

// Message is a one-time code on its way to a customer.
type Message struct {
	ChallengeID string    `json:"challenge_id" example:"ch_KZ2VQ4NJ3MDGX7YB5A6RWTE3HC"`
	Phone       string    `json:"phone" example:"+8613800138000"`
	Purpose     string    `json:"purpose" example:"register"`
	Code        string    `json:"code" example:"123456"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// Outbox keeps the codes sent, readable by challenge id until they expire:
// a stand-in for the customer's phone where there is no SMS provider —
// development, tests and load tests. It holds codes in the clear, so a
// production gateway never uses it.
type Outbox struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewOutbox returns an outbox whose keys start with prefix.
func NewOutbox(rdb redis.UniversalClient, prefix string) *Outbox {
	return &Outbox{rdb: rdb, prefix: prefix + "otp-outbox:"}
}

// Put keeps m until it expires (by the wall clock, at least a minute).
func (o *Outbox) Put(ctx context.Context, m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ttl := max(time.Until(m.ExpiresAt), time.Minute)
	return o.rdb.Set(ctx, o.prefix+m.ChallengeID, b, ttl).Err()
}

// Get returns the message of a challenge.
func (o *Outbox) Get(ctx context.Context, challengeID string) (Message, error) {
	b, err := o.rdb.Get(ctx, o.prefix+challengeID).Bytes()
	if errors.Is(err, redis.Nil) {
		return Message{}, errs.E(errs.NotFound, "no code was sent for this challenge, or it expired")
	}
	if err != nil {
		return Message{}, errs.Wrap(errs.Unavailable, err, "the code outbox is unavailable")
	}
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return Message{}, err
	}
	return m, nil
}
