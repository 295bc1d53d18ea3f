-- Restore holds as they are into a tag being rebuilt; a lease already held is replaced.
-- KEYS[1] holds, KEYS[2] hold expiries, KEYS[3] earlier holds. ARGV[1] holds TTL, then per hold:
-- lease, account, flop, gpu, expiresAt, terms. Returns the number of holds restored.
take_legacy_holds(KEYS[1], KEYS[2], KEYS[3])
local ttl = tonumber(ARGV[1])
local n = 0
for p = 2, #ARGV, 6 do
  local lease = ARGV[p]
  local existing = get_hold(KEYS[1], lease)
  if existing then
    delete_hold(KEYS[1], KEYS[2], lease, existing)
  end
  put_hold(KEYS[1], KEYS[2], lease, ARGV[p + 1], tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3]), tonumber(ARGV[p + 4]), ARGV[p + 5])
  n = n + 1
end
if n > 0 then
  extend_ttl(KEYS[1], ttl)
  extend_ttl(KEYS[2], ttl)
end
return n
