-- Change a thread's title and/or metadata. Validate everything, then write.
-- KEYS: meta, turns, idem, then on a standalone Redis the feed bucket (feed.lua)
-- ARGV: now_ms, expected_version ('' = any), cache_ttl_ms, then field, value pairs
-- (only 'title', 'metadata', 'user_id' and 'listings'). The same values again change
-- nothing: 'same' (an absent field reads as '').
local meta, turns, idem = KEYS[1], KEYS[2], KEYS[3]
local now, expected, cache_ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])

local state = redis.call('HMGET', meta, 'version', 'turn_count', 'archived_version')
if not state[1] then
  return {'missing'}
end
local version, count = tonumber(state[1]), tonumber(state[2])
if count > 0 and redis.call('EXISTS', turns) == 0 then
  return {'archived'}
end
if expected ~= '' and tonumber(expected) ~= version then
  return {'version', version}
end
local fields, changed = {}, false
for i = 4, #ARGV, 2 do
  if (redis.call('HGET', meta, ARGV[i]) or '') ~= ARGV[i + 1] then
    changed = true
  end
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
end
if not changed then
  return {'same', version}
end

redis.call('HSET', meta, 'version', version + 1, 'updated_at', now, 'touched_at', now,
  unpack(fields))
if tonumber(state[3]) >= version then
  redis.call('HSET', meta, 'dirty_since', now)
end
if cache_ttl > 0 then
  redis.call('PEXPIRE', turns, cache_ttl)
else
  redis.call('PERSIST', turns)
  redis.call('PERSIST', idem)
end
record_change('meta', 0)
return {'ok', version + 1}
