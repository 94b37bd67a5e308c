package raft

// Tests of the rules of Figure 2 of the Raft paper ("In Search of an
// Understandable Consensus Algorithm", Ongaro and Ousterhout, 2014), one
// group per section. Each test names the rule it checks.

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func newTestRaft(t testing.TB, id uint64, peers []uint64, storage *MemoryStorage, configure ...func(*Config)) *raft {
	t.Helper()
	c := &Config{
		ID: id, Peers: peers, ElectionTick: 10, HeartbeatTick: 1,
		Storage: storage, Rand: rand.New(rand.NewPCG(1, id)),
		DisablePreVote: true, DisableCheckQuorum: true,
	}
	for _, f := range configure {
		f(c)
	}
	r, err := newRaft(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// storageWith returns a MemoryStorage holding entries with the given terms
// at indexes 1, 2, ...
func storageWith(terms ...uint64) *MemoryStorage {
	s := NewMemoryStorage()
	var ents []Entry
	for i, term := range terms {
		ents = append(ents, Entry{Index: uint64(i + 1), Term: term})
	}
	if err := s.Append(ents); err != nil {
		panic(err)
	}
	return s
}

func takeMsgs(r *raft) []Message {
	m := r.msgs
	r.msgs = nil
	return m
}

// §5.1: "If one server's current term is smaller than the other's, then it
// updates its current term to the larger value. If a candidate or leader
// discovers that its term is out of date, it immediately reverts to
// follower state."
func TestPaperUpdateTermFromMessage(t *testing.T) {
	for _, role := range []StateType{StateFollower, StateCandidate, StateLeader} {
		r := newTestRaft(t, 1, []uint64{1, 2, 3}, NewMemoryStorage())
		switch role {
		case StateCandidate:
			r.becomeCandidate()
		case StateLeader:
			r.becomeCandidate()
			r.becomeLeader()
		}
		if err := r.Step(Message{Type: MsgApp, From: 2, To: 1, Term: 2}); err != nil {
			t.Fatal(err)
		}
		if r.Term != 2 || r.state != StateFollower || r.lead != 2 {
			t.Errorf("%v: term=%d state=%v lead=%d, want term 2 follower of 2", role, r.Term, r.state, r.lead)
		}
	}
}

// §5.1: "If a server receives a request with a stale term number, it
// rejects the request." A stale append is answered with the newer term.
func TestPaperRejectStaleTermMessage(t *testing.T) {
	r := newTestRaft(t, 1, []uint64{1, 2, 3}, NewMemoryStorage())
	r.loadState(HardState{Term: 2})
	if err := r.Step(Message{Type: MsgApp, From: 2, To: 1, Term: 1, Entries: []Entry{{Index: 1, Term: 1}}}); err != nil {
		t.Fatal(err)
	}
	if r.log.lastIndex() != 0 {
		t.Fatal("stale append was accepted")
	}
	msgs := takeMsgs(r)
	if len(msgs) != 1 || msgs[0].Type != MsgAppResp || msgs[0].Term != 2 || !msgs[0].Reject {
		t.Fatalf("want a rejection at term 2, got %v", msgs)
	}
}

// §5.2: "When servers start up, they begin as followers."
func TestPaperStartAsFollower(t *testing.T) {
	r := newTestRaft(t, 1, []uint64{1, 2, 3}, NewMemoryStorage())
	if r.state != StateFollower {
		t.Fatalf("state = %v", r.state)
	}
}

// §5.2: "Leaders send periodic heartbeats (AppendEntries RPCs that carry no
// log entries) to all followers in order to maintain their authority."
func TestPaperLeaderBroadcastsHeartbeats(t *testing.T) {
	r := newTestRaft(t, 1, []uint64{1, 2, 3}, NewMemoryStorage())
	r.becomeCandidate()
	r.becomeLeader()
	takeMsgs(r)
	r.tick()
	msgs := takeMsgs(r)
	var got []uint64
	for _, m := range msgs {
		if m.Type != MsgHeartbeat || len(m.Entries) != 0 {
			t.Fatalf("unexpected %v", m)
		}
		got = append(got, m.To)
	}
	if !slices.Equal(got, []uint64{2, 3}) {
		t.Fatalf("heartbeats to %v, want [2 3]", got)
	}
}

// §5.2: "To begin an election, a follower increments its current term and
// transitions to candidate state. It then votes for itself and issues
// RequestVote RPCs in parallel to each of the other servers."
func TestPaperStartElection(t *testing.T) {
	for _, role := range []StateType{StateFollower, StateCandidate} {
		r := newTestRaft(t, 1, []uint64{1, 2, 3}, NewMemoryStorage())
		if role == StateCandidate {
			r.becomeCandidate()
		}
		term := r.Term
		for range 2 * r.electionTimeout {
			r.tick()
		}
		if r.Term <= term || r.state != StateCandidate || r.Vote != 1 {
			t.Fatalf("%v: term %d->%d state=%v vote=%d", role, term, r.Term, r.state, r.Vote)
		}
		var to []uint64
		for _, m := range takeMsgs(r) {
			if m.Type == MsgVote && m.Term == r.Term {
				to = append(to, m.To)
			}
		}
		slices.Sort(to)
		to = slices.Compact(to)
		if !slices.Equal(to, []uint64{2, 3}) {
			t.Fatalf("%v: vote requests to %v", role, to)
		}
	}
}

// §5.2: "A candidate wins an election if it receives votes from a majority
// of the servers in the full cluster for the same term."
func TestPaperElectionOutcomeInOneRound(t *testing.T) {
	cases := []struct {
		size  int
		votes map[uint64]bool
		want  StateType
	}{
		{1, map[uint64]bool{}, StateLeader},
		{3, map[uint64]bool{2: true, 3: true}, StateLeader},
		{3, map[uint64]bool{2: true}, StateLeader},
		{5, map[uint64]bool{2: true, 3: true}, StateLeader},
		{5, map[uint64]bool{2: true}, StateCandidate},
		{5, map[uint64]bool{2: false, 3: false}, StateCandidate},
		{3, map[uint64]bool{2: false, 3: false}, StateFollower},
		{5, map[uint64]bool{2: false, 3: false, 4: false}, StateFollower},
	}
	for i, c := range cases {
		var peers []uint64
		for id := 1; id <= c.size; id++ {
			peers = append(peers, uint64(id))
		}
		r := newTestRaft(t, 1, peers, NewMemoryStorage())
		r.hup(campaignElection)
		for _, id := range peers[1:] {
			if granted, ok := c.votes[id]; ok {
				_ = r.Step(Message{Type: MsgVoteResp, From: id, To: 1, Term: r.Term, Reject: !granted})
			}
		}
		if r.state != c.want {
			t.Errorf("#%d: state = %v, want %v", i, r.state, c.want)
		}
	}
}

// §5.2: "Each server will vote for at most one candidate in a given term, on
// a first-come-first-served basis."
func TestPaperVoteOncePerTerm(t *testing.T) {
	r := newTestRaft(t, 1, []uint64{1, 2, 3}, NewMemoryStorage())
	_ = r.Step(Message{Type: MsgVote, From: 2, To: 1, Term: 1})
	_ = r.Step(Message{Type: MsgVote, From: 3, To: 1, Term: 1})
	_ = r.Step(Message{Type: MsgVote, From: 2, To: 1, Term: 1}) // a retry is granted again
	msgs := takeMsgs(r)
	want := []bool{false, true, false} // rejected flags
	for i, m := range msgs {
		if m.Reject != want[i] {
			t.Fatalf("response %d: %v, want reject=%v", i, m, want[i])
		}
	}
	if r.Vote != 2 {
		t.Fatalf("vote = %d", r.Vote)
	}
}

// The planted DoubleVote bug must actually break the rule above, or the
// simulator's proof that it catches the bug proves nothing.
func TestPlantedDoubleVoteGrantsTwice(t *testing.T) {
	r := newTestRaft(t, 1, []uint64{1, 2, 3}, NewMemoryStorage(), func(c *Config) { c.bugs.DoubleVote = true })
	_ = r.Step(Message{Type: MsgVote, From: 2, To: 1, Term: 1})
	_ = r.Step(Message{Type: MsgVote, From: 3, To: 1, Term: 1})
	for _, m := range takeMsgs(r) {
		if m.Reject {
			t.Fatalf("planted bug did not grant: %v", m)
		}
	}
}

// §5.2: "While waiting for votes, a candidate may receive an AppendEntries
// RPC from another server claiming to be leader. If the leader's term is at
// least as large as the candidate's current term, then the candidate
// recognizes the leader as legitimate and returns to follower state."
func TestPaperCandidateFallback(t *testing.T) {
	for _, term := range []uint64{1, 2} {
		r := newTestRaft(t, 1, []uint64{1, 2, 3}, NewMemoryStorage())
		r.hup(campaignElection) // term 1
		_ = r.Step(Message{Type: MsgApp, From: 2, To: 1, Term: term})
		if r.state != StateFollower || r.Term != term || r.lead != 2 {
			t.Errorf("term %d: state=%v term=%d lead=%d", term, r.state, r.Term, r.lead)
		}
	}
}

// §5.2: "Raft uses randomized election timeouts ... chosen randomly from a
// fixed interval." Here [T, 2T), and every value of it is drawn.
func TestPaperElectionTimeoutRandomized(t *testing.T) {
	r := newTestRaft(t, 1, []uint64{1, 2, 3}, NewMemoryStorage())
	seen := map[int]bool{}
	for range 1000 {
		r.becomeFollower(r.Term+1, None)
		d := r.randomizedElectionTimeout
		if d < r.electionTimeout || d >= 2*r.electionTimeout {
			t.Fatalf("timeout %d outside [%d, %d)", d, r.electionTimeout, 2*r.electionTimeout)
		}
		seen[d] = true
	}
	if len(seen) != r.electionTimeout {
		t.Fatalf("only %d distinct timeouts drawn", len(seen))
	}
}

// §5.3: "The leader appends the command to its log as a new entry, then
// issues AppendEntries RPCs in parallel to each of the other servers."
// §5.3: "A log entry is committed once the leader that created the entry
// has replicated it on a majority of the servers."
func TestPaperLeaderReplicatesAndCommits(t *testing.T) {
	s := NewMemoryStorage()
	r := newTestRaft(t, 1, []uint64{1, 2, 3}, s)
	r.becomeCandidate()
	r.becomeLeader()
	// Followers acknowledge the no-op; the leader moves them to Replicate.
	for _, id := range []uint64{2, 3} {
		_ = r.Step(Message{Type: MsgAppResp, From: id, To: 1, Term: r.Term, Index: 1})
	}
	takeMsgs(r)
	if err := r.propose([]Entry{{Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	r.flushAppends()
	msgs := takeMsgs(r)
	if len(msgs) != 2 {
		t.Fatalf("want 2 appends, got %v", msgs)
	}
	for _, m := range msgs {
		if m.Type != MsgApp || m.Index != 1 || m.LogTerm != 1 || len(m.Entries) != 1 || string(m.Entries[0].Data) != "x" {
			t.Fatalf("bad append %v", m)
		}
	}
	if r.log.committed != 1 {
		t.Fatalf("committed before replication: %d", r.log.committed)
	}
	_ = r.Step(Message{Type: MsgAppResp, From: 2, To: 1, Term: r.Term, Index: 2})
	if r.log.committed != 2 {
		t.Fatalf("committed = %d after a majority acknowledged", r.log.committed)
	}
}

// §5.4.2: "Raft never commits log entries from previous terms by counting
// replicas. Only log entries from the leader's current term are committed
// by counting replicas." (Figure 8.)
func TestPaperLeaderOnlyCommitsCurrentTermByCounting(t *testing.T) {
	for _, bug := range []bool{false, true} {
		s := storageWith(1, 1) // two entries of term 1, uncommitted
		r := newTestRaft(t, 1, []uint64{1, 2, 3}, s, func(c *Config) { c.bugs.CommitOldTerm = bug })
		r.loadState(HardState{Term: 2})
		r.becomeCandidate() // term 3
		r.becomeLeader()    // no-op at index 3, term 3
		// A follower acknowledges the old entries only.
		_ = r.Step(Message{Type: MsgAppResp, From: 2, To: 1, Term: r.Term, Index: 2})
		if want := map[bool]uint64{false: 0, true: 2}[bug]; r.log.committed != want {
			t.Fatalf("bug=%v: committed = %d, want %d", bug, r.log.committed, want)
		}
		// Once the current-term no-op is replicated, everything before it
		// commits too.
		_ = r.Step(Message{Type: MsgAppResp, From: 2, To: 1, Term: r.Term, Index: 3})
		if r.log.committed != 3 {
			t.Fatalf("bug=%v: committed = %d, want 3", bug, r.log.committed)
		}
	}
}

// §5.3: "If a follower does not find an entry in its log with the same index
// and term [as prevLogIndex, prevLogTerm], then it refuses the new entries."
func TestPaperFollowerChecksPrevEntry(t *testing.T) {
	cases := []struct {
		index, logTerm uint64
		reject         bool
	}{
		{0, 0, false}, {2, 2, false}, {1, 1, false},
		{2, 1, true}, {3, 2, true},
	}
	for i, c := range cases {
		r := newTestRaft(t, 1, []uint64{1, 2, 3}, storageWith(1, 2))
		r.loadState(HardState{Term: 2, Commit: 1})
		r.becomeFollower(2, 2)
		_ = r.Step(Message{Type: MsgApp, From: 2, To: 1, Term: 2, Index: c.index, LogTerm: c.logTerm})
		msgs := takeMsgs(r)
		if len(msgs) != 1 || msgs[0].Reject != c.reject {
			t.Errorf("#%d: got %v, want reject=%v", i, msgs, c.reject)
		}
	}
}

// §5.3: "If an existing entry conflicts with a new one (same index but
// different terms), delete the existing entry and all that follow it; append
// any new entries not already in the log."
func TestPaperFollowerAppendTruncatesConflicts(t *testing.T) {
	r := newTestRaft(t, 1, []uint64{1, 2, 3}, storageWith(1, 2, 2))
	r.loadState(HardState{Term: 3})
	r.becomeFollower(3, 2)
	_ = r.Step(Message{Type: MsgApp, From: 2, To: 1, Term: 3, Index: 1, LogTerm: 1,
		Entries: []Entry{{Index: 2, Term: 3}}})
	if r.log.lastIndex() != 2 {
		t.Fatalf("lastIndex = %d, want 2 (entry 3 deleted)", r.log.lastIndex())
	}
	if term, _ := r.log.term(2); term != 3 {
		t.Fatalf("term of 2 = %d, want 3", term)
	}
	// A retransmission of entries already held changes nothing.
	_ = r.Step(Message{Type: MsgApp, From: 2, To: 1, Term: 3, Index: 0, LogTerm: 0,
		Entries: []Entry{{Index: 1, Term: 1}}})
	if r.log.lastIndex() != 2 {
		t.Fatalf("an old retransmission truncated the log: lastIndex %d", r.log.lastIndex())
	}
}

// §5.4.1: "the voter denies its vote if its own log is more up-to-date than
// that of the candidate ... If the logs have last entries with different
// terms, then the log with the later term is more up-to-date. If the logs
// end with the same term, then whichever log is longer is more up-to-date."
func TestPaperVoterChecksUpToDate(t *testing.T) {
	cases := []struct {
		index, logTerm uint64
		grant          bool
	}{
		{2, 2, true}, {3, 2, true}, {1, 3, true},
		{1, 2, false}, {5, 1, false},
	}
	for _, bug := range []bool{false, true} {
		for i, c := range cases {
			r := newTestRaft(t, 1, []uint64{1, 2, 3}, storageWith(1, 2), func(cfg *Config) { cfg.bugs.SkipUpToDateCheck = bug })
			r.loadState(HardState{Term: 2})
			_ = r.Step(Message{Type: MsgVote, From: 2, To: 1, Term: 3, Index: c.index, LogTerm: c.logTerm})
			msgs := takeMsgs(r)
			want := c.grant || bug
			if len(msgs) != 1 || msgs[0].Reject == want {
				t.Errorf("bug=%v #%d: got %v, want grant=%v", bug, i, msgs, want)
			}
		}
	}
}

// Figure 2, "Persistent state on all servers ... updated on stable storage
// before responding to RPCs": the Ready carrying a vote response also
// carries the vote in its HardState and asks for a sync.
func TestPaperVotePersistedBeforeResponse(t *testing.T) {
	s := NewMemoryStorage()
	rn, err := NewRawNode(&Config{ID: 1, Peers: []uint64{1, 2, 3}, ElectionTick: 10, HeartbeatTick: 1,
		Storage: s, Rand: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	if err := rn.Step(Message{Type: MsgVote, From: 2, To: 1, Term: 1}); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready()
	if len(rd.Messages) != 1 || rd.Messages[0].Reject {
		t.Fatalf("want one grant, got %v", rd.Messages)
	}
	if rd.HardState.Vote != 2 || rd.HardState.Term != 1 || !rd.MustSync {
		t.Fatalf("vote not persisted with its response: %+v mustSync=%v", rd.HardState, rd.MustSync)
	}
}
