-- KEYS: due set, items hash. ARGV: now, lease end, limit. Claims due items by pushing their due
-- time to the lease end, atomically, and returns them.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local item = redis.call('HGET', KEYS[2], id)
  if item then
    redis.call('ZADD', KEYS[1], tonumber(ARGV[2]), id)
    table.insert(out, item)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
