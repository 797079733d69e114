package sfu

import (
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

func TestNTPTime(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want uint64
	}{
		{time.Unix(0, 0), 0x83AA7E80 << 32},
		{time.Unix(0, 5e8), 0x83AA7E80<<32 | 0x80000000},
		{time.Unix(1, 250e6), (0x83AA7E80+1)<<32 | 0x40000000},
	} {
		if got := ntpTime(tc.at); got != tc.want {
			t.Errorf("ntpTime(%v) = %#x, want %#x", tc.at, got, tc.want)
		}
	}
}

func TestSenderStats(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var s senderStats
	if r := s.report(7, 90000, t0); r != nil {
		t.Fatalf("report before any packet: %+v", r)
	}
	for _, p := range []struct {
		seq uint16
		ts  uint32
		at  time.Duration
	}{
		{100, 9000, 0},                      // first packet: the mapping starts here
		{101, 9000, 5 * time.Millisecond},   // same frame, later: the mapping stays
		{102, 12000, 33 * time.Millisecond}, // next frame
		{90, 3000, 40 * time.Millisecond},   // a retransmission: counted only
		{103, 12000, 41 * time.Millisecond}, // rest of the frame
	} {
		s.sent(&rtp.Header{SequenceNumber: p.seq, Timestamp: p.ts}, 1000, t0.Add(p.at))
	}
	now := t0.Add(33*time.Millisecond + 500*time.Millisecond)
	r := s.report(7, 90000, now)
	want := rtcp.SenderReport{SSRC: 7, NTPTime: ntpTime(now), RTPTime: 12000 + 45000, PacketCount: 5, OctetCount: 5000}
	if r == nil || !reflect.DeepEqual(*r, want) {
		t.Fatalf("report = %+v, want %+v", r, want)
	}
}

// A subscriber receives sender reports for its track, with the SSRC it negotiated and the packets
// it was sent, and an RTP time that follows the forwarded timestamps.
func TestSubscribersGetSenderReports(t *testing.T) {
	s := newTestSFU(t)
	var plis atomic.Int32
	up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
	s.addUpTrack(up)
	defer s.removeUpTrack(up)
	var got atomic.Int64
	p, client := connectSubscriber(t, s, up, "sub", &got)
	defer p.Close()
	defer client.Close()
	recv := client.GetReceivers()[0]
	srs := make(chan *rtcp.SenderReport, 16)
	go func() {
		for {
			pkts, _, err := recv.ReadRTCP()
			if err != nil {
				return
			}
			for _, pkt := range pkts {
				if sr, ok := pkt.(*rtcp.SenderReport); ok {
					select {
					case srs <- sr:
					default:
					}
				}
			}
		}
	}()
	ssrc := uint32(recv.Track().SSRC())
	deadline := time.After(10 * time.Second)
	for n := uint16(1000); ; n++ {
		up.forward(vp8Packet(n, false))
		select {
		case sr := <-srs:
			if sr.SSRC != ssrc || sr.PacketCount == 0 || int64(sr.PacketCount) > got.Load()+1 {
				t.Fatalf("sender report %+v: want SSRC %d and at most %d packets", sr, ssrc, got.Load()+1)
			}
			if d := time.Since(time.Unix(int64(sr.NTPTime>>32)-0x83AA7E80, 0)); d < -2*time.Second || d > 2*time.Second {
				t.Fatalf("sender report NTP time is %v off", d)
			}
			return
		case <-deadline:
			t.Fatal("no sender report in 10 s")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
