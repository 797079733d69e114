package sfu

import (
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/sfu/sfutest"
)

// A publisher's retransmission arrives after the packets it sent since; the SFU must still accept
// it when it is hundreds of packets late (Pion's default SRTP replay window of 64 dropped it, so
// a packet lost in a half-second stall was never recovered).
func TestLateRetransmissionIsAccepted(t *testing.T) {
	s := newTestSFU(t)
	recv, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	if got := sfutest.SendWithLateRetransmission(t, clientAPI(), recv, 500); !got {
		t.Fatal("a packet resent 500 packets late did not arrive")
	}
}
