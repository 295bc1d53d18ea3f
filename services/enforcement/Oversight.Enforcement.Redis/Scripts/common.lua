-- Shared prelude, prepended to every counter script (one chunk per script, so these stay local).
-- Numbers: amounts are int64 below 2^53, exact in Lua doubles. Amounts that Redis stores are passed
-- through as the caller's decimal strings or formatted with %d, never with tostring (which would
-- print 1e+14 for 10^14).

local function hdel_all(key, fields)
  local n = #fields
  local i = 1
  while i <= n do
    local j = math.min(i + 999, n)
    redis.call('HDEL', key, unpack(fields, i, j))
    i = j + 1
  end
end

-- Holds. The holds hash (ovs:{tag}:hs) maps each lease id to 'account|flop|gpu|expiresAt' and also
-- keeps the held sums per subject ('#f:<subject>', '#g:<subject>'; subject '*' is every hold of the
-- tag; lease ids never contain '#'; a sum back at zero is removed, so a tag without holds has no
-- hash). A sorted set (ovs:{tag}:x) indexes lease ids by expiry. So a script costs O(log n +
-- expired) however many holds are live, and the sums live and expire with the holds they sum.
-- Holds that earlier scripts wrote to ovs:{tag}:h (every hold summed on every call) are taken
-- over at the first call that finds them, and that key is deleted.
-- A hold's terms (what its lease asked for, so a repeat with other terms is told apart) are kept
-- beside it as '#p:<lease>' = '<expiresAt>|<terms>', written and deleted with the hold. Terms
-- count only while their expiry is the hold's: scripts of the version before terms neither write
-- nor delete them, so while both versions share Redis a lease held again by an older replica
-- must not meet the terms of its previous hold.

local function parse_hold(holds_key, lease, raw)
  local account, flop, gpu, exp = string.match(raw, '^([^|]*)|(%d+)|(%d+)|(-?%d+)$')
  if account == nil then
    error('corrupt hold ' .. lease .. ' in ' .. holds_key)
  end
  return { account, tonumber(flop), tonumber(gpu), tonumber(exp) }
end

local function format_hold(account, flop, gpu, exp)
  return string.format('%s|%d|%d|%d', account, flop, gpu, exp)
end

-- Adds to a held sum; a sum back at zero is removed.
local function add_sum(holds_key, field, delta)
  if redis.call('HINCRBY', holds_key, field, delta) == 0 then
    redis.call('HDEL', holds_key, field)
  end
end

-- Adds (sign 1) or removes (sign -1) amounts from the held sums of the account and of '*'.
local function add_held(holds_key, account, flop, gpu, sign)
  if flop ~= 0 then
    local delta = string.format('%d', sign * flop)
    add_sum(holds_key, '#f:' .. account, delta)
    add_sum(holds_key, '#f:*', delta)
  end
  if gpu ~= 0 then
    local delta = string.format('%d', sign * gpu)
    add_sum(holds_key, '#g:' .. account, delta)
    add_sum(holds_key, '#g:*', delta)
  end
end

-- The hold of a lease as stored (expired or not), or nil.
local function get_hold(holds_key, lease)
  local raw = redis.call('HGET', holds_key, lease)
  if not raw then
    return nil
  end
  return parse_hold(holds_key, lease, raw)
end

-- The terms kept with a lease's hold that expires at exp ('' when none were given, or when
-- those kept belong to an earlier hold of the lease).
local function terms_of(holds_key, lease, exp)
  local raw = redis.call('HGET', holds_key, '#p:' .. lease)
  if not raw then
    return ''
  end
  local kept_exp, terms = string.match(raw, '^(-?%d+)|(.*)$')
  if kept_exp == nil or tonumber(kept_exp) ~= exp then
    return ''
  end
  return terms
end

local function put_hold(holds_key, expiries_key, lease, account, flop, gpu, exp, terms)
  redis.call('HSET', holds_key, lease, format_hold(account, flop, gpu, exp))
  redis.call('ZADD', expiries_key, string.format('%d', exp), lease)
  if terms and terms ~= '' then
    redis.call('HSET', holds_key, '#p:' .. lease, string.format('%d', exp) .. '|' .. terms)
  else
    redis.call('HDEL', holds_key, '#p:' .. lease)
  end
  add_held(holds_key, account, flop, gpu, 1)
end

local function delete_hold(holds_key, expiries_key, lease, h)
  redis.call('HDEL', holds_key, lease, '#p:' .. lease)
  redis.call('ZREM', expiries_key, lease)
  add_held(holds_key, h[1], h[2], h[3], -1)
end

-- Takes over holds of the earlier layout (a lease held in both keeps this layout's hold).
local function take_legacy_holds(holds_key, expiries_key, legacy_key)
  if redis.call('EXISTS', legacy_key) == 0 then
    return
  end
  local raw = redis.call('HGETALL', legacy_key)
  for i = 1, #raw, 2 do
    if redis.call('HEXISTS', holds_key, raw[i]) == 0 then
      local h = parse_hold(legacy_key, raw[i], raw[i + 1])
      put_hold(holds_key, expiries_key, raw[i], h[1], h[2], h[3], h[4])
    end
  end
  local ttl = redis.call('PTTL', legacy_key)
  redis.call('DEL', legacy_key)
  if ttl > 0 and redis.call('PTTL', holds_key) == -1 then
    redis.call('PEXPIRE', holds_key, ttl)
    redis.call('PEXPIRE', expiries_key, ttl)
  end
end

-- Removes the tag's expired holds (expiresAt <= now); returns how many.
local function prune_holds(holds_key, expiries_key, legacy_key, now)
  take_legacy_holds(holds_key, expiries_key, legacy_key)
  local expired = redis.call('ZRANGEBYSCORE', expiries_key, '-inf', now)
  if #expired == 0 then
    return 0
  end
  local count = 0
  for _, lease in ipairs(expired) do
    local h = get_hold(holds_key, lease)
    if h and h[4] <= now then
      delete_hold(holds_key, expiries_key, lease, h)
      count = count + 1
    end
  end
  redis.call('ZREMRANGEBYSCORE', expiries_key, '-inf', now)
  return count
end

-- The live hold of a lease, or nil; one found expired (its index entry lost) goes now.
local function live_hold(holds_key, expiries_key, lease, now)
  local h = get_hold(holds_key, lease)
  if h and h[4] <= now then
    delete_hold(holds_key, expiries_key, lease, h)
    return nil
  end
  return h
end

-- Held amounts of a subject ('*' is every live hold of the tag), after pruning.
local function held_of(holds_key, subject)
  local sums = redis.call('HMGET', holds_key, '#f:' .. subject, '#g:' .. subject)
  return tonumber(sums[1] or '0'), tonumber(sums[2] or '0')
end

-- Usage of one (subject, window, metric) key at now, pruning buckets that left the window.
-- length < 0: lifetime (one field 't'). Returns usage and resetsAt (-1 when none).
local function read_usage(key, length, bucket, now)
  if length < 0 then
    return tonumber(redis.call('HGET', key, 't') or '0'), -1
  end
  local raw = redis.call('HGETALL', key)
  local total = 0
  local oldest = nil
  local stale = {}
  local threshold = now - length
  for i = 1, #raw, 2 do
    local b = tonumber(raw[i])
    if (b + 1) * bucket > threshold then
      total = total + tonumber(raw[i + 1])
      if oldest == nil or b < oldest then
        oldest = b
      end
    else
      stale[#stale + 1] = raw[i]
    end
  end
  if #stale > 0 then
    hdel_all(key, stale)
  end
  if oldest == nil then
    return total, -1
  end
  return total, (oldest + 1) * bucket + length
end

-- Reads windows and subjects from ARGV starting at position p:
--   W, then (length, bucket) per window, then S, then S subject names.
-- Usage keys are KEYS[first_key + ((s - 1) * W + (w - 1)) * 2 + (m - 1)], m = 1 FLOP, 2 GPU.
local function parse_layout(p)
  local W = tonumber(ARGV[p]); p = p + 1
  local windows = {}
  for w = 1, W do
    windows[w] = { tonumber(ARGV[p]), tonumber(ARGV[p + 1]) }
    p = p + 2
  end
  local S = tonumber(ARGV[p]); p = p + 1
  local subjects = {}
  for s = 1, S do
    subjects[s] = ARGV[p]
    p = p + 1
  end
  return windows, subjects, p
end

-- usage[s][w][m], resets[s][w][m], held[s][m] for every subject, window and metric.
local function measure(first_key, windows, subjects, holds_key, now)
  local W = #windows
  local usage, resets, held = {}, {}, {}
  for s = 1, #subjects do
    usage[s], resets[s] = {}, {}
    local hf, hg = held_of(holds_key, subjects[s])
    held[s] = { hf, hg }
    for w = 1, W do
      usage[s][w], resets[s][w] = {}, {}
      for m = 1, 2 do
        local key = KEYS[first_key + ((s - 1) * W + (w - 1)) * 2 + (m - 1)]
        usage[s][w][m], resets[s][w][m] = read_usage(key, windows[w][1], windows[w][2], now)
      end
    end
  end
  return usage, resets, held
end

-- Flat readings (usage, held, resetsAt) for the first `count` subjects, in subject, window, metric order.
local function flatten(usage, resets, held, count, W)
  local out = {}
  for s = 1, count do
    for w = 1, W do
      for m = 1, 2 do
        out[#out + 1] = usage[s][w][m]
        out[#out + 1] = held[s][m]
        out[#out + 1] = resets[s][w][m]
      end
    end
  end
  return out
end

-- Extends a key's TTL to at least `ttl` seconds (TTLs are only a loose clean-up).
local function extend_ttl(key, ttl)
  if ttl > 0 and redis.call('TTL', key) < ttl then
    redis.call('EXPIRE', key, ttl)
  end
end
