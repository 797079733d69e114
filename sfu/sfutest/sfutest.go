// Package sfutest holds helpers for tests of media connections, shared by the SFU's tests and the
// Go client's.
package sfutest

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// SendWithLateRetransmission connects a sender made with api to recv, sends VP8 packets 1..n+20
// without packet 10, then packet 10, and reports whether recv's track delivered packet 10.
func SendWithLateRetransmission(t *testing.T, api *webrtc.API, recv *webrtc.PeerConnection, n uint16) bool {
	t.Helper()
	send, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "camera", "p")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		seen     = map[uint16]bool{}
		complete = make(chan struct{})
		last     = n + 20
	)
	recv.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			mu.Lock()
			seen[pkt.SequenceNumber] = true
			if pkt.SequenceNumber == 10 {
				close(complete)
				mu.Unlock()
				return
			}
			mu.Unlock()
		}
	})
	offer, err := send.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(send)
	if err := send.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := recv.SetRemoteDescription(*send.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := recv.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(recv)
	if err := recv.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := send.SetRemoteDescription(*recv.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); send.ConnectionState() != webrtc.PeerConnectionStateConnected; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not connected after 10 s")
		}
	}
	write := func(seq uint16) {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000}, Payload: []byte{0x10, 0x00, 1, 2, 3}}
		if err := track.WriteRTP(pkt); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint16(1); seq <= last; seq++ {
		if seq != 10 {
			write(seq)
			time.Sleep(200 * time.Microsecond) // paced, so no socket buffer overflows
		}
	}
	// Wait until the newest packet is in, then resend the missing one.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		done := seen[last]
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("packet %d did not arrive", last)
		}
	}
	write(10)
	select {
	case <-complete:
		return true
	case <-time.After(2 * time.Second):
		return false
	}
}
