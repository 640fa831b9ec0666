-- KEYS: family, presented token, successor token.
-- ARGV: deadline, now, grace, successor hash, sealed successor, idle ttl, access exp, client id,
-- requested scopes ('' when none were asked for), recheck due before ('' for none).
-- Returns {-1} too late, {0} invalid, {1, family} rotated, {2, family, sealed} retry, {3, family,
-- access exp} reused, {4} another client's token, {5} scopes widened,
-- {6, family} upstream recheck due.
--
-- Times are the protocol clock's (ARGV now); the records' Redis TTLs are the family's remaining
-- life on that clock, so no PTTL read is needed.
local now = tonumber(ARGV[2])
local fam = redis.call('HMGET', KEYS[1], 'j', 'exp', 'c', 'sc', 'ae', 'uc')
if not fam[1] then return {0} end
local fam_end = tonumber(fam[2])
if now >= fam_end then return {0} end
if fam[3] ~= ARGV[8] then return {4} end
if ARGV[9] ~= '' then
  local have = {}
  for s in string.gmatch(fam[4], '%S+') do have[s] = true end
  for s in string.gmatch(ARGV[9], '%S+') do
    if not have[s] then return {5} end
  end
end
local tok = redis.call('HMGET', KEYS[2], 'ie', 's', 'sealed', 'at')
if not tok[1] then return {0} end
local fam_ms = (fam_end - now) * 1000
-- The family's access tokens are denied together, by family; it only remembers until when.
local function remember_access()
  if tonumber(ARGV[7]) > (tonumber(fam[5]) or 0) then redis.call('HSET', KEYS[1], 'ae', ARGV[7]) end
end
if not tok[2] then
  if now >= tonumber(tok[1]) then return {0} end
  if ARGV[10] ~= '' then
    local checked = tonumber(fam[6]) or 0
    if checked < tonumber(ARGV[10]) then return {6, fam[1]} end
  end
  -- The rotated token is remembered for the family's life, to detect its reuse.
  redis.call('HSET', KEYS[2], 's', ARGV[4], 'sealed', ARGV[5], 'at', ARGV[2])
  redis.call('PEXPIRE', KEYS[2], fam_ms)
  local idle = tonumber(ARGV[6])
  redis.call('HSET', KEYS[3], 'ie', tostring(math.min(now + idle, fam_end)))
  redis.call('PEXPIRE', KEYS[3], math.max(math.min(idle * 1000, fam_ms), 1))
  remember_access()
  return {1, fam[1]}
end
if now - tonumber(tok[4]) <= tonumber(ARGV[3]) then
  remember_access()
  return {2, fam[1], tok[3]}
end
redis.call('DEL', KEYS[1])
return {3, fam[1], fam[5] or '0'}
