-- Create a thread: its metadata hash and its first turns, or nothing.
-- KEYS: meta, turns, idem, legacy idem (both generations), recent, tomb, the LangGraph
--       index keys (keys.ThreadKeys.all), then on a standalone Redis the feed bucket
--       (feed.lua)
-- ARGV: cache_ttl_ms (0 = none), create_key ('' = none), n_pairs, field, value, ...
--       (n_pairs pairs), then one blob per turn
-- A thread that exists with this create_key is this very create, resent (a retry after
-- a lost reply): 'replay', so the caller answers as the first attempt would have.
if redis.call('EXISTS', KEYS[1]) == 1 then
  if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'create_key') == ARGV[2] then
    return {'replay'}
  end
  return {'exists'}
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'orphan_turns'}
end
local cache_ttl = tonumber(ARGV[1])
local n_pairs = tonumber(ARGV[3])
local fields = {}
for i = 4, 3 + 2 * n_pairs do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
local seq = 0
for i = 4 + 2 * n_pairs, #ARGV do
  seq = seq + 1
  redis.call('XADD', KEYS[2], '0-' .. seq, 't', ARGV[i])
end
redis.call('DEL', KEYS[7])
if cache_ttl > 0 and seq > 0 then
  redis.call('PEXPIRE', KEYS[2], cache_ttl)
end
record_change('create', 0)
return {'ok', seq}
