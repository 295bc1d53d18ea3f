-- Read the live holds as they are (for a rebuild that takes them over), epoch or not.
-- KEYS[1] holds, KEYS[2] hold expiries, KEYS[3] earlier holds. ARGV[1] now.
-- Returns lease, account, flop, gpu, expiresAt, terms per hold, flat.
prune_holds(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]))
local raw = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #raw, 2 do
  if string.sub(raw[i], 1, 1) ~= '#' then
    local h = parse_hold(KEYS[1], raw[i], raw[i + 1])
    out[#out + 1] = raw[i]
    out[#out + 1] = h[1]
    out[#out + 1] = h[2]
    out[#out + 1] = h[3]
    out[#out + 1] = h[4]
    out[#out + 1] = terms_of(KEYS[1], raw[i], h[4])
  end
end
return out
