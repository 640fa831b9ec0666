-- KEYS: family. Returns {} or {family, access exp}, deleting the family.
local fam = redis.call('HMGET', KEYS[1], 'j', 'ae')
if not fam[1] then return {} end
redis.call('DEL', KEYS[1])
return {fam[1], fam[2] or '0'}
