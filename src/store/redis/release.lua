-- KEYS: redemption, family, code. ARGV: code json, ttl ms. A pending redemption that created
-- nothing becomes the code again.
if redis.call('GET', KEYS[1]) ~= 'p' then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[3], ARGV[1], 'PX', tonumber(ARGV[2])) end
return 1
