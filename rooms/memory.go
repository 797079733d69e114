package rooms

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryStore is the embedded Store: all state lives in this process, which is all a single node needs.
type MemoryStore struct {
	breakoutOps // the BreakoutStore changes, on changeBreakouts

	mu      sync.Mutex
	rooms   map[string]*memRoom
	closed  bool
	durable *memDurable // where lessons and attendance are kept; nil: in memory (memory_durable.go)

	handHold atomic.Int64 // how long a lost participant's hand is held, in ns (memory_hands.go)
}

// memRoom is one room. Its lock is held while a change is applied, numbered and handed to every
// subscriber, so subscribers see exactly the order in which changes were applied.
type memRoom struct {
	name   string
	mu     sync.Mutex
	closed bool
	seq    uint64
	parts  map[string]*Participant // by ID; owned by the room, copied on the way in and out
	byUser map[string]string       // Identity → ID
	hands  []string                // participant IDs with a raised hand, in raising order; held ones too
	chat   memChat
	polls  memPolls
	plan   BreakoutPlan // the breakouts of this room as a main room
	mod    memMod
	rec    memRecording
	feeds  map[*feed]struct{}

	durable *memDurable // the store's, or nil

	held     map[string]heldHand // identity → its held hand (memory_hands.go)
	handHold *atomic.Int64       // the store's handHold
}

// NewMemoryStore returns an empty in-process store.
func NewMemoryStore() *MemoryStore {
	s := &MemoryStore{rooms: make(map[string]*memRoom)}
	s.handHold.Store(int64(DefaultHandHold))
	s.breakoutOps = breakoutOps{s}
	return s
}

// room returns the named room, creating it if needed. Rooms are never deleted: an empty room costs a
// few maps, and keeping it keeps its Seq counter, so a room's Seq never goes back and a consumer that
// saw Seq n never sees n again for a different event.
func (s *MemoryStore) room(name string) (*memRoom, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	r := s.rooms[name]
	if r == nil {
		r = &memRoom{
			name:   name,
			parts:  make(map[string]*Participant),
			byUser: make(map[string]string),
			chat:   memChat{byID: make(map[string]uint64)},
			feeds:  make(map[*feed]struct{}),

			durable:  s.durable,
			handHold: &s.handHold,
		}
		s.rooms[name] = r
	}
	return r, nil
}

// lockRoom returns the named room locked, or ErrClosed.
func (s *MemoryStore) lockRoom(name string) (*memRoom, error) {
	r, err := s.room(name)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	return r, nil
}

// Join implements Store.
func (s *MemoryStore) Join(ctx context.Context, room string, p Participant) (Snapshot, *Participant, error) {
	if err := checkJoin(ctx, room, p); err != nil {
		return Snapshot{}, nil, err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return Snapshot{}, nil, err
	}
	defer r.mu.Unlock()
	replaced, err := r.join(p)
	if err != nil {
		return Snapshot{}, nil, err
	}
	return r.snapshot(), replaced, nil
}

// join adds p, replacing the session of the same identity, and records it in the attendance; r.mu
// must be held.
func (r *memRoom) join(p Participant) (replaced *Participant, err error) {
	curID, dup := r.byUser[p.Identity]
	if _, taken := r.parts[p.ID]; taken && curID != p.ID {
		return nil, fmt.Errorf("rooms: join %s: participant id %q is in use by another identity", r.name, p.ID)
	}
	if err := r.durableJoin(&p); err != nil { // first, so that a failed write changes nothing
		return nil, err
	}
	if dup {
		replaced = cloneParticipant(r.parts[curID])
		r.remove(curID, ReasonReplaced)
	}
	stored := cloneParticipant(&p)
	r.parts[p.ID] = stored
	r.byUser[p.Identity] = p.ID
	r.emit(Event{Type: EventParticipantJoined, Participant: cloneParticipant(stored)})
	r.handBack(stored)
	r.attendJoin(stored)
	return replaced, nil
}

// Leave implements Store.
func (s *MemoryStore) Leave(ctx context.Context, room, participantID, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	if r.parts[participantID] == nil {
		return fmt.Errorf("rooms: leave %s/%s: %w", room, participantID, ErrNotFound)
	}
	r.remove(participantID, reason)
	return nil
}

// PublishTrack implements Store.
func (s *MemoryStore) PublishTrack(ctx context.Context, room, participantID string, t Track) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	p := r.parts[participantID]
	if p == nil {
		return fmt.Errorf("rooms: publish track %s/%s: %w", room, participantID, ErrNotFound)
	}
	if i := trackIndex(p.Tracks, t.ID); i >= 0 {
		p.Tracks[i] = t // keep the track's place: clients list tracks in publish order
	} else {
		p.Tracks = append(p.Tracks, t)
	}
	r.emit(Event{Type: EventTrackPublished, ParticipantID: participantID, Track: &t})
	return nil
}

// UnpublishTrack implements Store.
func (s *MemoryStore) UnpublishTrack(ctx context.Context, room, participantID, trackID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	p, i := r.track(participantID, trackID)
	if i < 0 {
		return fmt.Errorf("rooms: unpublish track %s/%s/%s: %w", room, participantID, trackID, ErrNotFound)
	}
	t := p.Tracks[i]
	p.Tracks = slices.Delete(p.Tracks, i, i+1)
	r.emit(Event{Type: EventTrackUnpublished, ParticipantID: participantID, Track: &Track{ID: t.ID, Source: t.Source}})
	return nil
}

// SetTrackMuted implements Store.
func (s *MemoryStore) SetTrackMuted(ctx context.Context, room, participantID, trackID string, muted bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	p, i := r.track(participantID, trackID)
	if i < 0 {
		return fmt.Errorf("rooms: mute track %s/%s/%s: %w", room, participantID, trackID, ErrNotFound)
	}
	if p.Tracks[i].Muted == muted {
		return nil
	}
	p.Tracks[i].Muted = muted
	t := p.Tracks[i]
	r.emit(Event{Type: EventTrackUpdated, ParticipantID: participantID, Track: &t})
	return nil
}

// Snapshot implements Store.
func (s *MemoryStore) Snapshot(ctx context.Context, room string) (Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return Snapshot{}, err
	}
	defer r.mu.Unlock()
	return r.snapshot(), nil
}

// Subscribe implements Store.
func (s *MemoryStore) Subscribe(ctx context.Context, room string) (*Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := s.lockRoom(room)
	if err != nil {
		return nil, err
	}
	f := newFeed()
	r.feeds[f] = struct{}{}
	r.mu.Unlock()

	drop := func(err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if !f.isDone() {
			delete(r.feeds, f)
			f.end(err)
		}
	}
	f.setStop(context.AfterFunc(ctx, func() { drop(context.Cause(ctx)) }))
	return NewSubscription(f.c, f.Err, func() { drop(nil) }), nil
}

// Close ends every subscription with ErrClosed; later calls fail with ErrClosed. Close is idempotent.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := make([]*memRoom, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		r.mu.Lock()
		r.closed = true
		for f := range r.feeds {
			f.end(ErrClosed)
		}
		clear(r.feeds)
		r.mu.Unlock()
	}
	return nil
}

// emit numbers ev and hands it to every subscriber; r.mu must be held.
func (r *memRoom) emit(ev Event) {
	r.seq++
	ev.Room, ev.Seq, ev.At = r.name, r.seq, time.Now()
	for f := range r.feeds {
		if !f.send(ev) {
			delete(r.feeds, f)
		}
	}
}

// remove deletes a participant, its tracks and its raised hand (or holds the hand: memory_hands.go),
// and emits the left event (which implies the hand is down); r.mu must be held.
func (r *memRoom) remove(id, reason string) {
	p := r.parts[id]
	delete(r.parts, id)
	if r.byUser[p.Identity] == id {
		delete(r.byUser, p.Identity)
	}
	r.handGone(p, reason)
	r.emit(Event{Type: EventParticipantLeft, ParticipantID: id, Reason: reason})
	r.afterRemove(p, reason)
}

// track finds a participant's track; the index is -1 if either is absent.
func (r *memRoom) track(participantID, trackID string) (*Participant, int) {
	p := r.parts[participantID]
	if p == nil {
		return nil, -1
	}
	return p, trackIndex(p.Tracks, trackID)
}

func (r *memRoom) snapshot() Snapshot {
	snap := Snapshot{Room: r.name, Seq: r.seq, Participants: make([]Participant, 0, len(r.parts)),
		Hands: r.visibleHands()}
	for _, p := range r.parts {
		snap.Participants = append(snap.Participants, *cloneParticipant(p))
	}
	sortParticipants(snap.Participants)
	r.modSnapshot(&snap)
	return snap
}

func checkJoin(ctx context.Context, room string, p Participant) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if room == "" || p.ID == "" || p.Identity == "" {
		return fmt.Errorf("rooms: join %q: room, participant id and identity must be set", room)
	}
	return nil
}

// cloneParticipant deep-copies p, so that neither the caller nor a consumer shares the store's slices.
// Tracks is never nil, so it encodes as [] rather than null.
func cloneParticipant(p *Participant) *Participant {
	c := *p
	c.Tracks = append(make([]Track, 0, len(p.Tracks)), p.Tracks...)
	c.ModeratorMuted = slices.Clone(p.ModeratorMuted)
	return &c
}

func trackIndex(ts []Track, id string) int {
	return slices.IndexFunc(ts, func(t Track) bool { return t.ID == id })
}

// sortParticipants puts ps in Snapshot order: by JoinedAt, then ID.
func sortParticipants(ps []Participant) {
	slices.SortFunc(ps, func(a, b Participant) int {
		if c := a.JoinedAt.Compare(b.JoinedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// feedBuffer is how many events a subscriber may fall behind before it is ended with ErrLagged.
const feedBuffer = 1024

// feed is the store side of a Subscription, shared by both stores. The store sends to and ends a feed
// only while holding the lock that guards its subscriber set, so a send never races with the close.
type feed struct {
	c    chan Event
	done chan struct{} // closed with c; lets a store wait for the end without consuming events
	last uint64        // Seq of the last event sent, 0 before the first

	mu   sync.Mutex // guards the fields below: Err and the context callback run on other goroutines
	err  error
	stop func() bool
}

func newFeed() *feed {
	return &feed{c: make(chan Event, feedBuffer), done: make(chan struct{})}
}

// send delivers ev without blocking and reports whether the feed is still open. A consumer a whole
// buffer behind is ended with ErrLagged, and so is a feed whose events stop being contiguous (an event
// was lost on the way): in both cases the consumer must resubscribe and re-read the Snapshot.
func (f *feed) send(ev Event) bool {
	if f.isDone() {
		return false
	}
	if f.last != 0 && ev.Seq != f.last+1 {
		f.end(fmt.Errorf("%w: expected event %d, got %d", ErrLagged, f.last+1, ev.Seq))
		return false
	}
	select {
	case f.c <- ev:
		f.last = ev.Seq
		return true
	default:
		f.end(ErrLagged)
		return false
	}
}

// end closes the feed with err (nil for a normal Close); later calls do nothing.
func (f *feed) end(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.done:
		return
	default:
	}
	f.err = err
	close(f.c)
	close(f.done)
	if f.stop != nil {
		f.stop()
	}
}

func (f *feed) isDone() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// setStop records how to unregister the feed's context callback once the feed ends.
func (f *feed) setStop(stop func() bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.isDone() {
		stop()
		return
	}
	f.stop = stop
}

// Err reports why the feed ended.
func (f *feed) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
