-- KEYS: index set. ARGV: member, expire-at (Unix seconds), now. The index lives as long as its
-- longest-lived member. A member already past its end is not added: a new index would get no TTL
-- (`TTL` answers -1 for a key without one, which is not below a negative remaining life).
local want = tonumber(ARGV[2]) - tonumber(ARGV[3])
if want <= 0 then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) < want then redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[2])) end
return 1
