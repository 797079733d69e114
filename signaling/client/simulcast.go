package client

import (
	"errors"
	"fmt"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// SimulcastRIDs are the layers a simulcast camera sends, lowest first (as Chalk's web client does).
var SimulcastRIDs = []string{"q", "h", "f"}

// addSimulcastCamera adds a camera that sends one track as three layers (Options.Simulcast); the
// caller writes each layer's RTP to c.Layers[i]. c.Video is the lowest layer.
func (c *Client) addSimulcastCamera(stream string) (*webrtc.RTPTransceiver, error) {
	for _, rid := range SimulcastRIDs {
		t, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", stream, webrtc.WithRTPStreamID(rid))
		if err != nil {
			return nil, err
		}
		c.Layers = append(c.Layers, t)
	}
	tr, err := c.pub.AddTransceiverFromTrack(c.Layers[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, err
	}
	for _, t := range c.Layers[1:] {
		if err := tr.Sender().AddEncoding(t); err != nil {
			return nil, fmt.Errorf("client: add simulcast layer %s: %w", t.RID(), err)
		}
	}
	c.Video = c.Layers[0]
	c.simTr = tr
	return tr, nil
}

// WriteLayer sends pkt on simulcast layer i. Pion does not tag simulcast packets itself, so the
// mid and RID header extensions the SFU routes by are set here (ids as negotiated).
func (c *Client) WriteLayer(i int, pkt *rtp.Packet) error {
	c.mu.Lock()
	if c.midExt == 0 || c.ridExt == 0 {
		for _, e := range c.simTr.Sender().GetParameters().HeaderExtensions {
			switch e.URI {
			case sdp.SDESMidURI:
				c.midExt = uint8(e.ID)
			case sdp.SDESRTPStreamIDURI:
				c.ridExt = uint8(e.ID)
			}
		}
	}
	mid, rid := c.midExt, c.ridExt
	c.mu.Unlock()
	if mid == 0 || rid == 0 {
		return errors.New("client: simulcast extensions not negotiated (yet)")
	}
	if err := pkt.Header.SetExtension(mid, []byte(c.simTr.Mid())); err != nil {
		return err
	}
	if err := pkt.Header.SetExtension(rid, []byte(c.Layers[i].RID())); err != nil {
		return err
	}
	return c.Layers[i].WriteRTP(pkt)
}
