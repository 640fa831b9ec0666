-- Prepended to every script that must not act after its caller gave up: ARGV[1] is the deadline
-- in milliseconds on Redis's clock ('' for none); past it the script returns {-1} at once.
-- `replicate_commands` lets a script that read `TIME` write on Redis 3.2–4 (the default since 5).
if ARGV[1] ~= '' then
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[1]) then return {-1} end
end
