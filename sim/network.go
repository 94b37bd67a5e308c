package sim

import (
	"math/rand/v2"
	"slices"

	"github.com/raftkv/raftkv/raft"
)

// network carries messages between members with a random latency, and
// loses, duplicates, delays, partitions and clogs them as the options and
// the fault schedule say. Links are directed: blocked[from][to].
type network struct {
	s         *Sim
	rand      *rand.Rand
	n         int
	blocked   []bool  // [from*n+to], indexes id-1
	clogUntil []int64 // [from*n+to], virtual ns
	// busyUntil is when each link finishes sending what it was given
	// (Net.BandwidthMBps), virtual ns.
	busyUntil []int64
	nextID    uint64
	// snaps counts the MsgSnap chunks sent to member countSnaps (the
	// catch-up benchmark).
	countSnaps uint64
	snaps      int
	// calm turns off loss, duplication and reordering (liveness phase).
	calm bool
	// filter, if set, drops at delivery every message it returns true for
	// (reason "filter"): the papers/ experiments use it to lose one
	// member's appends to some followers. nil in every preset.
	filter func(m raft.Message) bool
	// inflight, in a live session only (nil otherwise), holds each message
	// whose delivery is scheduled, by mid, so that the user can drop it
	// (live.go).
	inflight map[uint64]*flight
}

// flight is a message in flight: how many of its deliveries are
// scheduled (a duplicate makes two), and whether the user dropped it.
type flight struct {
	m       raft.Message
	pending int
	dropped bool
}

func newNetwork(s *Sim, r *rand.Rand) *network {
	nw := &network{s: s, rand: r}
	nw.grow(len(s.ids))
	return nw
}

// grow makes room for members with ids up to n (a member joining).
func (nw *network) grow(n int) {
	if n <= nw.n {
		return
	}
	blocked, clogUntil, busyUntil := make([]bool, n*n), make([]int64, n*n), make([]int64, n*n)
	for from := range nw.n {
		for to := range nw.n {
			i, j := from*nw.n+to, from*n+to
			blocked[j], clogUntil[j], busyUntil[j] = nw.blocked[i], nw.clogUntil[i], nw.busyUntil[i]
		}
	}
	nw.n, nw.blocked, nw.clogUntil, nw.busyUntil = n, blocked, clogUntil, busyUntil
}

// msgBytes estimates a message's size on the wire.
func msgBytes(m raft.Message) int {
	n := 64 + len(m.Context)
	for _, e := range m.Entries {
		n += 24 + len(e.Data)
	}
	if m.Snapshot != nil {
		n += 64 + len(m.Snapshot.Data)
	}
	return n
}

func (nw *network) link(from, to uint64) int { return int(from-1)*nw.n + int(to-1) }

// latencyNs draws one message's latency.
func (nw *network) latencyNs() int64 {
	o := nw.s.opts.Net
	ms := o.LatencyMinMs + nw.rand.ExpFloat64()*o.LatencyTailMs
	if !nw.calm && o.Reorder > 0 && nw.rand.Float64() < o.Reorder {
		ms += nw.rand.Float64() * 10 * max(o.LatencyTailMs, 1)
	}
	return int64(ms * 1e6)
}

// clientLatencyNs is the latency between a client and a member: the same
// distribution, never lost (a lost request is a timeout, which the
// partition and crash faults already cause).
func (nw *network) clientLatencyNs() int64 {
	o := nw.s.opts.Net
	return int64((o.LatencyMinMs + nw.rand.ExpFloat64()*o.LatencyTailMs) * 1e6)
}

func (nw *network) send(m raft.Message) {
	s := nw.s
	nw.nextID++
	id := nw.nextID
	s.res.Messages++
	if m.Type == raft.MsgSnap && m.To == nw.countSnaps {
		nw.snaps++
	}
	// The sender may reuse its log's memory: the copy in flight is ours, as
	// if it had been serialised.
	if len(m.Entries) > 0 {
		m.Entries = slices.Clone(m.Entries)
	}
	if s.tr != nil {
		s.trace(msgEvent("send", id, m))
	}
	o := s.opts.Net
	// A message first waits for its link to finish sending the ones
	// before it, then takes its size over the bandwidth to send.
	var sentNs int64
	if o.BandwidthMBps > 0 {
		l := nw.link(m.From, m.To)
		start := max(s.nowNs, nw.busyUntil[l])
		nw.busyUntil[l] = start + int64(float64(msgBytes(m))*1e3/o.BandwidthMBps)
		sentNs = nw.busyUntil[l] - s.nowNs
	}
	if !nw.calm && o.Loss > 0 && nw.rand.Float64() < o.Loss {
		if s.tr != nil {
			e := msgEvent("drop", id, m)
			e.Reason = "loss"
			s.trace(e)
		}
		return
	}
	nw.fly(id, m)
	s.after(sentNs+nw.latencyNs(), func() { nw.deliver(id, m) })
	if !nw.calm && o.Duplicate > 0 && nw.rand.Float64() < o.Duplicate {
		if s.tr != nil {
			s.trace(msgEvent("duplicate", id, m))
		}
		nw.fly(id, m)
		s.after(sentNs+nw.latencyNs(), func() { nw.deliver(id, m) })
	}
}

// fly notes a delivery of message id scheduled (live sessions only).
func (nw *network) fly(id uint64, m raft.Message) {
	if nw.inflight == nil {
		return
	}
	f := nw.inflight[id]
	if f == nil {
		f = &flight{m: m}
		nw.inflight[id] = f
	}
	f.pending++
}

// landed notes that a scheduled delivery of message id is due, and
// reports whether the user dropped the message (live sessions only).
func (nw *network) landed(id uint64) (dropped bool) {
	f := nw.inflight[id]
	if f == nil {
		return false
	}
	if f.pending--; f.pending <= 0 {
		delete(nw.inflight, id)
	}
	return f.dropped
}

func (nw *network) deliver(id uint64, m raft.Message) {
	s := nw.s
	if nw.inflight != nil && nw.landed(id) {
		return // dropped by the user: the drop was traced then
	}
	l := nw.link(m.From, m.To)
	if nw.blocked[l] {
		nw.drop(id, m, "partition")
		return
	}
	if nw.filter != nil && nw.filter(m) {
		nw.drop(id, m, "filter")
		return
	}
	if u := nw.clogUntil[l]; u > s.nowNs {
		nw.fly(id, m)
		s.at(u+nw.latencyNs(), func() { nw.deliver(id, m) })
		return
	}
	to := s.member(m.To)
	ok := s.onMember(to, func() {
		if rm, removed := s.chk.removed[m.From]; removed && to.view.applied >= rm.index {
			// The receiver has applied the sender's removal: like etcd's
			// transport it refuses the message, so a removed member that
			// does not know it cannot disrupt the cluster with its terms
			// (thesis §4.2.3) even without Pre-Vote and CheckQuorum. A
			// member that has not applied the removal still takes it: it
			// may need that member's vote. Told it was removed, the sender
			// stops, as an etcd member does, unless the rest may still
			// need it for a majority (a voter leaving two).
			nw.drop(id, m, "removed")
			if rm.stopOnRefusal {
				s.decommission(s.member(m.From))
			}
			return
		}
		if s.tr != nil {
			s.trace(msgEvent("deliver", id, m))
		}
		// An error is a message this member cannot use (e.g. from a
		// stranger); raft has already ignored it.
		_ = to.node.Step(m)
		s.process(to)
	})
	if !ok {
		nw.drop(id, m, "down")
	}
}

func (nw *network) drop(id uint64, m raft.Message, why string) {
	if s := nw.s; s.tr != nil {
		e := msgEvent("drop", id, m)
		e.Reason = why
		s.trace(e)
	}
}

// split blocks every link between members of different groups; members
// in no group keep all their links.
func (nw *network) split(groups [][]uint64) {
	for i, a := range groups {
		for j, b := range groups {
			if i == j {
				continue
			}
			for _, x := range a {
				for _, y := range b {
					nw.blocked[nw.link(x, y)] = true
				}
			}
		}
	}
}

// cut blocks every link out of (out) or into (!out) member id.
func (nw *network) cut(id uint64, out bool) {
	for _, other := range nw.s.live {
		if other == id {
			continue
		}
		if out {
			nw.blocked[nw.link(id, other)] = true
		} else {
			nw.blocked[nw.link(other, id)] = true
		}
	}
}

func (nw *network) healAll() { clear(nw.blocked) }

func (nw *network) clog(from, to uint64, untilNs int64) {
	l := nw.link(from, to)
	nw.clogUntil[l] = max(nw.clogUntil[l], untilNs)
}

func (nw *network) unclogAll() {
	for i, u := range nw.clogUntil {
		if u > nw.s.nowNs {
			nw.clogUntil[i] = nw.s.nowNs
		}
	}
}

func msgEvent(typ string, id uint64, m raft.Message) TraceEvent {
	return TraceEvent{
		Type: typ, MsgID: id, From: m.From, To: m.To, Msg: m.Type.String(), Term: m.Term,
		LogTerm: m.LogTerm, Index: m.Index, Entries: len(m.Entries), Commit: m.Commit, Reject: m.Reject,
	}
}
