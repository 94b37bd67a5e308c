package raft

import (
	"maps"
	"slices"
	"testing"

	"github.com/raftkv/raftkv/raft/tracker"
)

// TestVisitProgress: VisitProgress visits what Status().Progress holds,
// every member once, voters and learners interleaved by increasing id; and
// nothing on a member that does not lead.
func TestVisitProgress(t *testing.T) {
	r := newTestRaft(t, 3, []uint64{7, 3, 1}, NewMemoryStorage(), func(c *Config) { c.Learners = []uint64{5, 2} })
	rn := &RawNode{raft: r}
	visited := func() (ids []uint64, prs []tracker.Progress) {
		rn.VisitProgress(func(id uint64, pr tracker.Progress) {
			ids = append(ids, id)
			prs = append(prs, pr)
		})
		return ids, prs
	}
	if ids, _ := visited(); len(ids) != 0 {
		t.Fatalf("a follower visited %v", ids)
	}
	r.becomeCandidate()
	r.becomeLeader()
	r.applyConfChange(ConfChange{Type: ConfChangeAddLearner, NodeID: 9})
	r.applyConfChange(ConfChange{Type: ConfChangeAddVoter, NodeID: 4})
	_ = r.Step(Message{Type: MsgAppResp, From: 7, To: 3, Term: r.Term, Index: 1})
	_ = r.Step(Message{Type: MsgAppResp, From: 5, To: 3, Term: r.Term, Index: 1})

	ids, prs := visited()
	st := rn.Status()
	if want := slices.Sorted(maps.Keys(st.Progress)); !slices.Equal(ids, want) {
		t.Fatalf("visited %v, want %v", ids, want)
	}
	if want := []uint64{1, 2, 3, 4, 5, 7, 9}; !slices.Equal(ids, want) {
		t.Fatalf("visited %v, want %v", ids, want)
	}
	for i, id := range ids {
		if prs[i] != st.Progress[id] {
			t.Errorf("member %d: visited %+v, Status has %+v", id, prs[i], st.Progress[id])
		}
	}
	if prs[slices.Index(ids, 7)].Match != 1 || prs[slices.Index(ids, 5)].Match != 1 {
		t.Fatalf("the acknowledgements are not in the progress visited: %+v", prs)
	}
}
