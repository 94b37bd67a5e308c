package server

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/storage"
	"github.com/raftkv/raftkv/vfs"
)

// TestForceNewClusterRewritesTheLog builds a member's log by hand (three
// bootstrap voters, a learner added and committed, an uncommitted tail)
// and checks what --force-new-cluster makes of it: the tail is gone, the
// three others are removed by committed changes after the commit index,
// and a second run changes nothing.
func TestForceNewClusterRewritesTheLog(t *testing.T) {
	const self, cluster = 1, 99
	fsys := vfs.NewMem(rand.New(rand.NewPCG(1, 2)))
	dir := "/d/member"
	st, err := storage.Open(fsys, dir, storage.Options{ClusterID: cluster, MemberID: self})
	if err != nil {
		t.Fatal(err)
	}
	cc := func(typ raft.ConfChangeType, id uint64) []byte {
		b, _ := raft.ConfChange{Type: typ, NodeID: id}.Marshal()
		return b
	}
	ents := []raft.Entry{
		{Index: 1, Term: 1},
		{Index: 2, Term: 1, Type: raft.EntryConfChange, Data: cc(raft.ConfChangeAddLearner, 4)},
		{Index: 3, Term: 2},
		// Uncommitted: an addition nobody may count on, and a write.
		{Index: 4, Term: 2, Type: raft.EntryConfChange, Data: cc(raft.ConfChangeAddLearner, 5)},
		{Index: 5, Term: 2},
	}
	if err := st.Save(raft.HardState{Term: 2, Vote: 2, Commit: 3}, ents, true); err != nil {
		t.Fatal(err)
	}
	st.Close()

	m := newMember(MemberConfig{Name: "n1", DataDir: "/d", FS: fsys, Logger: testLogger(t),
		InitialAdvertisePeerURLs: []string{"http://127.0.0.1:2380"}})
	m.id, m.clusterID = self, cluster
	if err := m.forceNewCluster([]uint64{1, 2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	read := func() ([]raft.Entry, raft.HardState) {
		st, err := storage.Open(fsys, dir, storage.Options{ClusterID: cluster, MemberID: self})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		hs, _, _ := st.InitialState()
		last, _ := st.LastIndex()
		es, err := st.Entries(1, last+1, math.MaxUint64)
		if err != nil {
			t.Fatal(err)
		}
		return es, hs
	}
	es, hs := read()
	var removed []uint64
	for _, e := range es[3:] {
		c, err := raft.UnmarshalConfChange(e.Data)
		if e.Type != raft.EntryConfChange || err != nil || c.Type != raft.ConfChangeRemove || e.Term != 2 {
			t.Fatalf("entry %d: %+v (%v), want a removal in term 2", e.Index, e, err)
		}
		removed = append(removed, c.NodeID)
	}
	if len(es) != 6 || hs.Commit != 6 || hs.Term != 2 || hs.Vote != 2 {
		t.Fatalf("%d entries, hard state %+v; want 6 entries all committed", len(es), hs)
	}
	if len(removed) != 3 || removed[0] != 2 || removed[1] != 3 || removed[2] != 4 {
		t.Fatalf("removed %v, want [2 3 4] (5 was never committed)", removed)
	}
	// Already alone: nothing more to do.
	if err := m.forceNewCluster([]uint64{1, 2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	if es2, hs2 := read(); len(es2) != len(es) || hs2 != hs {
		t.Fatalf("a second run changed the log: %d entries, %+v", len(es2), hs2)
	}
}
