//go:build linux && (amd64 || arm64)

package main

import (
	"net"
	"syscall"
	"testing"
	"time"
)

func TestKernelStamp(t *testing.T) {
	const sol, scm = syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS
	ts := timespec(1700000000, 123456789)
	want := int64(1700000000*1e9 + 123456789)
	other := cmsg(0, 8, []byte{1, 2, 3, 4}) // IP_PKTINFO-like: 4 bytes of data, padded
	for _, tc := range []struct {
		name string
		oob  []byte
		want int64
		ok   bool
	}{
		{"alone", cmsg(sol, scm, ts), want, true},
		{"after another message", append(append([]byte{}, other...), cmsg(sol, scm, ts)...), want, true},
		{"empty", nil, 0, false},
		{"other messages only", other, 0, false},
		{"truncated", cmsg(sol, scm, ts)[:20], 0, false},
		{"length beyond the buffer", func() []byte { b := cmsg(sol, scm, ts); b[0] = 200; return b }(), 0, false},
		{"length below a header", func() []byte { b := cmsg(sol, scm, ts); b[0] = 4; return b }(), 0, false},
		{"SO_TIMESTAMP (microseconds) is not ours", cmsg(sol, syscall.SCM_TIMESTAMP, ts), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := kernelStamp(tc.oob)
			if ok != tc.ok || got != tc.want {
				t.Errorf("kernelStamp = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	unaligned := append([]byte{0}, cmsg(sol, scm, ts)...)[1:]
	if got, ok := kernelStamp(unaligned); !ok || got != want {
		t.Errorf("unaligned buffer: %d, %v", got, ok)
	}
	if n := testing.AllocsPerRun(100, func() { kernelStamp(unaligned) }); n != 0 {
		t.Errorf("kernelStamp allocates %v times", n)
	}
}

// TestStampConn sends RTP and RTCP to a wrapped loopback socket: the RTP packet's arrival is in the
// ring on the monotonic clock, the RTCP packet's is not, and the reads return what was sent.
func TestStampConn(t *testing.T) {
	rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var ring arrivals
	pc := stampSocket(rc, &ring)
	sc, ok := pc.(*stampConn)
	if !ok {
		t.Fatalf("stampSocket returned %T: the kernel refused SO_TIMESTAMPNS", pc)
	}
	wc, err := net.DialUDP("udp4", nil, rc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	rtp := []byte{0x80, 96, 0x00, 0x2a, 0, 0, 0, 1, 0, 0, 0, 9, 'x'}
	rtcp := []byte{0x80, 200, 0x00, 0x2b, 0, 0, 0, 9, 0, 0, 0, 0}
	sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	before := now()
	buf := make([]byte, 1500)
	for _, p := range [][]byte{rtp, rtcp} {
		if _, err := wc.Write(p); err != nil {
			t.Fatal(err)
		}
		n, addr, err := sc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) != string(p) || addr.String() != wc.LocalAddr().String() {
			t.Errorf("read %x from %v, want %x from %v", buf[:n], addr, p, wc.LocalAddr())
		}
	}
	after := now()
	at, ok := ring.get(9, 42)
	if !ok {
		t.Fatal("the RTP packet's arrival is not in the ring")
	}
	// The stamp is on the wall clock converted with one offset: allow a second for clock slew.
	if at < before-int64(time.Second) || at > after+int64(time.Second) {
		t.Errorf("arrival %d outside the read's interval [%d, %d]", at, before, after)
	}
	if _, ok := ring.get(9, 43); ok {
		t.Error("an RTCP packet was recorded")
	}
}
