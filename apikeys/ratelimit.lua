-- One round trip per API request: capture append, revocation marker, penalty box and a
-- multi-tier GCRA (generic cell rate algorithm), all or nothing.
--
-- KEYS[1] revocation marker of the key ("" slot when the caller has no key: a key that never exists)
-- KEYS[2] capture list (records of earlier requests of this process ride along)
-- KEYS[3] strike counter of the caller   KEYS[4] penalty block   KEYS[5] penalty level
-- KEYS[6] penalty block of the client IP (set by repeated invalid credentials)
-- KEYS[7..] one GCRA state key per tier (its theoretical arrival time, in ms)
-- ARGV[1] cost  ARGV[2] number of capture records  ARGV[3] capture list cap
-- ARGV[4] penalty threshold  ARGV[5] penalty base ms  ARGV[6] penalty max ms
-- ARGV[7 .. 6+n] capture records, then per tier: emission interval ms, capacity
--
-- Returns {code, limit, remaining, reset_ms, retry_ms, tier}:
-- code 1 allowed, 0 limited, -1 revoked, -2 blocked (penalty box).
-- Time comes from the Redis server, so every web process shares one clock.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local nrec = tonumber(ARGV[2])

if nrec > 0 then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 7, 6 + nrec))
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
end

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {-1, 0, 0, 0, 0, 0}
end

local blocked = math.max(redis.call('PTTL', KEYS[4]), redis.call('PTTL', KEYS[6]))
if blocked > 0 then
  return {-2, 0, 0, blocked, blocked, 0}
end

local ntiers = #KEYS - 6
local argi = 7 + nrec
local new_tats, capacities, resets = {}, {}, {}
local denied_tier, retry = 0, 0
local report_tier, report_remaining, report_reset, report_limit = 0, nil, 0, 0
for i = 1, ntiers do
  local interval = tonumber(ARGV[argi])
  local capacity = tonumber(ARGV[argi + 1])
  argi = argi + 2
  local tau = interval * capacity
  local tat = tonumber(redis.call('GET', KEYS[6 + i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  local allow_at = new_tat - tau
  local remaining, reset
  if allow_at - now > 0.001 then  -- float noise is not a denial
    if allow_at - now > retry then retry = allow_at - now; denied_tier = i end
    remaining = math.floor((tau - (tat - now)) / interval + 0.000001)
    reset = tat - now
  else
    remaining = math.floor((tau - (new_tat - now)) / interval + 0.000001)
    reset = new_tat - now
  end
  new_tats[i], capacities[i], resets[i] = new_tat, capacity, reset
  if report_remaining == nil or remaining < report_remaining then
    report_tier, report_remaining, report_reset, report_limit = i, remaining, reset, capacity
  end
end

if denied_tier > 0 then
  local strikes = redis.call('INCR', KEYS[3])
  if strikes == 1 then redis.call('PEXPIRE', KEYS[3], 60000) end
  if strikes >= tonumber(ARGV[4]) then
    local level = redis.call('INCR', KEYS[5])
    redis.call('PEXPIRE', KEYS[5], 86400000)
    local block = math.min(tonumber(ARGV[5]) * 2 ^ (level - 1), tonumber(ARGV[6]))
    redis.call('SET', KEYS[4], level, 'PX', math.floor(block))
    redis.call('DEL', KEYS[3])
  end
  return {0, capacities[denied_tier], 0, math.ceil(resets[denied_tier] - 0.001), math.ceil(retry - 0.001), denied_tier}
end

for i = 1, ntiers do
  redis.call('SET', KEYS[6 + i], tostring(new_tats[i]), 'PX', math.ceil(new_tats[i] - now) + 1000)
end
return {1, report_limit, math.max(report_remaining, 0), math.ceil(report_reset - 0.001), 0, report_tier}
