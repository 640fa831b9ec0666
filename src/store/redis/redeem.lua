-- KEYS: code, redemption. ARGV: deadline, remember ms.
-- Returns {-1} too late, {1, code json} redeemed, {2} replayed (the redemption is now revoked),
-- {0} unknown. The redemption record is 'p' (pending or completed) or 'x' (revoked by a replay).
local code = redis.call('GET', KEYS[1])
if code then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], 'p', 'PX', tonumber(ARGV[2]))
  return {1, code}
end
if redis.call('GET', KEYS[2]) == 'p' then
  redis.call('SET', KEYS[2], 'x', 'KEEPTTL')
  return {2}
end
return {0}
