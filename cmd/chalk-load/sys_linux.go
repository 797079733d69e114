package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// selfCPU is the user+system CPU time this process has used (getrusage).
func selfCPU() time.Duration { return rusage(unix.RUSAGE_SELF) }

// threadCPU is the CPU time of the calling OS thread (lock it first).
func threadCPU() time.Duration { return rusage(unix.RUSAGE_THREAD) }

func rusage(who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cpuSet(cpus []int) unix.CPUSet {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return set
}

// pinThread pins the calling OS thread to cpus and returns a function that restores its mask.
// The caller must hold runtime.LockOSThread.
func pinThread(cpus []int) (restore func(), err error) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, err
	}
	set := cpuSet(cpus)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("pin to CPUs %v: %w", cpus, err)
	}
	return func() { unix.SchedSetaffinity(0, &old) }, nil
}

// pinProcess pins every thread of this process to cpus. Threads started later inherit the mask of
// the thread that creates them, so all of the process stays there.
func pinProcess(cpus []int) error {
	set := cpuSet(cpus)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("pin thread %d to CPUs %v: %w", tid, cpus, err)
		}
	}
	runtime.GOMAXPROCS(len(cpus))
	return nil
}

// startPinned starts cmd with its CPU affinity set to cpus: the child inherits the mask of the
// thread that forks it, so that thread is pinned for the fork and restored after. The Go runtime
// in the child then sizes GOMAXPROCS from the mask.
func startPinned(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	restore, err := pinThread(cpus)
	if err != nil {
		return err
	}
	defer restore()
	return cmd.Start()
}
