//go:build !linux

package main

import (
	"errors"
	"os/exec"
	"time"
)

// The load generator measures CPU with getrusage and pins with sched_setaffinity: Linux only.

var errLinuxOnly = errors.New("chalk-load: CPU pinning and thread CPU time need Linux")

func selfCPU() time.Duration          { return 0 }
func threadCPU() time.Duration        { return 0 }
func pinThread([]int) (func(), error) { return nil, errLinuxOnly }
func pinProcess([]int) error          { return errLinuxOnly }
func startPinned(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) > 0 {
		return errLinuxOnly
	}
	return cmd.Start()
}
