package sfu

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// publishHandler routes a Peer's publish candidates to a client and reports its up-tracks.
type publishHandler struct {
	handler
	pub     *webrtc.PeerConnection
	started chan *UpTrack
}

func (h *publishHandler) Candidate(pc PC, c webrtc.ICECandidateInit) {
	if pc == Publish {
		h.pub.AddICECandidate(c)
		return
	}
	h.handler.Candidate(pc, c)
}

func (h *publishHandler) UpTrackStarted(t *UpTrack) { h.started <- t }

// A participant that has not offered to publish has no publish connection; its first publish
// offer, at any time, creates one, and its track starts.
func TestPublishConnectionIsCreatedByTheFirstOffer(t *testing.T) {
	s := newTestSFU(t)
	client, err := clientAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	h := &publishHandler{pub: client, started: make(chan *UpTrack, 1)}
	sub, err := s.NewPeer("r", "student", h)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sub.mu.Lock()
	idle := sub.pub == nil
	sub.mu.Unlock()
	if !idle {
		t.Fatal("a new peer has a publish connection before any publish offer")
	}
	if err := sub.AddICECandidate(Publish, webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}); err == nil {
		t.Fatal("a publish candidate before the publish offer was accepted")
	}

	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "camera", "student")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := client.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var early []webrtc.ICECandidateInit // gathered before the offer is handled
	offered := false
	client.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !offered {
			early = append(early, c.ToJSON())
			return
		}
		sub.AddICECandidate(Publish, c.ToJSON())
	})
	offer, err := client.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := sub.HandlePublishOffer(offer.SDP, map[string]string{tr.Mid(): "camera"})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	sub.ReleaseCandidates(Publish)
	mu.Lock()
	offered = true
	for _, c := range early {
		if err := sub.AddICECandidate(Publish, c); err != nil && !errors.Is(err, ErrClosed) {
			t.Error(err)
		}
	}
	mu.Unlock()

	deadline := time.After(10 * time.Second)
	for seq := uint16(0); ; seq++ {
		pkt := vp8Packet(seq, true)
		track.WriteRTP(&rtp.Packet{Header: pkt.Header, Payload: pkt.Payload})
		select {
		case started := <-h.started:
			if started.ID() != "camera" || sub.UpTrack("camera") != started {
				t.Fatalf("started %q, registered %v", started.ID(), sub.UpTrack("camera"))
			}
			return
		case <-deadline:
			t.Fatal("the late publisher's track did not start in 10 s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
