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

-- Removes the tag's expired holds (expiresAt <= now); returns their count and the live holds
-- as lease -> { account, flop, gpu, expiresAt }.
local function load_holds(holds_key, now)
  local raw = redis.call('HGETALL', holds_key)
  local live = {}
  local expired = {}
  for i = 1, #raw, 2 do
    local account, flop, gpu, exp = string.match(raw[i + 1], '^([^|]*)|(%d+)|(%d+)|(-?%d+)$')
    if account == nil then
      error('corrupt hold ' .. raw[i] .. ' in ' .. holds_key)
    end
    exp = tonumber(exp)
    if exp <= now then
      expired[#expired + 1] = raw[i]
    else
      live[raw[i]] = { account, tonumber(flop), tonumber(gpu), exp }
    end
  end
  if #expired > 0 then
    hdel_all(holds_key, expired)
  end
  return #expired, live
end

-- Held amounts of a subject: '*' is every live hold of the tag, an account its own.
local function held_of(live, subject)
  local flop, gpu = 0, 0
  for _, h in pairs(live) do
    if subject == '*' or h[1] == subject then
      flop = flop + h[2]
      gpu = gpu + h[3]
    end
  end
  return flop, gpu
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
local function measure(first_key, windows, subjects, live, now)
  local W = #windows
  local usage, resets, held = {}, {}, {}
  for s = 1, #subjects do
    usage[s], resets[s] = {}, {}
    local hf, hg = held_of(live, subjects[s])
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
