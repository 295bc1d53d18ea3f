-- Reset that keeps holds (a rebuild from the ledger): every live hold goes back to what it
-- reserved, and the held sums are summed anew; the rebuild's settles then shrink the holds again.
-- KEYS[1] holds, KEYS[2] hold expiries. The epoch is already deleted, so no other script writes here.
-- Returns the number of holds kept.
upgrade_holds(KEYS[1], KEYS[2])
local raw = redis.call('HGETALL', KEYS[1])
local holds = {}
for i = 1, #raw, 2 do
  if string.sub(raw[i], 1, 1) ~= '#' then
    holds[#holds + 1] = { raw[i], parse_hold(KEYS[1], raw[i], raw[i + 1]) }
  end
end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
for _, entry in ipairs(holds) do
  local lease, h = entry[1], entry[2]
  redis.call('HSET', KEYS[1], lease, format_hold(h[1], h[5], h[6], h[4], h[5], h[6]), '#v', '2')
  add_held(KEYS[1], h[1], h[5], h[6], 1)
end
if #holds > 0 and ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return #holds
