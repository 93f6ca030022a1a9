-- Append turns: validate everything, then write (Lua never rolls back).
-- KEYS: meta, turns, idem
-- ARGV: now_ms, expected_version ('' = any), idem_key ('' = none), fingerprint,
--       max_turns, cache_ttl_ms (0 = persist: the archive will hold it), then one blob per turn
local meta, turns, idem = KEYS[1], KEYS[2], KEYS[3]
local now, expected, key, fingerprint = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max_turns = tonumber(ARGV[5])
local cache_ttl = tonumber(ARGV[6])
local n = #ARGV - 6

local state = redis.call('HMGET', meta, 'version', 'turn_count', 'archived_version', 'bytes')
if not state[1] then
  return {'missing'}
end
if key ~= '' then
  local record = redis.call('HGET', idem, key)
  if record then
    return {'duplicate', record}
  end
end
local version = tonumber(state[1])
local count = tonumber(state[2])
if count > 0 and redis.call('EXISTS', turns) == 0 then
  return {'archived'}
end
if expected ~= '' and tonumber(expected) ~= version then
  return {'version', version}
end
if count + n > max_turns then
  return {'full', count}
end

local added = 0
for i = 1, n do
  redis.call('XADD', turns, '0-' .. (count + i), 't', ARGV[6 + i])
  added = added + string.len(ARGV[6 + i])
end
local new_version = version + 1
redis.call('HSET', meta, 'version', new_version, 'turn_count', count + n,
  'bytes', tonumber(state[4]) + added, 'updated_at', now, 'touched_at', now)
if tonumber(state[3]) >= version then
  redis.call('HSET', meta, 'dirty_since', now)
end
if key ~= '' then
  local record = (count + 1) .. ':' .. (count + n) .. ':' .. new_version .. ':' .. fingerprint
  redis.call('HSET', idem, key, record)
end
if cache_ttl > 0 then
  redis.call('PEXPIRE', turns, cache_ttl)
  redis.call('PEXPIRE', idem, cache_ttl)
else
  redis.call('PERSIST', turns)
  redis.call('PERSIST', idem)
end
return {'ok', count + 1, count + n, new_version}
