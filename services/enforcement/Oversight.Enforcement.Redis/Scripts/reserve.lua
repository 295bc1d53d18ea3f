-- Reserve: the admission step, atomic across every window and subject.
-- KEYS[1] epoch, KEYS[2] holds, KEYS[3] hold expiries, KEYS[4] earlier holds, KEYS[5..] usage keys
-- (layout in common.lua).
-- ARGV[1] now, ARGV[2] R (readings are returned for the first R subjects), ARGV[3..] layout,
-- then L and per limit (subject index, window index, metric index, limit),
-- then lease, account, flop, gpu, expiresAt, checkOnly (0/1), holds TTL, terms ('' for none).
-- Returns { status, pruned, readings, hold, failed }: status 1 Admitted, 2 Refused,
-- 3 AlreadyHeld, 4 EpochMissing; readings are as they were BEFORE this request's hold; a hold
-- is account, flop, gpu, expiresAt, terms.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 4, 0, {}, {}, {} }
end
local now = tonumber(ARGV[1])
local R = tonumber(ARGV[2])
local windows, subjects, p = parse_layout(3)
local L = tonumber(ARGV[p]); p = p + 1
local limits = {}
for i = 1, L do
  limits[i] = { tonumber(ARGV[p]), tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3]) }
  p = p + 4
end
local lease, account = ARGV[p], ARGV[p + 1]
local flop_s, gpu_s, exp_s = ARGV[p + 2], ARGV[p + 3], ARGV[p + 4]
local check_only = ARGV[p + 5] == '1'
local holds_ttl = tonumber(ARGV[p + 6])
local terms = ARGV[p + 7]
local amounts = { tonumber(flop_s), tonumber(gpu_s) }

local pruned = prune_holds(KEYS[2], KEYS[3], KEYS[4], now)
local usage, resets, held = measure(5, windows, subjects, KEYS[2], now)
local readings = flatten(usage, resets, held, R, #windows)

local existing = live_hold(KEYS[2], KEYS[3], lease, now)
if existing then
  return { 3, pruned, readings, { existing[1], existing[2], existing[3], existing[4], terms_of(KEYS[2], lease, existing[4]) }, {} }
end

local failed = {}
for i = 1, L do
  local s, w, m, limit = limits[i][1], limits[i][2], limits[i][3], limits[i][4]
  local amount = amounts[m]
  if amount > 0 and usage[s][w][m] + held[s][m] + amount > limit then
    failed[#failed + 1] = i - 1
  end
end
if #failed > 0 then
  return { 2, pruned, readings, {}, failed }
end
if check_only then
  return { 1, pruned, readings, {}, {} }
end
put_hold(KEYS[2], KEYS[3], lease, account, amounts[1], amounts[2], tonumber(exp_s), terms)
extend_ttl(KEYS[2], holds_ttl)
extend_ttl(KEYS[3], holds_ttl)
return { 1, pruned, readings, { account, amounts[1], amounts[2], tonumber(exp_s), terms }, {} }
