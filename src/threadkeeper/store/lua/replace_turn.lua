-- Replace one turn in place (an edit, or a deletion's marker), keeping every seq.
-- Validate everything (guard.lua's checks first), then write (Lua never rolls back).
-- KEYS: meta, turns, idem, then on a standalone Redis the feed bucket (feed.lua)
-- ARGV: seq, sha1 of the turn as the caller read it, the new blob, now_ms,
--       expected_version ('' = any), cache_ttl_ms (0 = persist: the archive will hold it)
-- A stream takes new entries only past its last ID, so the turn cannot be rewritten
-- where it stands: the stream is rebuilt with the same IDs, one entry changed.
local meta, turns, idem = KEYS[1], KEYS[2], KEYS[3]
local seq, read_sha, blob, now = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local expected, cache_ttl = ARGV[5], tonumber(ARGV[6])

local refused, state, version, count = edit_guard(meta, turns, expected, 'bytes')
if refused then
  return refused
end
if seq < 1 or seq > count then
  return {'no_turn', version}
end
local id = '0-' .. seq
local found = redis.call('XRANGE', turns, id, id)
if #found == 0 then
  return {'no_turn', version}
end
local old = found[1][2][2]
if old == blob then
  return {'same', version}
end
if redis.sha1hex(old) ~= read_sha then
  return {'changed', version}
end

local entries = redis.call('XRANGE', turns, '-', '+')
redis.call('DEL', turns)
for _, entry in ipairs(entries) do
  if entry[1] == id then
    redis.call('XADD', turns, id, 't', blob)
  else
    redis.call('XADD', turns, entry[1], 't', entry[2][2])
  end
end
local new_version = version + 1
redis.call('HSET', meta, 'version', new_version, 'bytes',
  tonumber(state[4]) - string.len(old) + string.len(blob), 'updated_at', now, 'touched_at', now)
mark_dirty(meta, state, version, now)
keep_for({turns, idem}, cache_ttl)
record_change('edit', seq)
return {'ok', new_version}
