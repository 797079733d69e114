-- Drop a room's placement if the given node holds it. KEYS: placement. ARGV: room, node, rooms-set prefix.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('SREM', ARGV[3] .. ARGV[2], ARGV[1])
return 1
