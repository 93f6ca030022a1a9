-- A read of a thread: note the touch, and push back the hot TTL of a clean thread.
-- KEYS: meta, turns, idem, legacy idem (both generations), the LangGraph index keys
-- ARGV: now_ms, hot_ttl_ms (0 = never expire: PEXPIRE 0 would delete the turns at once)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'touched_at', ARGV[1])
if redis.call('PTTL', KEYS[2]) > 0 then
  for i = 2, #KEYS do
    if tonumber(ARGV[2]) > 0 then
      redis.call('PEXPIRE', KEYS[i], ARGV[2])
    else
      redis.call('PERSIST', KEYS[i])
    end
  end
end
return 1
