#!lua flags=no-writes
-- Everything a snapshot needs, read at one instant (no MULTI: a cluster client's
-- transactions are less tested than scripts, and a Redis at maxmemory refuses a
-- MULTI but runs a no-writes script).
-- KEYS: meta, turns, idem (records), legacy idem (both generations)
return {redis.call('HGETALL', KEYS[1]), redis.call('XRANGE', KEYS[2], '-', '+'),
        redis.call('HVALS', KEYS[3]), redis.call('HGETALL', KEYS[4]),
        redis.call('HGETALL', KEYS[5])}
