-- The checks an in-place edit makes before it writes (replace_turn.lua, update_thread.lua),
-- put before those scripts (scripts.py). Answers the refusal to return, or nil and the
-- thread's HMGET state (version, turn_count, archived_version, then `more` fields), its
-- version and turn count.
local function edit_guard(meta, turns, expected, ...)
  local state = redis.call('HMGET', meta, 'version', 'turn_count', 'archived_version', ...)
  if not state[1] then
    return {'missing'}
  end
  local version, count = tonumber(state[1]), tonumber(state[2])
  if count > 0 and redis.call('EXISTS', turns) == 0 then
    return {'archived'}
  end
  if expected ~= '' and tonumber(expected) ~= version then
    return {'version', version}
  end
  return nil, state, version, count
end

-- An edit of an archived version makes the thread dirty again (the sweeper archives it).
local function mark_dirty(meta, state, version, now)
  if tonumber(state[3]) >= version then
    redis.call('HSET', meta, 'dirty_since', now)
  end
end
