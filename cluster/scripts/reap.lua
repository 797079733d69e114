-- Declare silent nodes dead and claim the cleanup of one. KEYS: alive, nodes, placement, dead.
-- ARGV: rooms-set prefix, lease ms. Returns {dead node, room...} for the claimed node, or nil.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZADD', KEYS[4], 0, id) -- claimable at once
end
local claim = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 1)
if #claim == 0 then return nil end
local id = claim[1]
if redis.call('ZSCORE', KEYS[1], id) then -- it came back (a long pause, not a death)
  redis.call('ZREM', KEYS[4], id)
  return nil
end
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[2]), id)
local rooms = redis.call('SMEMBERS', ARGV[1] .. id)
for _, room in ipairs(rooms) do
  if redis.call('HGET', KEYS[3], room) == id then redis.call('HDEL', KEYS[3], room) end
end
local out = {id}
for _, room in ipairs(rooms) do out[#out + 1] = room end
return out
