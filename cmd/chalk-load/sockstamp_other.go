//go:build !linux

package main

import "net"

// stampSocket: kernel receive timestamps are read on Linux only; elsewhere socket_latency_ms stays 0.
func stampSocket(c *net.UDPConn, _ *arrivals) net.PacketConn { return c }
