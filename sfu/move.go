package sfu

// Moving a peer between rooms (breakout rooms and back) keeps both of its peer connections: no new
// ICE or DTLS handshake, no new getUserMedia, no renegotiation of the publish connection. Only the
// registry that says which room a published track belongs to changes, and the subscribe connection
// is renegotiated as usual when its subscriptions change.

// Room is the room the peer's tracks are published in.
func (p *Peer) Room() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.room
}

// Move publishes the peer's tracks in room from now on: SFU.UpTrack finds them there and no longer
// in the old room. Who already receives them keeps receiving them until they unsubscribe (their
// sessions do when the old room says the participant left), and the peer keeps its own
// subscriptions until UnsubscribeAll: moving back after a failed move is then lossless.
func (p *Peer) Move(room string) {
	p.mu.Lock()
	if p.closed || p.room == room {
		p.mu.Unlock()
		return
	}
	p.room = room
	ups := make([]*UpTrack, 0, len(p.ups))
	for _, up := range p.ups {
		ups = append(ups, up)
	}
	p.mu.Unlock()
	for _, up := range ups {
		p.sfu.moveUpTrack(up, room)
	}
}

// UnsubscribeAll stops forwarding every track to this participant (it entered another room).
func (p *Peer) UnsubscribeAll() {
	p.mu.Lock()
	keys := make([]trackKey, 0, len(p.downs))
	for k := range p.downs {
		keys = append(keys, k)
	}
	p.mu.Unlock()
	for _, k := range keys {
		p.Unsubscribe(k.participant, k.track)
	}
}

// moveUpTrack re-registers t under room to. A track not registered (its media ended, or onTrack has
// not added it yet) only has its room changed, so a late addUpTrack puts it in the right room.
func (s *SFU) moveUpTrack(t *UpTrack, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := trackKey{t.participant, t.id}
	old := s.rooms[t.room]
	t.room = to
	if old == nil || old.tracks[key] != t {
		return
	}
	delete(old.tracks, key)
	if len(old.tracks) == 0 {
		delete(s.rooms, old.name)
	}
	r := s.rooms[to]
	if r == nil {
		r = &room{name: to, tracks: map[trackKey]*UpTrack{}}
		s.rooms[to] = r
	}
	r.tracks[key] = t
}
