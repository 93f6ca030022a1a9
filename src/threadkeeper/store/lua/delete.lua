#!lua flags=allow-oom
-- Delete a thread from Redis and leave a tombstone saying when and why.
-- allow-oom: at maxmemory a delete is how an operator frees memory; it writes a
-- small tombstone and removes the thread's keys.
-- KEYS: meta, turns, idem, legacy idem (both generations), recent, tomb, the LangGraph
--       index keys (keys.ThreadKeys.all), then on a standalone Redis the feed bucket
--       (feed.lua)
-- ARGV: reason, now_ms, expected_version ('' = any; retention passes the version it judged)
local state = redis.call('HMGET', KEYS[1], 'version', 'turn_count', 'user_id', 'listings')
if not state[1] then
  return {'missing'}
end
if ARGV[3] ~= '' and tonumber(ARGV[3]) ~= tonumber(state[1]) then
  return {'moved', state[1]}
end
redis.call('HSET', KEYS[7], 'reason', ARGV[1], 'at', ARGV[2],
  'version', state[1], 'turn_count', state[2])
if state[3] then  -- its owner's token may still be told when and why it went
  redis.call('HSET', KEYS[7], 'user_id', state[3])
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
for i = 8, #KEYS do
  if not is_feed(KEYS[i]) then  -- the feed stays (feed.lua)
    redis.call('DEL', KEYS[i])
  end
end
record_change('delete', 0)
return {'ok', state[1], state[4] or ''}
