-- After a verified snapshot of `version`: record it, and only if the thread did not
-- move meanwhile, mark it clean and give its turns the hot TTL (compare-and-set).
-- The snapshot is of one incarnation of the id: a thread deleted and re-created since
-- (another created_at) is not the one archived, whatever its version says.
-- KEYS: meta, turns, idem, legacy idem (both generations), the LangGraph index keys
-- ARGV: version, created_at, now_ms, hot_ttl_ms (0 = no TTL)
local state = redis.call('HMGET', KEYS[1], 'version', 'archived_version', 'created_at')
if not state[1] or tonumber(state[3]) ~= tonumber(ARGV[2]) then
  return {'missing'}
end
local snap = tonumber(ARGV[1])
if snap > tonumber(state[2]) then
  redis.call('HSET', KEYS[1], 'archived_version', snap, 'archived_at', ARGV[3])
end
if tonumber(state[1]) ~= snap then
  return {'moved', state[1]}
end
redis.call('HSET', KEYS[1], 'dirty_since', '')
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  for i = 2, #KEYS do
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return {'clean', state[1]}
