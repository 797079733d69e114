package sfu

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// BenchmarkForward measures one packet through Chalk's whole forwarding path to live subscribers:
// the rewrite, the fan-out, Pion's interceptors, SRTP and the UDP socket. The subscribers run in a
// child process (this test binary, as TestSubscriberProcess), so their receive-side work and
// allocations are not counted: allocs/op is the server's alone. The forwarding path allocates
// nothing per packet; what can show at many subscribers is Pion's time-driven background work (ICE
// consent checks, RTCP reports: allocations per second, not per packet) spread over slow ops, and
// the fan-out pool growing at the start. Each op waits until
// the writers have at most 32 packets queued, so the time includes their work, not only the reader's.
func BenchmarkForward(b *testing.B) {
	for _, subs := range []int{1, 10, 50} {
		b.Run("subscribers="+itoa(subs), func(b *testing.B) {
			// Quiet: tearing down 50 connections logs write errors that would split the result line.
			s, err := New(Config{BindIP: "127.0.0.1", TCPPort: -1, IncludeLoopback: true, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var plis atomic.Int32
			up := fakeUpTrack(s, webrtc.RTPCodecTypeVideo, &plis)
			defer up.end()
			child := startSubscriberProcess(b)
			for i := range subs {
				p := child.subscribe(b, s, up, i)
				defer p.Close()
			}
			pkt := vp8Packet(0, false)
			b.SetBytes(int64(len(pkt.Payload) * subs))
			drops0 := counterValue(b, s.metrics.fanoutDrops)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pkt.SequenceNumber++
				up.forward(pkt)
				waitWriters(up, 32)
			}
			waitWriters(up, 1)
			b.StopTimer()
			b.ReportMetric((counterValue(b, s.metrics.fanoutDrops)-drops0)/float64(b.N), "drops/op")
		})
	}
}

// waitWriters waits (at most 10 s) until no writer of up has more than max packets queued.
func waitWriters(up *UpTrack, limit int) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		behind := 0
		for _, w := range up.fan.loadWriters() {
			behind = max(behind, len(w.queue))
		}
		if behind < limit {
			return
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// subscriberProcess is a child process holding Pion subscribers; it answers offers (complete SDP,
// no trickle) one JSON line at a time and says when each subscriber's first packet arrives.
type subscriberProcess struct {
	in    io.WriteCloser
	lines chan subscriberMsg
}

type subscriberMsg struct {
	Index  int    `json:"index"`
	Offer  string `json:"offer,omitempty"`
	Answer string `json:"answer,omitempty"`
	First  bool   `json:"first,omitempty"`
	Error  string `json:"error,omitempty"`
}

const subscriberEnv = "CHALK_SFU_SUBSCRIBER_PROCESS"

func startSubscriberProcess(tb testing.TB) *subscriberProcess {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSubscriberProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), subscriberEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	sp := &subscriberProcess{in: in, lines: make(chan subscriberMsg, 64)}
	go func() {
		defer close(sp.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m subscriberMsg
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				sp.lines <- m
			}
		}
	}()
	tb.Cleanup(func() {
		in.Close() // the child exits when its input ends
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return sp
}

func (sp *subscriberProcess) next(tb testing.TB, timeout time.Duration) subscriberMsg {
	tb.Helper()
	select {
	case m, ok := <-sp.lines:
		if !ok {
			tb.Fatal("subscriber process ended")
		}
		if m.Error != "" {
			tb.Fatalf("subscriber process: %s", m.Error)
		}
		return m
	case <-time.After(timeout):
		tb.Fatal("subscriber process did not answer in time")
	}
	return subscriberMsg{}
}

// subscribe connects subscriber i in the child to up and returns once it has received a packet.
func (sp *subscriberProcess) subscribe(tb testing.TB, s *SFU, up *UpTrack, i int) *Peer {
	tb.Helper()
	p, err := s.NewPeer("r", fmt.Sprintf("sub%d", i), &handler{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Subscribe(up); err != nil {
		tb.Fatal(err)
	}
	if _, _, err := p.CreateSubscribeOffer(); err != nil {
		tb.Fatal(err)
	}
	<-webrtc.GatheringCompletePromise(p.sub)
	line, _ := json.Marshal(subscriberMsg{Index: i, Offer: p.sub.LocalDescription().SDP})
	if _, err := sp.in.Write(append(line, '\n')); err != nil {
		tb.Fatal(err)
	}
	ans := sp.next(tb, 10*time.Second)
	if err := p.HandleSubscribeAnswer(ans.Answer); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for n := uint16(0); ; n++ {
		up.forward(vp8Packet(n, true))
		select {
		case m := <-sp.lines:
			if m.First && m.Index == i {
				return p
			}
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("subscriber %d received nothing in 10 s", i)
		}
	}
}

// TestSubscriberProcess is the child side of BenchmarkForward; it does nothing in a normal run.
func TestSubscriberProcess(t *testing.T) {
	if os.Getenv(subscriberEnv) == "" {
		return
	}
	out := json.NewEncoder(os.Stdout)
	var mu sync.Mutex
	send := func(m subscriberMsg) {
		mu.Lock()
		defer mu.Unlock()
		out.Encode(m)
	}
	var pcs []*webrtc.PeerConnection
	defer func() {
		for _, pc := range pcs {
			pc.Close()
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 0; sc.Scan() && n < 10000; n++ {
		var m subscriberMsg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			send(subscriberMsg{Error: err.Error()})
			return
		}
		pc, err := clientAPI().NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			send(subscriberMsg{Error: err.Error()})
			return
		}
		pcs = append(pcs, pc)
		idx := m.Index
		pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			buf := make([]byte, 1500)
			first := true
			for {
				if _, _, err := tr.Read(buf); err != nil {
					return
				}
				if first {
					first = false
					send(subscriberMsg{Index: idx, First: true})
				}
			}
		})
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.Offer}); err != nil {
			send(subscriberMsg{Error: err.Error()})
			return
		}
		answer, err := pc.CreateAnswer(nil)
		if err != nil {
			send(subscriberMsg{Error: err.Error()})
			return
		}
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(answer); err != nil {
			send(subscriberMsg{Error: err.Error()})
			return
		}
		<-gathered
		send(subscriberMsg{Index: idx, Answer: pc.LocalDescription().SDP})
	}
}
