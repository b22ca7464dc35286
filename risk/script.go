package risk

import "github.com/redis/go-redis/v9"

// evaluateScript counts a movement and reads a wallet's counters in one
// call. KEYS: the card's payments (a sorted set of request keys by time),
// the card's merchants (a sorted set of merchant ids by last time), the
// wallet's declines (request keys by time) and the wallet's amount
// statistic (a hash: n, mean, var, last).
//
// ARGV: now (ms), the payment's request key ("" when not a card payment),
// the merchant id (""), the outgoing amount ("" when none), the request
// key, the decline window (ms), alpha, the clamp in standard deviations,
// the standard deviation floor, the history before clamping, the
// statistic's TTL (ms).
//
// It answers the card's payments in the last minute, its distinct merchants
// in the last 10 minutes, the declines in the window, and the statistic as
// it was before this amount: n, mean, variance (as strings: Redis would cut
// a Lua number to an integer).
//
// The statistic (Statistic in docs/risk.md) is an exponentially weighted
// mean and variance of ln(amount), updated incrementally:
//
//	d = x − mean;  mean += alpha·d;  var = (1 − alpha)·(var + alpha·d²)
//
// An amount already seen under the same request key (a retry) is not
// folded in twice, and once the history is long enough an amount is folded
// in clamped to mean + clamp·sd, so that one outlier (the one the rule
// stops) cannot drag the typical amount up to itself.
var evaluateScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local out = {0, 0, 0, 0, '0', '0'}
if ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[1], now, ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
  redis.call('PEXPIRE', KEYS[1], 120000)
  out[1] = redis.call('ZCARD', KEYS[1])
end
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[2], now, ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 600000)
  redis.call('PEXPIRE', KEYS[2], 660000)
  out[2] = redis.call('ZCARD', KEYS[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[6]))
out[3] = redis.call('ZCARD', KEYS[3])
local h = redis.call('HMGET', KEYS[4], 'n', 'mean', 'var', 'last')
local n = tonumber(h[1]) or 0
local mean = tonumber(h[2]) or 0
local var = tonumber(h[3]) or 0
out[4] = n
out[5] = h[2] or '0'
out[6] = h[3] or '0'
if ARGV[4] ~= '' and (ARGV[5] == '' or h[4] ~= ARGV[5]) then
  local x = math.log(tonumber(ARGV[4]))
  if n == 0 then
    mean = x
    var = 0
  else
    if n >= tonumber(ARGV[10]) then
      local cap = mean + tonumber(ARGV[8]) * math.max(math.sqrt(var), tonumber(ARGV[9]))
      if x > cap then x = cap end
    end
    local alpha = tonumber(ARGV[7])
    local d = x - mean
    mean = mean + alpha * d
    var = (1 - alpha) * (var + alpha * d * d)
  end
  redis.call('HSET', KEYS[4], 'n', n + 1, 'mean', string.format('%.17g', mean), 'var', string.format('%.17g', var), 'last', ARGV[5])
  redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[11]))
end
return {tostring(out[1]), tostring(out[2]), tostring(out[3]), tostring(out[4]), out[5], out[6]}
`)
