package sfu

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// Sender reports (RFC 3550 6.4.1) for subscribers: they map a track's RTP timestamps to wall
// clock, which browsers need to keep a participant's audio and video in sync.
//
// Pion's report.SenderInterceptor would do this, but it wraps every written packet (a time.Now, a
// lock and a call layer per copy: about 5 % of the server's CPU in a lecture of 200) and runs a
// ticker goroutine per connection. Here a down-track updates its counters under its own lock with
// the time its packet was read, taken once for all its copies, and one goroutine per SFU writes
// every subscriber's reports each second.

const senderReportInterval = time.Second

// senderStats is what a down-track has sent, for its next sender report.
type senderStats struct {
	mu      sync.Mutex
	packets uint32
	octets  uint32
	lastSeq uint16
	frameTS uint32    // the RTP timestamp of the newest frame sent
	frameAt time.Time // and when its first packet was read
}

// sent counts one packet written to the subscriber. As Pion's interceptor does, only in-order
// packets move the timestamp mapping, and only at a frame's first packet (a frame's later packets
// leave later, which says nothing about its capture time).
func (s *senderStats) sent(h *rtp.Header, payload int, at time.Time) {
	s.mu.Lock()
	if diff := h.SequenceNumber - s.lastSeq; s.packets == 0 || diff > 0 && diff < 1<<15 {
		s.lastSeq = h.SequenceNumber
		if s.packets == 0 || h.Timestamp != s.frameTS {
			s.frameTS, s.frameAt = h.Timestamp, at
		}
	}
	s.packets++
	s.octets += uint32(payload)
	s.mu.Unlock()
}

// report is the sender report for ssrc at now; nil before the first packet (RFC 3550 6.4: a
// source that has sent nothing sends none).
func (s *senderStats) report(ssrc, clockRate uint32, now time.Time) *rtcp.SenderReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.packets == 0 {
		return nil
	}
	return &rtcp.SenderReport{
		SSRC:        ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     s.frameTS + uint32(now.Sub(s.frameAt).Seconds()*float64(clockRate)),
		PacketCount: s.packets,
		OctetCount:  s.octets,
	}
}

// ntpTime is t as a 64-bit NTP timestamp (seconds since 1900 and a binary fraction).
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	ns := uint64(t.UnixNano()) + ntpEpochOffset*uint64(time.Second)
	secs := ns / uint64(time.Second)
	frac := (ns % uint64(time.Second)) << 32 / uint64(time.Second)
	return secs<<32 | frac
}

// senderReport returns d's report, or nil (nothing sent yet, not bound, or a relay: relay
// connections keep Pion's interceptor).
func (d *DownTrack) senderReport(now time.Time) (*rtcp.SenderReport, func([]rtcp.Packet) error) {
	b := d.bound.Load()
	if b == nil || d.relay || d.rtcpOut == nil || d.transportUp != nil && !d.transportUp() {
		return nil, nil
	}
	r := d.stats.report(b.ssrc, d.up.codec.ClockRate, now)
	if r == nil {
		return nil, nil
	}
	return r, d.rtcpOut
}

// reportLoop writes every subscriber's sender reports each senderReportInterval until stop closes.
func (s *SFU) reportLoop(stop <-chan struct{}) {
	tick := time.NewTicker(senderReportInterval)
	defer tick.Stop()
	var ups []*UpTrack
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			ups = s.allUpTracks(ups[:0])
			// Not inside a batch (batchConn.begin): while it is open every write on the socket,
			// STUN and DTLS included, waits for its end, and a write to a connection that is
			// coming up or going down may wait on Pion's ICE agent. A report per subscriber per
			// second costs little sent alone.
			for _, up := range ups {
				for _, d := range *up.downs.Load() {
					if r, out := d.senderReport(now); r != nil {
						if err := out([]rtcp.Packet{r}); err != nil {
							s.log.Debug("sender report", "err", err)
						}
					}
				}
			}
			clear(ups) // let ended tracks go
		}
	}
}

// allUpTracks appends every registered up-track to ups. A subscriber's down-track is on the
// registered track it subscribed to (a simulcast source's, not only its layers'), so each gets
// one report.
func (s *SFU) allUpTracks(ups []*UpTrack) []*UpTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rooms {
		for _, t := range r.tracks {
			ups = append(ups, t)
		}
	}
	return ups
}
