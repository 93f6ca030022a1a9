-- Fold LangGraph records into a thread's checkpoint index (checkpoints/index.py), if the
-- index has read exactly the turns before them: a compare-and-set on `~through`, the last
-- seq folded. The index is derived from the turns alone, so it is rebuilt from them when
-- lost (Redis data loss, a TTL lapse of a cold thread) or left by another incarnation of
-- the id (`~created` is the thread's created_at).
-- KEYS: meta, turns, blobs (hash), checkpoints (zset), writes (zset)
-- ARGV: expected through, new through, then one record per turn:
--   seq, 'c', ns, id, n_new, (channel NUL version) * n_new, n_all, (channel NUL version) * n_all
--   seq, 'w', ns, id, n, (task NUL idx) * n
--   seq, 'd', n, (ns NUL id) * n       (checkpoints dropped by a prune or a run deletion)
--   seq, '-'                           (a turn that is no LangGraph record)
local meta, turns, blobs, ckpts, writes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local created = redis.call('HGET', meta, 'created_at')
if not created then
  return {'missing'}
end
local count = tonumber(redis.call('HGET', meta, 'turn_count'))
local state = redis.call('HMGET', blobs, '~created', '~through')
local through = tonumber(state[2]) or 0
if state[1] ~= created or through > count then
  redis.call('DEL', blobs, ckpts, writes)
  redis.call('HSET', blobs, '~created', created, '~through', 0)
  through = 0
end
if through ~= tonumber(ARGV[1]) then
  return {'behind', through, count}
end

-- Every member of `prefix` (which ends in NUL): [prefix, prefix with its NUL made \1).
local function span(prefix)
  return '[' .. prefix, '(' .. string.sub(prefix, 1, -2) .. '\1'
end

local function checkpoint(i)
  local seq, ns, id = ARGV[i], ARGV[i + 2], ARGV[i + 3]
  local n_new = tonumber(ARGV[i + 4])
  i = i + 5
  for j = i, i + n_new - 1 do
    redis.call('HSET', blobs, ns .. '\0' .. ARGV[j], seq)
  end
  i = i + n_new
  local n_all = tonumber(ARGV[i])
  i = i + 1
  local seqs, seen = {seq}, {[seq] = true}
  for j = i, i + n_all - 1 do
    local at = redis.call('HGET', blobs, ns .. '\0' .. ARGV[j])
    if at and not seen[at] then
      seen[at] = true
      seqs[#seqs + 1] = at
    end
  end
  local prefix = ns .. '\0' .. id .. '\0'
  local low, high = span(prefix)
  redis.call('ZREMRANGEBYLEX', ckpts, low, high)
  redis.call('ZADD', ckpts, 0, prefix .. table.concat(seqs, ','))
  return i + n_all
end

-- A regular write (idx >= 0) is kept once per (task, idx): the first one stays. A special
-- one (idx < 0: error, interrupt, ...) replaces the last.
local function pending_writes(i)
  local seq, ns, id, n = ARGV[i], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  i = i + 5
  for j = i, i + n - 1 do
    local prefix = ns .. '\0' .. id .. '\0' .. ARGV[j] .. '\0'
    local low, high = span(prefix)
    local idx = tonumber(string.match(ARGV[j], '%z(-?%d+)$'))
    local kept = idx >= 0 and #redis.call('ZRANGEBYLEX', writes, low, high, 'LIMIT', 0, 1) > 0
    if not kept then
      redis.call('ZREMRANGEBYLEX', writes, low, high)
      redis.call('ZADD', writes, 0, prefix .. seq)
    end
  end
  return i + n
end

local function drop(i)
  local n = tonumber(ARGV[i + 2])
  i = i + 3
  for j = i, i + n - 1 do
    local low, high = span(ARGV[j] .. '\0')
    redis.call('ZREMRANGEBYLEX', ckpts, low, high)
    redis.call('ZREMRANGEBYLEX', writes, low, high)
  end
  return i + n
end

local kinds = {c = checkpoint, w = pending_writes, d = drop}
local i = 3
while i <= #ARGV do
  local fold = kinds[ARGV[i + 1]]
  if fold then
    i = fold(i)
  else
    i = i + 2
  end
end
redis.call('HSET', blobs, '~through', ARGV[2])
-- The index lives as long as the turns it points into.
keep_for({blobs, ckpts, writes}, redis.call('PTTL', turns))
return {'ok'}
