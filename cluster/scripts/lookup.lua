-- Where a room is placed, if on a live node. KEYS: placement, nodes, alive. ARGV: room.
-- Returns {node, url} or nil.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if not owner then return nil end
local exp = redis.call('ZSCORE', KEYS[3], owner)
if not exp or tonumber(exp) < now then return nil end
local raw = redis.call('HGET', KEYS[2], owner)
if not raw then return nil end
return {owner, cjson.decode(raw).url}
