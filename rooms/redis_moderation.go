package rooms

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Moderation, the lobby and attendance in the RedisStore: one Lua script per change, like the rest.
//
// Participant JSON that a script changes (role, moderator mutes, admission) is decoded and re-encoded
// by cjson: participants are flat objects of strings plus one list of strings, which cjson keeps
// faithfully, and the script drops "tracks" (kept in their own list) and an empty list before encoding,
// because cjson would write an empty array as {}. Events that carry a participant splice its track list
// into that JSON as text.

// luaModHooks is part of luaLib, before remove(): what joining, leaving and snapshots do for moderation.
const luaModHooks = `
local setkey, lkey, rmkey = base .. 'settings', base .. 'lobby', base .. 'removed'
local akey, acount, aopen = base .. 'attendance', base .. 'attcount', base .. 'attopen'
local function settings() -- keep the defaults in step with DefaultSettings (the suite checks them)
  local s = {locked = false, lobby = 'off', studentsMayUnmute = true, studentScreenShare = true,
    studentChat = true, spotlight = ''}
  local raw = redis.call('GET', setkey)
  if raw then for k, v in pairs(cjson.decode(raw)) do s[k] = v end end
  return s
end
local function saveSettings(s, by)
  redis.call('SET', setkey, cjson.encode(s))
  return emit(cjson.encode({room = room, type = 'settings_changed', at = at, settings = s, by = by}))
end
-- attendJoin opens a stay for participant p unless its identity has one in progress.
local function attendJoin(p)
  if redis.call('HEXISTS', aopen, p.identity) == 1 then return end
  local n = redis.call('INCR', acount)
  redis.call('HSET', akey, n, cjson.encode({room = room, identity = p.identity, name = p.name, role = p.role, joinedAt = at}))
  redis.call('HSET', aopen, p.identity, n)
end
-- modRemoved runs after a participant's left event (Seq seq): the stay ends, unless the identity's new
-- session replaced it, and a spotlight on the participant goes out. Answers the last Seq.
local function modRemoved(pid, identity, reason, seq)
  local n = reason ~= 'replaced' and redis.call('HGET', aopen, identity)
  if n then
    redis.call('HDEL', aopen, identity)
    local raw = redis.call('HGET', akey, n)
    if raw then
      local rec = cjson.decode(raw)
      rec.leftAt = at
      redis.call('HSET', akey, n, cjson.encode(rec))
    end
  end
  local s = settings()
  if s.spotlight ~= pid then return seq end
  s.spotlight = ''
  return saveSettings(s, '')
end
local function modSnapshot()
  return {redis.call('GET', setkey) or '', redis.call('LRANGE', lkey, 0, -1), redis.call('HVALS', rmkey)}
end
`

// luaMod follows luaLib in the moderation scripts. Scripts answer the new Seq (or 1), 0 for "not
// found", -1 for "nothing to change" and -3 for "forbidden".
const luaMod = `
local rank = {student = 0, co_instructor = 1, instructor = 2}
local function participant(pid)
  local raw = redis.call('HGET', pkey, pid)
  if raw then return cjson.decode(raw) end
end
local function moderator(by)
  local p = participant(by)
  if p and (rank[p.role] or 0) > 0 then return p end
end
local function outranks(a, b) return (rank[a.role] or 0) > (rank[b.role] or 0) end
local function participantEvent(typ, bare, tracks, by)
  return '{"room":' .. cjson.encode(room) .. ',"type":"' .. typ .. '","at":"' .. at .. '","by":' .. cjson.encode(by) ..
    ',"participant":{"tracks":[' .. table.concat(tracks, ',') .. '],' .. string.sub(bare, 2) .. '}'
end
local function encodeParticipant(p)
  p.tracks = nil
  if p.moderatorMuted and #p.moderatorMuted == 0 then p.moderatorMuted = nil end
  return cjson.encode(p)
end
-- saveParticipant stores a changed participant and emits participant_updated.
local function saveParticipant(p, by)
  local bare = encodeParticipant(p)
  redis.call('HSET', pkey, p.id, bare)
  return emit(participantEvent('participant_updated', bare, redis.call('LRANGE', tkey(p.id), 0, -1), by))
end
-- banUntil reads the end of a removal, in unix seconds.
local function banUntil(entry) return tonumber(string.match(entry, '^%d+')) end
-- findWaiting answers the first lobby entry that match accepts: decoded, and as stored.
local function findWaiting(match)
  for _, raw in ipairs(redis.call('LRANGE', lkey, 0, -1)) do
    local w = cjson.decode(raw)
    if match(w) then return w, raw end
  end
end
local function leaveLobby(raw, id, reason, by)
  redis.call('LREM', lkey, 1, raw)
  return emit(cjson.encode({room = room, type = 'lobby_left', at = at, participantId = id, reason = reason, by = by}))
end
local function admit(raw, w, by)
  leaveLobby(raw, w.id, 'admitted', by)
  w.joinedAt = at
  local bare = encodeParticipant(w)
  join(w.id, w.identity, bare, participantEvent('participant_joined', bare, {}, ''), {})
end
`

var (
	// ARGV[3..]: id, identity, participant JSON, joined event JSON, role, lobby entry JSON, lobby_joined
	// event JSON, now (unix seconds), track JSON... Answers {"conflict"}, {"removed"}, {"locked"},
	// {"ok", replaced JSON or "", replaced tracks, snapshot...} or {"wait", replaced JSON or "", {}, snapshot...}.
	enterScript = redis.NewScript(luaLib + luaMod + `
local id, identity, pj, ej, role = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local tracks = {}
for i = 11, #ARGV do tracks[#tracks + 1] = ARGV[i] end
local cur = redis.call('HGET', ikey, identity)
if redis.call('HEXISTS', pkey, id) == 1 and cur ~= id then return {'conflict'} end
if findWaiting(function(w) return w.id == id and w.identity ~= identity end) then return {'conflict'} end
local waited = ''
local w, raw = findWaiting(function(w) return w.identity == identity end)
if w then
  leaveLobby(raw, w.id, 'replaced', '')
  waited = raw
end
local function joined()
  local old, oldTracks = join(id, identity, pj, ej, tracks)
  if old == '' then old, oldTracks = waited, {} end
  return snapshot({'ok', old, oldTracks})
end
if cur then
  local c = participant(cur)
  if c and c.role == 'co_instructor' and role == 'student' then -- a reload keeps a promotion
    local p = cjson.decode(pj)
    p.role = 'co_instructor'
    pj = encodeParticipant(p)
    ej = participantEvent('participant_joined', pj, tracks, '')
  end
  return joined()
end
local b = redis.call('HGET', rmkey, identity)
if b then
  if banUntil(b) > tonumber(ARGV[10]) then return {'removed'} end
  redis.call('HDEL', rmkey, identity)
end
if (rank[role] or 0) > 0 then return joined() end
local s = settings()
if s.locked and waited == '' then return {'locked'} end -- a waiting student who reconnects keeps waiting
if s.lobby == 'off' then return joined() end
redis.call('RPUSH', lkey, ARGV[8])
emit(ARGV[9])
return snapshot({'wait', waited, {}})
`)
	// ARGV[3..]: participant ID, by.
	admitScript = redis.NewScript(luaLib + luaMod + `
if not moderator(ARGV[4]) then return -3 end
local w, raw = findWaiting(function(w) return w.id == ARGV[3] end)
if not w then return 0 end
admit(raw, w, ARGV[4])
return 1
`)
	// ARGV[3..]: how many (<= 0: all), by. Answers the admitted IDs, or -3.
	admitFirstScript = redis.NewScript(luaLib + luaMod + `
if not moderator(ARGV[4]) then return -3 end
local list = redis.call('LRANGE', lkey, 0, -1)
local n = tonumber(ARGV[3])
if n <= 0 or n > #list then n = #list end
local ids = {}
for i = 1, n do
  local w = cjson.decode(list[i])
  admit(list[i], w, ARGV[4])
  ids[#ids + 1] = w.id
end
return ids
`)
	// ARGV[3..]: participant ID, reason ("denied" or "left"), by.
	leaveLobbyScript = redis.NewScript(luaLib + luaMod + `
local pid, reason, by = ARGV[3], ARGV[4], ARGV[5]
if reason == 'denied' and not moderator(by) or reason == 'left' and by ~= pid then return -3 end
local w, raw = findWaiting(function(w) return w.id == pid end)
if not w then return 0 end
return leaveLobby(raw, pid, reason, by)
`)
	// ARGV[3..]: participant ID, by, until (unix seconds), until (RFC 3339), now (unix seconds).
	removeScript = redis.NewScript(luaLib + luaMod + `
local pid, by = ARGV[3], ARGV[4]
local actor = moderator(by)
if not actor then return -3 end
local target = participant(pid)
local w, raw = findWaiting(function(w) return w.id == pid end)
if w then target = w end
if not target then return 0 end
if not outranks(actor, target) then return -3 end
if w then leaveLobby(raw, pid, 'removed', by) else remove(pid, target.identity, 'removed') end
local all = redis.call('HGETALL', rmkey)
for i = 1, #all, 2 do
  if banUntil(all[i + 1]) <= tonumber(ARGV[7]) then redis.call('HDEL', rmkey, all[i]) end
end
local rm = cjson.encode({identity = target.identity, name = target.name, by = by, at = at, ['until'] = ARGV[6]})
redis.call('HSET', rmkey, target.identity, ARGV[5] .. ' ' .. rm)
return emit('{"room":' .. cjson.encode(room) .. ',"type":"participant_removed","at":"' .. at .. '","removal":' .. rm .. '}')
`)
	// ARGV[3..]: identity, by, now (unix seconds).
	allowRejoinScript = redis.NewScript(luaLib + luaMod + `
if not moderator(ARGV[4]) then return -3 end
local b = redis.call('HGET', rmkey, ARGV[3])
if not b then return 0 end
redis.call('HDEL', rmkey, ARGV[3])
if banUntil(b) <= tonumber(ARGV[5]) then return 0 end
return emit(cjson.encode({room = room, type = 'rejoin_allowed', at = at, removal = {identity = ARGV[3], by = ARGV[4]}}))
`)
	// ARGV[3..]: participant ID, role, by.
	setRoleScript = redis.NewScript(luaLib + luaMod + `
local actor = participant(ARGV[5])
if not actor or actor.role ~= 'instructor' then return -3 end
local p = participant(ARGV[3])
if not p then return 0 end
if p.role == 'instructor' then return -3 end
if p.role == ARGV[4] then return -1 end
p.role = ARGV[4]
return saveParticipant(p, ARGV[5])
`)
	// ARGV[3..]: SettingsChange JSON, by.
	settingsScript = redis.NewScript(luaLib + luaMod + `
local by = ARGV[4]
if not moderator(by) then return -3 end
local change = cjson.decode(ARGV[3])
if change.spotlight and change.spotlight ~= '' and redis.call('HEXISTS', pkey, change.spotlight) == 0 then return 0 end
local s, changed = settings(), false
for k, v in pairs(change) do
  if s[k] ~= v then s[k], changed = v, true end
end
if not changed then return -1 end
local seq = saveSettings(s, by)
if s.lobby == 'off' then
  for _, raw in ipairs(redis.call('LRANGE', lkey, 0, -1)) do admit(raw, cjson.decode(raw), by) end
end
return seq
`)
	// ARGV[3..]: participant ID ("" for every student), source, by.
	muteByModeratorScript = redis.NewScript(luaLib + luaMod + `
local pid, source, by = ARGV[3], ARGV[4], ARGV[5]
local actor = moderator(by)
if not actor then return -3 end
local function hold(p)
  local held = false
  for _, s in ipairs(p.moderatorMuted or {}) do held = held or s == source end
  if not held then
    p.moderatorMuted = p.moderatorMuted or {}
    p.moderatorMuted[#p.moderatorMuted + 1] = source
    saveParticipant(p, by)
  end
  for i, raw in ipairs(redis.call('LRANGE', tkey(p.id), 0, -1)) do
    local t = cjson.decode(raw)
    if t.source == source and not t.muted then
      t.muted = true
      redis.call('LSET', tkey(p.id), i - 1, cjson.encode(t))
      emit(cjson.encode({room = room, type = 'track_updated', at = at, participantId = p.id, track = t}))
    end
  end
end
if pid == '' then
  local students = {}
  for _, raw in ipairs(redis.call('HVALS', pkey)) do
    local p = cjson.decode(raw)
    if p.role == 'student' then students[#students + 1] = p end
  end
  table.sort(students, function(a, b) return a.id < b.id end)
  for _, p in ipairs(students) do hold(p) end
  return 1
end
local p = participant(pid)
if not p then return 0 end
if not outranks(actor, p) then return -3 end
hold(p)
return 1
`)
	// ARGV[3..]: participant ID, source, by.
	releaseMuteScript = redis.NewScript(luaLib + luaMod + `
local pid, source, by = ARGV[3], ARGV[4], ARGV[5]
local self, actor = by == pid, moderator(by)
if not self and not actor then return -3 end
local p = participant(pid)
if not p then return 0 end
if not self and not outranks(actor, p) then return -3 end
local idx
for i, s in ipairs(p.moderatorMuted or {}) do
  if s == source then idx = i end
end
if not idx then return -1 end
if self and (rank[p.role] or 0) == 0 and not settings().studentsMayUnmute then return -3 end
table.remove(p.moderatorMuted, idx)
return saveParticipant(p, by)
`)
)

// modMutate runs a moderation script and maps its answer to ErrNotFound or ErrForbidden.
func (s *RedisStore) modMutate(ctx context.Context, what string, script *redis.Script, room string, at time.Time, args ...any) (any, error) {
	res, err := s.run(ctx, script, room, at, args...)
	if err != nil {
		return nil, fmt.Errorf("rooms: redis %s: %w", what, err)
	}
	if n, ok := res.(int64); ok && n == 0 {
		return nil, fmt.Errorf("rooms: %s in %s: %w", what, room, ErrNotFound)
	} else if ok && n == -3 {
		return nil, fmt.Errorf("rooms: %s in %s: %w", what, room, ErrForbidden)
	}
	return res, nil
}

// Enter implements Store.
func (s *RedisStore) Enter(ctx context.Context, room string, p Participant) (Entry, error) {
	if err := checkJoin(ctx, room, p); err != nil {
		return Entry{}, err
	}
	p, now := *cloneParticipant(&p), time.Now()
	bare := p
	bare.Tracks = nil
	pj, err := json.Marshal(bare)
	if err != nil {
		return Entry{}, fmt.Errorf("rooms: redis enter: %w", err)
	}
	ej, _ := json.Marshal(Event{Room: room, Type: EventParticipantJoined, At: now, Participant: &p})
	wait := p
	wait.Tracks = []Track{}
	wj, _ := json.Marshal(wait)
	lj, _ := json.Marshal(Event{Room: room, Type: EventLobbyJoined, At: now, Participant: &wait})
	args := []any{p.ID, p.Identity, pj, ej, string(p.Role), wj, lj, now.Unix()}
	for _, t := range p.Tracks {
		tj, _ := json.Marshal(t)
		args = append(args, tj)
	}
	res, err := s.run(ctx, enterScript, room, now, args...)
	if err != nil {
		return Entry{}, fmt.Errorf("rooms: redis enter: %w", err)
	}
	vals, _ := res.([]any)
	if len(vals) < 1 {
		return Entry{}, fmt.Errorf("rooms: redis enter: unexpected reply %v", res)
	}
	switch vals[0] {
	case "conflict":
		return Entry{}, fmt.Errorf("rooms: enter %s: participant id %q is in use by another identity", room, p.ID)
	case "removed":
		return Entry{}, fmt.Errorf("rooms: enter %s as %s: %w", room, p.Identity, ErrRemoved)
	case "locked":
		return Entry{}, fmt.Errorf("rooms: enter %s: %w", room, ErrLocked)
	}
	if len(vals) < 4 {
		return Entry{}, fmt.Errorf("rooms: redis enter: unexpected reply %v", res)
	}
	e := Entry{Waiting: vals[0] == "wait"}
	if vals[1] != "" {
		rp, err := parseParticipant(vals[1], vals[2])
		if err != nil {
			return Entry{}, fmt.Errorf("rooms: redis enter: %w", err)
		}
		e.Replaced = &rp
	}
	if e.Snapshot, err = parseSnapshot(room, vals[3:]); err != nil {
		return Entry{}, fmt.Errorf("rooms: redis enter: %w", err)
	}
	return e, nil
}

// Admit implements Store.
func (s *RedisStore) Admit(ctx context.Context, room, participantID, by string) error {
	_, err := s.modMutate(ctx, "admit", admitScript, room, time.Now(), participantID, by)
	return err
}

// AdmitFirst implements Store.
func (s *RedisStore) AdmitFirst(ctx context.Context, room string, n int, by string) ([]string, error) {
	res, err := s.modMutate(ctx, "admit", admitFirstScript, room, time.Now(), n, by)
	if err != nil {
		return nil, err
	}
	list, _ := res.([]any)
	ids := make([]string, 0, len(list))
	for _, v := range list {
		id, _ := v.(string)
		ids = append(ids, id)
	}
	return ids, nil
}

// LeaveLobby implements Store.
func (s *RedisStore) LeaveLobby(ctx context.Context, room, participantID, reason, by string) error {
	if err := checkLeaveLobby(reason); err != nil {
		return err
	}
	_, err := s.modMutate(ctx, "leave lobby", leaveLobbyScript, room, time.Now(), participantID, reason, by)
	return err
}

// Remove implements Store.
func (s *RedisStore) Remove(ctx context.Context, room, participantID, by string) error {
	now := time.Now()
	until := now.Add(RemovalTTL).UTC()
	_, err := s.modMutate(ctx, "remove", removeScript, room, now, participantID, by, until.Unix(),
		until.Format(time.RFC3339Nano), now.Unix())
	return err
}

// AllowRejoin implements Store.
func (s *RedisStore) AllowRejoin(ctx context.Context, room, identity, by string) error {
	now := time.Now()
	_, err := s.modMutate(ctx, "allow rejoin", allowRejoinScript, room, now, identity, by, now.Unix())
	return err
}

// SetRole implements Store.
func (s *RedisStore) SetRole(ctx context.Context, room, participantID string, role Role, by string) error {
	if role != RoleStudent && role != RoleCoInstructor {
		return fmt.Errorf("rooms: set role: a participant can be made %s or %s, not %q", RoleStudent, RoleCoInstructor, role)
	}
	_, err := s.modMutate(ctx, "set role", setRoleScript, room, time.Now(), participantID, string(role), by)
	return err
}

// UpdateSettings implements Store.
func (s *RedisStore) UpdateSettings(ctx context.Context, room string, change SettingsChange, by string) error {
	if err := change.check(); err != nil {
		return err
	}
	cj, err := json.Marshal(change)
	if err != nil {
		return fmt.Errorf("rooms: redis update settings: %w", err)
	}
	_, err = s.modMutate(ctx, "update settings", settingsScript, room, time.Now(), cj, by)
	return err
}

// MuteByModerator implements Store.
func (s *RedisStore) MuteByModerator(ctx context.Context, room, participantID string, source Source, by string) error {
	if err := checkMute(ctx, source); err != nil {
		return err
	}
	_, err := s.modMutate(ctx, "mute", muteByModeratorScript, room, time.Now(), participantID, string(source), by)
	return err
}

// ReleaseMute implements Store.
func (s *RedisStore) ReleaseMute(ctx context.Context, room, participantID string, source Source, by string) error {
	if err := checkMute(ctx, source); err != nil {
		return err
	}
	_, err := s.modMutate(ctx, "release mute", releaseMuteScript, room, time.Now(), participantID, string(source), by)
	return err
}

// Attendance implements Store. The room's and its breakout rooms' records are read in one pipeline;
// each HGETALL is atomic, and records only ever gain a leaving time, so no script is needed.
func (s *RedisStore) Attendance(ctx context.Context, room string) ([]AttendanceRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	cmds := make([]*redis.MapStringStringCmd, 0, breakoutRooms+1)
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n := range breakoutRooms + 1 {
			name := room
			if n > 0 {
				name = BreakoutRoomName(room, n)
			}
			cmds = append(cmds, p.HGetAll(ctx, s.base(name)+"attendance"))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rooms: redis attendance of %s: %w", room, err)
	}
	out := []AttendanceRecord{}
	for _, cmd := range cmds {
		type numbered struct {
			n   uint64
			rec AttendanceRecord
		}
		var recs []numbered
		for k, v := range cmd.Val() {
			n, err := strconv.ParseUint(k, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("rooms: redis attendance of %s: bad stay number %q", room, k)
			}
			var rec AttendanceRecord
			if err := json.Unmarshal([]byte(v), &rec); err != nil {
				return nil, fmt.Errorf("rooms: redis attendance of %s: record %d: %w", room, n, err)
			}
			recs = append(recs, numbered{n, rec})
		}
		slices.SortFunc(recs, func(a, b numbered) int { return cmp.Compare(a.n, b.n) })
		for _, r := range recs {
			out = append(out, r.rec)
		}
	}
	return out, nil
}

// parseModSnapshot reads the moderation part of a snapshot reply: settings JSON ("" for the defaults),
// the lobby's entries and the removals.
func parseModSnapshot(snap *Snapshot, v any) error {
	vals, _ := v.([]any)
	if len(vals) != 3 {
		return errors.New("unexpected moderation part of a snapshot")
	}
	snap.Settings = DefaultSettings()
	if raw, _ := vals[0].(string); raw != "" {
		if err := json.Unmarshal([]byte(raw), &snap.Settings); err != nil {
			return fmt.Errorf("settings: %w", err)
		}
	}
	lobby, _ := vals[1].([]any)
	snap.Lobby = make([]Participant, 0, len(lobby))
	for _, raw := range lobby {
		p, err := parseParticipant(raw, nil)
		if err != nil {
			return fmt.Errorf("lobby: %w", err)
		}
		snap.Lobby = append(snap.Lobby, p)
	}
	removed, _ := vals[2].([]any)
	snap.Removed = make([]Removal, 0, len(removed))
	now := time.Now().Unix()
	for _, raw := range removed {
		text, _ := raw.(string)
		untilText, body, _ := strings.Cut(text, " ")
		until, err := strconv.ParseInt(untilText, 10, 64)
		if err != nil {
			return fmt.Errorf("removal %.40q: %w", text, err)
		}
		if until <= now {
			continue
		}
		var rm Removal
		if err := json.Unmarshal([]byte(body), &rm); err != nil {
			return fmt.Errorf("removal: %w", err)
		}
		snap.Removed = append(snap.Removed, rm)
	}
	sortRemovals(snap.Removed)
	return nil
}
