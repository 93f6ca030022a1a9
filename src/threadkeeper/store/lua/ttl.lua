-- Keys that live `ttl` milliseconds from now, or for ever (ttl <= 0: PTTL's -1 too).
local function keep_for(names, ttl)
  for _, name in ipairs(names) do
    if ttl > 0 then
      redis.call('PEXPIRE', name, ttl)
    else
      redis.call('PERSIST', name)
    end
  end
end
