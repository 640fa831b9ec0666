-- KEYS: session. Returns {json, last seen, clients} and deletes it, or {} if gone.
local v = redis.call('HMGET', KEYS[1], 'j', 'ls', 'c')
if not v[1] then return {} end
redis.call('DEL', KEYS[1])
return v
