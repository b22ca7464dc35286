package breaker

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// RedisHook puts every command and pipeline a go-redis client sends behind
// b: while b is open they fail at once with an unavailable error instead of
// waiting for the client's read timeout. Add it to a client with AddHook.
func RedisHook(b *Breaker) redis.Hook { return redisHook{b} }

type redisHook struct{ b *Breaker }

// inside marks a call already admitted: the commands a client sends to set
// up a new connection (HELLO, AUTH, SELECT) run inside the command that
// needed it and inherit its hooks; they must not ask the breaker again, or a
// half-open breaker would refuse its own probe's handshake.
type inside struct{}

func admitted(ctx context.Context) bool { return ctx.Value(inside{}) != nil }

// DialHook leaves dialling alone: a failed dial fails the command that
// needed it, which the breaker counts.
func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if admitted(ctx) {
			return next(ctx, cmd)
		}
		done, err := h.b.Allow()
		if err != nil {
			cmd.SetErr(err)
			return err
		}
		err = next(context.WithValue(ctx, inside{}, true), cmd)
		done(Outcome(ctx, err))
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if admitted(ctx) {
			return next(ctx, cmds)
		}
		done, err := h.b.Allow()
		if err != nil {
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		err = next(context.WithValue(ctx, inside{}, true), cmds)
		if err == nil {
			for _, c := range cmds {
				if Down(c.Err()) {
					err = c.Err()
					break
				}
			}
		}
		done(Outcome(ctx, err))
		return err
	}
}
