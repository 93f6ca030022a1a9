-- Recreate a deleted thread's tombstone (recover), only where Redis has neither the
-- thread nor a tombstone: never over live data.
-- KEYS: meta, tomb. ARGV: field, value, ... of the tombstone
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 'present'
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], unpack(ARGV))
end
return 'tombstoned'
