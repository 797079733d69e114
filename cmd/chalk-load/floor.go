package main

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// The floor: what it costs this machine's kernel to send one 1200-byte UDP packet on loopback to a
// reader, with nothing else around it (no SRTP, no RTP, no Go scheduling between packets). An SFU
// forwarding a packet does at least this much, so its CPU per forwarded packet reads as a ratio to it.

const (
	floorPacket = 1200
	// The fan-out variant sends the lecture's traffic shape: batches spread over a lecture's worth of
	// reader sockets at about a 200-student lecture's packet rate, so the readers sleep between
	// packets as the load generator's subscribers do. It is a diagnostic (the kernel's share of the
	// server's cost per forwarded packet, with each destination's wake-up and cold socket), not the
	// floor the ratio is taken to.
	floorFanoutDests = 200
	floorFanoutRate  = 40_000 // packets/s
)

type floorResult struct {
	SendtoUS       float64 `json:"sendto_us_per_packet"`
	SendtoWallUS   float64 `json:"sendto_wall_us_per_packet"`
	SendtoPackets  int64   `json:"sendto_packets"`
	SendmmsgUS     float64 `json:"sendmmsg_us_per_packet"`
	SendmmsgBatch  int     `json:"sendmmsg_batch"`
	ReaderReceived float64 `json:"reader_received_ratio"` // of the sendto packets (a busy reader drops, the sender pays anyway)
	CPU            int     `json:"sender_cpu"`            // -1: not pinned
	// The fan-out diagnostic: sendmmsg at floorFanoutRate over floorFanoutDests sleeping readers.
	FanoutUS    float64 `json:"sendmmsg_fanout_us_per_packet"`
	FanoutDests int     `json:"sendmmsg_fanout_destinations"`
	FanoutRate  int     `json:"sendmmsg_fanout_packets_per_s"`
}

// measureFloor runs a sendto loop, then a sendmmsg loop (32 packets a call), each for d, on one OS
// thread pinned to cpu (if >= 0), and reports that thread's CPU time (getrusage RUSAGE_THREAD) per
// packet. A reader goroutine drains the receiving socket meanwhile.
func measureFloor(ctx context.Context, d time.Duration, cpu int) (*floorResult, error) {
	rd, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	rd.SetReadBuffer(4 << 20)
	var received atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := rd.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			received.Add(1)
		}
	}()
	wr, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	defer wr.Close()
	dst := rd.LocalAddr().(*net.UDPAddr).AddrPort()
	fanout, err := readers(floorFanoutDests)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range fanout {
			c.Close()
		}
	}()
	dsts := make([]netip.AddrPort, len(fanout))
	for i, c := range fanout {
		dsts[i] = c.LocalAddr().(*net.UDPAddr).AddrPort()
	}

	res := &floorResult{CPU: cpu, SendmmsgBatch: 32, FanoutDests: floorFanoutDests, FanoutRate: floorFanoutRate}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if cpu >= 0 {
			restore, err := pinThread([]int{cpu})
			if err != nil {
				done <- err
				return
			}
			defer restore()
		}
		n, cpuT, wall := sendtoLoop(ctx, wr, dst, d)
		res.SendtoPackets = n
		if n > 0 {
			res.SendtoUS = float64(cpuT.Microseconds()) / float64(n)
			res.SendtoWallUS = float64(wall.Microseconds()) / float64(n)
		}
		time.Sleep(100 * time.Millisecond) // let the reader catch up before reading its count
		res.ReaderReceived = float64(received.Load()) / float64(max(1, n))
		n, cpuT = sendmmsgLoop(ctx, wr, []netip.AddrPort{dst}, d, res.SendmmsgBatch, 0)
		if n > 0 {
			res.SendmmsgUS = float64(cpuT.Microseconds()) / float64(n)
		}
		n, cpuT = sendmmsgLoop(ctx, wr, dsts, d, res.SendmmsgBatch, floorFanoutRate)
		if n > 0 {
			res.FanoutUS = float64(cpuT.Microseconds()) / float64(n)
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		return nil, err
	}
	return res, nil
}

// sendtoLoop sends for d (at most 50 million packets) and returns the count, the thread's CPU time
// and the wall time.
func sendtoLoop(ctx context.Context, c *net.UDPConn, dst netip.AddrPort, d time.Duration) (int64, time.Duration, time.Duration) {
	buf := make([]byte, floorPacket)
	start, cpu0 := time.Now(), threadCPU()
	var n int64
	for n < 50_000_000 {
		for range 256 {
			if _, err := c.WriteToUDPAddrPort(buf, dst); err == nil {
				n++
			}
		}
		if time.Since(start) >= d || ctx.Err() != nil {
			break
		}
	}
	return n, threadCPU() - cpu0, time.Since(start)
}

// sendmmsgLoop is sendtoLoop with batch packets per system call (golang.org/x/net/ipv4 WriteBatch,
// which is sendmmsg on Linux), the packets going to dsts in turn; rate > 0 paces it to that many
// packets a second (sleeping between calls, as a server does between bursts), 0 sends flat out.
func sendmmsgLoop(ctx context.Context, c *net.UDPConn, dsts []netip.AddrPort, d time.Duration, batch, rate int) (int64, time.Duration) {
	pc := ipv4.NewPacketConn(c)
	addrs := make([]*net.UDPAddr, len(dsts))
	for i, a := range dsts {
		addrs[i] = net.UDPAddrFromAddrPort(a)
	}
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i] = ipv4.Message{Buffers: [][]byte{make([]byte, floorPacket)}}
	}
	start, cpu0 := time.Now(), threadCPU()
	var n int64
	next := 0
	for n < 50_000_000 {
		for range 8 {
			for i := range msgs {
				msgs[i].Addr = addrs[next]
				next = (next + 1) % len(addrs)
			}
			k, err := pc.WriteBatch(msgs, 0)
			if err == nil {
				n += int64(k)
			}
			if rate > 0 {
				if ahead := time.Duration(n)*time.Second/time.Duration(rate) - time.Since(start); ahead > 0 {
					time.Sleep(ahead)
				}
			}
		}
		if time.Since(start) >= d || ctx.Err() != nil {
			break
		}
	}
	return n, threadCPU() - cpu0
}

// readers opens n loopback sockets, each drained by its own goroutine until it is closed.
func readers(n int) ([]*net.UDPConn, error) {
	var cs []*net.UDPConn
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			for _, c := range cs {
				c.Close()
			}
			return nil, err
		}
		c.SetReadBuffer(1 << 20)
		cs = append(cs, c)
		go func() {
			buf := make([]byte, 2048)
			for {
				if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
					return
				}
			}
		}()
	}
	return cs, nil
}
