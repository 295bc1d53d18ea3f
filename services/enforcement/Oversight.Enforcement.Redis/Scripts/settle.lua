-- Settle: exactly-once counting. Counting and marking happen in this one script, so a failed
-- step never marks an event and a marked event is always counted.
-- KEYS[1] epoch, KEYS[2] holds, KEYS[3] hold expiries, KEYS[4] earlier holds, KEYS[5] marks,
-- KEYS[6] key registry, KEYS[7..] usage keys for subjects (account, '*') x windows x metrics (layout in common.lua).
-- ARGV[1] now, [2] attestation id, [3] lease id ('' for none), [4] flop, [5] gpu, [6] final (0/1),
-- [7] mark expiry (-1: keep no mark), [8] marks TTL, [9] W, then per window:
-- counted (0/1: the bucket is still inside the window), field, key TTL (-1: none),
-- prune trigger (field count, -1: never), length (-1 lifetime), bucket.
-- After the windows: rebuilding (0/1): a rebuild from the ledger settles into a tag whose epoch
-- is still missing (so that admission keeps failing closed until the rebuild is complete); then
-- the account whose usage this is.
-- Returns { status, pruned, holdFound }: status 1 Applied, 2 Duplicate, 3 EpochMissing; holdFound
-- is 1 only when the account held the lease.
local rebuilding = ARGV[10 + tonumber(ARGV[9]) * 6] == '1'
local account = ARGV[11 + tonumber(ARGV[9]) * 6]
if not rebuilding and redis.call('EXISTS', KEYS[1]) == 0 then
  return { 3, 0, 0 }
end
local now = tonumber(ARGV[1])
local id, lease = ARGV[2], ARGV[3]
local amounts = { ARGV[4], ARGV[5] }
local flop, gpu = tonumber(ARGV[4]), tonumber(ARGV[5])
local final = ARGV[6] == '1'
local mark_expiry = tonumber(ARGV[7])
local marks_ttl = tonumber(ARGV[8])
local W = tonumber(ARGV[9])

local pruned = prune_holds(KEYS[2], KEYS[3], KEYS[4], now)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
if redis.call('ZSCORE', KEYS[5], id) then
  return { 2, pruned, 0 }
end

for w = 1, W do
  local q = 10 + (w - 1) * 6
  local counted, field, ttl = ARGV[q] == '1', ARGV[q + 1], tonumber(ARGV[q + 2])
  local prune_at, length, bucket = tonumber(ARGV[q + 3]), tonumber(ARGV[q + 4]), tonumber(ARGV[q + 5])
  for s = 1, 2 do
    for m = 1, 2 do
      local key = KEYS[7 + ((s - 1) * W + (w - 1)) * 2 + (m - 1)]
      if counted and amounts[m] ~= '0' then
        redis.call('HINCRBY', key, field, amounts[m])
        redis.call('SADD', KEYS[6], key)
        if ttl > 0 then
          redis.call('EXPIRE', key, ttl)
        end
      end
      if prune_at > 0 and redis.call('HLEN', key) > prune_at then
        read_usage(key, length, bucket, now)
      end
    end
  end
end

local hold_found = 0
-- A rebuild's settles leave holds alone: the holds it kept already reflect what was settled live.
local h = (lease ~= '' and not rebuilding) and live_hold(KEYS[2], KEYS[3], lease, now) or nil
-- Another account's hold under this id (a linked account shares the tag) stays: its usage counts
-- above, but that lease's reservation is not its to shrink or free. Every layout keeps the
-- account as the hold's first field (see release.lua).
if h and h[1] == account then
  hold_found = 1
  if final then
    delete_hold(KEYS[2], KEYS[3], lease, h)
  else
    local f = math.max(0, h[2] - flop)
    local g = math.max(0, h[3] - gpu)
    redis.call('HSET', KEYS[2], lease, format_hold(h[1], f, g, h[4]))
    add_held(KEYS[2], h[1], h[2] - f, h[3] - g, -1)
  end
end

if mark_expiry >= 0 then
  redis.call('ZADD', KEYS[5], mark_expiry, id)
  extend_ttl(KEYS[5], marks_ttl)
end
return { 1, pruned, hold_found }
