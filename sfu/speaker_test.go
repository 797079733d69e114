package sfu

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

func levelHeader(id uint8, level uint8, voice bool) *rtp.Header {
	b := level
	if voice {
		b |= 0x80
	}
	h := &rtp.Header{Version: 2}
	if err := h.SetExtension(id, []byte{b}); err != nil {
		panic(err)
	}
	return h
}

func TestAudioLevel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		h     *rtp.Header
		id    uint8
		level uint8
		ok    bool
	}{
		{"loud with the V bit", levelHeader(1, 20, true), 1, 20, true},
		{"silence", levelHeader(1, 127, false), 1, 127, true},
		{"another id", levelHeader(3, 30, false), 3, 30, true},
		{"not negotiated id", levelHeader(3, 30, false), 1, 0, false},
		{"no extension", &rtp.Header{Version: 2}, 1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Through Marshal/Unmarshal, as the reader sees it.
			raw, err := (&rtp.Packet{Header: *tc.h, Payload: []byte{1}}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var pkt rtp.Packet
			if err := pkt.Unmarshal(raw); err != nil {
				t.Fatal(err)
			}
			level, ok := audioLevel(&pkt.Header, tc.id)
			if level != tc.level || ok != tc.ok {
				t.Fatalf("audioLevel = %d %v, want %d %v", level, ok, tc.level, tc.ok)
			}
		})
	}
}

// feed runs the state through windows of the given loud share and reports when speaking changed
// (window index).
func feed(s *speakerState, start time.Time, fracs []float64) []int {
	var changes []int
	for i, f := range fracs {
		if s.step(f, speakerTick, start.Add(time.Duration(i)*speakerTick)) {
			changes = append(changes, i)
		}
	}
	return changes
}

func repeat(f float64, n int) []float64 { return slices.Repeat([]float64{f}, n) }

func TestSpeakerHysteresis(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name    string
		fracs   []float64
		changes []int
	}{
		{"silence stays silent", repeat(0, 20), nil},
		{"a cough (200 ms) is not speech", append(repeat(1, 2), repeat(0, 10)...), nil},
		{"speech starts after 300 ms", repeat(1, 10), []int{2}},
		{"a pause between words (300 ms) keeps speaking",
			slices.Concat(repeat(1, 10), repeat(0, 3), repeat(1, 5)), []int{2}},
		{"silence ends speaking once the smoothed score stayed low 500 ms",
			slices.Concat(repeat(1, 10), repeat(0, 10)), []int{2, 16}},
		{"half the packets loud is still speech", repeat(0.5, 10), []int{4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s speakerState
			if got := feed(&s, t0, tc.fracs); !slices.Equal(got, tc.changes) {
				t.Fatalf("changes at windows %v, want %v", got, tc.changes)
			}
		})
	}
}

func TestSpeakerDetectorReportsChanges(t *testing.T) {
	s := newTestSFU(t)
	mk := func(participant string) *UpTrack {
		return &UpTrack{id: "microphone", participant: participant, kind: webrtc.RTPCodecTypeAudio, voice: &voiceMeter{id: 1}}
	}
	a, b := mk("a"), mk("b")
	det := &speakerDetector{rooms: map[string]*roomVoices{}}
	type report struct{ speaking, recent []string }
	var got []report
	f := func(room string, speaking, recent []string) {
		if room != "r" {
			t.Fatalf("report for room %q", room)
		}
		got = append(got, report{speaking, recent})
	}
	loud := func(t *UpTrack, on bool) {
		for range 5 {
			t.observe(&rtp.Packet{Header: *levelHeader(1, map[bool]uint8{true: 20, false: 120}[on], on)})
		}
	}
	now := time.Unix(1000, 0)
	run := func(n int, aOn, bOn bool) {
		for range n {
			loud(a, aOn)
			loud(b, bOn)
			now = now.Add(speakerTick)
			det.step(map[string][]*UpTrack{"r": {a, b}}, speakerTick, now, f)
		}
	}
	run(10, true, false) // a speaks
	run(10, true, true)  // b joins in
	run(10, false, true) // a stops
	run(10, false, false)
	want := []report{
		{[]string{"a"}, []string{"a"}},
		{[]string{"b", "a"}, []string{"b", "a"}},
		{[]string{"b"}, []string{"b", "a"}},
		{[]string{}, []string{"b", "a"}},
	}
	if len(got) != len(want) {
		t.Fatalf("reports %v, want %v", got, want)
	}
	for i := range want {
		if !slices.Equal(got[i].speaking, want[i].speaking) || !slices.Equal(got[i].recent, want[i].recent) {
			t.Fatalf("report %d = %v, want %v", i, got[i], want[i])
		}
	}
	_ = s
}

// BenchmarkAudioLevel is the reader's per-packet work for the speaker detector: 0 allocs/op.
func BenchmarkAudioLevel(b *testing.B) {
	raw, _ := (&rtp.Packet{Header: *levelHeader(1, 30, true), Payload: make([]byte, 80)}).Marshal()
	var pkt rtp.Packet
	if err := pkt.Unmarshal(raw); err != nil {
		b.Fatal(err)
	}
	t := &UpTrack{kind: webrtc.RTPCodecTypeAudio, voice: &voiceMeter{id: 1}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		t.observe(&pkt)
	}
	if t.voice.loud.Load() == 0 {
		b.Fatal("no loud packet counted")
	}
}
