-- KEYS: family. ARGV: json, upstream checked at. Replaces the family record if it still exists.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'j', ARGV[1], 'uc', ARGV[2])
return 1
