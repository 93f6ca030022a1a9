-- Change a thread's title and/or metadata. Validate everything (guard.lua's checks first), then
-- write.
-- KEYS: meta, turns, idem, then on a standalone Redis the feed bucket (feed.lua)
-- ARGV: now_ms, expected_version ('' = any), cache_ttl_ms, then field, value pairs
-- (only 'title', 'metadata', 'user_id' and 'listings'). The same values again change
-- nothing: 'same' (an absent field reads as '').
local meta, turns, idem = KEYS[1], KEYS[2], KEYS[3]
local now, expected, cache_ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])

local refused, state, version = edit_guard(meta, turns, expected)
if refused then
  return refused
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
mark_dirty(meta, state, version, now)
if cache_ttl > 0 then
  redis.call('PEXPIRE', turns, cache_ttl)
else
  redis.call('PERSIST', turns)
  redis.call('PERSIST', idem)
end
record_change('meta', 0)
return {'ok', version + 1}
