package client

import (
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/sfu/sfutest"
)

// A subscriber NACKs what it lost in a stall and the server's resend arrives after the packets
// sent since: the client must accept it hundreds of packets late, as a browser does (with Pion's
// default SRTP replay window of 64 the load generator's seminar subscribers rejected their own
// retransmissions and NACKed them again: 77,000 resends and 97 % video delivery in one run).
func TestLateRetransmissionIsAccepted(t *testing.T) {
	sendAPI, _, err := newAPI(ICE{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	recvAPI, _, err := newAPI(ICE{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	recv, err := recvAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	if got := sfutest.SendWithLateRetransmission(t, sendAPI, recv, 500); !got {
		t.Fatal("a packet resent 500 packets late did not arrive")
	}
}
