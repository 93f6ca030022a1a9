-- The change feed (keys.feed_stream), put before the scripts that change a thread's
-- content (scripts.py). On a standalone Redis the store passes the thread's feed bucket
-- as the last KEY and the event is written with the change, atomically; on a cluster
-- the bucket is in another slot and the store writes the event beside the script.
-- Events carry ids only: the indexer reads the text from the thread itself.
-- A feed bucket's name (keys.feed_stream), and nothing else: not a tenant's listing
-- whose name ends in ':feed' too.
local function is_feed(key)
  return string.match(key, 'FEED_PATTERN') ~= nil
end

local function record_change(kind, seq)
  local feed = KEYS[#KEYS]
  if not is_feed(feed) then
    return
  end
  local tenant, id = string.match(KEYS[1], '{([^:}]*):([^}]*)}')
  redis.call('XADD', feed, 'MAXLEN', '~', FEED_CAP, '*', 't', tenant, 'i', id, 's', seq,
    'k', kind)
end
