-- Append turns: validate everything, then write (Lua never rolls back).
-- KEYS: meta, turns, idem, recent, idem_old, then, on a standalone Redis only, the
--       thread's index buckets: activity, dirty, tenant listing (on a cluster they live
--       in other slots: the store writes them beside the script, in the same round trip)
-- ARGV: now_ms, expected_version ('' = any), idem_key ('' = none), fingerprint,
--       max_turns, cache_ttl_ms (0 = persist: the archive will hold it),
--       request_id ('' = none: the server's id for a keyless append), recent_ttl_ms,
--       recent_max, idem_window (0 = keep every key), the thread's index members
--       (`tenant:id` in activity and dirty, `id` in the listing), then one turn per
--       argument: its JSON without the opening `{"seq":N,`, written here, where the seq
--       is assigned (codec.encode_turn)
-- A request id makes a resent append (redis-py retries one whose reply was lost) answer
-- like the first one instead of storing its turns twice. Keyed requests are remembered
-- with the thread; a keyless one only for a few minutes, in a short list. Keyed records
-- live in two generations: once `idem` holds idem_window keys it becomes `idem_old`
-- (dropping the one before), so the last idem_window to 2 x idem_window keys answer.
local meta, turns, idem, recent, idem_old = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, expected, key, fingerprint = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max_turns = tonumber(ARGV[5])
local cache_ttl = tonumber(ARGV[6])
local request_id = ARGV[7]
local recent_ttl, recent_max = tonumber(ARGV[8]), tonumber(ARGV[9])
local window = tonumber(ARGV[10])
local member, listed = ARGV[11], ARGV[12]
local first_blob = 13
local n = #ARGV - first_blob + 1

local state = redis.call('HMGET', meta, 'version', 'turn_count', 'archived_version', 'bytes')
if not state[1] then
  return {'missing'}
end
if key ~= '' then
  local record = redis.call('HGET', idem, key) or redis.call('HGET', idem_old, key)
  if record then
    return {'duplicate', record}
  end
end
if request_id ~= '' then
  local prefix = request_id .. '|'
  for _, record in ipairs(redis.call('LRANGE', recent, 0, -1)) do
    if string.sub(record, 1, #prefix) == prefix then
      return {'resent', string.sub(record, #prefix + 1)}
    end
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
  local blob = '{"seq":' .. (count + i) .. ',' .. ARGV[first_blob + i - 1]
  redis.call('XADD', turns, '0-' .. (count + i), 't', blob)
  added = added + string.len(blob)
end
local new_version = version + 1
redis.call('HSET', meta, 'version', new_version, 'turn_count', count + n,
  'bytes', tonumber(state[4]) + added, 'updated_at', now, 'touched_at', now)
if tonumber(state[3]) >= version then
  redis.call('HSET', meta, 'dirty_since', now)
end
local done = (count + 1) .. ':' .. (count + n) .. ':' .. new_version
if key ~= '' then
  if window > 0 and redis.call('HLEN', idem) >= window then
    redis.call('RENAME', idem, idem_old)
  end
  redis.call('HSET', idem, key, done .. ':' .. fingerprint)
end
if request_id ~= '' then
  redis.call('LPUSH', recent, request_id .. '|' .. done)
  redis.call('LTRIM', recent, 0, recent_max - 1)
  redis.call('PEXPIRE', recent, recent_ttl)
end
if cache_ttl > 0 then
  redis.call('PEXPIRE', turns, cache_ttl)
  redis.call('PEXPIRE', idem, cache_ttl)
  redis.call('PEXPIRE', idem_old, cache_ttl)
else
  redis.call('PERSIST', turns)
  redis.call('PERSIST', idem)
  redis.call('PERSIST', idem_old)
end
if #KEYS == 8 then  -- the indexes, as ThreadStore._append_indexes writes them on a cluster
  redis.call('ZADD', KEYS[6], 'XX', now, member)
  if cache_ttl == 0 then
    redis.call('ZADD', KEYS[7], 'NX', now, member)
  end
  redis.call('ZADD', KEYS[8], 'XX', now, listed)
end
return {'ok', count + 1, count + n, new_version}
