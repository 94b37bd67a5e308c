package raft

import (
	"errors"
	"math/rand/v2"
	"strconv"

	"github.com/raftkv/raftkv/internal/plant"
)

// None is the id of no member: no vote cast, no known leader.
const None uint64 = 0

// Config configures a member's consensus state machine.
type Config struct {
	// ID is this member's id; never 0.
	ID uint64
	// Peers lists the initial voters (this member included) when Storage
	// holds no membership yet (a brand-new cluster). Ignored otherwise.
	Peers []uint64
	// Learners lists the initial learners, likewise.
	Learners []uint64

	// ElectionTick is the base election timeout T in ticks: a follower that
	// hears nothing from a leader for a random timeout in [T, 2T) ticks starts
	// an election. It must be greater than HeartbeatTick (10x is usual).
	ElectionTick int
	// ElectionTickMax, if not 0, is the largest randomized election
	// timeout in ticks: a follower's timeout is drawn uniformly from
	// [ElectionTick, ElectionTickMax] at every reset instead of from
	// [ElectionTick, 2*ElectionTick). ElectionTickMax == ElectionTick turns
	// the randomness off (the Raft paper's §9.3 experiment, 150–150 ms).
	// 0 keeps the default range.
	ElectionTickMax int
	// HeartbeatTick is the number of ticks between a leader's heartbeats.
	HeartbeatTick int

	// Storage is the member's stable log, read-only to raft.
	Storage Storage
	// Applied is the last index the application has applied (restart only).
	Applied uint64

	// Rand is the only source of randomness raft uses (election timeouts).
	// Required: pass a seeded generator (math/rand/v2 PCG) so that runs are
	// reproducible.
	Rand *rand.Rand

	// DisablePreVote turns off the Pre-Vote phase (thesis §9.6), on by default.
	DisablePreVote bool
	// DisableCheckQuorum turns off CheckQuorum (thesis §6.2): a leader that
	// has not heard from a majority within an election timeout steps down,
	// and followers ignore votes while they hear from a leader. On by default.
	DisableCheckQuorum bool

	// ReadOnlyLeaseBased answers ReadIndex requests on the leader without a
	// heartbeat round while it holds a read lease: a quorum answered one
	// of its heartbeats recently enough that CheckQuorum's vote rule still
	// binds them (see leaseState). It is only correct if every member runs
	// with it, ticks arrive on time and clocks drift less than one tick per
	// election timeout: off by default, and ignored without CheckQuorum.
	ReadOnlyLeaseBased bool

	// LearnerPromotionLag: the leader promotes a learner to voter on its own
	// once the learner's log is within this many entries of its own (and
	// the learner answers). 0 means the default, 64; a negative value is
	// not possible, so use DisableAutoPromotion to turn promotion off.
	LearnerPromotionLag uint64
	// DisableAutoPromotion keeps learners learners until promoted by an
	// explicit ConfChangeAddVoter.
	DisableAutoPromotion bool

	// SnapshotChunkSize is the largest piece of snapshot data in one MsgSnap
	// (0: 1 MiB). A snapshot travels as a sequence of chunks, one in flight
	// at a time, so neither side holds it twice and a lost chunk costs one
	// chunk.
	SnapshotChunkSize uint64

	// MaxSizePerMsg bounds the entry bytes in one append (0: 1 MiB).
	MaxSizePerMsg uint64
	// MaxInflightMsgs bounds the appends in flight to a follower in
	// Replicate state (0: 256).
	MaxInflightMsgs int
	// MaxCommittedSizePerReady bounds the committed entry bytes handed out
	// per Ready (0: 64 MiB).
	MaxCommittedSizePerReady uint64

	// bugs are deliberate protocol violations, planted only by tests and
	// the simulator through package internal/plant (plant.Raft.Plant).
	bugs plant.Raft
}

func init() {
	plant.HookRaft(func(cfg any, bugs plant.Raft) bool {
		c, ok := cfg.(*Config)
		if ok {
			c.bugs = bugs
		}
		return ok
	})
}

// Errors returned by the consensus state machine.
var (
	// ErrProposalDropped: the proposal was not appended (no leader known, a
	// leadership transfer in progress, or this member was removed or is
	// being removed). The caller may retry later.
	ErrProposalDropped = errors.New("raft: proposal dropped")
	// ErrStepLocalMsg: Step was handed a message that is not from a peer.
	ErrStepLocalMsg = errors.New("raft: cannot step a local message")
	// ErrStepPeerNotFound: a response came from a member not in the
	// configuration.
	ErrStepPeerNotFound = errors.New("raft: cannot step as peer not found")
)

// NotLeaderError is returned when a proposal reaches a member that is not
// the leader. Leader names the leader this member follows (None if unknown),
// so the caller can forward the proposal.
type NotLeaderError struct {
	Leader uint64
}

func (e *NotLeaderError) Error() string {
	if e.Leader == None {
		return "raft: not leader (no leader known)"
	}
	return "raft: not leader (leader is " + strconv.FormatUint(e.Leader, 10) + ")"
}

func (c *Config) validate() error {
	switch {
	case c.ID == None:
		return errors.New("raft: cannot use none as id")
	case c.HeartbeatTick <= 0:
		return errors.New("raft: heartbeat tick must be greater than 0")
	case c.ElectionTick <= c.HeartbeatTick:
		return errors.New("raft: election tick must be greater than heartbeat tick")
	case c.ElectionTickMax != 0 && c.ElectionTickMax < c.ElectionTick:
		return errors.New("raft: election tick max must be 0 or at least election tick")
	case c.Storage == nil:
		return errors.New("raft: storage cannot be nil")
	case c.Rand == nil:
		return errors.New("raft: a seeded Rand is required")
	case c.MaxInflightMsgs < 0:
		return errors.New("raft: max inflight messages must not be negative")
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.SnapshotChunkSize == 0 {
		c.SnapshotChunkSize = 1 << 20
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = 256
	}
	if c.LearnerPromotionLag == 0 {
		c.LearnerPromotionLag = 64
	}
	if c.DisableAutoPromotion {
		c.LearnerPromotionLag = 0
	}
	if c.MaxCommittedSizePerReady == 0 {
		c.MaxCommittedSizePerReady = 64 << 20
	}
	return nil
}
