-- KEYS: due set, items hash (one hash tag). ARGV: id, json, due, expire-at, now.
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], tonumber(ARGV[3]), ARGV[1])
local want = tonumber(ARGV[4]) - tonumber(ARGV[5])
for i = 1, 2 do
  if redis.call('TTL', KEYS[i]) < want then redis.call('EXPIREAT', KEYS[i], tonumber(ARGV[4])) end
end
return 1
