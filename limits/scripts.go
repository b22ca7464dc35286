package limits

import "github.com/redis/go-redis/v9"

// The scripts each touch one day's hash, KEYS[1]. Each is idempotent, because
// go-redis resends a command whose reply was lost: a resent reserve finds its
// own reservation and answers ok instead of counting it twice; a resent
// commit, release or seed finds its work done and does nothing.
//
// Amounts are compared as Lua numbers (doubles); Reserve keeps every operand
// at most 2^52 so the comparisons are exact. Counters change only through
// HINCRBY, which is exact int64 arithmetic.

// reserveScript: ARGV = reservation field, amount, daily amount, daily
// count, and optionally the reservation's reference field and value (when it
// was made, and the key of the transfer it is for: see Reconcile). It
// answers "missing" without writing when the day was never seeded, so the
// caller rebuilds it from the ledger and tries again. Finding the
// reservation there already (a resent call, or a retry of the transfer
// taking over a dead attempt's reservation) it renews the reference's time,
// so that Reconcile leaves it to the live attempt.
var reserveScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'seeded', 'amount', 'count', ARGV[1])
if not h[1] then return 'missing' end
if h[4] then
  if ARGV[5] then redis.call('HSET', KEYS[1], ARGV[5], ARGV[6]) end
  return 'ok'
end
local amount = tonumber(ARGV[2])
if tonumber(h[2] or '0') + amount > tonumber(ARGV[3]) then return 'daily_amount' end
if tonumber(h[3] or '0') + 1 > tonumber(ARGV[4]) then return 'daily_count' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[5] then redis.call('HSET', KEYS[1], ARGV[5], ARGV[6]) end
redis.call('HINCRBY', KEYS[1], 'amount', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HINCRBY', KEYS[1], 'pending', 1)
return 'ok'
`)

// commitScript: ARGV = reservation field, its reference field, and for
// Reconcile the reference's value as it read it: the script then does
// nothing unless the reference still holds it. The usage stays; only the
// record of the reservation goes.
var commitScript = redis.NewScript(`
if ARGV[3] and redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'pending', -1)
return 1
`)

// releaseScript: ARGV as commitScript's. It gives back the amount stored
// with the reservation, never one the caller supplies.
var releaseScript = redis.NewScript(`
if ARGV[3] and redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
local amount = redis.call('HGET', KEYS[1], ARGV[1])
if not amount then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'amount', '-' .. amount)
redis.call('HINCRBY', KEYS[1], 'count', -1)
redis.call('HINCRBY', KEYS[1], 'pending', -1)
return 1
`)

// seedScript: ARGV = committed amount, committed count, TTL in ms. It
// initialises the day only if nobody has, so of two concurrent rebuilds
// (two replicas) the second changes nothing and usage is never counted
// twice.
var seedScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'seeded') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'seeded', '1', 'amount', ARGV[1], 'count', ARGV[2], 'pending', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)
