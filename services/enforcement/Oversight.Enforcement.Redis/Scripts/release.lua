-- Release: deletes a lease's live hold.
-- KEYS[1] epoch, KEYS[2] holds. ARGV[1] now, ARGV[2] lease id.
-- Returns 1 Released, 2 NotFound (unknown or expired), 3 EpochMissing.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 3
end
local now = tonumber(ARGV[1])
load_holds(KEYS[2], now)
if redis.call('HDEL', KEYS[2], ARGV[2]) == 1 then
  return 1
end
return 2
