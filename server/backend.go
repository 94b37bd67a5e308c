package server

import (
	"context"
	"slices"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/server/node"
)

// Backend is everything the client API (http.go) needs from a member: the
// narrow waist between HTTP and the member's loop. Member implements it;
// the HTTP layer touches nothing else of the member, so it can be read,
// tested and changed on its own.
type Backend interface {
	// Propose runs cmd through the log from this member (forwarded to the
	// leader if this member does not lead). The answer comes once this
	// member has applied the entry too, so a client reads its own write
	// here. An error means the outcome is unknown (no leader, timeout,
	// stopping); the store's refusal is in Result.Err.
	Propose(ctx context.Context, cmd *kv.Command) (node.Result, error)
	// ChangeMembership runs a single-server membership change through the
	// log, like Propose.
	ChangeMembership(ctx context.Context, cc raft.ConfChange) error
	// ReadIndex waits for a linearizable read point (raft's ReadIndex): once
	// it returns nil, a read of Store is linearizable.
	ReadIndex(ctx context.Context) error
	// Store is the member's key space, for reads and watches (writes go
	// through Propose).
	Store() *kv.Store
	// Status is the member's identity and its position in the cluster.
	Status() Status
	// Members is the membership, every voter and learner with what the
	// member records say about it, sorted by id.
	Members() []MemberInfo
	// SelfStats and LeaderStats are /v2/stats/self and /v2/stats/leader;
	// LeaderStats reports false on a member that does not lead.
	SelfStats() SelfStats
	LeaderStats() (LeaderStats, bool)
	// Stopping is closed when the member begins to stop: open watches end,
	// so the HTTP servers can shut down without waiting for them.
	Stopping() <-chan struct{}
}

// Status is a member's identity and its position in the cluster at one
// moment.
type Status struct {
	ID, ClusterID uint64
	// Token is the cluster token, which salts the ids of added members.
	Token string
	State raft.StateType
	// Lead is the leader this member knows (raft.None if none).
	Lead, Term      uint64
	Commit, Applied uint64
	// Voters and Learners are shared: callers must not modify them.
	Voters, Learners []uint64
}

// SelfStats is /v2/stats/self. The fields are in the order of their JSON
// names, as v2 (which encoded a map) writes them.
type SelfStats struct {
	ID                   string            `json:"id"`
	LeaderInfo           map[string]string `json:"leaderInfo"`
	Name                 string            `json:"name"`
	RaftApplied          uint64            `json:"raftApplied"`
	RaftIndex            uint64            `json:"raftIndex"`
	RaftTerm             uint64            `json:"raftTerm"`
	RecvAppendRequestCnt uint64            `json:"recvAppendRequestCnt"`
	SendAppendRequestCnt uint64            `json:"sendAppendRequestCnt"`
	StartTime            string            `json:"startTime"`
	State                string            `json:"state"`
}

// LeaderStats is /v2/stats/leader: the leader's view of each follower.
type LeaderStats struct {
	Followers map[string]FollowerStats `json:"followers"`
	Leader    string                   `json:"leader"`
}

// Propose implements Backend.
func (m *Member) Propose(ctx context.Context, cmd *kv.Command) (node.Result, error) {
	return m.propose(ctx, proposal{cmd: cmd})
}

// ChangeMembership implements Backend.
func (m *Member) ChangeMembership(ctx context.Context, cc raft.ConfChange) error {
	res, err := m.propose(ctx, proposal{CC: &cc})
	if err == nil {
		err = res.Err
	}
	return err
}

// ReadIndex implements Backend.
func (m *Member) ReadIndex(ctx context.Context) error { return m.readIndex(ctx) }

// Store implements Backend.
func (m *Member) Store() *kv.Store { return m.node.Store() }

// Status implements Backend.
func (m *Member) Status() Status {
	v := m.view.Load()
	return Status{
		ID: m.id, ClusterID: m.clusterID, Token: m.token,
		State: v.state, Lead: v.lead, Term: v.term, Commit: v.commit, Applied: v.applied,
		Voters: v.voters, Learners: v.learners,
	}
}

// Members implements Backend.
func (m *Member) Members() []MemberInfo { return m.memberList() }

// Stopping implements Backend.
func (m *Member) Stopping() <-chan struct{} { return m.drainc }

// SelfStats implements Backend.
func (m *Member) SelfStats() SelfStats {
	v := m.view.Load()
	since := m.stats.noteLeader(v.lead)
	sent, recv := m.stats.appendCounts()
	s := SelfStats{
		Name:      m.cfg.Name,
		ID:        IDString(m.id),
		State:     stateName(v.state),
		StartTime: m.startTime.Format(time.RFC3339Nano),
		LeaderInfo: map[string]string{
			"leader":    IDString(v.lead),
			"uptime":    time.Since(since).String(),
			"startTime": since.Format(time.RFC3339Nano),
		},
		RecvAppendRequestCnt: recv,
		SendAppendRequestCnt: sent,
		RaftTerm:             v.term,
		RaftIndex:            v.commit,
		RaftApplied:          v.applied,
	}
	if v.lead == raft.None {
		s.LeaderInfo = map[string]string{"leader": "", "uptime": "", "startTime": ""}
	}
	return s
}

// LeaderStats implements Backend.
func (m *Member) LeaderStats() (LeaderStats, bool) {
	v := m.view.Load()
	if v.lead != m.id {
		return LeaderStats{}, false
	}
	var followers []uint64
	for _, id := range append(slices.Clone(v.voters), v.learners...) {
		if id != m.id {
			followers = append(followers, id)
		}
	}
	return LeaderStats{Leader: IDString(m.id), Followers: m.stats.leaderStats(followers)}, true
}

func stateName(s raft.StateType) string {
	switch s {
	case raft.StateLeader:
		return "StateLeader"
	case raft.StateCandidate, raft.StatePreCandidate:
		return "StateCandidate"
	}
	return "StateFollower"
}
