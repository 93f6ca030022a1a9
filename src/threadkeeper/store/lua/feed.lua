-- The change feed (keys.feed_stream), put before the scripts that change a thread's
-- content (scripts.py). On a standalone Redis the store passes the thread's feed bucket
-- as the last KEY and the event is written with the change, atomically; on a cluster
-- the bucket is in another slot and the store writes the event beside the script.
-- Events carry ids only: the indexer reads the text from the thread itself.
local function record_change(kind, seq)
  local feed = KEYS[#KEYS]
  if not string.match(feed, '^tk:idx:{[^}]*}:feed$') then  -- keys.feed_stream, nothing else
    return
  end
  local tenant, id = string.match(KEYS[1], '{([^:}]*):([^}]*)}')
  redis.call('XADD', feed, 'MAXLEN', '~', FEED_CAP, '*', 't', tenant, 'i', id, 's', seq,
    'k', kind)
end
