package main

import (
	"bufio"
	"net"
	"os"
	"testing"
	"time"
)

// /proc is Linux's: this file builds on Linux only (the _linux suffix).

func TestReadProcAndFindMembersOfThisProcess(t *testing.T) {
	cpu0, sys0, ok := readProc(os.Getpid())
	if !ok {
		t.Fatal("readProc of this process failed")
	}
	// Spend 50 ms of CPU, as getrusage counts it (wall time says nothing
	// on a busy machine).
	for start := processCPU(); processCPU()-start < 50*time.Millisecond; {
	}
	f, err := os.Open("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		f.Seek(0, 0)
		bufio.NewReader(f).ReadString('\n')
	}
	f.Close()
	cpu1, sys1, _ := readProc(os.Getpid())
	if cpu1-cpu0 < 30*time.Millisecond { // clock ticks of 10 ms
		t.Errorf("CPU went from %v to %v over 50 ms of spinning", cpu0, cpu1)
	}
	if sys1-sys0 < 100 {
		t.Errorf("read syscalls went from %d to %d over 100 reads", sys0, sys1)
	}
	if m := readMachine(); !m.ok || m.total == 0 || m.busy > m.total {
		t.Errorf("readMachine = %+v; want busy <= total, both counted", m)
	}
	if l := loadAverage(); l < 0 {
		t.Errorf("load average %v", l)
	}
	if rss := peakRSS(os.Getpid()); rss < 1<<20 {
		t.Errorf("peak RSS %d bytes; a Go test binary has more than 1 MB", rss)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ms := findMembers([]string{"http://" + l.Addr().String(), "http://203.0.113.1:2379"})
	if ms[0].PID != os.Getpid() || ms[1].PID != 0 {
		t.Errorf("findMembers = %+v; want this process (%d) for the loopback listener and 0 for a remote host", ms, os.Getpid())
	}
}
