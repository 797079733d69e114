package client

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
)

// ICE options: how a client reaches the SFU. By default it uses the joined message's iceServers
// with every candidate type over UDP, as a browser on an open network does; a test of a student
// behind a firewall sets RelayOnly and a Net that refuses everything but the TURN server's TCP port.
type ICE struct {
	// RelayOnly sets the ICE transport policy to relay: media goes through a TURN server only.
	RelayOnly bool
	// NetworkTypes replaces the default (UDP4) candidate network types. A relay reached over TCP
	// needs only UDP4: relayed candidates are UDP whatever the transport to the TURN server.
	NetworkTypes []webrtc.NetworkType
	// Net is the network the peer connections use (Pion's transport.Net); nil: the host's.
	Net transport.Net
	// WrapSocket, with Options.SocketBuffer, wraps each of the client's own UDP sockets before
	// Pion's mux reads it: the load generator reads kernel receive timestamps there.
	WrapSocket func(*net.UDPConn) net.PacketConn
}

func (o ICE) apply(se *webrtc.SettingEngine) {
	if len(o.NetworkTypes) > 0 {
		se.SetNetworkTypes(o.NetworkTypes)
	}
	if o.Net != nil {
		se.SetNet(o.Net)
	}
}

// peerConfig is the peer connections' configuration from the joined message.
func (o ICE) peerConfig(joined json.RawMessage) (webrtc.Configuration, error) {
	var j struct {
		ICEServers []webrtc.ICEServer `json:"iceServers"`
	}
	if err := json.Unmarshal(joined, &j); err != nil {
		return webrtc.Configuration{}, fmt.Errorf("client: joined: %w", err)
	}
	cfg := webrtc.Configuration{ICEServers: j.ICEServers}
	if o.RelayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return cfg, nil
}
