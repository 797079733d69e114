package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configures a RedisStore.
type RedisOptions struct {
	// KeyPrefix starts every key and channel name; default "chalk:". Nodes sharing rooms must agree.
	KeyPrefix string
}

// RedisStore keeps rooms in Redis so that several nodes share them. Keys of room R, for prefix P:
//
//	P room:{R}:participants     hash   participant ID → participant JSON (without tracks)
//	P room:{R}:identities       hash   identity → participant ID
//	P room:{R}:tracks:<ID>      list   track JSON, in publish order
//	P room:{R}:hands            list   participant IDs with a raised hand, in raising order; held ones too
//	P room:{R}:handsheld        hash   identity → "<until, unix ms> <participant ID>": held hands (redis_hands.go)
//	P room:{R}:chat             list   message JSON, oldest first, at most MaxChatKept
//	P room:{R}:chatcount        string how many messages the room has ever had: the newest one's number
//	P room:{R}:chatidx          hash   message ID → its number (1 for the room's first), kept messages only
//	P room:{R}:poll…            polls and their votes: see redis_polls.go
//	P room:{R}:seq              string the room's last event Seq
//	P room:{R}:settings         string RoomSettings JSON; absent: DefaultSettings
//	P room:{R}:lobby            list   waiting participants' JSON, in line order
//	P room:{R}:removed          hash   identity → "<until, unix seconds> <Removal JSON>"
//	P room:{R}:attendance       hash   stay number → AttendanceRecord JSON
//	P room:{R}:attcount         string how many stays the room has had: the newest one's number
//	P room:{R}:attopen          hash   identity → number of its stay in progress
//	P room:{R}:events           pub/sub channel: "<seq> <event JSON>"
//
// The braces are a Redis Cluster hash tag: all of a room's keys live on one shard. Every change is one
// Lua script that checks, applies, counts and publishes, so all nodes see one order. When the last
// participant leaves, only seq, settings, removed, and the chat, poll, breakout, attendance and lesson
// keys remain: Seq must never go back, settings and removals outlive a short absence, and the rest is
// kept (without expiry) for the lesson timeline and the attendance export.
type RedisStore struct {
	breakoutOps // the BreakoutStore changes, on changeBreakouts

	client *redis.Client
	prefix string

	closed atomic.Bool // read without mu, so mutations never wait for subscription bookkeeping
	done   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	ps       *redis.PubSub // the one subscriber connection; replaced as a whole when it breaks
	chans    map[string]*redisChan
	failures int // subscriber connections failed in a row, for the redial backoff

	hold handHold // how long a lost participant's hand is held (redis_hands.go)
}

// NewRedisStore connects to the redis:// (or rediss://) URL and checks, within ctx, that Redis answers.
// ctx is not kept.
func NewRedisStore(ctx context.Context, url string, opts RedisOptions) (*RedisStore, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("rooms: redis url: %w", err)
	}
	// Probe once, without the client's dial retries (seconds of them), so a wrong address fails fast.
	probeOpts := *o
	probeOpts.MaxRetries, probeOpts.DialerRetries = -1, 1
	probe := redis.NewClient(&probeOpts)
	err = probe.Ping(ctx).Err()
	_ = probe.Close()
	var answered redis.Error // e.g. a wrong password: Redis is there but said no
	if errors.As(err, &answered) {
		return nil, fmt.Errorf("rooms: redis at %s: %w", o.Addr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("rooms: redis at %s is unreachable (is redis-server running?): %w", o.Addr, err)
	}
	client := redis.NewClient(o)
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = "chalk:"
	}
	s := &RedisStore{client: client, prefix: opts.KeyPrefix, chans: make(map[string]*redisChan), done: make(chan struct{})}
	s.breakoutOps = breakoutOps{s}
	s.SetHandHold(DefaultHandHold)
	s.ps = client.Subscribe(context.Background())
	s.wg.Add(1)
	go s.read(s.ps, 0)
	return s, nil
}

func (s *RedisStore) base(room string) string { return s.prefix + "room:{" + room + "}:" }

// run runs a mutation script with the room and the event time as ARGV[1] and ARGV[2].
func (s *RedisStore) run(ctx context.Context, script *redis.Script, room string, at time.Time, args ...any) (any, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	args = append([]any{room, at.Format(time.RFC3339Nano)}, args...)
	return script.Run(ctx, s.client, []string{s.base(room)}, args...).Result()
}

// Join implements Store.
func (s *RedisStore) Join(ctx context.Context, room string, p Participant) (Snapshot, *Participant, error) {
	if err := checkJoin(ctx, room, p); err != nil {
		return Snapshot{}, nil, err
	}
	p, now := *cloneParticipant(&p), time.Now()
	bare := p
	bare.Tracks = nil // tracks are kept in their own list
	pj, err := json.Marshal(bare)
	if err != nil {
		return Snapshot{}, nil, fmt.Errorf("rooms: redis join: %w", err)
	}
	ej, err := json.Marshal(Event{Room: room, Type: EventParticipantJoined, At: now, Participant: &p})
	if err != nil {
		return Snapshot{}, nil, fmt.Errorf("rooms: redis join: %w", err)
	}
	args := []any{p.ID, p.Identity, pj, ej}
	for _, t := range p.Tracks {
		tj, _ := json.Marshal(t) // a Track always encodes
		args = append(args, tj)
	}
	res, err := s.run(ctx, joinScript, room, now, args...)
	if err != nil {
		return Snapshot{}, nil, fmt.Errorf("rooms: redis join: %w", err)
	}
	vals, ok := res.([]any)
	if !ok || len(vals) < 1 {
		return Snapshot{}, nil, fmt.Errorf("rooms: redis join: unexpected reply %v", res)
	}
	if vals[0] == "conflict" {
		return Snapshot{}, nil, fmt.Errorf("rooms: join %s: participant id %q is in use by another identity", room, p.ID)
	}
	if len(vals) < 4 {
		return Snapshot{}, nil, fmt.Errorf("rooms: redis join: unexpected reply %v", res)
	}
	var replaced *Participant
	if vals[1] != "" {
		rp, err := parseParticipant(vals[1], vals[2])
		if err != nil {
			return Snapshot{}, nil, fmt.Errorf("rooms: redis join: %w", err)
		}
		replaced = &rp
	}
	snap, err := parseSnapshot(room, vals[3:])
	if err != nil {
		return Snapshot{}, nil, fmt.Errorf("rooms: redis join: %w", err)
	}
	return snap, replaced, nil
}

// mutate runs a script that answers the new Seq, 0 for "not found" or -1 for "nothing to change".
func (s *RedisStore) mutate(ctx context.Context, what string, script *redis.Script, room string, at time.Time, args ...any) error {
	res, err := s.run(ctx, script, room, at, args...)
	if err != nil {
		return fmt.Errorf("rooms: redis %s: %w", what, err)
	}
	if n, _ := res.(int64); n == 0 {
		return fmt.Errorf("rooms: %s in %s: %w", what, room, ErrNotFound)
	}
	return nil
}

// Leave implements Store.
func (s *RedisStore) Leave(ctx context.Context, room, participantID, reason string) error {
	return s.mutate(ctx, "leave", leaveScript, room, time.Now(), participantID, reason, s.leaveHold(reason))
}

// PublishTrack implements Store.
func (s *RedisStore) PublishTrack(ctx context.Context, room, participantID string, t Track) error {
	tj, _ := json.Marshal(t)
	now := time.Now()
	ej, err := json.Marshal(Event{Room: room, Type: EventTrackPublished, At: now, ParticipantID: participantID, Track: &t})
	if err != nil {
		return fmt.Errorf("rooms: redis publish track: %w", err)
	}
	return s.mutate(ctx, "publish track", publishScript, room, now, participantID, t.ID, tj, ej)
}

// UnpublishTrack implements Store.
func (s *RedisStore) UnpublishTrack(ctx context.Context, room, participantID, trackID string) error {
	return s.mutate(ctx, "unpublish track", unpublishScript, room, time.Now(), participantID, trackID)
}

// SetTrackMuted implements Store.
func (s *RedisStore) SetTrackMuted(ctx context.Context, room, participantID, trackID string, muted bool) error {
	m := "0"
	if muted {
		m = "1"
	}
	return s.mutate(ctx, "mute track", muteScript, room, time.Now(), participantID, trackID, m)
}

// Snapshot implements Store.
func (s *RedisStore) Snapshot(ctx context.Context, room string) (Snapshot, error) {
	if s.closed.Load() {
		return Snapshot{}, ErrClosed
	}
	res, err := snapshotScript.Run(ctx, s.client, []string{s.base(room)}).Result()
	if err != nil {
		return Snapshot{}, fmt.Errorf("rooms: redis snapshot: %w", err)
	}
	vals, _ := res.([]any)
	snap, err := parseSnapshot(room, vals)
	if err != nil {
		return Snapshot{}, fmt.Errorf("rooms: redis snapshot: %w", err)
	}
	return snap, nil
}

// Close ends every subscription with ErrClosed and closes the connections. Close is idempotent.
func (s *RedisStore) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	close(s.done)
	for _, c := range s.chans {
		for f := range c.feeds {
			f.end(ErrClosed)
		}
	}
	s.chans = nil
	ps := s.ps
	s.ps = nil
	s.mu.Unlock()
	err := ps.Close()
	s.wg.Wait()
	return errors.Join(err, s.client.Close())
}

// parseSnapshot reads the reply of the Lua snapshot function: seq, the hand list, the moderation part,
// then a participant JSON and its track list for each participant.
func parseSnapshot(room string, vals []any) (Snapshot, error) {
	if len(vals) < 3 || len(vals)%2 != 1 {
		return Snapshot{}, fmt.Errorf("unexpected snapshot reply of %d values", len(vals))
	}
	seqText, _ := vals[0].(string)
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return Snapshot{}, fmt.Errorf("bad seq %v: %w", vals[0], err)
	}
	hands, _ := vals[1].([]any)
	snap := Snapshot{Room: room, Seq: seq, Participants: make([]Participant, 0, len(vals)/2-1),
		Hands: make([]string, 0, len(hands))}
	for _, h := range hands {
		id, _ := h.(string)
		snap.Hands = append(snap.Hands, id)
	}
	if err := parseModSnapshot(&snap, vals[2]); err != nil {
		return Snapshot{}, err
	}
	for i := 3; i < len(vals); i += 2 {
		p, err := parseParticipant(vals[i], vals[i+1])
		if err != nil {
			return Snapshot{}, err
		}
		snap.Participants = append(snap.Participants, p)
	}
	sortParticipants(snap.Participants)
	return snap, nil
}

// parseParticipant reads a participant's JSON and the list of its track JSONs.
func parseParticipant(raw, tracks any) (Participant, error) {
	var p Participant
	text, _ := raw.(string)
	if err := json.Unmarshal([]byte(text), &p); err != nil {
		return Participant{}, fmt.Errorf("participant: %w", err)
	}
	list, _ := tracks.([]any)
	p.Tracks = make([]Track, 0, len(list))
	for _, v := range list {
		var t Track
		tj, _ := v.(string)
		if err := json.Unmarshal([]byte(tj), &t); err != nil {
			return Participant{}, fmt.Errorf("track of %s: %w", p.ID, err)
		}
		p.Tracks = append(p.Tracks, t)
	}
	return p, nil
}

// luaLib is prepended to every script. KEYS[1] is the room's key base; ARGV[1] and ARGV[2] are the
// room and the event time. Events are published as "<seq> <JSON>": the seq is only known here, and
// Lua's cjson would turn an empty tracks array into {}, so JSON is built in Go wherever it can be.
const luaLib = `
local base = KEYS[1]
local pkey, ikey, skey = base .. 'participants', base .. 'identities', base .. 'seq'
local hkey = base .. 'hands'
local room, at = ARGV[1], ARGV[2]
local function tkey(id) return base .. 'tracks:' .. id end
local function emit(event)
  local seq = redis.call('INCR', skey)
  redis.call('PUBLISH', base .. 'events', string.format('%d ', seq) .. event)
  return seq
end
local function findTrack(pid, id)
  for i, raw in ipairs(redis.call('LRANGE', tkey(pid), 0, -1)) do
    local t = cjson.decode(raw)
    if t.id == id then return i - 1, t, raw end
  end
end
` + luaModHooks + luaHandHooks + `
-- remove takes a participant out; hold: how long to hold its raised hand, in ms (nil or 0: lower it).
local function remove(pid, identity, reason, hold)
  redis.call('HDEL', pkey, pid)
  redis.call('DEL', tkey(pid))
  if redis.call('HGET', ikey, identity) == pid then redis.call('HDEL', ikey, identity) end
  handGone(pid, identity, reason, hold) -- the left event implies the hand is down
  local seq = emit(cjson.encode({room = room, type = 'participant_left', at = at, participantId = pid, reason = reason}))
  return modRemoved(pid, identity, reason, seq)
end
local function snapshot(out)
  out[#out + 1] = redis.call('GET', skey) or '0'
  out[#out + 1] = visibleHands()
  out[#out + 1] = modSnapshot()
  local all = redis.call('HGETALL', pkey)
  for i = 1, #all, 2 do
    out[#out + 1] = all[i + 1]
    out[#out + 1] = redis.call('LRANGE', tkey(all[i]), 0, -1)
  end
  return out
end
-- join adds a participant (replacing the session of the same identity) and answers the replaced
-- participant's JSON ('' if none) and tracks, or nil if id belongs to another identity.
local function join(id, identity, pj, ej, tracks)
  local cur = redis.call('HGET', ikey, identity)
  if redis.call('HEXISTS', pkey, id) == 1 and cur ~= id then return nil end
  local old, oldTracks = '', {}
  if cur then
    old = redis.call('HGET', pkey, cur) or ''
    oldTracks = redis.call('LRANGE', tkey(cur), 0, -1)
    remove(cur, identity, 'replaced')
  end
  redis.call('HSET', pkey, id, pj)
  redis.call('HSET', ikey, identity, id)
  redis.call('DEL', tkey(id))
  for _, t in ipairs(tracks) do redis.call('RPUSH', tkey(id), t) end
  emit(ej)
  handBack(id, identity)
  attendJoin(cjson.decode(pj))
  return old, oldTracks
end
`

var (
	// ARGV[3..]: id, identity, participant JSON, joined event JSON, track JSON...
	// Answers {"conflict"} or {"ok", replaced JSON or "", replaced tracks, snapshot...}.
	joinScript = redis.NewScript(luaLib + `
local tracks = {}
for i = 7, #ARGV do tracks[#tracks + 1] = ARGV[i] end
local old, oldTracks = join(ARGV[3], ARGV[4], ARGV[5], ARGV[6], tracks)
if not old then return {'conflict'} end
return snapshot({'ok', old, oldTracks})
`)
	// ARGV[3..]: id, reason, how long to hold a raised hand in ms (0: lower it).
	leaveScript = redis.NewScript(luaLib + `
local raw = redis.call('HGET', pkey, ARGV[3])
if not raw then return 0 end
return remove(ARGV[3], cjson.decode(raw).identity, ARGV[4], tonumber(ARGV[5]))
`)
	// ARGV[3..]: id, track id, track JSON, event JSON.
	publishScript = redis.NewScript(luaLib + `
if redis.call('HEXISTS', pkey, ARGV[3]) == 0 then return 0 end
local i = findTrack(ARGV[3], ARGV[4])
if i then redis.call('LSET', tkey(ARGV[3]), i, ARGV[5]) else redis.call('RPUSH', tkey(ARGV[3]), ARGV[5]) end
return emit(ARGV[6])
`)
	// ARGV[3..]: id, track id.
	unpublishScript = redis.NewScript(luaLib + `
local i, t, raw = findTrack(ARGV[3], ARGV[4])
if not i then return 0 end
redis.call('LREM', tkey(ARGV[3]), 1, raw)
return emit(cjson.encode({room = room, type = 'track_unpublished', at = at, participantId = ARGV[3],
  track = {id = t.id, source = t.source}}))
`)
	// ARGV[3..]: id, track id, "1" to mute or "0".
	muteScript = redis.NewScript(luaLib + `
local i, t = findTrack(ARGV[3], ARGV[4])
if not i then return 0 end
local muted = ARGV[5] == '1'
if t.muted == muted then return -1 end
t.muted = muted
redis.call('LSET', tkey(ARGV[3]), i, cjson.encode(t))
return emit(cjson.encode({room = room, type = 'track_updated', at = at, participantId = ARGV[3], track = t}))
`)
	// Reads seq, hands and participants together, so the Seq matches the state.
	snapshotScript = redis.NewScript(luaLib + `return snapshot({})`)
)
