-- Place a room and say where it is served. KEYS: placement, nodes, alive. ARGV: room, rooms-set prefix.
-- Keep the current owner if it is alive and not draining; otherwise choose the least-loaded live
-- node that is not draining and record it. Returns {node, url} or nil when no node accepts rooms.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local room, prefix = ARGV[1], ARGV[2]

local function live(id)
  local exp = redis.call('ZSCORE', KEYS[3], id)
  if not exp or tonumber(exp) < now then return nil end
  local raw = redis.call('HGET', KEYS[2], id)
  if not raw then return nil end
  local n = cjson.decode(raw)
  if n.draining then return nil end
  return n
end

local owner = redis.call('HGET', KEYS[1], room)
if owner then
  local n = live(owner)
  if n then return {owner, n.url} end
end

-- Load score: rooms already placed count most (so a burst of new rooms spreads before their
-- participants show in heartbeats), then participants, tracks and CPU.
local best, bestScore, bestURL
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], now, '+inf')) do
  local n = live(id)
  if n then
    local score = redis.call('SCARD', prefix .. id) + (n.participants or 0) / 8 + (n.tracks or 0) / 16 + 4 * (n.cpu or 0)
    if not best or score < bestScore or (score == bestScore and id < best) then
      best, bestScore, bestURL = id, score, n.url
    end
  end
end
if not best then return nil end
if owner then redis.call('SREM', prefix .. owner, room) end
redis.call('HSET', KEYS[1], room, best)
redis.call('SADD', prefix .. best, room)
return {best, bestURL}
