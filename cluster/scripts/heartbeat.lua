-- Register or refresh a node. KEYS: nodes, alive. ARGV: id, node JSON, dead-after ms, rooms-set prefix.
-- The expiry is computed from Redis's clock, so the nodes' own clocks do not matter.
-- Returns {live nodes, rooms placed on this node} for the metrics.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
return {redis.call('ZCOUNT', KEYS[2], now, '+inf'), redis.call('SCARD', ARGV[4] .. ARGV[1])}
