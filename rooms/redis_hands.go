package rooms

import (
	"sync/atomic"
	"time"
)

// Held hands in the RedisStore (hands.go), inside the join and leave scripts. A held hand keeps its
// participant id in the hands list, so it keeps its place; it is held because that id is no longer in
// the participants hash. handsheld maps the identity to "<until, unix ms> <participant id>" (until 0:
// held for the join in progress, a replacement, which takes it at once). Times come from Redis's
// clock, so every node measures a hold the same way.
//
// When a room's last participant goes with hands held, the hands list and handsheld expire with the
// last hold; the next join makes them permanent again, before anyone can raise a hand.

// handHold is how long a RedisStore holds a lost participant's hand, in ns; separate from the store
// so that the zero RedisStore is not a concern here.
type handHold struct{ d atomic.Int64 }

// SetHandHold implements HandHolder.
func (s *RedisStore) SetHandHold(d time.Duration) { s.hold.d.Store(int64(d)) }

// leaveHold is the hold, in ms, a participant leaving for reason gets: 0 lowers its hand.
func (s *RedisStore) leaveHold(reason string) int64 {
	if !holdsHand(reason) {
		return 0
	}
	return max(time.Duration(s.hold.d.Load()).Milliseconds(), 0)
}

// luaHandHooks is part of luaLib, before remove(): what joining and leaving do to raised hands.
const luaHandHooks = `
local heldkey = base .. 'handsheld'
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function lowerHandOf(pid) redis.call('LREM', hkey, 0, pid) end
local function handIndex(pid)
  for i, id in ipairs(redis.call('LRANGE', hkey, 0, -1)) do
    if id == pid then return i - 1 end
  end
end
local function parseHeld(v)
  local till, pid = string.match(v, '^(%d+) (.*)$')
  return tonumber(till), pid
end
-- pruneHands drops the held hands whose hold ran out.
local function pruneHands(now)
  local all = redis.call('HGETALL', heldkey)
  for i = 1, #all, 2 do
    local till, pid = parseHeld(all[i + 1])
    if till ~= 0 and till <= now then
      redis.call('HDEL', heldkey, all[i])
      lowerHandOf(pid)
    end
  end
end
-- visibleHands is the queue without the held hands: the raised hands of participants in the room.
local function visibleHands()
  local out = {}
  for _, id in ipairs(redis.call('LRANGE', hkey, 0, -1)) do
    if redis.call('HEXISTS', pkey, id) == 1 then out[#out + 1] = id end
  end
  return out
end
-- handGone runs when participant pid (already out of the participants hash) is removed for reason:
-- its hand, if raised, is held for identity for hold ms (a replacement: until the join that follows)
-- or lowered.
local function handGone(pid, identity, reason, hold)
  local now = nowMs()
  pruneHands(now)
  if not handIndex(pid) then return end
  local till
  if reason == 'replaced' then till = 0
  elseif hold and hold > 0 then till = now + hold
  else return lowerHandOf(pid) end
  local old = redis.call('HGET', heldkey, identity)
  if old then
    local _, oldPid = parseHeld(old)
    if oldPid ~= pid then lowerHandOf(oldPid) end
  end
  redis.call('HSET', heldkey, identity, string.format('%d ', till) .. pid)
  if till ~= 0 and redis.call('HLEN', pkey) == 0 then -- nobody left to come back through a join
    redis.call('PEXPIRE', hkey, hold)
    redis.call('PEXPIRE', heldkey, hold)
  end
end
-- handBack runs after participant id's joined event: a hand held for identity comes back at its
-- place in the queue.
local function handBack(id, identity)
  redis.call('PERSIST', hkey)
  redis.call('PERSIST', heldkey)
  pruneHands(nowMs())
  local all = redis.call('HGETALL', heldkey)
  for i = 1, #all, 2 do
    local _, pid = parseHeld(all[i + 1])
    if pid == id and all[i] ~= identity then -- the id came back for someone else: not theirs
      redis.call('HDEL', heldkey, all[i])
      lowerHandOf(pid)
    end
  end
  local v = redis.call('HGET', heldkey, identity)
  if not v then return end
  redis.call('HDEL', heldkey, identity)
  local _, pid = parseHeld(v)
  local i = handIndex(pid)
  if not i then return end
  redis.call('LSET', hkey, i, id)
  emit(cjson.encode({room = room, type = 'hand_restored', at = at, participantId = id, hands = visibleHands()}))
end
`
