-- Append turns: validate everything (guard.lua's checks too), then write (Lua never rolls
-- back).
-- KEYS: meta, turns, idem (records), legacy idem, legacy idem (previous generation),
--       recent (keys.ThreadKeys.appended), then, on a standalone Redis only, the thread's index buckets:
--       activity, dirty, tenant listing (on a cluster they live in other slots: the
--       store writes them beside the script, in the same round trip), then (standalone)
--       the feed bucket (feed.lua)
-- ARGV: now_ms, expected_version ('' = any), idem_key ('' = none),
--       tag (the key's digest and the body's fingerprint: idempotency.request_tag),
--       max_turns, cache_ttl_ms (0 = persist: the archive will hold it),
--       request_id ('' = none: the server's id for a keyless append), recent_ttl_ms,
--       recent_max, the thread's index members (`tenant:id` in activity and dirty, `id`
--       in the listing), then one turn per argument, stored as given (codec.encode_turn)
-- A request id makes a resent append (redis-py retries one whose reply was lost) answer
-- like the first one instead of storing its turns twice. A keyed request leaves a
-- 24-byte record for ever (idempotency.py): tag | first seq | last seq | version, in the
-- bucket (a hash field) named by its first byte; a keyless one is remembered only for a
-- few minutes, in a short list. Older versions'
-- records (a hash per generation, key -> "first:last:version:fingerprint") still answer:
-- 'legacy' and the record, for the caller to compare the fingerprint.
local meta, turns, idem = KEYS[1], KEYS[2], KEYS[3]
local legacy, legacy_old, recent = KEYS[4], KEYS[5], KEYS[6]
local now, expected, key, tag = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max_turns = tonumber(ARGV[5])
local cache_ttl = tonumber(ARGV[6])
local request_id = ARGV[7]
local recent_ttl, recent_max = tonumber(ARGV[8]), tonumber(ARGV[9])
local member, listed = ARGV[10], ARGV[11]
local first_blob = 12
local n = #ARGV - first_blob + 1
local RECORD = 24

-- The record whose digest (its first 8 bytes) is `digest`, if any: a match found
-- inside another record (not on a record boundary) is skipped.
local function find_record(records, digest)
  local at = 1
  while true do
    local hit = string.find(records, digest, at, true)
    if not hit then
      return nil
    end
    if (hit - 1) % RECORD == 0 then
      return string.sub(records, hit, hit + RECORD - 1)
    end
    at = hit + 1
  end
end

local state = redis.call('HMGET', meta, 'version', 'turn_count', 'archived_version', 'bytes')
if not state[1] then
  return {'missing'}
end
local bucket = string.sub(tag, 1, 1)
if key ~= '' then
  local records = redis.call('HGET', idem, bucket)
  local record = records and find_record(records, string.sub(tag, 1, 8))
  if record then
    local first, last, version = struct.unpack('>I4I4I4', record, 13)
    local same = string.sub(record, 9, 12) == string.sub(tag, 9, 12)
    return {same and 'duplicate' or 'mismatch', first, last, version}
  end
  local old = redis.call('HGET', legacy, key) or redis.call('HGET', legacy_old, key)
  if old then
    return {'legacy', old}
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
local refused = write_refusal(turns, count, version, expected)
if refused then
  return refused
end
if count + n > max_turns then
  return {'full', count}
end

local added = 0
for i = 1, n do
  local blob = ARGV[first_blob + i - 1]
  redis.call('XADD', turns, '0-' .. (count + i), 't', blob)
  added = added + string.len(blob)
end
local new_version = version + 1
redis.call('HSET', meta, 'version', new_version, 'turn_count', count + n,
  'bytes', tonumber(state[4]) + added, 'updated_at', now, 'touched_at', now)
mark_dirty(meta, state, version, now)
if key ~= '' then
  local record = tag .. struct.pack('>I4I4I4', count + 1, count + n, new_version)
  redis.call('HSET', idem, bucket, (redis.call('HGET', idem, bucket) or '') .. record)
end
if request_id ~= '' then
  local done = (count + 1) .. ':' .. (count + n) .. ':' .. new_version
  redis.call('LPUSH', recent, request_id .. '|' .. done)
  redis.call('LTRIM', recent, 0, recent_max - 1)
  redis.call('PEXPIRE', recent, recent_ttl)
end
keep_for({turns, idem, legacy, legacy_old}, cache_ttl)
-- The thread's owner's and indexed metadata's listings (keys.py names them; the hash
-- keeps their names): in the tenant listing's slot, so written here on a standalone
-- Redis; on a cluster the store writes them from the names returned.
local listings = redis.call('HGET', meta, 'listings') or ''
if #KEYS >= 9 then  -- the indexes, as IndexWrites.appended writes them on a cluster
  redis.call('ZADD', KEYS[7], 'XX', now, member)
  if cache_ttl == 0 then
    redis.call('ZADD', KEYS[8], 'NX', now, member)
  end
  redis.call('ZADD', KEYS[9], 'XX', now, listed)
  for name in string.gmatch(listings, '%S+') do
    redis.call('ZADD', name, 'XX', 'GT', now, listed)
  end
end
record_change('append', count + 1)
return {'ok', count + 1, count + n, new_version, listings}
