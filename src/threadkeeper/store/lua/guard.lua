-- The checks a write to a thread makes before it writes, and what every write does after
-- (append.lua, replace_turn.lua, update_thread.lua), put before those scripts (scripts.py).

-- A write refused: the thread's turns are only in the archive (rehydrate first), or it is
-- at another version than the caller expects ('' = any). nil: go ahead.
local function write_refusal(turns, count, version, expected)
  if count > 0 and redis.call('EXISTS', turns) == 0 then
    return {'archived'}
  end
  if expected ~= '' and tonumber(expected) ~= version then
    return {'version', version}
  end
  return nil
end

-- An in-place edit's checks: the refusal to return, or nil and the thread's HMGET state
-- (version, turn_count, archived_version, then the `...` fields), version and turn count.
local function edit_guard(meta, turns, expected, ...)
  local state = redis.call('HMGET', meta, 'version', 'turn_count', 'archived_version', ...)
  if not state[1] then
    return {'missing'}
  end
  local version, count = tonumber(state[1]), tonumber(state[2])
  return write_refusal(turns, count, version, expected), state, version, count
end

-- A write to an archived version makes the thread dirty again (the sweeper archives it).
local function mark_dirty(meta, state, version, now)
  if tonumber(state[3]) >= version then
    redis.call('HSET', meta, 'dirty_since', now)
  end
end
