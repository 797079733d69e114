-- Place a room and say where it is served. KEYS: placement, nodes, alive. ARGV: room, rooms-set
-- prefix, the asking node's id.
-- Keep the current owner if it is alive and not draining; otherwise choose the least-loaded live
-- node that is not draining (preferring nodes below their capacity) and record it.
-- A room whose owner is full (participants at its capacity) spills to edge nodes: the asking node
-- serves the join as an edge if it can (live, not draining, below its capacity), else the
-- least-loaded such node is named. Returns {node, url, kind} with kind 'home' (the room's owner
-- serves the join), 'edge' (the asking node serves it, relaying from the owner, whose id and url
-- are returned) or 'spill' (redirect to the named node, which will serve it as an edge); nil when
-- no node accepts rooms.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local room, prefix, asker = ARGV[1], ARGV[2], ARGV[3]

local function live(id)
  local exp = redis.call('ZSCORE', KEYS[3], id)
  if not exp or tonumber(exp) < now then return nil end
  local raw = redis.call('HGET', KEYS[2], id)
  if not raw then return nil end
  local n = cjson.decode(raw)
  if n.draining then return nil end
  return n
end

local function full(n)
  local cap = tonumber(n.capacity or 0) or 0
  return cap > 0 and (n.participants or 0) >= cap
end

-- Load score: rooms already placed count most (so a burst of new rooms spreads before their
-- participants show in heartbeats), then participants, tracks and CPU; a full node comes last.
local function score(id, n)
  local s = redis.call('SCARD', prefix .. id) + (n.participants or 0) / 8 + (n.tracks or 0) / 16 + 4 * (n.cpu or 0)
  if full(n) then s = s + 1e9 end
  return s
end

local ownerID = redis.call('HGET', KEYS[1], room)
local owner = ownerID and live(ownerID)
if not owner then
  local best, bestScore, bestNode
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], now, '+inf')) do
    local n = live(id)
    if n then
      local s = score(id, n)
      if not best or s < bestScore or (s == bestScore and id < best) then
        best, bestScore, bestNode = id, s, n
      end
    end
  end
  if not best then return nil end
  if ownerID then redis.call('SREM', prefix .. ownerID, room) end
  redis.call('HSET', KEYS[1], room, best)
  redis.call('SADD', prefix .. best, room)
  ownerID, owner = best, bestNode
end

if not full(owner) then return {ownerID, owner.url, 'home'} end

-- The owner is full: spill to an edge.
if asker ~= ownerID then
  local me = live(asker)
  if me and not full(me) then return {ownerID, owner.url, 'edge'} end
end
local best, bestScore, bestURL
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], now, '+inf')) do
  local n = (id ~= ownerID and id ~= asker) and live(id)
  if n and not full(n) then
    local s = (n.participants or 0) + 4 * (n.cpu or 0)
    if not best or s < bestScore or (s == bestScore and id < best) then
      best, bestScore, bestURL = id, s, n.url
    end
  end
end
if best then return {best, bestURL, 'spill'} end
return {ownerID, owner.url, 'home'} -- every node is full: the owner takes it
