package raft

import (
	"math/rand/v2"
	"testing"
)

// TestCommittedConfChangeIsSynced: a Ready that hands out a membership
// change to apply must be synced, even when all that changed is the commit
// index. Membership takes effect when applied, and a member restarts with
// the membership of the commit index it persisted: if that index could be
// lost in a crash after the change was applied, the member would come back
// counting a removed member in its majority, and wait forever for a vote
// from a process the operator has long stopped. Found by the simulator
// (sim, swarm seed 38 with churn: the last two voters, one removed; the
// other, alone, crashed and came back needing the removed one).
func TestCommittedConfChangeIsSynced(t *testing.T) {
	st := NewMemoryStorage()
	rn, err := NewRawNode(&Config{ID: 2, Peers: []uint64{1, 2}, ElectionTick: 10, HeartbeatTick: 1,
		Storage: st, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	handle := func() Ready {
		rd := rn.Ready()
		if err := st.Append(rd.Entries); err != nil {
			t.Fatal(err)
		}
		if !rd.HardState.IsEmpty() {
			st.SetHardState(rd.HardState)
		}
		for _, e := range rd.CommittedEntries {
			if e.Type == EntryConfChange {
				cc, err := UnmarshalConfChange(e.Data)
				if err != nil {
					t.Fatal(err)
				}
				rn.ApplyConfChange(cc)
			}
		}
		rn.Advance(rd)
		return rd
	}
	remove1, err := ConfChange{Type: ConfChangeRemove, NodeID: 1}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// The leader's no-op and the change arrive, the no-op committed.
	if err := rn.Step(Message{Type: MsgApp, From: 1, To: 2, Term: 1, Commit: 1, Entries: []Entry{
		{Term: 1, Index: 1}, {Term: 1, Index: 2, Type: EntryConfChange, Data: remove1}}}); err != nil {
		t.Fatal(err)
	}
	if rd := handle(); !rd.MustSync {
		t.Fatal("new entries not synced")
	}
	// A heartbeat commits the change: nothing else changes.
	if err := rn.Step(Message{Type: MsgHeartbeat, From: 1, To: 2, Term: 1, Commit: 2}); err != nil {
		t.Fatal(err)
	}
	rd := handle()
	if len(rd.CommittedEntries) != 1 || rd.CommittedEntries[0].Type != EntryConfChange || rd.HardState.Commit != 2 {
		t.Fatalf("ready: commit %d, committed entries %v", rd.HardState.Commit, rd.CommittedEntries)
	}
	if !rd.MustSync {
		t.Fatal("the Ready that applies a membership change is not synced: its commit index may be lost in a crash")
	}
	// A commit that brings no membership change still need not be synced.
	if err := rn.Step(Message{Type: MsgApp, From: 1, To: 2, Term: 1, Index: 2, LogTerm: 1, Commit: 2,
		Entries: []Entry{{Term: 1, Index: 3, Data: []byte("x")}}}); err != nil {
		t.Fatal(err)
	}
	handle()
	if err := rn.Step(Message{Type: MsgHeartbeat, From: 1, To: 2, Term: 1, Commit: 3}); err != nil {
		t.Fatal(err)
	}
	if rd := handle(); rd.MustSync || len(rd.CommittedEntries) != 1 {
		t.Fatalf("plain commit: MustSync %v, committed entries %v", rd.MustSync, rd.CommittedEntries)
	}
}
