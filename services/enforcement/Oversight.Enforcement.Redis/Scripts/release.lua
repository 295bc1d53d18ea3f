-- Release: deletes a lease's live hold.
-- KEYS[1] epoch, KEYS[2] holds, KEYS[3] hold expiries, KEYS[4] earlier holds. ARGV[1] now, ARGV[2] lease id.
-- Returns 1 Released, 2 NotFound (unknown or expired), 3 EpochMissing.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 3
end
local now = tonumber(ARGV[1])
prune_holds(KEYS[2], KEYS[3], KEYS[4], now)
local h = live_hold(KEYS[2], KEYS[3], ARGV[2], now)
if h then
  delete_hold(KEYS[2], KEYS[3], ARGV[2], h)
  return 1
end
return 2
