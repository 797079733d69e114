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

const floorPacket = 1200

type floorResult struct {
	SendtoUS       float64 `json:"sendto_us_per_packet"`
	SendtoWallUS   float64 `json:"sendto_wall_us_per_packet"`
	SendtoPackets  int64   `json:"sendto_packets"`
	SendmmsgUS     float64 `json:"sendmmsg_us_per_packet"`
	SendmmsgBatch  int     `json:"sendmmsg_batch"`
	ReaderReceived float64 `json:"reader_received_ratio"` // of the sendto packets (a busy reader drops, the sender pays anyway)
	CPU            int     `json:"sender_cpu"`            // -1: not pinned
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

	res := &floorResult{CPU: cpu, SendmmsgBatch: 32}
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
		n, cpuT = sendmmsgLoop(ctx, wr, dst, d, res.SendmmsgBatch)
		if n > 0 {
			res.SendmmsgUS = float64(cpuT.Microseconds()) / float64(n)
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
// which is sendmmsg on Linux).
func sendmmsgLoop(ctx context.Context, c *net.UDPConn, dst netip.AddrPort, d time.Duration, batch int) (int64, time.Duration) {
	pc := ipv4.NewPacketConn(c)
	addr := net.UDPAddrFromAddrPort(dst)
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i] = ipv4.Message{Buffers: [][]byte{make([]byte, floorPacket)}, Addr: addr}
	}
	start, cpu0 := time.Now(), threadCPU()
	var n int64
	for n < 50_000_000 {
		for range 8 {
			k, err := pc.WriteBatch(msgs, 0)
			if err == nil {
				n += int64(k)
			}
		}
		if time.Since(start) >= d || ctx.Err() != nil {
			break
		}
	}
	return n, threadCPU() - cpu0
}
