package sim

import (
	"bytes"
	"cmp"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/server/node"
	"github.com/raftkv/raftkv/storage"
	"github.com/raftkv/raftkv/vfs"
)

// snapChecker checks that snapshots never lose a committed entry: a
// snapshot at index i, taken by a member or installed from a leader, holds
// exactly the key space and membership that applying the committed entries
// 1..i gives; and a member restarted from its snapshot and log holds
// exactly the state of applying the entries up to where it re-applied.
//
// The state at i comes from a replay: a fresh node core (node.Node, the
// code every member runs) opened on a scratch disk holding a state already
// verified (a checkpoint) and the committed entries after it, which
// re-applies them as a restarted member would. Verified states become
// checkpoints, so a replay covers about SnapshotCount entries.
type snapChecker struct {
	s *Sim
	// verified[i] hashes the state (kv.Store.Save bytes) verified at i.
	verified map[uint64]uint64
	// points are verified states, by increasing index.
	points []checkpoint
}

type checkpoint struct {
	md   raft.SnapshotMetadata
	data []byte
}

// maxCheckpoints bounds the states kept to replay from.
const maxCheckpoints = 16

// replayID is the scratch node's member id: no member has it.
const replayID = 1 << 40

func newSnapChecker(s *Sim) *snapChecker {
	return &snapChecker{s: s, verified: map[uint64]uint64{}}
}

func hashBytes(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

func (sc *snapChecker) fail(format string, args ...any) {
	sc.s.fail(ClassSafety, "snapshots never lose a committed entry", fmt.Sprintf(format, args...))
}

// onStart notes the snapshot a member's disk holds when it opens.
func (sc *snapChecker) onStart(m *member) {
	snap, _ := m.node.Storage().Snapshot()
	m.snapIndex = snap.Metadata.Index
}

// maybeCreated checks a snapshot m took itself, if it just took one.
func (sc *snapChecker) maybeCreated(m *member) {
	snap, err := m.node.Storage().Snapshot()
	if err != nil || snap.Metadata.Index == m.snapIndex {
		return
	}
	m.snapIndex = snap.Metadata.Index
	sc.s.res.SnapshotsTaken++
	sc.verify(m, "takes", snap)
}

// checkInstall checks a snapshot m is about to install from a leader.
func (sc *snapChecker) checkInstall(m *member, snap raft.Snapshot) {
	m.snapIndex = snap.Metadata.Index
	sc.s.res.SnapshotsSent++
	sc.verify(m, "installs", snap)
}

func (sc *snapChecker) verify(m *member, verb string, snap raft.Snapshot) {
	s, c := sc.s, sc.s.chk
	md := snap.Metadata
	if md.Index == 0 || s.failure != nil {
		return
	}
	if hi := uint64(len(c.ents) - 1); md.Index > hi {
		sc.fail("member %d %s a snapshot at index %d, beyond every index any member has applied (%d): it claims entries it cannot hold",
			m.id, verb, md.Index, hi)
		return
	}
	if t := c.ents[md.Index].Term; md.Term != t {
		sc.fail("member %d %s a snapshot at index %d of term %d; the entry committed there has term %d", m.id, verb, md.Index, md.Term, t)
		return
	}
	h := hashBytes(snap.Data)
	if got, ok := sc.verified[md.Index]; ok && got == h {
		return
	}
	want, cs, err := sc.replay(md.Index)
	if err != nil {
		s.fail(ClassCrash, "snapshot replay", err.Error())
		return
	}
	if !bytes.Equal(want, snap.Data) {
		sc.fail("member %d %s a snapshot at index %d whose key space is not the state of applying entries 1..%d (%d bytes, want %d)",
			m.id, verb, md.Index, md.Index, len(snap.Data), len(want))
		return
	}
	if !slices.Equal(cs.Voters, md.ConfState.Voters) || !slices.Equal(cs.Learners, md.ConfState.Learners) {
		sc.fail("member %d %s a snapshot at index %d with voters %v and learners %v; applying entries 1..%d gives voters %v and learners %v",
			m.id, verb, md.Index, md.ConfState.Voters, md.ConfState.Learners, md.Index, cs.Voters, cs.Learners)
		return
	}
	sc.remember(md, snap.Data)
}

// checkRestart checks a member that just restarted and re-applied its
// committed log: its key space is the state of applying entries up to its
// applied index.
func (sc *snapChecker) checkRestart(m *member) {
	s := sc.s
	i := m.view.applied
	if i == 0 || s.failure != nil {
		return
	}
	var b bytes.Buffer
	if err := m.node.Store().Save(&b); err != nil {
		s.fail(ClassCrash, "kv save", fmt.Sprintf("member %d: %v", m.id, err))
		return
	}
	if got, ok := sc.verified[i]; ok && got == hashBytes(b.Bytes()) {
		return
	}
	want, cs, err := sc.replay(i)
	if err != nil {
		s.fail(ClassCrash, "snapshot replay", err.Error())
		return
	}
	if !bytes.Equal(want, b.Bytes()) {
		sc.fail("member %d restarted from its snapshot at %d and its log; at applied index %d its key space is not the state of applying entries 1..%d",
			m.id, m.snapIndex, i, i)
		return
	}
	sc.remember(raft.SnapshotMetadata{Index: i, Term: s.chk.ents[i].Term, ConfState: cs}, b.Bytes())
}

func (sc *snapChecker) remember(md raft.SnapshotMetadata, data []byte) {
	sc.s.res.StatesChecked++
	sc.verified[md.Index] = hashBytes(data)
	i, found := slices.BinarySearchFunc(sc.points, md.Index, func(p checkpoint, idx uint64) int {
		return cmp.Compare(p.md.Index, idx)
	})
	if found {
		return
	}
	sc.points = slices.Insert(sc.points, i, checkpoint{md: md, data: data})
	if len(sc.points) > maxCheckpoints {
		sc.points = sc.points[1:]
	}
}

type nopTransport struct{}

func (nopTransport) Send([]raft.Message) {}

// replay returns the key space (kv.Store.Save bytes) and membership that
// applying the committed entries 1..upto gives, computed by a scratch node
// core restarted from the nearest checkpoint at or below upto.
func (sc *snapChecker) replay(upto uint64) ([]byte, raft.ConfState, error) {
	s, c := sc.s, sc.s.chk
	var base checkpoint
	for _, p := range sc.points {
		if p.md.Index <= upto {
			base = p
		}
	}
	fs := vfs.NewMem(rand.New(rand.NewPCG(1, 2)))
	const dir = "/replay"
	st, err := storage.Open(fs, dir, storage.Options{ClusterID: 0x5117, MemberID: replayID, Logger: s.logger})
	if err != nil {
		return nil, raft.ConfState{}, err
	}
	if base.md.Index > 0 {
		if err := st.SaveSnapshot(raft.Snapshot{Metadata: base.md, Data: base.data}); err != nil {
			st.Close()
			return nil, raft.ConfState{}, err
		}
	}
	ents := c.ents[base.md.Index+1 : upto+1]
	term := base.md.Term
	for _, e := range ents {
		term = max(term, e.Term)
	}
	if err := st.Save(raft.HardState{Term: term, Commit: upto}, ents, false); err != nil {
		st.Close()
		return nil, raft.ConfState{}, err
	}
	if err := st.Close(); err != nil {
		return nil, raft.ConfState{}, err
	}
	n, err := node.NewNode(node.Config{
		ID: replayID, ClusterID: 0x5117, Peers: s.ids, FS: fs, Dir: dir,
		ElectionTick: s.opts.ElectionTick, HeartbeatTick: s.opts.HeartbeatTick,
		TickInterval: time.Duration(s.opts.TickMs) * time.Millisecond,
		Rand:         rand.New(rand.NewPCG(3, 4)), Transport: nopTransport{}, Logger: s.logger,
		SnapshotCount: 1 << 62,
	})
	if err != nil {
		return nil, raft.ConfState{}, fmt.Errorf("replay to %d: %w", upto, err)
	}
	defer n.Close()
	for {
		did, err := n.HandleReady()
		if err != nil {
			return nil, raft.ConfState{}, fmt.Errorf("replay to %d: %w", upto, err)
		}
		if !did {
			break
		}
	}
	if a := n.Status().Applied; a != upto {
		return nil, raft.ConfState{}, fmt.Errorf("replay to %d stopped at %d", upto, a)
	}
	var b bytes.Buffer
	if err := n.Store().Save(&b); err != nil {
		return nil, raft.ConfState{}, err
	}
	return b.Bytes(), n.ConfState(), nil
}
