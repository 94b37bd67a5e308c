package sim

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/quorum"
)

// memberView is what the checker knows of one member, kept up to date from
// every Ready it handles (node.Config.OnReady) and rebuilt from its disk
// at each restart.
type memberView struct {
	role       raft.StateType
	term, vote uint64
	lead       uint64
	commit     uint64
	applied    uint64
	// base is the index of the member's snapshot (0: none); the log holds
	// base+1 on. terms[i-base] is the term of entry i, chain[i-base] hashes
	// entries 1..i (term, type, data); index base holds the snapshot's term
	// and the committed chain hash there.
	base  uint64
	terms []uint64
	chain []uint64
	// confs are the indexes of the membership changes in the log (above
	// base), in order.
	confs       []uint64
	preCrash    memberDurable
	crashedOnce bool
}

// memberDurable is what a member must still know after a crash: Figure 2's
// persistent state, and its log up to its commit index.
type memberDurable struct {
	term, vote, commit uint64
	chainAtCommit      uint64
}

func (v *memberView) lastIndex() uint64 { return v.base + uint64(len(v.terms)-1) }

// has reports whether the view knows entry i (at or above its snapshot).
func (v *memberView) has(i uint64) bool { return i >= v.base && i <= v.lastIndex() }

func (v *memberView) termAt(i uint64) uint64  { return v.terms[i-v.base] }
func (v *memberView) chainAt(i uint64) uint64 { return v.chain[i-v.base] }

func (v *memberView) appendEntry(e raft.Entry) {
	v.terms = append(v.terms, e.Term)
	v.chain = append(v.chain, chainHash(v.chain[len(v.chain)-1], e))
	if e.Type == raft.EntryConfChange {
		v.confs = append(v.confs, e.Index)
	}
}

// reset makes the view start at a snapshot of index base and term.
func (c *checker) reset(v *memberView, base, term uint64) bool {
	v.base, v.terms, v.chain, v.confs = base, []uint64{term}, []uint64{0}, nil
	if base == 0 {
		return true
	}
	if base >= uint64(len(c.committed)) {
		return false
	}
	v.chain[0] = c.committed[base]
	return true
}

// checker holds what the cluster has shown so far and checks Raft's safety
// properties (Figure 3 of the paper) against every new observation, on the
// real nodes. Each check is incremental, so it runs inside every event at
// the moment a member's state changes.
type checker struct {
	s *Sim
	// leaders[term] is the member that led term.
	leaders map[uint64]uint64
	// committed[i] is the chain hash at index i when i was first reported
	// committed by any member, and committedTerm[i] the entry's term.
	committed     []uint64
	committedTerm []uint64
	// committedIn[i] is the term of the member that first reported index
	// i committed: the term of the leader that committed it. Commits
	// happen in term order (a majority that acknowledged a term-T' leader
	// never acknowledges an older term's), so it never decreases with i.
	committedIn []uint64
	// applied[i] hashes the entry (term, type, data) first applied at i,
	// and ents[i] is that entry (the snapshot checker replays them).
	applied []uint64
	ents    []raft.Entry
	// leaderConf[term] is the voters of term's leader: when it was
	// elected, then as it applied membership changes.
	leaderConf map[uint64][]uint64
	// removed[id] is member id's removal, once committed (applied by some
	// member): it is out of the cluster for good.
	removed map[uint64]removal
	// voters follows the committed membership changes from the initial
	// members, in log order: the voters after the last one applied.
	voters []uint64
}

func newChecker(s *Sim) *checker {
	return &checker{s: s, leaders: map[uint64]uint64{}, committed: []uint64{0}, committedTerm: []uint64{0}, committedIn: []uint64{0}, applied: []uint64{0},
		ents: []raft.Entry{{}}, leaderConf: map[uint64][]uint64{}, removed: map[uint64]removal{}, voters: slices.Clone(s.ids)}
}

func (c *checker) fail(check, format string, args ...any) {
	c.s.fail(ClassSafety, check, fmt.Sprintf(format, args...))
}

func entryHash(e raft.Entry) uint64 {
	h := fnv.New64a()
	var b [9]byte
	binary.LittleEndian.PutUint64(b[:8], e.Term)
	b[8] = byte(e.Type)
	h.Write(b[:])
	h.Write(e.Data)
	return h.Sum64()
}

func chainHash(prev uint64, e raft.Entry) uint64 {
	return prev*0x100000001b3 ^ entryHash(e) ^ e.Index
}

// onStart rebuilds the view of a member that just opened its disk, and
// checks that nothing durable was lost in a crash: the term never goes
// back, the vote of the term is kept, and the log still holds every entry
// the member knew committed ("committed entries are never lost").
func (c *checker) onStart(m *member) {
	st := m.node.Storage()
	hs, _, err := st.InitialState()
	if err != nil {
		c.s.fail(ClassCrash, "restart", fmt.Sprintf("member %d: %v", m.id, err))
		return
	}
	v := &m.view
	pre, crashed := v.preCrash, v.crashedOnce
	*v = memberView{role: raft.StateFollower, term: hs.Term, vote: hs.Vote, commit: hs.Commit,
		preCrash: pre, crashedOnce: crashed}
	snap, err := st.Snapshot()
	if err != nil {
		c.s.fail(ClassCrash, "restart", fmt.Sprintf("member %d: %v", m.id, err))
		return
	}
	if !c.reset(v, snap.Metadata.Index, snap.Metadata.Term) {
		c.fail("committed entries never lost", "member %d restarted from snapshot %d, beyond anything committed", m.id, snap.Metadata.Index)
		return
	}
	first, _ := st.FirstIndex()
	last, _ := st.LastIndex()
	if first != v.base+1 {
		c.s.fail(ClassCrash, "restart", fmt.Sprintf("member %d: log starts at %d after snapshot %d", m.id, first, v.base))
		return
	}
	if last >= first {
		ents, err := st.Entries(first, last+1, 1<<62)
		if err != nil {
			c.s.fail(ClassCrash, "restart", fmt.Sprintf("member %d: reading log: %v", m.id, err))
			return
		}
		for _, e := range ents {
			v.appendEntry(e)
		}
	}
	if hs.Commit > v.lastIndex() {
		c.fail("committed entries never lost", "member %d restarted with commit index %d beyond its log (last index %d)", m.id, hs.Commit, v.lastIndex())
		return
	}
	if hi := min(hs.Commit, uint64(len(c.committed)-1)); hi > v.base && v.chainAt(hi) != c.committed[hi] {
		c.fail("committed entries never change", "member %d restarted with a log that differs from the committed one at or below %d", m.id, hi)
		return
	}
	// Raft reapplies from the snapshot on.
	v.applied = v.base
	if !crashed {
		return
	}
	p := pre
	switch {
	case hs.Term < p.term:
		c.fail("durability", "member %d restarted in term %d, it had reached term %d before its crash", m.id, hs.Term, p.term)
	case hs.Term == p.term && p.vote != 0 && hs.Vote != p.vote:
		c.fail("durability", "member %d restarted with vote %d in term %d, it had voted for %d", m.id, hs.Vote, hs.Term, p.vote)
	case v.lastIndex() < p.commit:
		c.fail("committed entries never lost", "member %d restarted with log up to %d, it knew %d committed before its crash", m.id, v.lastIndex(), p.commit)
	case p.commit > v.base && v.chainAt(p.commit) != p.chainAtCommit:
		c.fail("committed entries never lost", "member %d restarted with a log that differs at or below its pre-crash commit index %d", m.id, p.commit)
	}
}

func (c *checker) onCrash(m *member) {
	v := &m.view
	v.crashedOnce = true
	v.preCrash = memberDurable{term: v.term, vote: v.vote, commit: v.commit}
	if v.has(v.commit) {
		v.preCrash.chainAtCommit = v.chainAt(v.commit)
	}
	v.role, v.lead = raft.StateFollower, 0
}

// onReady updates the view of m from a Ready it is about to handle (the
// Ready is handled in full within the same event) and checks it.
func (c *checker) onReady(m *member, rd raft.Ready) {
	s := c.s
	v := &m.view
	if m.ticking && (rd.SoftState != nil && rd.SoftState.RaftState != v.role &&
		(rd.SoftState.RaftState == raft.StateCandidate || rd.SoftState.RaftState == raft.StatePreCandidate) ||
		campaigns(rd.Messages)) {
		// A (pre-)candidate that times out again campaigns without a
		// change of role: its vote requests show it.
		s.trace(TraceEvent{Type: "timeout", ID: m.id, Term: max(v.term, rd.HardState.Term)})
	}
	if !rd.HardState.IsEmpty() {
		if rd.HardState.Term != v.term || rd.HardState.Vote != v.vote {
			s.trace(TraceEvent{Type: "term", ID: m.id, Term: rd.HardState.Term, Vote: rd.HardState.Vote})
		}
		v.term, v.vote = rd.HardState.Term, rd.HardState.Vote
	}
	if !rd.Snapshot.IsEmpty() {
		s.snaps.checkInstall(m, rd.Snapshot)
		c.installSnapshot(m, rd.Snapshot.Metadata)
	}
	if len(rd.Entries) > 0 {
		c.append(m, rd.Entries)
	}
	if rd.SoftState != nil {
		if rd.SoftState.RaftState != v.role || rd.SoftState.Lead != v.lead {
			s.trace(TraceEvent{Type: "role", ID: m.id, Role: roleName(rd.SoftState.RaftState), Term: v.term, Lead: rd.SoftState.Lead})
		}
		becameLeader := rd.SoftState.RaftState == raft.StateLeader && v.role != raft.StateLeader
		v.role, v.lead = rd.SoftState.RaftState, rd.SoftState.Lead
		if becameLeader {
			c.newLeader(m)
			s.onNewLeader(m)
		}
	}
	if !rd.HardState.IsEmpty() && rd.HardState.Commit > v.commit {
		c.commit(m, rd.HardState.Commit)
	}
	if n := len(rd.CommittedEntries); n > 0 {
		c.apply(m, rd.CommittedEntries)
	}
}

// termRuns describes entries as runs of [first index, count, term].
func termRuns(ents []raft.Entry) [][3]uint64 {
	var runs [][3]uint64
	for _, e := range ents {
		runs = addRun(runs, e.Index, e.Term)
	}
	return runs
}

// addRun adds the entry at index, of term, to runs of [first index, count,
// term] that end just below it.
func addRun(runs [][3]uint64, index, term uint64) [][3]uint64 {
	if n := len(runs); n > 0 && runs[n-1][2] == term {
		runs[n-1][1]++
		return runs
	}
	return append(runs, [3]uint64{index, 1, term})
}

func campaigns(msgs []raft.Message) bool {
	for _, m := range msgs {
		if m.Type == raft.MsgVote || m.Type == raft.MsgPreVote {
			return true
		}
	}
	return false
}

func roleName(r raft.StateType) string {
	switch r {
	case raft.StateFollower:
		return "follower"
	case raft.StatePreCandidate:
		return "precandidate"
	case raft.StateCandidate:
		return "candidate"
	case raft.StateLeader:
		return "leader"
	}
	return r.String()
}

// installSnapshot replaces the view's log with a snapshot from the leader.
// A snapshot holds applied, hence committed, entries only.
func (c *checker) installSnapshot(m *member, md raft.SnapshotMetadata) {
	v := &m.view
	c.s.trace(TraceEvent{Type: "snapshot", ID: m.id, Index: md.Index, Term: md.Term})
	if md.Index < uint64(len(c.committed)) && md.Term != c.committedTerm[md.Index] {
		c.fail("committed entries never change", "member %d installs a snapshot at %d of term %d, the entry committed there has term %d",
			m.id, md.Index, md.Term, c.committedTerm[md.Index])
		return
	}
	if !c.reset(v, md.Index, md.Term) {
		c.fail("committed entries never lost", "member %d installs snapshot %d, beyond anything committed", m.id, md.Index)
		return
	}
	v.commit = max(v.commit, md.Index)
	v.applied = md.Index
}

// newLeader checks Election Safety (at most one leader per term) and
// Leader Completeness (a leader's log holds every entry committed in an
// earlier term: the chain hash at the highest such index matches).
func (c *checker) newLeader(m *member) {
	v := &m.view
	if other, ok := c.leaders[v.term]; ok && other != m.id {
		c.fail("election safety", "members %d and %d both lead term %d", other, m.id, v.term)
		return
	}
	c.leaders[v.term] = m.id
	c.configSafety(m)
	// Leader completeness is about higher terms: a candidate whose votes
	// reached it late (it was paused) may lead an old term after a newer
	// term's leader committed entries it lacks; those it need not hold.
	hi := uint64(len(c.committed) - 1)
	for hi > 0 && c.committedIn[hi] >= v.term {
		hi--
	}
	if hi == 0 {
		return
	}
	if hi <= v.base {
		return // its snapshot covers every committed entry; checked when installed
	}
	if v.lastIndex() < hi || v.chainAt(hi) != c.committed[hi] {
		// Find the first committed entry it lacks, for the report.
		i := v.base + 1
		for i <= hi && i <= v.lastIndex() && v.chainAt(i) == c.committed[i] {
			i++
		}
		var got uint64
		if v.has(i) {
			got = v.termAt(i)
		}
		c.fail("leader completeness", "member %d leads term %d without committed entry %d (term %d); its log has term %d there (last index %d)",
			m.id, v.term, i, c.committedTerm[i], got, v.lastIndex())
	}
}

// append applies a Ready's entries to the view: they replace everything
// from their first index on.
func (c *checker) append(m *member, ents []raft.Entry) {
	v := &m.view
	first := ents[0].Index
	if first <= v.base || first > v.lastIndex()+1 {
		c.fail("log", "member %d appends at %d with its log ending at %d", m.id, first, v.lastIndex())
		return
	}
	if first <= v.lastIndex() {
		lost := v.lastIndex() - first + 1
		c.s.trace(TraceEvent{Type: "truncate", ID: m.id, Index: first, Count: int(lost)})
		if first <= v.commit {
			c.fail("committed entries never lost", "member %d truncates its log at %d below its commit index %d", m.id, first, v.commit)
			return
		}
		v.terms, v.chain = v.terms[:first-v.base], v.chain[:first-v.base]
		v.confs = slices.DeleteFunc(v.confs, func(i uint64) bool { return i >= first })
	}
	for _, e := range ents {
		if e.Type == raft.EntryConfChange && v.role == raft.StateLeader && e.Term == v.term {
			c.oneChangeAtATime(m, e.Index)
		}
		v.appendEntry(e)
	}
	if c.s.tr != nil {
		e := TraceEvent{Type: "append", ID: m.id, Index: first, Count: len(ents), Term: ents[len(ents)-1].Term}
		if ents[0].Term != e.Term {
			e.Log = termRuns(ents)
		}
		c.s.trace(e)
	}
	// Log Matching: two logs with an entry of the same index and term are
	// identical up to it. The chain hash covers the whole prefix.
	for _, o := range c.s.members {
		if o == m || o.node == nil {
			continue
		}
		ov := &o.view
		hi := min(ov.lastIndex(), v.lastIndex())
		for i := max(first, ov.base+1); i <= hi; i++ {
			if ov.termAt(i) == v.termAt(i) && ov.chainAt(i) != v.chainAt(i) {
				c.fail("log matching", "members %d and %d both hold an entry of term %d at index %d, but their logs differ up to it",
					m.id, o.id, v.termAt(i), i)
				return
			}
		}
	}
}

// commit records that m knows entries up to index committed and checks
// that they are the entries committed there before (committed entries
// never change).
func (c *checker) commit(m *member, index uint64) {
	v := &m.view
	if index > v.lastIndex() {
		c.fail("commit", "member %d commits %d beyond its last index %d", m.id, index, v.lastIndex())
		return
	}
	for i := max(v.commit, v.base) + 1; i <= index; i++ {
		if i < uint64(len(c.committed)) {
			if c.committed[i] != v.chainAt(i) {
				c.fail("committed entries never change", "member %d commits index %d (term %d) with a log that differs from the one committed there before (term %d)",
					m.id, i, v.termAt(i), c.committedTerm[i])
				return
			}
			continue
		}
		c.committed = append(c.committed, v.chainAt(i))
		c.committedTerm = append(c.committedTerm, v.termAt(i))
		c.committedIn = append(c.committedIn, v.term)
	}
	if v.role == raft.StateLeader {
		c.votersHold(m, index)
	}
	c.s.trace(TraceEvent{Type: "commit", ID: m.id, Index: index})
	v.commit = index
}

// apply checks State Machine Safety: every member applies the same entry at
// each index, in order.
func (c *checker) apply(m *member, ents []raft.Entry) {
	v := &m.view
	for _, e := range ents {
		if e.Index != v.applied+1 {
			c.fail("state machine safety", "member %d applies index %d after %d", m.id, e.Index, v.applied)
			return
		}
		h := entryHash(e)
		if e.Index < uint64(len(c.applied)) {
			if c.applied[e.Index] != h {
				c.fail("state machine safety", "member %d applies a different entry (term %d) at index %d than another member did", m.id, e.Term, e.Index)
				return
			}
		} else {
			c.applied = append(c.applied, h)
			c.ents = append(c.ents, e)
			if e.Type == raft.EntryConfChange {
				c.confCommitted(e)
			}
		}
		v.applied = e.Index
	}
	c.s.trace(TraceEvent{Type: "apply", ID: m.id, Index: ents[0].Index, Count: len(ents)})
}

// configSafety checks a new leader's membership (thesis §4.1): it is a
// voter of its own configuration, and that configuration differs from the
// one the previous leader last had by at most one voter. Two
// configurations that differ by one voter have overlapping majorities, so
// across the whole membership history no two disjoint majorities can both
// elect or commit; with one leader per term (election safety) this is what
// single-server changes promise.
func (c *checker) configSafety(m *member) {
	v := &m.view
	voters := m.node.ConfState().Voters
	c.leaderConf[v.term] = voters
	if !slices.Contains(voters, m.id) {
		c.fail("configuration safety", "member %d leads term %d but is not a voter of its configuration %v", m.id, v.term, voters)
		return
	}
	prev, prevTerm := []uint64(nil), uint64(0)
	for t, vs := range c.leaderConf { // the highest earlier term: order does not leak
		if t < v.term && t > prevTerm {
			prev, prevTerm = vs, t
		}
	}
	if prevTerm == 0 {
		return
	}
	if d := votersDiff(prev, voters); d > 1 {
		c.fail("configuration safety", "member %d leads term %d with voters %v; the leader of term %d (member %d) last had %v: %d voters apart, so their majorities may be disjoint",
			m.id, v.term, voters, prevTerm, c.leaders[prevTerm], prev, d)
	}
}

// votersDiff is the size of the symmetric difference of two sorted sets.
func votersDiff(a, b []uint64) int {
	d := 0
	for _, x := range a {
		if !slices.Contains(b, x) {
			d++
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			d++
		}
	}
	return d
}

// noteLeaderConf records the voters of a member that leads, after it
// handled its work (it may have applied a membership change).
func (c *checker) noteLeaderConf(m *member) {
	if m.up && m.view.role == raft.StateLeader && c.leaders[m.view.term] == m.id {
		c.leaderConf[m.view.term] = m.node.ConfState().Voters
	}
}

// votersHold checks that a leader's new commit index rests on a majority
// of its voters: members that only learn the log (learners, members being
// removed or already removed) never count toward a quorum. Each member's
// view is its persisted log, and a voter acknowledges an entry only once
// it is persisted, so a majority of the leader's voters must hold the
// entry committed at index, identical up to it (same chain hash).
func (c *checker) votersHold(m *member, index uint64) {
	voters := m.node.ConfState().Voters
	want := m.view.chainAt(index)
	var hold []uint64
	for _, id := range voters {
		ov := &c.s.member(id).view
		if id == m.id || (ov.has(index) && index > ov.base && ov.chainAt(index) == want) || (index <= ov.base && ov.base > 0) {
			hold = append(hold, id)
		}
	}
	if len(hold) < quorum.Majority(len(voters)) {
		c.fail("quorum of voters", "member %d, leading term %d, commits index %d held by voters %v only, not by a majority of its voters %v",
			m.id, m.view.term, index, hold, voters)
	}
}

// confCommitted follows the cluster's membership as changes commit: a
// member whose removal is committed is out for good and will be stopped.
func (c *checker) confCommitted(e raft.Entry) {
	cc, err := raft.UnmarshalConfChange(e.Data)
	if err != nil {
		return // the member applying it reports the corrupt entry
	}
	c.s.res.ConfChanges++
	wasVoter, before := slices.Contains(c.voters, cc.NodeID), len(c.voters)
	switch cc.Type {
	case raft.ConfChangeAddVoter:
		if !wasVoter {
			c.voters = append(c.voters, cc.NodeID)
			slices.Sort(c.voters)
		}
	case raft.ConfChangeRemove:
		c.voters = slices.DeleteFunc(c.voters, func(id uint64) bool { return id == cc.NodeID })
	}
	if _, ok := c.removed[cc.NodeID]; cc.Type == raft.ConfChangeRemove && !ok && int(cc.NodeID) <= len(c.s.members) {
		// The others can do without it once they refuse it only if it was
		// a learner, or the voters it left were enough for a majority of
		// the voters before (a member that has not applied the removal
		// counts those).
		c.removed[cc.NodeID] = removal{index: e.Index, stopOnRefusal: !wasVoter || before >= 3}
		c.s.onRemoved(c.s.member(cc.NodeID), e.Index)
	}
}

// removal is a committed removal of a member.
type removal struct {
	index uint64
	// stopOnRefusal: the member may stop as soon as a member that applied
	// its removal refuses its messages (as an etcd member does).
	stopOnRefusal bool
}

// oneChangeAtATime checks that a leader appends a membership change only
// when every change before it in its log is applied (thesis §4.1: with one
// change in flight, consecutive configurations differ by one member), and
// only after it has committed an entry of its own term (the fix for the
// single-server change bug, raft-dev 2015).
func (c *checker) oneChangeAtATime(m *member, index uint64) {
	v := &m.view
	if n := len(v.confs); n > 0 && v.confs[n-1] > v.applied {
		c.fail("configuration safety", "member %d, leading term %d, appends a membership change at index %d while the one at %d is not applied (applied %d)",
			m.id, v.term, index, v.confs[n-1], v.applied)
		return
	}
	if !v.has(v.commit) || v.termAt(v.commit) != v.term {
		c.fail("configuration safety", "member %d, leading term %d, appends a membership change at index %d before committing an entry of its term (commit %d)",
			m.id, v.term, index, v.commit)
	}
}
