-- Read: usage and held for every subject x window x metric.
-- KEYS[1] epoch, KEYS[2] holds, KEYS[3] hold expiries, KEYS[4] earlier holds, KEYS[5..] usage keys. ARGV[1] now, ARGV[2..] layout (common.lua).
-- Returns { status, pruned, readings }: status 1 Ok, 2 EpochMissing.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 2, 0, {} }
end
local now = tonumber(ARGV[1])
local windows, subjects = parse_layout(2)
local pruned = prune_holds(KEYS[2], KEYS[3], KEYS[4], now)
local usage, resets, held = measure(5, windows, subjects, KEYS[2], now)
return { 1, pruned, flatten(usage, resets, held, #subjects, #windows) }
