package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/chalk-edu/chalk/auth"
)

// config is what one run is told (flags in main.go).
type config struct {
	URL         string // server base URL (http://host:port); empty: start one (serverBin)
	TokenSecret string // mint join tokens with it; empty: dev mode (join with a name)
	Scenario    string
	N           int
	Duration    time.Duration
	Warmup      time.Duration
	JoinTimeout time.Duration
	Grace       time.Duration // after sending stops, for retransmissions in flight
	JoinConc    int
	VideoKbps   int
	FPS         int
	KeyEvery    time.Duration
	Pace        float64       // video pacing rate as a multiple of VideoKbps; 0: a frame's packets back to back
	Floor       time.Duration // 0: no floor measurement in this run
	FloorCPU    int           // CPU the floor's sender runs on; -1: wherever
	ProfileDir  string        // fetch the server's CPU and allocs profiles over the window into it
	Log         *slog.Logger
}

// result is the one JSON line a run prints.
type result struct {
	Scenario     string  `json:"scenario"`
	Rooms        int     `json:"rooms"`
	Publishers   int     `json:"publishers"`
	Subscribers  int     `json:"subscribers"`
	DurationS    float64 `json:"duration_s"`
	VideoKbps    int     `json:"video_kbps"`
	Pace         float64 `json:"video_pacing"` // -pace: the publishers' pacing rate as a multiple of video_kbps (0: none)
	JoinsFailed  int     `json:"joins_failed"`
	NotReceiving int     `json:"subscribers_without_media"`
	Sent         int64   `json:"packets_sent"` // by the publishers in the window (each to every subscriber)
	SendErrors   int64   `json:"publisher_write_errors"`
	Expected     int64   `json:"packets_expected"`
	Received     int64   `json:"packets_received"`
	Duplicates   int64   `json:"duplicates"`
	Delivery     float64 `json:"delivery"`
	// By kind: audio is not retransmitted (the SFU caches only video for NACK, as browsers NACK
	// only video), so a receiver that loses packets recovers video and not audio.
	VideoDelivery float64 `json:"video_delivery"`
	AudioDelivery float64 `json:"audio_delivery"`
	WorstDelivery float64 `json:"worst_subscriber_delivery"`
	LatencyP50    float64 `json:"latency_ms_p50"`
	LatencyP99    float64 `json:"latency_ms_p99"`
	LatencyMax    float64 `json:"latency_ms_max"`
	// Socket latency: send → the kernel's receive timestamp on the subscriber's socket (Linux,
	// SO_TIMESTAMPNS), so it leaves out the load generator's own queueing that latency_ms includes.
	SocketLatencyP50 float64 `json:"socket_latency_ms_p50"`
	SocketLatencyP99 float64 `json:"socket_latency_ms_p99"`
	SocketLatencyMax float64 `json:"socket_latency_ms_max"`
	SocketSamples    uint64  `json:"socket_latency_samples"`
	SocketMisses     int64   `json:"socket_latency_misses"` // packets whose arrival had left the ring (or no timestamps)
	JoinP50          float64 `json:"join_to_first_media_ms_p50"`
	JoinP99          float64 `json:"join_to_first_media_ms_p99"`
	JoinSamples      int     `json:"join_samples"`
	// JoinPhasesP50 breaks join_to_first_media down: for each step (joined, answer_sent,
	// ice_connected, dtls_connected, first_video), the median time from starting to dial, in ms.
	JoinPhasesP50 map[string]float64 `json:"join_phases_ms_p50,omitempty"`

	ServerCPUS        float64 `json:"server_cpu_s"`
	ServerCPUCores    float64 `json:"server_cpu_cores"`
	ServerForwarded   float64 `json:"server_packets_forwarded"`
	ServerRetransmits float64 `json:"server_retransmissions"`
	ServerWriteErrors float64 `json:"server_write_errors"`
	ServerFanoutDrops float64 `json:"server_fanout_drops"`
	// From the server's reading of a packet off its up-track to the return of the send carrying the
	// last copy of each fan-out group (chalk_sfu_forward_delay_seconds over the window): the
	// server's share of socket_latency_ms.
	ServerForwardP50   float64 `json:"server_forward_ms_p50"`
	ServerForwardP99   float64 `json:"server_forward_ms_p99"`
	ServerUSPerPacket  float64 `json:"server_cpu_us_per_packet"`
	ServerUSPerSent    float64 `json:"server_cpu_us_per_packet_sent"` // forwarded and retransmitted
	ServerRSSBytes     float64 `json:"server_rss_bytes"`
	ServerRSSIdleBytes float64 `json:"server_rss_idle_bytes"`
	ServerRSSPerSubMB  float64 `json:"server_rss_mb_per_subscriber"`
	ServerHeapInuse    float64 `json:"server_heap_inuse_bytes"`
	ServerGoroutines   float64 `json:"server_goroutines"`
	LoadCPUS           float64 `json:"load_cpu_s"`
	LoadCPUCores       float64 `json:"load_cpu_cores"`

	Floor        *floorResult `json:"floor,omitempty"`
	RatioToFloor float64      `json:"ratio_to_floor,omitempty"`

	ServerCPU string `json:"server_cpu_affinity,omitempty"`
	LoadCPU   string `json:"load_cpu_affinity,omitempty"`
	GoVersion string `json:"go"`
	Started   string `json:"started"`
}

// run drives one scenario against the server at cfg.URL and measures it.
func run(ctx context.Context, cfg config) (*result, error) {
	res := &result{Scenario: cfg.Scenario, VideoKbps: cfg.VideoKbps, Pace: cfg.Pace, GoVersion: runtime.Version(), Started: time.Now().UTC().Format(time.RFC3339)}
	if cfg.Floor > 0 {
		f, err := measureFloor(ctx, cfg.Floor, cfg.FloorCPU)
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		res.Floor = f
	}
	rs, err := plan(cfg.Scenario, cfg.N)
	if err != nil {
		return nil, err
	}
	res.Rooms = len(rs)
	idle, err := scrape(ctx, cfg.URL)
	if err != nil {
		return nil, err
	}
	res.ServerRSSIdleBytes = idle[metricRSS]

	media := mediaPlan{videoKbps: cfg.VideoKbps, fps: cfg.FPS, keyEvery: cfg.KeyEvery, pace: cfg.Pace}
	total := cfg.JoinTimeout + cfg.Warmup + cfg.Duration + cfg.Grace + 10*time.Second
	// Receivers count arrivals per packet number in arrays this long: the senders stop there.
	rate := max(media.packetsPerSecond(webrtc.RTPCodecTypeAudio), media.packetsPerSecond(webrtc.RTPCodecTypeVideo))
	maxN := uint32(float64(rate) * total.Seconds())
	j := &joiner{wsURL: wsURL(cfg.URL), win: &window{}, media: media, maxN: maxN}
	if cfg.TokenSecret != "" {
		if j.tokens, err = auth.NewIssuer(cfg.TokenSecret); err != nil {
			return nil, err
		}
	}

	mediaCtx, stopMedia := context.WithCancel(ctx)
	defer stopMedia()
	joinCtx, cancelJoin := context.WithTimeout(ctx, cfg.JoinTimeout)
	defer cancelJoin()
	defer func() {
		for _, r := range rs {
			for _, p := range r.members {
				if p.c != nil {
					p.c.Close()
				}
			}
		}
	}()
	res.JoinsFailed, err = j.joinAll(joinCtx, mediaCtx, rs, cfg.JoinConc)
	if err != nil && res.JoinsFailed == countMembers(rs) {
		return nil, fmt.Errorf("every join failed: %w", err)
	}
	if err != nil {
		cfg.Log.Warn("joins failed", "failed", res.JoinsFailed, "first", err)
	}
	wire(rs)
	for !allReceiving(rs) && joinCtx.Err() == nil {
		select {
		case <-joinCtx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := sleep(ctx, cfg.Warmup); err != nil {
		return nil, err
	}

	// The window.
	streams := allStreams(rs)
	starts := make([]uint32, len(streams))
	for i, s := range streams {
		starts[i] = s.next.Load()
	}
	before, err := scrape(ctx, cfg.URL)
	if err != nil {
		return nil, err
	}
	cpu0 := selfCPU()
	var prof *profiler
	if cfg.ProfileDir != "" {
		prof = startProfiles(ctx, cfg.URL, cfg.ProfileDir, cfg.Duration)
	}
	t0 := time.Now()
	j.win.start.Store(now())
	if err := sleep(ctx, cfg.Duration); err != nil {
		return nil, err
	}
	j.win.end.Store(now())
	elapsed := time.Since(t0).Seconds()
	ends := make([]uint32, len(streams))
	for i, s := range streams {
		ends[i] = s.next.Load()
	}
	cpu1 := selfCPU()
	after, err := scrape(ctx, cfg.URL)
	if err != nil {
		return nil, err
	}
	if prof != nil {
		if err := prof.wait(); err != nil {
			return nil, err
		}
	}
	stopMedia()
	if err := sleep(ctx, cfg.Grace); err != nil {
		return nil, err
	}

	// Tally.
	bounds := map[uint32][2]uint32{}
	for i, s := range streams {
		bounds[s.id] = [2]uint32{starts[i], ends[i]}
		res.Sent += int64(ends[i] - starts[i])
	}
	var kindExp, kindGot [2]int64 // audio, video
	var lat, sockLat histogram
	var joins []time.Duration
	var phases [numPhases][]time.Duration
	res.WorstDelivery = 1
	for _, r := range rs {
		for _, p := range r.members {
			if p.publish {
				res.Publishers++
				if p.pub != nil {
					res.SendErrors += p.pub.writeErrors.Load()
				}
			}
			if p.recv == nil || len(p.expects) == 0 {
				continue
			}
			res.Subscribers++
			var exp, got int64
			for _, s := range p.expects {
				b := bounds[s.id]
				d, dup := p.recv.tally(s.id, b[0], b[1])
				exp += int64(b[1] - b[0])
				got += int64(d)
				k := 0
				if s.kind == webrtc.RTPCodecTypeVideo {
					k = 1
				}
				kindExp[k] += int64(b[1] - b[0])
				kindGot[k] += int64(d)
				res.Duplicates += int64(dup)
			}
			res.Expected += exp
			res.Received += got
			if exp > 0 {
				res.WorstDelivery = math.Min(res.WorstDelivery, float64(got)/float64(exp))
			}
			if p.c == nil || p.recv.firstAt.Load() == 0 {
				res.NotReceiving++
			}
			p.recv.mu.Lock()
			lat.merge(&p.recv.latency)
			sockLat.merge(&p.recv.socketLat)
			res.SocketMisses += p.recv.socketMiss
			p.recv.mu.Unlock()
			if first := p.recv.firstAt.Load(); p.measure && first != 0 {
				start := int64(p.recv.joinStart.Sub(epoch))
				joins = append(joins, time.Duration(first-start))
				for i := range phases {
					if at := p.recv.phases[i].Load(); at != 0 {
						phases[i] = append(phases[i], time.Duration(at-start))
					}
				}
			}
		}
	}
	if res.Expected > 0 {
		res.Delivery = float64(res.Received) / float64(res.Expected)
	}
	if kindExp[0] > 0 {
		res.AudioDelivery = float64(kindGot[0]) / float64(kindExp[0])
	}
	if kindExp[1] > 0 {
		res.VideoDelivery = float64(kindGot[1]) / float64(kindExp[1])
	}
	res.DurationS = elapsed
	res.LatencyP50, res.LatencyP99 = lat.quantile(0.50), lat.quantile(0.99)
	res.LatencyMax = float64(lat.max) / float64(time.Millisecond)
	res.SocketLatencyP50, res.SocketLatencyP99 = sockLat.quantile(0.50), sockLat.quantile(0.99)
	res.SocketLatencyMax, res.SocketSamples = float64(sockLat.max)/float64(time.Millisecond), sockLat.n
	res.JoinP50, res.JoinP99, res.JoinSamples = quantileOf(joins, 0.50), quantileOf(joins, 0.99), len(joins)
	if len(joins) > 0 {
		res.JoinPhasesP50 = map[string]float64{}
		for i, ds := range phases {
			res.JoinPhasesP50[phaseNames[i]] = quantileOf(ds, 0.50)
		}
	}

	res.ServerCPUS = after[metricCPU] - before[metricCPU]
	res.ServerCPUCores = res.ServerCPUS / elapsed
	res.ServerForwarded = after[metricForwarded] - before[metricForwarded]
	res.ServerRetransmits = after[metricRetransmitted] - before[metricRetransmitted]
	res.ServerWriteErrors = after[metricWriteErrors] - before[metricWriteErrors]
	res.ServerFanoutDrops = after[metricFanoutDrops] - before[metricFanoutDrops]
	res.ServerForwardP50 = bucketQuantile(before, after, metricForwardDelay, 0.50) * 1000
	res.ServerForwardP99 = bucketQuantile(before, after, metricForwardDelay, 0.99) * 1000
	if res.ServerForwarded > 0 {
		res.ServerUSPerPacket = res.ServerCPUS * 1e6 / res.ServerForwarded
		res.ServerUSPerSent = res.ServerCPUS * 1e6 / (res.ServerForwarded + res.ServerRetransmits)
	}
	res.ServerRSSBytes = after[metricRSS]
	res.ServerHeapInuse, res.ServerGoroutines = after[metricHeapInuse], after[metricGoroutines]
	if res.Subscribers > 0 {
		res.ServerRSSPerSubMB = (res.ServerRSSBytes - res.ServerRSSIdleBytes) / float64(res.Subscribers) / (1 << 20)
	}
	res.LoadCPUS = (cpu1 - cpu0).Seconds()
	res.LoadCPUCores = res.LoadCPUS / elapsed
	if res.Floor != nil && res.Floor.SendtoUS > 0 {
		res.RatioToFloor = res.ServerUSPerPacket / res.Floor.SendtoUS
	}
	return res, nil
}

func allStreams(rs []*roomPlan) []*stream {
	var out []*stream
	for _, r := range rs {
		for _, p := range r.members {
			if p.pub != nil && p.pub.audio != nil {
				out = append(out, p.pub.audio, p.pub.video)
			}
		}
	}
	return out
}

func countMembers(rs []*roomPlan) int {
	n := 0
	for _, r := range rs {
		n += len(r.members)
	}
	return n
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func wsURL(base string) string {
	base = strings.TrimSuffix(base, "/")
	if rest, ok := strings.CutPrefix(base, "https://"); ok {
		return "wss://" + rest + "/ws"
	}
	return "ws://" + strings.TrimPrefix(base, "http://") + "/ws"
}
