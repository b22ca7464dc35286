package gateway

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/sdk"
)

// The nonces of signed merchant requests live in Redis for twice the
// signature window. Should Redis lose them (a restart without
// persistence, a failover to an empty replica, eviction), a request seen
// before would look new for the rest of its window. The nonce store's
// epoch closes that gap: a key holding the Unix second the store was
// created, or last found without it. It is written when the gateway
// starts and whenever a request finds it missing, and a request signed
// before it is refused, since its nonce may have been among those lost.
// The epoch key has no expiry; losing it alone, too, only refuses the
// requests signed before it is written again.
//
// On a Redis Cluster each master can lose its keys alone, so one epoch
// could outlive the nonces it vouches for. The store is therefore cut into
// nonceShards shards, each a hash tag: a key ID's nonces and the epoch
// that guards them share a slot, so they live and die on one node
// together, and the check is one round trip to it.

// nonceShards is the number of the nonce store's shards (hash tags); each
// has its epoch. Enough to spread the nonces over a cluster's masters.
const nonceShards = 64

func nonceShard(keyID string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(keyID))
	return nonceShardTag(int(h.Sum32() % nonceShards))
}

func nonceShardTag(i int) string { return "{nonce-" + strconv.Itoa(i) + "}" }

func (s *Server) nonceEpochKey(shard string) string {
	return s.cfg.RedisPrefix + "nonce:" + shard + ":epoch"
}

// EnsureNonceEpoch writes the epoch of every shard of the nonce store that
// has none; the application calls it at start.
func (s *Server) EnsureNonceEpoch(ctx context.Context) error {
	now := s.now().Unix()
	pipe := s.deps.Redis.Pipeline()
	for i := range nonceShards {
		pipe.SetNX(ctx, s.nonceEpochKey(nonceShardTag(i)), now, 0)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// markNonceEpoch makes now the shard's epoch unless one is set, and
// returns the epoch that holds and whether this call wrote it.
func (s *Server) markNonceEpoch(ctx context.Context, shard string) (epoch int64, wrote bool, err error) {
	now := s.now().Unix()
	old, err := s.deps.Redis.SetArgs(ctx, s.nonceEpochKey(shard), now, redis.SetArgs{Mode: "NX", Get: true}).Result()
	if errors.Is(err, redis.Nil) {
		return now, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	epoch, err = strconv.ParseInt(old, 10, 64)
	return epoch, false, err
}

// spendScript reads a shard's epoch (KEYS[1]) and records a nonce
// (KEYS[2]) unless it is there, for ARGV[1] ms. It answers whether the
// nonce is new (1 or 0) and the epoch ("" when missing). Both keys carry
// the shard's hash tag, so on a cluster they share a slot.
var spendScript = redis.NewScript(`
local epoch = redis.call('GET', KEYS[1])
local fresh = redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1])
return {fresh and 1 or 0, epoch or ''}
`)

// spendNonce records a correctly signed request's nonce, in one script
// with the read of the epoch; the script goes through the request path's
// autopipeliner (Deps.Scripts), so the nonces of concurrent requests share
// round trips to Redis. It reports false for a nonce seen before and for
// a request signed before the epoch.
func (s *Server) spendNonce(ctx context.Context, keyID, nonce string, ts int64) (bool, error) {
	shard := nonceShard(keyID)
	res, err := spendScript.Run(ctx, s.scripts(), []string{s.nonceEpochKey(shard), s.cfg.RedisPrefix + "nonce:" + shard + ":" + keyID + ":" + nonce},
		(2 * sdk.SignatureTolerance).Milliseconds()).Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("the nonce script answered %d values", len(res))
	}
	if err != nil {
		return false, errs.Wrap(errs.Unavailable, err, "the nonce store is unavailable; try again")
	}
	fresh, _ := res[0].(int64)
	var epoch int64
	if e, _ := res[1].(string); e != "" {
		if epoch, err = strconv.ParseInt(e, 10, 64); err != nil {
			return false, errs.Wrap(errs.Unavailable, err, "the nonce store's epoch is unreadable")
		}
	} else {
		var wrote bool
		epoch, wrote, err = s.markNonceEpoch(ctx, shard)
		if wrote {
			s.log.WarnContext(ctx, "a shard of the nonce store was found empty: signed requests from before now are refused",
				"shard", shard, "epoch", time.Unix(epoch, 0).UTC())
		}
		if err != nil {
			return false, errs.Wrap(errs.Unavailable, err, "the nonce store is unavailable; try again")
		}
	}
	return ts >= epoch && fresh == 1, nil
}

// scripts is where the request path's Redis scripts go: the autopipeliner
// when the application gave one, else the client.
func (s *Server) scripts() redis.Scripter {
	if s.deps.Scripts != nil {
		return s.deps.Scripts
	}
	return s.deps.Redis
}
