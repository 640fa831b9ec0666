-- KEYS: the device request, its decision, its poll gate. ARGV: gate seconds.
-- Returns {0} when there is no request, else {1, request, decision or '', 1 when the previous
-- poll came less than the gate ago}. A poll that was not too soon starts a new gate.
local request = redis.call('GET', KEYS[1])
if not request then return {0} end
local decision = redis.call('GET', KEYS[2]) or ''
local too_soon = 0
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', tonumber(ARGV[1])) then too_soon = 1 end
return {1, request, decision, too_soon}
