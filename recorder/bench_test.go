package recorder

import (
	"syscall"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/recorder/mediatest"
)

// BenchmarkLessonReady measures time to lesson: from Stop to the lesson video stored (and the
// preview before it), as a share of the session's length. The class is an instructor and a student,
// each with a 640x480 camera and a microphone, for one minute (recorded faster than real time on a
// simulated clock; the processing after Stop is real). Target: ready/session under 0.10.
// "parts=1" composes the video in one ffmpeg run, "parts=auto" in one part per core (the default):
// the two in one run give the speed-up on the machine at hand.
func BenchmarkLessonReady(b *testing.B) {
	for _, c := range []struct {
		name  string
		parts int
	}{{"parts=1", 1}, {"parts=auto", 0}} {
		b.Run(c.name, func(b *testing.B) { benchLessonReady(b, c.parts) })
	}
}

func benchLessonReady(b *testing.B, parts int) {
	const length = time.Minute
	cam1 := mediatest.VP8(b, mediatest.Video{Size: "640x480", FPS: 20, Duration: length, Bitrate: "800k"})
	cam2 := mediatest.VP8(b, mediatest.Video{Size: "640x480", FPS: 20, Duration: length, Bitrate: "800k", Pattern: "testsrc"})
	mic1 := mediatest.Opus(b, mediatest.Audio{Duration: length})
	mic2 := mediatest.Opus(b, mediatest.Audio{Duration: length, Freq: 660})
	srcs := []source{
		{info: TrackInfo{Participant: "ada", Role: "instructor", Source: "camera", MimeType: "video/VP8", ClockRate: 90000}, media: cam1},
		{info: TrackInfo{Participant: "ada", Role: "instructor", Source: "microphone", MimeType: "audio/opus", ClockRate: 48000}, media: mic1},
		{info: TrackInfo{Participant: "bob", Role: "student", Source: "camera", MimeType: "video/VP8", ClockRate: 90000}, media: cam2, offset: 5 * time.Second},
		{info: TrackInfo{Participant: "bob", Role: "student", Source: "microphone", MimeType: "audio/opus", ClockRate: 48000}, media: mic2, offset: 5 * time.Second},
	}
	var ready, preview, session, cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b, nil, func(c *Config) { c.Layout.Parts, c.LivePart = parts, -1 })
		e.run(b)
		rec := record(b, e.svc, e.clk, "bench", length, srcs)
		cpu0 := childCPU(b)
		b.StartTimer()
		start := time.Now()
		if _, err := rec.Stop(); err != nil {
			b.Fatal(err)
		}
		m := e.waitFor(b, rec.ID(), 5*time.Minute)
		ready += time.Since(start)
		b.StopTimer()
		cpu += childCPU(b) - cpu0
		if m.Status != StatusReady {
			b.Fatalf("lesson %s: %s", m.Status, m.Error)
		}
		preview += m.PreviewAfterStop.D()
		session += m.Duration.D()
	}
	b.ReportMetric(ready.Seconds()/session.Seconds(), "ready/session")
	b.ReportMetric(preview.Seconds()/float64(b.N), "preview-s")
	b.ReportMetric(ready.Seconds()/float64(b.N), "ready-s")
	// The CPU the ffmpeg runs took: on a shared machine ready-s depends on the neighbours, this
	// does not, and ready-s × cores ≈ ffmpeg-cpu-s says the parts ran in parallel.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "ffmpeg-cpu-s")
}

// childCPU is the user and system CPU time of this process's children that have ended.
func childCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
