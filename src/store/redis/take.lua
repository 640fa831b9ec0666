-- KEYS: the record. ARGV: deadline. Returns {-1} too late, {1, value} taken, {0} none.
-- Single use of a login in progress or a consent request: a take that ran after its caller gave
-- up would leave the user's retry with "this sign-in has expired".
local v = redis.call('GET', KEYS[1])
if not v then return {0} end
redis.call('DEL', KEYS[1])
return {1, v}
