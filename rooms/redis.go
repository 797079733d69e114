package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
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
//	P room:{R}:seq              string the room's last event Seq
//	P room:{R}:events           pub/sub channel: "<seq> <event JSON>"
//
// The braces are a Redis Cluster hash tag: all of a room's keys live on one shard. Every change is one
// Lua script that checks, applies, counts and publishes, so all nodes see one order.
type RedisStore struct {
	client *redis.Client
	prefix string

	closed atomic.Bool // read without mu, so mutations never wait for subscription bookkeeping
	done   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	ps       *redis.PubSub // the one subscriber connection; replaced as a whole when it breaks
	chans    map[string]*redisChan
	failures int // subscriber connections failed in a row, for the redial backoff
}

// redisChan is a room channel this store listens to, counted by its feeds.
type redisChan struct {
	feeds   map[*feed]struct{}
	want    bool          // the last command sent for the channel was SUBSCRIBE (else UNSUBSCRIBE)
	pending int           // commands sent whose confirmation has not been read yet
	ready   chan struct{} // closed when the last SUBSCRIBE is confirmed: events flow from then on
}

// pubsubHealth is how long the subscriber connection may stay silent before it is pinged, and then
// how long the answer may take before the connection is declared dead.
const pubsubHealth = 15 * time.Second

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
	return s.mutate(ctx, "leave", leaveScript, room, time.Now(), participantID, reason)
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

// Subscribe implements Store. It returns once Redis has confirmed the channel subscription, so every
// event applied after it returns is delivered; a few applied just before may come too, which the
// consumer skips by Seq after reading the Snapshot.
func (s *RedisStore) Subscribe(ctx context.Context, room string) (*Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := s.base(room) + "events"
	f := newFeed()
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	c := s.chans[name]
	if c == nil {
		c = &redisChan{feeds: make(map[*feed]struct{})}
		s.chans[name] = c
	}
	c.feeds[f] = struct{}{}
	if !c.want {
		c.want, c.ready = true, make(chan struct{})
		c.pending++
		if err := s.ps.Subscribe(context.Background(), name); err != nil {
			s.restartLocked(err)
			s.mu.Unlock()
			return nil, fmt.Errorf("rooms: redis subscribe %s: %w", room, err)
		}
	}
	ready := c.ready
	s.mu.Unlock()

	drop := func(err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if c := s.chans[name]; c != nil && !f.isDone() {
			delete(c.feeds, f)
			f.end(err)
			s.releaseLocked(name, c)
		}
	}
	select {
	case <-ready:
	case <-f.done: // the connection broke or the store closed before Redis confirmed
		return nil, fmt.Errorf("rooms: redis subscribe %s: %w", room, f.Err())
	case <-ctx.Done():
		drop(ctx.Err())
		return nil, ctx.Err()
	}
	f.setStop(context.AfterFunc(ctx, func() { drop(context.Cause(ctx)) }))
	return NewSubscription(f.c, f.Err, func() { drop(nil) }), nil
}

// releaseLocked unsubscribes from a channel nobody listens to any more; s.mu must be held.
func (s *RedisStore) releaseLocked(name string, c *redisChan) {
	if len(c.feeds) > 0 || !c.want {
		return
	}
	c.want = false
	c.pending++
	if err := s.ps.Unsubscribe(context.Background(), name); err != nil {
		s.restartLocked(err)
	}
}

// restartLocked replaces the subscriber connection after it failed. Events may have been lost with it,
// so every subscription ends with ErrLagged and its consumer resubscribes and re-reads the Snapshot.
// A whole new PubSub (rather than go-redis's reconnect) means no confirmation or message of the old
// connection can be mistaken for one of the new. s.mu must be held.
func (s *RedisStore) restartLocked(cause error) {
	err := fmt.Errorf("%w: redis subscriber connection failed: %v", ErrLagged, cause)
	for _, c := range s.chans {
		for f := range c.feeds {
			f.end(err)
		}
	}
	s.chans = make(map[string]*redisChan)
	_ = s.ps.Close()
	s.ps = s.client.Subscribe(context.Background())
	// Pause before redialling, longer each time, so that a Redis that is down is not hammered.
	s.failures++
	pause := min(100*time.Millisecond<<min(s.failures, 6), 5*time.Second)
	s.wg.Add(1)
	go s.read(s.ps, pause)
}

// read dispatches what ps receives until ps is closed or replaced.
func (s *RedisStore) read(ps *redis.PubSub, pause time.Duration) {
	defer s.wg.Done()
	select {
	case <-time.After(pause):
	case <-s.done:
		return
	}
	ctx := context.Background()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, pubsubHealth)
		s.mu.Lock()
		if s.ps != ps { // closed or replaced
			s.mu.Unlock()
			return
		}
		var ne net.Error
		if err != nil && errors.As(err, &ne) && ne.Timeout() && !pinged {
			// Silence may just be a quiet room; a ping tells it from a dead connection.
			pinged = true
			err = ps.Ping(ctx)
			s.mu.Unlock()
			if err == nil {
				continue
			}
			s.mu.Lock()
		}
		if err != nil {
			if s.ps == ps {
				s.restartLocked(err)
			}
			s.mu.Unlock()
			return
		}
		pinged, s.failures = false, 0
		s.dispatchLocked(msg)
		s.mu.Unlock()
	}
}

func (s *RedisStore) dispatchLocked(msg any) {
	switch m := msg.(type) {
	case *redis.Subscription:
		// Redis confirms each SUBSCRIBE and UNSUBSCRIBE of a channel once, in order, so when none is
		// pending the channel is in the state of the last command sent.
		c := s.chans[m.Channel]
		if c == nil || c.pending == 0 {
			return
		}
		c.pending--
		switch {
		case c.pending > 0:
		case c.want:
			close(c.ready)
		case len(c.feeds) == 0:
			delete(s.chans, m.Channel)
		}
	case *redis.Message:
		c := s.chans[m.Channel]
		if c == nil || !c.want || c.pending > 0 {
			return // from before the current SUBSCRIBE took effect
		}
		ev, err := decodeEvent(m.Payload)
		for f := range c.feeds {
			if err != nil {
				f.end(fmt.Errorf("rooms: redis event on %s: %w", m.Channel, err))
			}
			if err != nil || !f.send(ev) {
				delete(c.feeds, f)
			}
		}
		s.releaseLocked(m.Channel, c)
	}
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

func decodeEvent(payload string) (Event, error) {
	seqText, body, ok := strings.Cut(payload, " ")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil {
		return Event{}, fmt.Errorf("malformed event %.40q", payload)
	}
	var ev Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		return Event{}, err
	}
	ev.Seq = seq
	return ev, nil
}

func parseSnapshot(room string, vals []any) (Snapshot, error) {
	if len(vals) == 0 || len(vals)%2 != 1 {
		return Snapshot{}, fmt.Errorf("unexpected snapshot reply of %d values", len(vals))
	}
	seqText, _ := vals[0].(string)
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return Snapshot{}, fmt.Errorf("bad seq %v: %w", vals[0], err)
	}
	snap := Snapshot{Room: room, Seq: seq, Participants: make([]Participant, 0, len(vals)/2)}
	for i := 1; i < len(vals); i += 2 {
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
local function remove(pid, identity, reason)
  redis.call('HDEL', pkey, pid)
  redis.call('DEL', tkey(pid))
  if redis.call('HGET', ikey, identity) == pid then redis.call('HDEL', ikey, identity) end
  return emit(cjson.encode({room = room, type = 'participant_left', at = at, participantId = pid, reason = reason}))
end
local function snapshot(out)
  out[#out + 1] = redis.call('GET', skey) or '0'
  local all = redis.call('HGETALL', pkey)
  for i = 1, #all, 2 do
    out[#out + 1] = all[i + 1]
    out[#out + 1] = redis.call('LRANGE', tkey(all[i]), 0, -1)
  end
  return out
end
`

var (
	// ARGV[3..]: id, identity, participant JSON, joined event JSON, track JSON...
	// Answers {"conflict"} or {"ok", replaced JSON or "", replaced tracks, snapshot...}.
	joinScript = redis.NewScript(luaLib + `
local id, identity = ARGV[3], ARGV[4]
local cur = redis.call('HGET', ikey, identity)
if redis.call('HEXISTS', pkey, id) == 1 and cur ~= id then return {'conflict'} end
local old, oldTracks = '', {}
if cur then
  old = redis.call('HGET', pkey, cur) or ''
  oldTracks = redis.call('LRANGE', tkey(cur), 0, -1)
  remove(cur, identity, 'replaced')
end
redis.call('HSET', pkey, id, ARGV[5])
redis.call('HSET', ikey, identity, id)
redis.call('DEL', tkey(id))
for i = 7, #ARGV do redis.call('RPUSH', tkey(id), ARGV[i]) end
emit(ARGV[6])
return snapshot({'ok', old, oldTracks})
`)
	// ARGV[3..]: id, reason.
	leaveScript = redis.NewScript(luaLib + `
local raw = redis.call('HGET', pkey, ARGV[3])
if not raw then return 0 end
return remove(ARGV[3], cjson.decode(raw).identity, ARGV[4])
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
	// Reads seq and participants together, so the Seq matches the set.
	snapshotScript = redis.NewScript(luaLib + `return snapshot({})`)
)
