package gateway

import (
	"context"
	"errors"
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

// spendNonce records a correctly signed request's nonce, in one round
// trip with the read of the epoch. It reports false for a nonce seen
// before and for a request signed before the epoch.
func (s *Server) spendNonce(ctx context.Context, keyID, nonce string, ts int64) (bool, error) {
	shard := nonceShard(keyID)
	pipe := s.deps.Redis.Pipeline()
	epochCmd := pipe.Get(ctx, s.nonceEpochKey(shard))
	fresh := pipe.SetNX(ctx, s.cfg.RedisPrefix+"nonce:"+shard+":"+keyID+":"+nonce, 1, 2*sdk.SignatureTolerance)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return false, errs.Wrap(errs.Unavailable, err, "the nonce store is unavailable; try again")
	}
	if err := fresh.Err(); err != nil { // Exec reports only the first error: the epoch's redis.Nil
		return false, errs.Wrap(errs.Unavailable, err, "the nonce store is unavailable; try again")
	}
	epoch, err := epochCmd.Int64()
	if errors.Is(err, redis.Nil) {
		var wrote bool
		epoch, wrote, err = s.markNonceEpoch(ctx, shard)
		if wrote {
			s.log.WarnContext(ctx, "a shard of the nonce store was found empty: signed requests from before now are refused",
				"shard", shard, "epoch", time.Unix(epoch, 0).UTC())
		}
	}
	if err != nil {
		return false, errs.Wrap(errs.Unavailable, err, "the nonce store is unavailable; try again")
	}
	return ts >= epoch && fresh.Val(), nil
}
