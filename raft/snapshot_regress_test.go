package raft

import (
	"math/rand/v2"
	"testing"
)

// TestSnapshotOverUnappliedEntries: a follower with committed entries it has
// not applied yet (as after a restart) receives a leader's snapshot beyond
// them. Ready must hand out the snapshot, not try to read the entries it
// replaced (it used to panic with "unexpected error reading committed
// entries"), and after Advance the member continues from the snapshot.
// Found by the simulator (sim, swarm seed 14).
func TestSnapshotOverUnappliedEntries(t *testing.T) {
	st := NewMemoryStorage()
	if err := st.Append([]Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2}, {Term: 1, Index: 3}}); err != nil {
		t.Fatal(err)
	}
	st.SetHardState(HardState{Term: 1, Commit: 3})
	rn, err := NewRawNode(&Config{ID: 2, Peers: []uint64{1, 2}, ElectionTick: 10, HeartbeatTick: 1,
		Storage: st, Applied: 1, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	snap := Snapshot{Metadata: SnapshotMetadata{Index: 10, Term: 2, ConfState: ConfState{Voters: []uint64{1, 2}}}, Data: []byte("s")}
	if err := rn.Step(Message{Type: MsgSnap, From: 1, To: 2, Term: 2, Snapshot: &snap}); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready()
	if rd.Snapshot.Metadata.Index != 10 || len(rd.CommittedEntries) != 0 {
		t.Fatalf("ready: snapshot %d, committed entries %v", rd.Snapshot.Metadata.Index, rd.CommittedEntries)
	}
	if err := st.ApplySnapshot(rd.Snapshot); err != nil {
		t.Fatal(err)
	}
	rn.Advance(rd)
	if s := rn.Status(); s.Applied != 10 || s.Commit != 10 {
		t.Fatalf("after the snapshot: applied %d, commit %d, want 10, 10", s.Applied, s.Commit)
	}
	// The next append from the leader applies on top of the snapshot.
	if err := rn.Step(Message{Type: MsgApp, From: 1, To: 2, Term: 2, Index: 10, LogTerm: 2, Commit: 11,
		Entries: []Entry{{Term: 2, Index: 11}}}); err != nil {
		t.Fatal(err)
	}
	rd = rn.Ready()
	if len(rd.CommittedEntries) != 1 || rd.CommittedEntries[0].Index != 11 {
		t.Fatalf("committed entries after the snapshot: %v", rd.CommittedEntries)
	}
}

// TestRestartWithCommitBelowSnapshot: a member that crashed after
// persisting a leader's snapshot but before the hard state of the same
// Ready comes back with a commit index below its snapshot. The snapshot is
// committed, so it restarts committed at the snapshot's index (it used to
// panic with "state.commit 46 is out of range [74, 74]"). Found by the
// simulator with the skip-sync planted bug, which widens that window.
func TestRestartWithCommitBelowSnapshot(t *testing.T) {
	st := NewMemoryStorage()
	snap := Snapshot{Metadata: SnapshotMetadata{Index: 74, Term: 3, ConfState: ConfState{Voters: []uint64{1, 2, 3}}}}
	if err := st.ApplySnapshot(snap); err != nil {
		t.Fatal(err)
	}
	st.SetHardState(HardState{Term: 3, Vote: 1, Commit: 46})
	rn, err := NewRawNode(&Config{ID: 2, ElectionTick: 10, HeartbeatTick: 1, Storage: st, Applied: 74,
		Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	if s := rn.Status(); s.Commit != 74 || s.Term != 3 || s.Vote != 1 {
		t.Fatalf("after restart: %+v, want commit 74 in term 3 with the vote kept", s.HardState)
	}
}
