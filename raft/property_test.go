package raft_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"pgregory.net/rapid"

	"github.com/raftkv/raftkv/internal/plant"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/rafttest"
)

// safetyChecker holds what the cluster has shown so far and checks Raft's
// safety properties (Figure 3 of the paper) against every new observation.
type safetyChecker struct {
	c *rafttest.Cluster
	// leaders[term] is the member that was leader in term.
	leaders map[uint64]uint64
	// applied[index] is the entry first applied at index by any member.
	applied map[uint64]raft.Entry
	// commitTerm[index] is the term of the leader that first reported the
	// index committed.
	commitTerm map[uint64]uint64
	// installed counts snapshots installed from a leader.
	installed int
	err       error
}

func newSafetyChecker(c *rafttest.Cluster) *safetyChecker {
	s := &safetyChecker{c: c, leaders: map[uint64]uint64{}, applied: map[uint64]raft.Entry{}, commitTerm: map[uint64]uint64{}}
	c.Observe = s.observe
	return s
}

func (s *safetyChecker) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf(format, args...)
	}
}

func (s *safetyChecker) observe(id uint64, rd raft.Ready) {
	n := s.c.Nodes[id]
	st := n.Raw.Status()
	if !rd.Snapshot.IsEmpty() {
		s.installed++
	}
	if st.RaftState == raft.StateLeader {
		// The log of a new leader must hold every entry committed in an
		// earlier term (Leader Completeness).
		for i, t := range s.commitTerm {
			if t >= st.Term {
				continue
			}
			want := s.applied[i]
			if first, _ := n.Storage.FirstIndex(); i < first {
				continue // folded into this leader's snapshot
			}
			if got, err := n.Raw.Term(i); err != nil || got != want.Term {
				s.fail("leader completeness: leader %d of term %d has term %d (err %v) at %d, committed with term %d in term %d",
					id, st.Term, got, err, i, want.Term, t)
			}
		}
		// Commit indexes this leader reports are committed in its term.
		for i := uint64(1); i <= st.Commit; i++ {
			if _, ok := s.commitTerm[i]; !ok {
				s.commitTerm[i] = st.Term
			}
		}
	}
	// State Machine Safety: every member applies the same entry at an index.
	for _, e := range rd.CommittedEntries {
		if prev, ok := s.applied[e.Index]; ok {
			if prev.Term != e.Term || string(prev.Data) != string(e.Data) {
				s.fail("state machine safety: member %d applied %d/%d %q, another applied %d/%d %q",
					id, e.Index, e.Term, e.Data, prev.Index, prev.Term, prev.Data)
			}
		} else {
			s.applied[e.Index] = e
		}
		if _, ok := s.commitTerm[e.Index]; !ok {
			s.commitTerm[e.Index] = st.Term
		}
	}
}

// check runs the checks that look at the whole cluster at once.
func (s *safetyChecker) check() error {
	c := s.c
	for _, id := range c.IDs {
		n := c.Nodes[id]
		if n.Down {
			continue
		}
		st := n.Raw.Status()
		// Election Safety: at most one leader per term.
		if st.RaftState == raft.StateLeader {
			if other, ok := s.leaders[st.Term]; ok && other != id {
				s.fail("election safety: %d and %d both lead term %d", other, id, st.Term)
			}
			s.leaders[st.Term] = id
		}
	}
	// Log Matching: if two logs hold an entry with the same index and term,
	// they are identical up to that index.
	for i, a := range c.IDs {
		for _, b := range c.IDs[i+1:] {
			s.checkLogMatching(a, b)
		}
	}
	return s.err
}

func (s *safetyChecker) checkLogMatching(a, b uint64) {
	na, nb := s.c.Nodes[a], s.c.Nodes[b]
	if na.Down || nb.Down {
		return
	}
	la, lb := na.Raw.Status().LastIndex, nb.Raw.Status().LastIndex
	fa, _ := na.Storage.FirstIndex()
	fb, _ := nb.Storage.FirstIndex()
	lo, hi := max(fa, fb), min(la, lb)
	matched := false
	for i := hi; i >= lo && i > 0; i-- {
		ta, errA := na.Raw.Term(i)
		tb, errB := nb.Raw.Term(i)
		if errA != nil || errB != nil {
			return
		}
		if ta == tb {
			matched = true
		} else if matched {
			s.fail("log matching: %d and %d agree above index %d but differ at it (%d vs %d)", a, b, i, ta, tb)
			return
		}
	}
}

// scheduleResult is what one schedule did and the first safety violation.
type scheduleResult struct {
	applied, installed int
	err                error
}

// schedule runs one random schedule on a cluster of 3 or 5 members; draw(label,
// n) chooses a number in [0, n).
func schedule(draw func(label string, n int) int, bugs plant.Raft) scheduleResult {
	size := []int{3, 5}[draw("size", 2)]
	var ids []uint64
	for i := 1; i <= size; i++ {
		ids = append(ids, uint64(i))
	}
	noPreVote := draw("noprevote", 2) == 1
	fixedMembership := draw("churn", 2) == 0
	// One entry per append half of the time: more interleavings, and the
	// Figure 8 scenario needs an old-term entry acknowledged on its own.
	maxMsg := []uint64{1, 0}[draw("maxmsg", 2)]
	// Snapshots in small chunks, so that transfers take several rounds.
	chunk := uint64(1 + draw("chunk", 16))
	c := rafttest.New(ids, rafttest.Options{
		ElectionTick: 5, HeartbeatTick: 1,
		Seed: uint64(draw("seed", 1<<30)),
		Configure: func(cfg *raft.Config) {
			cfg.DisablePreVote = noPreVote
			bugs.Plant(cfg)
			cfg.MaxSizePerMsg = maxMsg
			cfg.SnapshotChunkSize = chunk
		},
	})
	s := newSafetyChecker(c)
	pick := func(label string) uint64 { return c.IDs[draw(label, len(c.IDs))] }
	spare := uint64(size + 1) // the next member id that may join
	next := 0
	steps := 100 + draw("steps", 500)
	for range steps {
		switch op := draw("op", 41); {
		case op < 4:
			c.Tick(pick("tick"))
		case op < 8: // a tick everywhere: time passes for all members
			for _, id := range c.IDs {
				c.Tick(id)
			}
		case op < 26 && len(c.Queue) > 0: // deliver any message: reordering
			i := draw("msg", len(c.Queue))
			m := c.Queue[i]
			c.Queue = append(c.Queue[:i:i], c.Queue[i+1:]...)
			c.Deliver(m)
		case op < 28 && len(c.Queue) > 0: // drop
			i := draw("drop", len(c.Queue))
			c.Queue = append(c.Queue[:i:i], c.Queue[i+1:]...)
		case op < 29 && len(c.Queue) > 0: // duplicate
			c.Queue = append(c.Queue, c.Queue[draw("dup", len(c.Queue))])
		case op < 34:
			if lead := c.Leader(); lead != 0 {
				next++
				_ = c.Propose(lead, fmt.Appendf(nil, "v%d", next))
			}
		case op < 35:
			// Crash: the member loses what it had not yet handed over in a
			// Ready (unpersisted entries, unsent messages). At most a
			// minority is down at once, or nothing could commit.
			if down(c) < (size-1)/2 || draw("crash-majority", 10) == 0 {
				if id := pick("crash"); !c.Nodes[id].Down {
					c.Crash(id)
				}
			}
		case op < 38:
			if id := pick("restart"); c.Nodes[id].Down {
				c.Restart(id)
			}
		case op < 39:
			c.HandleReady(pick("ready"))
		case op < 40 && draw("compact", 2) == 0:
			// Log compaction: a member snapshots its applied state, so
			// lagging followers need InstallSnapshot.
			if id := pick("compact"); !c.Nodes[id].Down {
				_ = c.Compact(id, fmt.Appendf(nil, "state of %d at %d", id, len(c.Nodes[id].Applied)))
			}
		case op < 40 && !fixedMembership:
			// Membership churn: a new member joins as a learner (and is
			// promoted by the leader once caught up), or a member is
			// removed.
			lead := c.Leader()
			if lead == 0 {
				break
			}
			cc := raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: pick("remove")}
			if draw("join", 2) == 0 && spare <= uint64(size+2) {
				c.Join(spare, c.Nodes[lead].Raw.Status().Voters)
				cc = raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: spare}
				spare++
			}
			_, _ = c.Nodes[lead].Raw.ProposeConfChange(cc)
		}
		// Usually every member handles its Ready right away; sometimes work
		// is left pending across the next step (and possibly a crash).
		if draw("settle", 4) > 0 {
			c.HandleAllReady()
		}
		if err := s.check(); err != nil {
			return scheduleResult{len(s.applied), s.installed, err}
		}
	}
	// Settle: every member back up, the network reliable, time passing.
	// Whatever the faults left behind must converge without breaking safety.
	for _, id := range c.IDs {
		if c.Nodes[id].Down {
			c.Restart(id)
		}
	}
	for range 100 {
		for _, id := range c.IDs {
			c.Tick(id)
		}
		c.DeliverAll(nil)
		if err := s.check(); err != nil {
			return scheduleResult{len(s.applied), s.installed, err}
		}
	}
	return scheduleResult{len(s.applied), s.installed, nil}
}

func down(c *rafttest.Cluster) int {
	n := 0
	for _, id := range c.IDs {
		if c.Nodes[id].Down {
			n++
		}
	}
	return n
}

// TestPropertySafetyUnderRandomSchedules drives 3- and 5-member clusters
// through random schedules (deliver, drop, duplicate, reorder, tick,
// propose, crash and restart with persisted state kept) and checks the
// safety properties after every step. With -rapid.checks=N more schedules
// are tried; a failure prints the shrunk schedule.
func TestPropertySafetyUnderRandomSchedules(t *testing.T) {
	applied := 0
	rapid.Check(t, func(t *rapid.T) {
		r := schedule(func(label string, n int) int { return rapid.IntRange(0, n-1).Draw(t, label) }, plant.Raft{})
		if r.err != nil {
			t.Fatal(r.err)
		}
		applied += r.applied
	})
	// The schedules must make progress, or the checks above check nothing.
	if applied == 0 {
		t.Fatal("no schedule committed a single entry")
	}
	t.Logf("entries applied across schedules: %d", applied)
}

// TestFigure8 replays Figure 8 of the Raft paper on three members: a leader
// of term 4 finds an entry of term 2 on a majority. Correct Raft must not
// commit it by counting; with the CommitOldTerm bug planted it does, a later
// leader overwrites it, and the safety checker must notice.
func TestFigure8(t *testing.T) {
	for _, bug := range []bool{false, true} {
		c := rafttest.New([]uint64{1, 2, 3}, rafttest.Options{Seed: 1, Configure: func(cfg *raft.Config) {
			cfg.DisablePreVote, cfg.DisableCheckQuorum = true, true
			cfg.MaxSizePerMsg = 1 // one entry per append
			plant.Raft{CommitOldTerm: bug}.Plant(cfg)
		}})
		s := newSafetyChecker(c)
		step := func() {
			c.DeliverAll(nil)
			if err := s.check(); err != nil && !bug {
				t.Fatal(err)
			}
		}
		// deliverUntil delivers messages in order until cond holds, then
		// drops whatever is still in flight.
		// Entries of term 4 are stripped from appends, so that 1 receives
		// the old-term entries but nothing of term 4.
		deliverUntil := func(cond func() bool) {
			c.HandleAllReady()
			for len(c.Queue) > 0 && !cond() {
				m := c.Queue[0]
				c.Queue = c.Queue[1:]
				for len(m.Entries) > 0 && m.Entries[len(m.Entries)-1].Term == 4 {
					m.Entries = m.Entries[:len(m.Entries)-1]
				}
				c.Deliver(m)
				c.HandleAllReady()
			}
			c.Queue = nil
		}
		leads := func(id uint64) func() bool {
			return func() bool { return c.Nodes[id].Raw.Status().RaftState == raft.StateLeader }
		}
		c.Nodes[1].Raw.Campaign() // term 1: entry 1/1 everywhere
		step()
		// (a) 2 leads term 2; its no-op 2/2 and entry 3/2 reach nobody.
		c.Nodes[2].Raw.Campaign()
		deliverUntil(leads(2))
		if err := c.Propose(2, []byte("xx")); err != nil {
			t.Fatal(err)
		}
		deliverUntil(func() bool { return true })
		// (b) 3 leads term 3 with 1's vote; its no-op 2/3 reaches nobody.
		c.Isolate(2)
		c.Nodes[3].Raw.Campaign()
		deliverUntil(leads(3))
		// (c) 2 leads term 4 with 1's vote and sends 2/2 and 3/2 to 1, but
		// 1 gets nothing of term 4 yet: a majority holds 3/2.
		// (A restart makes the deposed leaders followers again.)
		c.Crash(2)
		c.Restart(2)
		c.Heal()
		c.Isolate(3)
		c.Nodes[2].Raw.Campaign() // term 3: 1 already voted for 3 and refuses
		c.DeliverAll(nil)
		c.Nodes[2].Raw.Campaign() // term 4
		deliverUntil(func() bool { return c.Nodes[2].Raw.Status().Progress[1].Match >= 3 })
		committed3 := c.Nodes[2].Raw.Status().Commit >= 3
		if committed3 != bug {
			t.Fatalf("bug=%v: leader 2 committed index 3 of term 2 by counting: %v", bug, committed3)
		}
		// (d) 2 fails; 3 wins term 5 with 1's vote and overwrites index 2.
		c.Crash(2)
		c.Crash(3)
		c.Restart(3)
		c.Heal()
		c.Nodes[3].Raw.Campaign() // term 4: 1 already voted for 2 and refuses
		c.DeliverAll(nil)
		c.Nodes[3].Raw.Campaign() // term 5
		c.DeliverAll(nil)
		err := s.check()
		if bug && err == nil {
			t.Fatal("the checker missed the Figure 8 violation")
		}
		if !bug && err != nil {
			t.Fatal(err)
		}
		t.Logf("bug=%v: %v", bug, err)
	}
}

// TestPropertyCheckersCatchPlantedBugs proves the checkers above are live:
// with each planted protocol bug, some random schedule violates safety.
func TestPropertyCheckersCatchPlantedBugs(t *testing.T) {
	bugs := map[string]plant.Raft{
		"double-vote":           {DoubleVote: true},
		"skip-up-to-date-check": {SkipUpToDateCheck: true},
	}
	for name, bug := range bugs {
		t.Run(name, func(t *testing.T) {
			for seed := uint64(1); seed <= 20000; seed++ {
				rng := rand.New(rand.NewPCG(seed, 0))
				if r := schedule(func(_ string, n int) int { return rng.IntN(n) }, bug); r.err != nil {
					t.Logf("seed %d: %v", seed, r.err)
					return
				}
			}
			t.Fatal("no schedule exposed the planted bug")
		})
	}
}

// TestPropertySeededSchedules runs long seeded schedules (rapid's are short
// and biased to small values) and requires that they exercise what they
// claim: entries commit, and lagging members install snapshots sent in
// chunks after leaders compact their logs.
func TestPropertySeededSchedules(t *testing.T) {
	applied, installed := 0, 0
	for seed := uint64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		r := schedule(func(_ string, n int) int { return rng.IntN(n) }, plant.Raft{})
		if r.err != nil {
			t.Fatalf("seed %d: %v", seed, r.err)
		}
		applied += r.applied
		installed += r.installed
	}
	if applied == 0 || installed == 0 {
		t.Fatalf("schedules applied %d entries and installed %d snapshots: not exercised", applied, installed)
	}
	t.Logf("applied %d entries, installed %d snapshots", applied, installed)
}
