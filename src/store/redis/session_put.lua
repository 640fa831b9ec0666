-- KEYS: session. ARGV: session json, expire-at (Unix seconds), last use, clients
-- (space-separated). A session is a hash: 'j' its record as created, 'ls' its last use and 'c'
-- its clients, which `SESSION_USE_LUA` updates in place.
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'j', ARGV[1], 'ls', ARGV[3], 'c', ARGV[4])
redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[2]))
return 1
