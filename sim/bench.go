package sim

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/storage"
)

// Benchmarks on the simulator: the same node core and checks as every run,
// on a calm 3-member cluster, measured in virtual time (what the protocol
// costs on the modelled network and disks) and in wall time (what the code
// costs).

// ReadVia is how BenchReads reads.
type ReadVia int

// The ways to read linearizably.
const (
	// ReadViaLog: a quorum get, through the log (kv.MethodQuorumGet).
	ReadViaLog ReadVia = iota
	// ReadViaIndex: raft's ReadIndex, one heartbeat round per batch.
	ReadViaIndex
	// ReadViaLease: ReadIndex answered from the leader's lease
	// (Options.LeaseReads).
	ReadViaLease
)

func (v ReadVia) String() string {
	return [...]string{"log (quorum get)", "ReadIndex", "lease"}[v]
}

// ReadBench is the outcome of BenchReads.
type ReadBench struct {
	Via     ReadVia
	Clients int
	SyncMs  float64
	// Reads answered in VirtualNs of simulated time, taking WallNs.
	Reads     int
	VirtualNs int64
	WallNs    int64
	// Messages between members and Syncs (Readies made durable), over
	// the whole run.
	Messages, Syncs int64
}

// PerSecond is reads answered per simulated second.
func (b ReadBench) PerSecond() float64 { return float64(b.Reads) / (float64(b.VirtualNs) / 1e9) }

// MeanLatencyMs is the mean time from request to answer (Little's law:
// every client always has one read outstanding).
func (b ReadBench) MeanLatencyMs() float64 {
	return float64(b.Clients) * float64(b.VirtualNs) / 1e6 / float64(b.Reads)
}

// BenchReads runs closed-loop clients (each sends its next read as soon as
// it has the answer to the last) against a 3-member cluster for durationMs
// of simulated time, reading one key the way via says, on a network of
// 0.5ms latency and disks whose sync takes syncMs. The history is checked
// for linearizability as in every run.
func BenchReads(via ReadVia, clients int, syncMs float64, durationMs int64) (ReadBench, error) {
	o, err := MakeOptions("calm", 1, false, "")
	if err != nil {
		return ReadBench{}, err
	}
	o.Preset = "bench-reads"
	o.Members, o.Clients, o.Keys = 3, clients, 1
	o.SafetyMs, o.SyncMs = durationMs, syncMs
	o.Net = NetOptions{LatencyMinMs: 0.5}
	o.Workload = WorkloadOptions{TimeoutMs: 5000}
	if via == ReadViaLog {
		o.Workload.Get = 1
	} else {
		o.Workload.Read = 1
	}
	o.LeaseReads = via == ReadViaLease
	start := time.Now()
	r := Run(Config{Seed: 1, Options: o, CheckTimeout: time.Minute})
	b := ReadBench{Via: via, Clients: clients, SyncMs: syncMs, Reads: r.Acked,
		VirtualNs: durationMs * 1e6, WallNs: time.Since(start).Nanoseconds(), Messages: r.Messages, Syncs: r.Syncs}
	if r.Failure != nil {
		return b, r.Failure
	}
	return b, nil
}

// CatchUpBench is the outcome of BenchCatchUp.
type CatchUpBench struct {
	Keys          int
	SnapshotBytes int
	BandwidthMBps float64
	ChunkBytes    uint64
	// CaughtUpNs is the simulated time from the new member's start to
	// when it has applied everything the leader had committed then;
	// PromotedNs to when the leader made it a voter.
	CaughtUpNs, PromotedNs int64
	// SnapMessages are the MsgSnap chunks sent to it (resent ones
	// included).
	SnapMessages int
	// WallNs is the wall time of the whole benchmark (building and
	// restoring the key spaces included).
	WallNs int64
}

// BenchCatchUp measures how long a brand-new member takes to catch up with
// a 3-member cluster whose key space has keys keys: the members start from
// a snapshot of it, a member with an empty disk joins as a learner, the
// leader sends it the snapshot in chunks of chunkBytes over links of
// bandwidthMBps (latency 0.5ms, no loss), and promotes it once it has
// caught up. Time is simulated: the network's transfer time counts,
// installing the snapshot (CPU) does not.
func BenchCatchUp(keys int, bandwidthMBps float64, chunkBytes uint64) (CatchUpBench, error) {
	start := time.Now()
	o, err := MakeOptions("calm", 1, false, "")
	if err != nil {
		return CatchUpBench{}, err
	}
	o.Preset = "bench-catchup"
	o.Members, o.Clients, o.Keys = 3, 0, 1
	o.SafetyMs = 1 << 40 // the benchmark drives the run
	o.PreloadKeys = keys
	o.SnapshotCount = 1 << 40
	o.SnapshotChunkSize = chunkBytes
	o.Net = NetOptions{LatencyMinMs: 0.5, BandwidthMBps: bandwidthMBps}
	s := newSim(Config{Seed: 1, Options: o})
	if err := s.init(); err != nil {
		return CatchUpBench{}, err
	}
	b := CatchUpBench{Keys: keys, BandwidthMBps: bandwidthMBps, ChunkBytes: chunkBytes}
	snap, _ := s.members[0].node.Storage().Snapshot()
	b.SnapshotBytes = len(snap.Data)
	limit := int64(time.Minute)
	// A leader that has committed an entry of its term may change
	// membership.
	var l *member
	if !s.runUntil(limit, func() bool {
		l = s.leader()
		return l != nil && l.view.commit > l.view.base && l.view.termAt(l.view.commit) == l.view.term
	}) {
		return b, s.benchFailure("no leader")
	}
	t0 := s.nowNs
	target := l.view.commit
	j := s.join(l.node.ConfState().Voters)
	s.net.countSnaps = j.id
	proposed := false
	if !s.runUntil(limit, func() bool {
		if !proposed {
			if l := s.leader(); l != nil {
				proposed = l.node.ProposeConfChange(raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: j.id}, nil) == nil
				s.process(l)
			}
		}
		return j.view.applied >= target
	}) {
		b.SnapMessages = s.net.snaps
		return b, s.benchFailure("the new member never caught up")
	}
	b.CaughtUpNs = s.nowNs - t0
	if !s.runUntil(limit, func() bool {
		l := s.leader()
		return l != nil && slices.Contains(l.node.ConfState().Voters, j.id)
	}) {
		return b, s.benchFailure("the new member was never promoted")
	}
	b.PromotedNs = s.nowNs - t0
	b.SnapMessages = s.net.snaps
	b.WallNs = time.Since(start).Nanoseconds()
	return b, nil
}

// runUntil runs events until cond holds (checked after each event), the
// run fails, or limitNs of simulated time pass. It reports whether cond
// held.
func (s *Sim) runUntil(limitNs int64, cond func() bool) bool {
	end := s.nowNs + limitNs
	for s.failure == nil && len(s.q) > 0 && s.nowNs < end {
		if cond() {
			return true
		}
		s.step()
	}
	return s.failure == nil && cond()
}

func (s *Sim) benchFailure(what string) error {
	if s.failure != nil {
		return s.failure
	}
	return errors.New("sim: benchmark: " + what)
}

// preload starts every initial member from a snapshot of a key space of
// Options.PreloadKeys keys, at an index of that many entries, which the
// checkers take as committed and verified.
func (s *Sim) preload() error {
	n := s.opts.PreloadKeys
	store := kv.New(kv.Options{})
	for i := range n {
		cmd := &kv.Command{Method: kv.MethodPut, Path: fmt.Sprintf("/bench/k%08d", i), Value: fmt.Sprintf("value-%08d", i),
			TimeUnixNano: 1}
		if _, err := store.Apply(cmd); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := store.Save(&buf); err != nil {
		return err
	}
	index := uint64(n)
	snap := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: index, Term: 1, ConfState: raft.ConfState{Voters: slices.Clone(s.ids)}},
		Data: buf.Bytes()}
	for _, m := range s.members {
		st, err := storage.Open(m.fs, "/data", storage.Options{ClusterID: 0x5117, MemberID: m.id, Logger: s.logger})
		if err != nil {
			return err
		}
		if err := st.SaveSnapshot(snap); err != nil {
			return err
		}
		if err := st.Save(raft.HardState{Term: 1, Commit: index}, nil, true); err != nil {
			return err
		}
		if err := st.Close(); err != nil {
			return err
		}
	}
	// Entries 1..index are committed, applied and gone into the snapshot.
	c := s.chk
	for i := uint64(1); i <= index; i++ {
		c.committed = append(c.committed, 0)
		c.committedTerm = append(c.committedTerm, 1)
		c.committedIn = append(c.committedIn, 1)
		c.applied = append(c.applied, 0)
		c.ents = append(c.ents, raft.Entry{Index: i, Term: 1})
	}
	s.snaps.remember(snap.Metadata, snap.Data)
	return nil
}
