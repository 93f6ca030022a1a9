-- Create a thread: its metadata hash and its first turns, or nothing.
-- KEYS: meta, turns, idem, tomb
-- ARGV: cache_ttl_ms (0 = none), n_pairs, field, value, ... (n_pairs pairs), then one blob per turn
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists'}
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'orphan_turns'}
end
local cache_ttl = tonumber(ARGV[1])
local n_pairs = tonumber(ARGV[2])
local fields = {}
for i = 3, 2 + 2 * n_pairs do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
local seq = 0
for i = 3 + 2 * n_pairs, #ARGV do
  seq = seq + 1
  redis.call('XADD', KEYS[2], '0-' .. seq, 't', ARGV[i])
end
redis.call('DEL', KEYS[4])
if cache_ttl > 0 and seq > 0 then
  redis.call('PEXPIRE', KEYS[2], cache_ttl)
end
return {'ok', seq}
