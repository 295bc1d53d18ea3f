-- Release: deletes a lease's live hold when the account holds it.
-- KEYS[1] epoch, KEYS[2] holds, KEYS[3] hold expiries, KEYS[4] earlier holds.
-- ARGV[1] now, ARGV[2] lease id, ARGV[3] account.
-- Returns 1 Released, 2 NotFound (unknown, expired, or another account's), 3 EpochMissing.
-- Another account's hold under this id (a linked account shares the tag) is not the caller's to
-- free. Every layout keeps the account as the hold's first field (the earlier ovs:{tag}:h too),
-- so holds of earlier versions, with or without terms, are released by their account alike.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 3
end
local now = tonumber(ARGV[1])
prune_holds(KEYS[2], KEYS[3], KEYS[4], now)
local h = live_hold(KEYS[2], KEYS[3], ARGV[2], now)
if h and h[1] == ARGV[3] then
  delete_hold(KEYS[2], KEYS[3], ARGV[2], h)
  return 1
end
return 2
