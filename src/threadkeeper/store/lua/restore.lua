-- Put a verified snapshot's turns back into Redis (rehydrate, recover, import).
-- Restores only if Redis has no turns for the thread and its metadata (when present)
-- is at exactly the snapshot's version; otherwise says why not.
-- KEYS: meta, turns, idem (records), legacy idem (both generations), recent, tomb, the
--       LangGraph index keys (keys.ThreadKeys.all), then on a standalone Redis the feed
--       bucket (feed.lua)
-- ARGV: version, hot_ttl_ms (0 = none), n_meta_pairs, n_bucket_pairs, meta pairs...,
--       the idempotency records' buckets (idempotency.buckets; older forms converted),
--       then one blob per turn
local version = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local n_meta, n_buckets = tonumber(ARGV[3]), tonumber(ARGV[4])
local at = 5
if redis.call('EXISTS', KEYS[1]) == 1 then
  local state = redis.call('HMGET', KEYS[1], 'version', 'turn_count')
  if redis.call('EXISTS', KEYS[2]) == 1 or tonumber(state[2]) == 0 then
    return {'present', state[1]}
  end
  if tonumber(state[1]) ~= version then
    return {'behind', state[1], state[2]}
  end
elseif n_meta == 0 then
  return {'missing'}
else
  if redis.call('EXISTS', KEYS[7]) == 1 then
    return {'tombstoned'}
  end
  local fields = {}
  for i = at, at + 2 * n_meta - 1 do
    fields[#fields + 1] = ARGV[i]
  end
  redis.call('HSET', KEYS[1], unpack(fields))
end
at = at + 2 * n_meta
local buckets = at
at = at + 2 * n_buckets
-- The turns first: at maxmemory Redis refuses a script's first write if it is one that
-- grows memory (XADD), but not once the script has written anything (a DEL would do).
local seq = 0
for i = at, #ARGV do
  seq = seq + 1
  redis.call('XADD', KEYS[2], '0-' .. seq, 't', ARGV[i])
end
for i = buckets, buckets + 2 * n_buckets - 1, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
-- The snapshot's records are every key the thread had seen at its version, old forms
-- included: the older forms' hashes go.
redis.call('DEL', KEYS[4], KEYS[5])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
if n_meta > 0 then  -- a thread put back whole (recover, import): new to the index
  record_change('restore', 0)
end
return {'ok', seq}
