package server

import (
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/rpc"
)

// metrics are the member's Prometheus metrics (served on /metrics). The
// families mirror etcd's (etcd_server_has_leader becomes
// raftkv_server_has_leader, and so on), and those etcd's dashboards and
// alerts use are served under etcd's names too (metrics_etcd.go).
type metrics struct {
	reg             *prometheus.Registry
	hasLeader       prometheus.Gauge
	isLeader        prometheus.Gauge
	leaderChanges   prometheus.Counter
	proposals       prometheus.Counter
	proposalsFailed prometheus.Counter
	pending         prometheus.Gauge
	committed       prometheus.Counter
	applied         prometheus.Counter
	fsync           prometheus.Histogram
	peerRTT         *prometheus.HistogramVec
	httpRequests    *prometheus.CounterVec
	// peerHandshakeFailures and clientHandshakeFailures count the TLS
	// handshakes the peer and client listeners refused, by listener
	// address and reason (tls.go's handshakeReason).
	peerHandshakeFailures   *prometheus.CounterVec
	clientHandshakeFailures *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		hasLeader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "raftkv_server_has_leader",
			Help: "1 if the member knows a leader, 0 otherwise."}),
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "raftkv_server_is_leader",
			Help: "1 if the member leads, 0 otherwise."}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{Name: "raftkv_server_leader_changes_seen_total",
			Help: "Leader changes this member has seen."}),
		proposals: prometheus.NewCounter(prometheus.CounterOpts{Name: "raftkv_server_proposals_total",
			Help: "Proposals made on this member (as leader)."}),
		proposalsFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "raftkv_server_proposals_failed_total",
			Help: "Proposals that timed out or were lost to a leader change."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "raftkv_server_proposals_pending",
			Help: "Write requests on this member waiting for the outcome of their proposal."}),
		committed: prometheus.NewCounter(prometheus.CounterOpts{Name: "raftkv_server_proposals_committed_total",
			Help: "Log entries this member has seen committed."}),
		applied: prometheus.NewCounter(prometheus.CounterOpts{Name: "raftkv_server_proposals_applied_total",
			Help: "Log entries this member has applied."}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "raftkv_disk_wal_fsync_duration_seconds",
			Help:    "Latency of the fsyncs of the WAL and snapshots.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		peerRTT: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "raftkv_network_peer_round_trip_time_seconds",
			Help:    "Heartbeat round trips from the leader to each follower.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"To"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftkv_http_received_total",
			Help: "Client HTTP requests by method."}, []string{"method"}),
		peerHandshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftkv_network_peer_handshake_failures_total",
			Help: "TLS handshakes the peer listener refused (another CA, no certificate, plaintext, ...), by listener and reason."},
			[]string{"listener", "reason"}),
		clientHandshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftkv_network_client_handshake_failures_total",
			Help: "TLS handshakes the client listeners refused, by listener and reason."},
			[]string{"listener", "reason"}),
	}
	m.reg.MustRegister(m.hasLeader, m.isLeader, m.leaderChanges, m.proposals, m.proposalsFailed, m.pending,
		m.committed, m.applied, m.fsync, m.peerRTT, m.httpRequests, m.peerHandshakeFailures, m.clientHandshakeFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(newEtcdNames(m.etcdNamed()))
	return m
}

// watchPeers adds the per-peer traffic counters read from the transport.
func (m *metrics) watchPeers(peers func() []rpc.PeerStats) {
	m.reg.MustRegister(newPeerTraffic(peers))
}

// watchStore adds the gauges read from the key space (watchers, keys'
// store index).
func (m *metrics) watchStore(stats func() (watchers, index uint64)) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "raftkv_store_watchers",
			Help: "Watchers registered on this member."},
			func() float64 { w, _ := stats(); return float64(w) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "raftkv_store_index",
			Help: "The key space's index (X-Etcd-Index)."},
			func() float64 { _, i := stats(); return float64(i) }),
	)
}

func (m *metrics) observeSync(d time.Duration) { m.fsync.Observe(d.Seconds()) }

// observeView updates the gauges and counters that follow the view.
func (m *metrics) observeView(old, v *view, self uint64) {
	if v.lead != old.lead {
		m.leaderChanges.Inc()
	}
	m.hasLeader.Set(b2f(v.lead != raft.None))
	m.isLeader.Set(b2f(v.lead == self))
	if v.commit > old.commit {
		m.committed.Add(float64(v.commit - old.commit))
	}
	if v.applied > old.applied {
		m.applied.Add(float64(v.applied - old.applied))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// memberStats counts what /v2/stats/self and /v2/stats/leader report. The
// follower latencies are real round trips: from the leader handing a
// heartbeat to the transport to the follower's answer arriving.
type memberStats struct {
	mu        sync.Mutex
	sendApp   uint64
	recvApp   uint64
	hbSent    map[uint64]time.Time
	followers map[uint64]*FollowerStats
	// leaderSince is when the current leader (as this member sees it) was
	// first seen.
	leader      uint64
	leaderSince time.Time
	rtt         *prometheus.HistogramVec
}

// FollowerStats is the leader's view of one follower in /v2/stats/leader:
// heartbeat round trips in ms, and counts of answered and lost heartbeats.
type FollowerStats struct {
	Latency struct {
		Current  float64 `json:"current"`
		Average  float64 `json:"average"`
		StdDev   float64 `json:"standardDeviation"`
		Minimum  float64 `json:"minimum"`
		Maximum  float64 `json:"maximum"`
		sumSq    float64
		observed bool
	} `json:"latency"`
	Counts struct {
		Fail    uint64 `json:"fail"`
		Success uint64 `json:"success"`
	} `json:"counts"`
}

func newMemberStats() *memberStats {
	return &memberStats{hbSent: map[uint64]time.Time{}, followers: map[uint64]*FollowerStats{}}
}

func (s *memberStats) follower(id uint64) *FollowerStats {
	f := s.followers[id]
	if f == nil {
		f = &FollowerStats{}
		s.followers[id] = f
	}
	return f
}

func (s *memberStats) sent(msgs []raft.Message) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range msgs {
		switch msgs[i].Type {
		case raft.MsgApp:
			s.sendApp++
		case raft.MsgHeartbeat:
			to := msgs[i].To
			if _, waiting := s.hbSent[to]; waiting {
				// The previous heartbeat went unanswered.
				s.follower(to).Counts.Fail++
			}
			s.hbSent[to] = now
		}
	}
}

func (s *memberStats) received(m raft.Message) {
	switch m.Type {
	case raft.MsgApp:
		s.mu.Lock()
		s.recvApp++
		s.mu.Unlock()
	case raft.MsgHeartbeatResp:
		s.mu.Lock()
		defer s.mu.Unlock()
		t0, ok := s.hbSent[m.From]
		if !ok {
			return
		}
		delete(s.hbSent, m.From)
		rtt := time.Since(t0)
		if s.rtt != nil {
			s.rtt.WithLabelValues(IDString(m.From)).Observe(rtt.Seconds())
		}
		f := s.follower(m.From)
		ms := float64(rtt) / float64(time.Millisecond)
		l := &f.Latency
		f.Counts.Success++
		n := float64(f.Counts.Success)
		l.Current = ms
		if !l.observed || ms < l.Minimum {
			l.Minimum = ms
		}
		l.Maximum = max(l.Maximum, ms)
		l.observed = true
		l.Average += (ms - l.Average) / n
		l.sumSq += ms * ms
		l.StdDev = math.Sqrt(max(l.sumSq/n-l.Average*l.Average, 0))
	}
}

// leaderStats copies the follower statistics for the given followers.
func (s *memberStats) leaderStats(followers []uint64) map[string]FollowerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]FollowerStats{}
	for _, id := range followers {
		out[IDString(id)] = *s.follower(id)
	}
	return out
}

func (s *memberStats) noteLeader(lead uint64) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lead != s.leader {
		s.leader, s.leaderSince = lead, time.Now()
	}
	return s.leaderSince
}

func (s *memberStats) appendCounts() (sent, recv uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendApp, s.recvApp
}
