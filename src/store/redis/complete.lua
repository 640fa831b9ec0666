-- KEYS: redemption, family, first token, and the SSO session (unless on a cluster, where it lives
-- in another slot and is checked after).
-- ARGV: deadline, family json, family end, client id, scopes, first token's idle end, first access
-- token's exp, now, upstream checked at.
-- Creates the family in one step, only while the redemption is pending and the session lives.
-- TTLs are remaining lives on the protocol clock (ARGV now), as in the rotation script.
-- Returns {-1} too late, {1} created, {0} revoked by a replay, {2} the session ended.
if redis.call('GET', KEYS[1]) ~= 'p' then return {0} end
if KEYS[4] and redis.call('EXISTS', KEYS[4]) == 0 then return {2} end
local now = tonumber(ARGV[8])
local fam_end = tonumber(ARGV[3])
if fam_end <= now then return {0} end
redis.call('HSET', KEYS[2], 'j', ARGV[2], 'exp', ARGV[3], 'c', ARGV[4], 'sc', ARGV[5], 'ae', ARGV[7], 'uc', ARGV[9])
redis.call('PEXPIRE', KEYS[2], (fam_end - now) * 1000)
local idle_end = tonumber(ARGV[6])
if idle_end > now then
  redis.call('HSET', KEYS[3], 'ie', ARGV[6])
  redis.call('PEXPIRE', KEYS[3], (idle_end - now) * 1000)
end
return {1}
