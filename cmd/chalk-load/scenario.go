package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/auth"
	"github.com/chalk-edu/chalk/rooms"
	"github.com/chalk-edu/chalk/signaling/client"
)

// A scenario is a set of rooms, each with participants that publish, subscribe, or both.
type participant struct {
	name    string
	room    *roomPlan
	role    rooms.Role
	publish bool

	c       *client.Client
	pub     *publisher
	recv    *receiver
	expects []*stream // what this participant should receive: every other publisher's streams
	measure bool      // another publisher was already sending when it started to join
}

type roomPlan struct {
	name       string
	members    []*participant
	publishing atomic.Int32 // publishers whose publish connection is up
}

// plan builds the rooms of a scenario. n is the number of students (lecture), participants
// (seminar) or rooms of four (breakouts).
func plan(scenario string, n int) ([]*roomPlan, error) {
	tag := randomHex(3)
	newRoom := func(name string, size int, publishers int) *roomPlan {
		r := &roomPlan{name: name}
		for i := range size {
			p := &participant{room: r, role: rooms.RoleStudent, publish: i < publishers, name: fmt.Sprintf("%s-%d", name, i)}
			if i == 0 {
				p.role = rooms.RoleInstructor
			}
			r.members = append(r.members, p)
		}
		return r
	}
	switch scenario {
	case "lecture":
		return []*roomPlan{newRoom("lecture-"+tag, n+1, 1)}, nil
	case "seminar":
		return []*roomPlan{newRoom("seminar-"+tag, n, n)}, nil
	case "breakouts":
		var rs []*roomPlan
		for i := range n {
			rs = append(rs, newRoom(fmt.Sprintf("breakout-%s-%d", tag, i), 4, 4))
		}
		return rs, nil
	}
	return nil, fmt.Errorf("unknown scenario %q: use lecture, seminar, breakouts or floor", scenario)
}

// joinOrder interleaves rooms so that they fill in parallel, each room in member order (a room's
// first member, the lecture's instructor, joins before the others).
func joinOrder(rs []*roomPlan) []*participant {
	var out []*participant
	for i := 0; ; i++ {
		added := false
		for _, r := range rs {
			if i < len(r.members) {
				out = append(out, r.members[i])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

// joiner dials participants into the server.
type joiner struct {
	wsURL   string
	tokens  *auth.Issuer // nil: dev mode, join with a name only
	win     *window
	media   mediaPlan
	streams atomic.Uint32 // ids handed out
	maxN    uint32
}

func (j *joiner) join(ctx context.Context, p *participant, mediaCtx context.Context) error {
	o := client.Options{URL: j.wsURL, Room: p.room.name, Name: p.name, Identity: p.name, Audio: p.publish, Video: p.publish,
		SocketBuffer: 4 << 20}
	if j.tokens != nil {
		tok, err := j.tokens.Mint(auth.Grant{Room: p.room.name, Identity: p.name, Name: p.name, Role: p.role}, time.Hour)
		if err != nil {
			return err
		}
		o.Token = tok
	}
	if len(p.room.members) > 1 {
		p.recv = newReceiver(j.win, j.maxN)
		p.recv.joinStart = time.Now()
		o.OnTrack = p.recv.onTrack
		ring := &p.recv.arrived
		o.ICE.WrapSocket = func(c *net.UDPConn) net.PacketConn { return stampSocket(c, ring) }
		o.OnMessage = func(typ string, _ json.RawMessage) {
			if typ == "offer" {
				p.recv.mark(phaseAnswer) // the client calls this after answering
			}
		}
		p.measure = p.room.publishing.Load() > 0
	}
	if p.publish {
		p.pub = &publisher{plan: j.media}
		o.OnKeyframeRequest = func(source string) {
			if source == "camera" {
				p.pub.keyframe.Store(true)
			}
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := client.Dial(dctx, o)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	p.c = c
	if p.recv != nil {
		p.recv.mark(phaseJoined)
		p.recv.watch(c.SubscribeConnection()) // before the first offer: the server sends it after joined
	}
	if !p.publish {
		return nil
	}
	p.pub.audio = &stream{id: j.streams.Add(1), kind: webrtc.RTPCodecTypeAudio, track: c.Audio, limit: j.maxN}
	p.pub.video = &stream{id: j.streams.Add(1), kind: webrtc.RTPCodecTypeVideo, track: c.Video, limit: j.maxN}
	go p.pub.run(mediaCtx)
	// Wait until the publish connection is up, so later joiners find media already flowing.
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if c.PublishConnection().ConnectionState() == webrtc.PeerConnectionStateConnected {
			p.room.publishing.Add(1)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: publish connection not up after 15 s", p.name)
}

// joinAll dials everyone with at most conc joins in flight; a room's publishers join (and are up)
// before the room's later members start. It returns the number of failed joins and the first error.
func (j *joiner) joinAll(ctx, mediaCtx context.Context, rs []*roomPlan, conc int) (int, error) {
	order := joinOrder(rs)
	// A room's first member goes first, alone: it is the publisher the others expect.
	var firsts, rest []*participant
	for _, p := range order {
		if p == p.room.members[0] {
			firsts = append(firsts, p)
		} else {
			rest = append(rest, p)
		}
	}
	var failed atomic.Int32
	var firstErr error
	var errMu sync.Mutex
	run := func(list []*participant) {
		sem := make(chan struct{}, max(1, conc))
		var wg sync.WaitGroup
		for _, p := range list {
			if ctx.Err() != nil {
				break
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := j.join(ctx, p, mediaCtx); err != nil {
					failed.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	run(firsts)
	run(rest)
	return int(failed.Load()), firstErr
}

// wire fills each participant's expected streams once everyone has joined.
func wire(rs []*roomPlan) {
	for _, r := range rs {
		for _, p := range r.members {
			if p.recv == nil {
				continue
			}
			p.expects = nil
			for _, q := range r.members {
				if q != p && q.pub != nil && q.pub.audio != nil {
					p.expects = append(p.expects, q.pub.audio, q.pub.video)
				}
			}
		}
	}
}

// allReceiving reports whether every subscriber has had a packet of every stream it expects.
func allReceiving(rs []*roomPlan) bool {
	for _, r := range rs {
		for _, p := range r.members {
			if p.recv == nil || p.c == nil {
				continue
			}
			for _, s := range p.expects {
				if !p.recv.has(s.id) {
					return false
				}
			}
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
