package recorder

import (
	"syscall"
	"testing"
	"time"

	"github.com/chalk-edu/chalk/recorder/mediatest"
)

// BenchmarkLessonReady measures time to lesson: from Stop to the lesson video stored (and the
// preview before it), as a share of the session's length. The class is an instructor and a student,
// each with a 640x480 camera and a microphone. Target: ready/session under 0.10.
//
// "parts=1" and "parts=auto" compose everything after the stop (a one-minute class recorded faster
// than real time on a simulated clock; the processing after Stop is real): in one ffmpeg run, and
// in one part per core. "live=1m" and "live=3m" are the default: the class runs in real time while
// the video is composed during it in parts (Config.LivePart), so after the stop only the tail is
// left; ready/session should then fall as the class grows, ready-s stay about the same.
func BenchmarkLessonReady(b *testing.B) {
	for _, c := range []struct {
		name   string
		parts  int
		live   bool
		length time.Duration
	}{
		{"parts=1", 1, false, time.Minute},
		{"parts=auto", 0, false, time.Minute},
		{"live=1m", 0, true, time.Minute},
		{"live=3m", 0, true, 3 * time.Minute},
	} {
		b.Run(c.name, func(b *testing.B) { benchLessonReady(b, c.parts, c.live, c.length) })
	}
}

func benchLessonReady(b *testing.B, parts int, live bool, length time.Duration) {
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
	var ready, preview, session, cpuClass, cpuAfter, composedLive time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b, nil, func(c *Config) {
			c.Layout.Parts = parts
			if !live {
				c.LivePart = -1
			}
		})
		e.run(b)
		cpu0 := childCPU(b)
		var rec *Recording
		if live {
			rec = recordRealTime(b, e.svc, e.clk, "bench", length, srcs)
		} else {
			rec = record(b, e.svc, e.clk, "bench", length, srcs)
		}
		cpu1 := childCPU(b)
		b.StartTimer()
		start := time.Now()
		if _, err := rec.Stop(); err != nil {
			b.Fatal(err)
		}
		m := e.waitFor(b, rec.ID(), 5*time.Minute)
		ready += time.Since(start)
		b.StopTimer()
		cpuAfter += childCPU(b) - cpu1
		if live {
			cpuClass += cpu1 - cpu0
		}
		if m.Status != StatusReady {
			b.Fatalf("lesson %s: %s", m.Status, m.Error)
		}
		preview += m.PreviewAfterStop.D()
		session += m.Duration.D()
		composedLive += m.ComposedLive.D()
	}
	n := float64(b.N)
	b.ReportMetric(ready.Seconds()/session.Seconds(), "ready/session")
	b.ReportMetric(preview.Seconds()/n, "preview-s")
	b.ReportMetric(ready.Seconds()/n, "ready-s")
	// The CPU the ffmpeg runs took: on a shared machine ready-s depends on the neighbours, this
	// does not, and ready-s × cores ≈ ffmpeg-cpu-s says the parts ran in parallel. "class" is what
	// the runs that ended before the stop took (live parts), "ffmpeg-cpu-s" what ended after it:
	// that includes the audio encoder, which runs through the class and ends after the stop.
	b.ReportMetric(cpuAfter.Seconds()/n, "ffmpeg-cpu-s")
	if live {
		b.ReportMetric(cpuClass.Seconds()/n, "class-ffmpeg-cpu-s")
		b.ReportMetric(composedLive.Seconds()/n, "composed-live-s")
	}
}

// childCPU is the user and system CPU time of this process's children that have ended.
func childCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
