package plant

import "fmt"

// Raft lists deliberate protocol violations in package raft, each of which
// a correct checker must detect. The zero value plants nothing.
type Raft struct {
	// DoubleVote: a voter grants a vote to any candidate of its current term,
	// even after voting for another (breaks Election Safety).
	DoubleVote bool
	// CommitOldTerm: a leader commits entries of earlier terms by counting
	// replicas (the Figure 8 bug, breaks Leader Completeness).
	CommitOldTerm bool
	// SkipUpToDateCheck: a voter grants votes without the §5.4.1 log
	// comparison (breaks Leader Completeness).
	SkipUpToDateCheck bool
	// ReadWithoutQuorum: a leader answers ReadIndex requests at once,
	// without the heartbeat round that confirms it still leads (a deposed
	// leader serves stale reads; breaks linearizability).
	ReadWithoutQuorum bool
	// LeaseWithoutAcks: under ReadOnlyLeaseBased, a leader takes itself
	// to hold the lease whenever it leads with CheckQuorum, whoever
	// answered its heartbeats and whenever (a leader cut off, or paused,
	// serves stale reads until CheckQuorum deposes it; breaks
	// linearizability).
	LeaseWithoutAcks bool
	// CountLearners: a leader counts learners' acknowledgements toward a
	// majority of voters when it commits (breaks "only voters form a
	// quorum").
	CountLearners bool
	// ConcurrentConfChanges: a leader accepts a membership change while
	// another is still unapplied (breaks "one change at a time").
	ConcurrentConfChanges bool
}

// Node lists deliberate defects in the node core (package server/node),
// its raft member's included. The zero value plants nothing.
type Node struct {
	// Raft is planted in the member's raft.Config.
	Raft Raft
	// SkipSync persists without fsync: votes and acknowledged entries may
	// vanish in a crash ("acknowledging a write before it is durable").
	SkipSync bool
	// SnapshotPastApplied labels a snapshot of the key space with the last
	// index of the log rather than the applied one: the snapshot claims
	// entries it does not hold.
	SnapshotPastApplied bool
	// SnapshotBeforeApply snapshots the key space as it was before the
	// last batch of committed entries was applied, labelled with the index
	// after it: the snapshot loses those entries.
	SnapshotBeforeApply bool
}

// A hook sets a bug set in the configuration cfg points to and reports
// true, or reports false if cfg is not the configuration type it serves.
type hook[B any] func(cfg any, bugs B) bool

var (
	raftHook hook[Raft]
	nodeHook hook[Node]
)

// Plant sets b, replacing any set planted before, in cfg, which must be a
// *raft.Config.
func (b Raft) Plant(cfg any) { plant(raftHook, "plant.Raft", "*raft.Config", cfg, b) }

// Plant sets b, replacing any set planted before, in cfg, which must be a
// *node.Config.
func (b Node) Plant(cfg any) { plant(nodeHook, "plant.Node", "*node.Config", cfg, b) }

func plant[B any](h hook[B], set, want string, cfg any, bugs B) {
	if h == nil || !h(cfg, bugs) {
		panic(fmt.Sprintf("plant: %s is planted in a %s, not a %T", set, want, cfg))
	}
}

// HookRaft is for package raft alone, at init: h sets a Raft set in a
// *raft.Config.
func HookRaft(h func(cfg any, bugs Raft) bool) { register(&raftHook, h, "HookRaft") }

// HookNode is for package server/node alone, at init: h sets a Node set in
// a *node.Config.
func HookNode(h func(cfg any, bugs Node) bool) { register(&nodeHook, h, "HookNode") }

func register[B any](slot *hook[B], h hook[B], name string) {
	if *slot != nil {
		panic("plant: " + name + " called twice")
	}
	*slot = h
}
