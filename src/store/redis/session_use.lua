-- KEYS: session. ARGV: now, client ('' for none). Returns 0 when the session is gone.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(ARGV[1]) > (tonumber(redis.call('HGET', KEYS[1], 'ls')) or 0) then
  redis.call('HSET', KEYS[1], 'ls', ARGV[1])
end
if ARGV[2] ~= '' then
  local clients = redis.call('HGET', KEYS[1], 'c') or ''
  for c in string.gmatch(clients, '%S+') do
    if c == ARGV[2] then return 1 end
  end
  if clients == '' then clients = ARGV[2] else clients = clients .. ' ' .. ARGV[2] end
  redis.call('HSET', KEYS[1], 'c', clients)
end
return 1
