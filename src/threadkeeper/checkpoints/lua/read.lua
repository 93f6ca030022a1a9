#!lua flags=no-writes
-- Read LangGraph checkpoints with everything needed to rebuild them: the index members
-- and the turns they point at (checkpoints/index.py). Reads nothing unless the index has
-- folded every turn: 'archived' asks the caller to rehydrate first, 'behind' to fold them.
-- KEYS: meta, turns, blobs (hash), checkpoints (zset), writes (zset)
-- ARGV: mode ('one' | 'page'), ns, id ('' = the newest), before ('' = none), limit,
--       all_ns ('1': every namespace, newest id first; ns is then ignored)
-- Answers {'ok', checkpoint members, their write members (a list each), seq, turn, ...}.
local meta, turns, blobs, ckpts, writes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local mode, ns, id, before = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local limit = tonumber(ARGV[5])
local state = redis.call('HMGET', meta, 'created_at', 'turn_count')
if not state[1] then
  return {'missing'}
end
local count = tonumber(state[2])
if count > 0 and redis.call('EXISTS', turns) == 0 then
  return {'archived'}
end
local index = redis.call('HMGET', blobs, '~created', '~through')
local through = tonumber(index[2]) or 0
if index[1] ~= state[1] then
  through = 0
end
if through ~= count then
  return {'behind', through, count}
end

local function span(prefix)
  return '[' .. prefix, '(' .. string.sub(prefix, 1, -2) .. '\1'
end

local function id_of(member)
  return string.match(member, '^[^%z]*%z([^%z]*)%z')
end

local members
if mode == 'one' and id ~= '' then
  local low, high = span(ns .. '\0' .. id .. '\0')
  members = redis.call('ZRANGEBYLEX', ckpts, low, high, 'LIMIT', 0, 1)
elseif mode == 'one' or ARGV[6] ~= '1' then
  local high = '(' .. ns .. '\1'
  if before ~= '' then
    high = '(' .. ns .. '\0' .. before .. '\0'
  end
  members = redis.call('ZREVRANGEBYLEX', ckpts, high, '[' .. ns .. '\0', 'LIMIT', 0, limit)
else  -- every namespace: by id, newest first
  members = {}
  for _, member in ipairs(redis.call('ZRANGE', ckpts, 0, -1)) do
    if before == '' or id_of(member) < before then
      members[#members + 1] = member
    end
  end
  table.sort(members, function(a, b) return id_of(a) > id_of(b) end)
  for j = #members, limit + 1, -1 do
    members[j] = nil
  end
end

local found, seqs, seen = {}, {}, {}
local function want(seq)
  if not seen[seq] then
    seen[seq] = true
    seqs[#seqs + 1] = seq
  end
end
for j, member in ipairs(members) do
  for seq in string.gmatch(string.match(member, '%z([%d,]*)$'), '%d+') do
    want(seq)
  end
  local low, high = span(string.match(member, '^([^%z]*%z[^%z]*%z)'))
  found[j] = redis.call('ZRANGEBYLEX', writes, low, high)
  for _, write in ipairs(found[j]) do
    want(string.match(write, '%z(%d+)$'))
  end
end
local held = {}
for _, seq in ipairs(seqs) do
  local entry = redis.call('XRANGE', turns, '0-' .. seq, '0-' .. seq)[1]
  if entry then
    held[#held + 1] = seq
    held[#held + 1] = entry[2][2]
  end
end
return {'ok', members, found, held}
