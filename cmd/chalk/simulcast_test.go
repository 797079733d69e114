package main

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/signaling/client"
)

// layerSizes are the synthetic layers' frame sizes and payload sizes (so their bitrates differ the
// way real layers' do).
var layerSizes = [3]struct{ w, h, payload int }{{320, 180, 300}, {640, 360, 600}, {1280, 720, 1100}}

// layerVP8 is a synthetic VP8 payload of layer l: a real keyframe header (the SFU reads the frame
// size from it), then "L" and the layer number at byte 11, which receivers read back.
func layerVP8(l int, keyframe bool) []byte {
	s := layerSizes[l]
	p := make([]byte, s.payload)
	p[0] = 0x10 // S=1, PID=0
	if !keyframe {
		p[1] = 0x01
	}
	p[4], p[5], p[6] = 0x9d, 0x01, 0x2a
	binary.LittleEndian.PutUint16(p[7:], uint16(s.w))
	binary.LittleEndian.PutUint16(p[9:], uint16(s.h))
	p[11], p[12] = 'L', byte(l)
	return p
}

// layerCounter counts, per subscriber, which layer each received video packet came from.
type layerCounter struct {
	mu   sync.Mutex
	got  [3]int
	ssrc uint32
}

func (c *layerCounter) onTrack(info client.TrackInfo, t *webrtc.TrackRemote) {
	if t.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	c.mu.Lock()
	c.ssrc = uint32(t.SSRC())
	c.mu.Unlock()
	go func() {
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			if len(pkt.Payload) > 12 && pkt.Payload[11] == 'L' && pkt.Payload[12] < 3 {
				c.mu.Lock()
				c.got[pkt.Payload[12]]++
				c.mu.Unlock()
			}
		}
	}()
}

func (c *layerCounter) take() [3]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.got
	c.got = [3]int{}
	return g
}

// A publisher sends three simulcast layers; a subscriber that asks for a small tile receives the
// low layer, one that asks for a large tile the high layer, and one whose bandwidth estimate (REMB)
// is low the low layer.
func TestSimulcastLayerPerSubscriber(t *testing.T) {
	srv := startTestServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	pub, err := client.Dial(ctx, client.Options{URL: srv.wsURL(), Room: "sim", Name: "Teacher", Video: true, Simulcast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	var small, large, slow layerCounter
	subs := map[*layerCounter]*client.Client{}
	for _, x := range []struct {
		name string
		c    *layerCounter
	}{{"Small", &small}, {"Large", &large}, {"Slow", &slow}} {
		c, err := client.Dial(ctx, client.Options{URL: srv.wsURL(), Room: "sim", Name: x.name, OnTrack: x.c.onTrack})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		subs[x.c] = c
	}

	// 30 packets a second per layer, a keyframe every 15 (the synthetic publisher ignores PLIs).
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for n := uint32(0); n < 3000; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for l := range pub.Layers {
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(n), Timestamp: n * 3000, Marker: true},
					Payload: layerVP8(l, n%15 == 0)}
				pub.WriteLayer(l, pkt) // fails until the answer is in
			}
		}
	}()
	defer func() { close(stop); <-done }()

	// Everyone receives the camera first (no size asked yet: the top layer).
	waitFor(t, 20*time.Second, "every subscriber receives video", func() bool {
		for c := range subs {
			g := c.take()
			if g[0]+g[1]+g[2] == 0 {
				return false
			}
		}
		return true
	})
	ask := func(c *client.Client, w, h int) {
		if err := c.Send(ctx, "set_video_quality", map[string]any{"participantId": pub.ID, "trackId": "camera", "width": w, "height": h}); err != nil {
			t.Fatal(err)
		}
	}
	ask(subs[&small], 320, 180)
	ask(subs[&large], 1280, 720)
	// The slow subscriber's browser would send REMB: 100 kbit/s fits only the low layer (~72 kbit/s).
	remb := func() {
		slow.mu.Lock()
		ssrc := slow.ssrc
		slow.mu.Unlock()
		subs[&slow].SubscribeConnection().WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 100_000, SSRCs: []uint32{ssrc}}})
	}
	remb()

	// After switching (at the next keyframe of the target layer), each receives only its layer.
	waitFor(t, 20*time.Second, "small gets only layer 0, large only layer 2, slow only layer 0", func() bool {
		remb()
		for c := range subs {
			c.take()
		}
		time.Sleep(1500 * time.Millisecond)
		s, l, w := small.take(), large.take(), slow.take()
		t.Logf("per layer: small %v, large %v, slow %v", s, l, w)
		return s[0] > 20 && s[1]+s[2] == 0 && l[2] > 20 && l[0]+l[1] == 0 && w[0] > 20 && w[1]+w[2] == 0
	})

	// The estimate reached the layer choice: the slow subscriber's layer is below its tile's.
	if n := metricAt(srv.URL(), "chalk_sfu_remb_received_total"); n < 1 {
		t.Fatalf("chalk_sfu_remb_received_total = %v, want the slow subscriber's REMBs", n)
	}
	if n := metricAt(srv.URL(), "chalk_sfu_simulcast_estimate_limited_total"); n < 1 {
		t.Fatalf("chalk_sfu_simulcast_estimate_limited_total = %v, want the slow subscriber counted", n)
	}

	// The server measured three layers with their sizes.
	up := srv.sfu.UpTrack("sim", pub.ID, "camera")
	if up == nil {
		t.Fatal("no camera up-track")
	}
	if n, widths := up.Layers(); n != 3 || widths != [3]int{320, 640, 1280} {
		t.Fatalf("up-track has %d layers %v, want 3 of widths 320, 640, 1280", n, widths)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
