package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Member is one server process of the cluster under test.
type Member struct {
	// Endpoint is its client URL: /metrics and /v2/stats/self are read
	// there.
	Endpoint string
	// PID is its process id on this machine; 0 when unknown (a remote
	// cluster): then no /proc figures are reported for it.
	PID int
}

// MemberUsage is what one member spent during a run's measured phase.
type MemberUsage struct {
	Endpoint string
	Leader   bool
	// From /proc/PID (ProcOK): CPU time (user plus system, all threads)
	// and read plus write system calls (/proc/PID/io syscr + syscw: every
	// read, write, recvmsg, sendmsg, … but not fsync, epoll or futex).
	ProcOK   bool
	CPU      time.Duration
	Syscalls uint64
	// PeakRSS is the member's peak resident set (VmHWM) at the end of
	// the run, in bytes.
	PeakRSS uint64
	// From /metrics (each -1 when the member does not serve it): WAL
	// fsyncs (etcd_disk_wal_fsync_duration_seconds_count, plus etcd's
	// backend commits, which fsync too), peer messages sent
	// (raftkv_network_peer_sent_messages_total; etcd has none) and peer
	// bytes sent (etcd_network_peer_sent_bytes_total).
	Fsyncs, PeerMsgs, PeerBytes float64
}

// memberSample is one reading of a member's counters.
type memberSample struct {
	procOK   bool
	cpu      time.Duration
	syscalls uint64
	metrics  map[string]float64 // nil: /metrics unreadable
	leader   bool
}

// Metric families summed over their labels from /metrics.
const (
	metricWALFsync    = "etcd_disk_wal_fsync_duration_seconds_count"
	metricBackendSync = "etcd_disk_backend_commit_duration_seconds_count"
	metricPeerBytes   = "etcd_network_peer_sent_bytes_total"
	metricPeerMsgs    = "raftkv_network_peer_sent_messages_total"
)

var scrapedMetrics = []string{metricWALFsync, metricBackendSync, metricPeerBytes, metricPeerMsgs}

// sampleMembers reads every member's counters. It is called at the start
// and at the end of a measured phase, so it may take a few milliseconds.
func sampleMembers(ctx context.Context, c *http.Client, members []Member) []memberSample {
	out := make([]memberSample, len(members))
	for i, m := range members {
		s := &out[i]
		if m.PID > 0 {
			s.cpu, s.syscalls, s.procOK = readProc(m.PID)
		}
		s.metrics = scrapeMetrics(ctx, c, m.Endpoint)
		var self struct {
			State string `json:"state"`
		}
		if getJSON(ctx, c, m.Endpoint+"/v2/stats/self", &self) == nil {
			s.leader = self.State == "StateLeader" || self.State == "leader"
		}
	}
	return out
}

// usage is what members spent between two samples.
func usage(members []Member, before, after []memberSample) []MemberUsage {
	out := make([]MemberUsage, len(members))
	for i, m := range members {
		b, a := before[i], after[i]
		u := MemberUsage{Endpoint: m.Endpoint, Leader: b.leader && a.leader, Fsyncs: -1, PeerMsgs: -1, PeerBytes: -1}
		if b.procOK && a.procOK {
			u.ProcOK = true
			u.CPU = a.cpu - b.cpu
			u.Syscalls = a.syscalls - b.syscalls
			u.PeakRSS = peakRSS(m.PID)
		}
		delta := func(name string) (float64, bool) {
			vb, okb := b.metrics[name]
			va, oka := a.metrics[name]
			return va - vb, okb && oka
		}
		if d, ok := delta(metricWALFsync); ok {
			u.Fsyncs = d
			if d2, ok := delta(metricBackendSync); ok {
				u.Fsyncs += d2
			}
		}
		if d, ok := delta(metricPeerMsgs); ok {
			u.PeerMsgs = d
		}
		if d, ok := delta(metricPeerBytes); ok {
			u.PeerBytes = d
		}
		out[i] = u
	}
	return out
}

// scrapeMetrics reads the families in scrapedMetrics from endpoint's
// /metrics (Prometheus text format), each summed over its labels; nil if
// it cannot be read.
func scrapeMetrics(ctx context.Context, c *http.Client, endpoint string) map[string]float64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/metrics", nil)
	if err != nil {
		return nil
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return parseMetrics(resp.Body)
}

// parseMetrics sums the samples of each family in scrapedMetrics.
func parseMetrics(r io.Reader) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		for _, name := range scrapedMetrics {
			if !bytes.HasPrefix(line, []byte(name)) {
				continue
			}
			rest := line[len(name):]
			if len(rest) == 0 || (rest[0] != '{' && rest[0] != ' ') {
				continue // a longer name with this prefix
			}
			if rest[0] == '{' {
				end := bytes.LastIndexByte(rest, '}')
				if end < 0 {
					continue
				}
				rest = rest[end+1:]
			}
			fields := strings.Fields(string(rest))
			if len(fields) == 0 {
				continue
			}
			v, err := strconv.ParseFloat(fields[0], 64)
			if err != nil {
				continue
			}
			out[name] += v
		}
	}
	return out
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux this runs on.
const clockTicks = 100

// readProc reads a process's CPU time (user plus system, all its threads)
// and its read and write system calls from /proc.
func readProc(pid int) (cpu time.Duration, syscalls uint64, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, 0, false
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	cpu = time.Duration(ut+st) * time.Second / clockTicks
	ioStat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err == nil {
		for line := range strings.SplitSeq(string(ioStat), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if k == "syscr" || k == "syscw" {
				n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				syscalls += n
			}
		}
	}
	return cpu, syscalls, true
}

// peakRSS is a process's peak resident set size (VmHWM) in bytes, 0 if
// unknown.
func peakRSS(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// findMembers finds the local processes serving endpoints: the process
// that holds the listening socket of each endpoint's port (from
// /proc/net/tcp{,6} and /proc/*/fd). Endpoints it cannot place (a remote
// host, another user's process, no /proc) get PID 0.
func findMembers(endpoints []string) []Member {
	inodes := listeningInodes()
	want := map[uint64]int{} // socket inode -> member
	out := make([]Member, len(endpoints))
	for i, e := range endpoints {
		out[i].Endpoint = e
		port := endpointPort(e)
		if ino, ok := inodes[port]; ok && port > 0 {
			want[ino] = i
		}
	}
	if len(want) == 0 {
		return out
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir("/proc/" + p.Name() + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink("/proc/" + p.Name() + "/fd/" + fd.Name())
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
			if err != nil {
				continue
			}
			if i, ok := want[ino]; ok {
				out[i].PID = pid
			}
		}
	}
	return out
}

// endpointPort is the TCP port of a normalized endpoint URL, if its host
// is this machine's loopback.
func endpointPort(e string) int {
	host := e[strings.Index(e, "://")+3:]
	host, _, _ = strings.Cut(host, "/")
	i := strings.LastIndexByte(host, ':')
	if i < 0 {
		return 0
	}
	name := strings.Trim(host[:i], "[]")
	if name != "localhost" && !strings.HasPrefix(name, "127.") && name != "::1" {
		return 0
	}
	port, _ := strconv.Atoi(host[i+1:])
	return port
}

// listeningInodes maps the ports of listening TCP sockets to the sockets'
// inodes.
func listeningInodes() map[int]uint64 {
	out := map[int]uint64{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, portHex, ok := strings.Cut(f[1], ":")
			if !ok {
				continue
			}
			port, err1 := strconv.ParseUint(portHex, 16, 16)
			ino, err2 := strconv.ParseUint(f[9], 10, 64)
			if err1 == nil && err2 == nil && ino != 0 {
				out[int(port)] = ino
			}
		}
	}
	return out
}

// machineSample is a reading of the whole machine's CPU time (/proc/stat's
// first line): busy and total, in clock ticks.
type machineSample struct {
	busy, total uint64
	ok          bool
}

func readMachine() machineSample {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineSample{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return machineSample{}
	}
	var s machineSample
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return machineSample{}
		}
		if i == 7 || i == 8 { // guest and guest_nice are counted in user already
			continue
		}
		s.total += n
		if i != 3 && i != 4 { // idle, iowait
			s.busy += n
		}
	}
	s.ok = true
	return s
}

// loadAverage is /proc/loadavg's 1-minute figure, or -1.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
