-- Read the live holds as they were reserved (for a rebuild that takes them over), epoch or not.
-- KEYS[1] holds, KEYS[2] hold expiries. ARGV[1] now.
-- Returns lease, account, reserved flop, reserved gpu, expiresAt per hold, flat.
upgrade_holds(KEYS[1], KEYS[2])
prune_holds(KEYS[1], KEYS[2], tonumber(ARGV[1]))
local raw = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #raw, 2 do
  if string.sub(raw[i], 1, 1) ~= '#' then
    local h = parse_hold(KEYS[1], raw[i], raw[i + 1])
    out[#out + 1] = raw[i]
    out[#out + 1] = h[1]
    out[#out + 1] = h[5]
    out[#out + 1] = h[6]
    out[#out + 1] = h[4]
  end
end
return out
