-- Put a verified snapshot's turns back into Redis (rehydrate, recover, import).
-- Restores only if Redis has no turns for the thread and its metadata (when present)
-- is at exactly the snapshot's version; otherwise says why not.
-- KEYS: meta, turns, idem, tomb
-- ARGV: version, hot_ttl_ms (0 = none), n_meta_pairs, n_idem_pairs,
--       meta pairs..., idem pairs..., then one blob per turn
local version = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local n_meta, n_idem = tonumber(ARGV[3]), tonumber(ARGV[4])
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
  if redis.call('EXISTS', KEYS[4]) == 1 then
    return {'tombstoned'}
  end
  local fields = {}
  for i = at, at + 2 * n_meta - 1 do
    fields[#fields + 1] = ARGV[i]
  end
  redis.call('HSET', KEYS[1], unpack(fields))
end
at = at + 2 * n_meta
for i = at, at + 2 * n_idem - 1, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
at = at + 2 * n_idem
local seq = 0
for i = at, #ARGV do
  seq = seq + 1
  redis.call('XADD', KEYS[2], '0-' .. seq, 't', ARGV[i])
end
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
  redis.call('PEXPIRE', KEYS[6], ttl)
end
return {'ok', seq}
