package raft

import (
	"encoding/binary"

	"github.com/raftkv/raftkv/raft/quorum"
)

// ReadState is a read request whose read index the leader has confirmed
// (thesis §6.4): once the member has applied up to Index, a read of its
// state machine is linearizable. RequestCtx is the caller's request id.
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}

// readRequest is a read waiting at the leader for its leadership to be
// confirmed by a quorum.
type readRequest struct {
	ctx   []byte
	from  uint64 // None for a read made on the leader itself
	index uint64
	// round is the heartbeat round that confirms this read (0: none sent
	// yet). Rounds increase, and requests are kept in round order.
	round uint64
}

// readIndex handles a read request made on this member or forwarded by
// follower `from`.
func (r *raft) readIndex(ctx []byte, from uint64) error {
	if r.state != StateLeader {
		if r.lead == None {
			return &NotLeaderError{}
		}
		r.send(Message{To: r.lead, Type: MsgReadIndex, Context: ctx})
		return nil
	}
	req := readRequest{ctx: ctx, from: from, index: r.log.committed}
	if !r.committedInTerm() {
		// §6.4 step 1: until an entry of its own term is committed, the
		// leader may not know the latest commit index. Hold the read; it
		// gets its index when the no-op commits (releaseWaitingReads).
		req.index = 0
		r.waitingReads = append(r.waitingReads, req)
		return nil
	}
	if len(r.voters) == 1 || r.inLease() || r.bugs.ReadWithoutQuorum {
		// A lone voter is its own quorum. Within its lease, a leader knows
		// no other leader can exist yet (see leaseState).
		r.releaseRead(req)
		return nil
	}
	r.pendingReads = append(r.pendingReads, req)
	return nil
}

func (r *raft) committedInTerm() bool {
	t, err := r.log.term(r.log.committed)
	return err == nil && t == r.Term
}

// releaseWaitingReads gives the reads held for the leader's first commit
// their index, once that commit has happened.
func (r *raft) releaseWaitingReads() {
	if len(r.waitingReads) == 0 || !r.committedInTerm() {
		return
	}
	waiting := r.waitingReads
	r.waitingReads = nil
	for _, req := range waiting {
		_ = r.readIndex(req.ctx, req.from)
	}
}

// flushReads starts one heartbeat round for every read that has none:
// reads made between two Readies share a single round trip.
func (r *raft) flushReads() {
	if r.state != StateLeader || len(r.pendingReads) == 0 || r.pendingReads[len(r.pendingReads)-1].round != 0 {
		return
	}
	ctx := r.newReadRound()
	for i := len(r.pendingReads) - 1; i >= 0 && r.pendingReads[i].round == 0; i-- {
		r.pendingReads[i].round = r.readRound
	}
	for _, id := range r.voters {
		if id != r.id {
			r.sendHeartbeat(id, ctx)
		}
	}
}

// ackRead records that member `from` answered heartbeat round ctx: it
// recognised this leader after every read of that round or earlier was
// made. Reads confirmed by a quorum are released, in order.
func (r *raft) ackRead(from uint64, ctx []byte) {
	if len(ctx) != 8 {
		return
	}
	round := binary.BigEndian.Uint64(ctx)
	if round > r.readAcked[from] {
		r.readAcked[from] = round
		r.lease.acked(from, round)
	}
	if len(r.pendingReads) == 0 {
		return
	}
	n := 0
	for _, req := range r.pendingReads {
		if req.round == 0 || !r.roundConfirmed(req.round) {
			break
		}
		r.releaseRead(req)
		n++
	}
	r.pendingReads = r.pendingReads[n:]
}

func (r *raft) roundConfirmed(round uint64) bool {
	if len(r.voters) == 0 {
		return true
	}
	acks := 0
	for _, id := range r.voters {
		if id == r.id || r.readAcked[id] >= round {
			acks++
		}
	}
	return acks >= quorum.Majority(len(r.voters))
}

func (r *raft) releaseRead(req readRequest) {
	if req.from == None || req.from == r.id {
		r.readStates = append(r.readStates, ReadState{Index: req.index, RequestCtx: req.ctx})
		return
	}
	r.send(Message{To: req.from, Type: MsgReadIndexResp, Index: req.index, Context: req.ctx})
}

// newReadRound starts a heartbeat round and returns its context.
func (r *raft) newReadRound() []byte {
	r.readRound++
	if r.readLease {
		r.lease.sent(r.readRound, r.electionTimeout)
	}
	return binary.BigEndian.AppendUint64(nil, r.readRound)
}

// leaseState is a leader's read lease (ReadOnlyLeaseBased, thesis §6.4.1),
// counted in its own ticks within its term.
//
// A follower that answers a heartbeat sent at the leader's tick s grants
// no vote to anyone else (CheckQuorum's rule in Step) until it has ticked
// an election timeout (ET ticks) without hearing from the leader: more
// than ET-1 tick intervals after it got the heartbeat, so after it was
// sent. At its tick c, the leader knows less than c-s+1 intervals have
// passed since the send. So while c-s+1 <= ET-1 for the heartbeat rounds
// of a quorum, no other quorum can have elected a leader, and the leader
// may answer reads from its own state. The lease is c-s < ET-2: one tick
// less than that, as the margin for clocks that run at different rates.
//
// It is correct only if every member runs with leases (the vote guard
// after a restart), ticks are delivered on time (the server catches up
// ticks missed while a process was paused), and clocks drift less than
// one tick per election timeout. A leadership transfer ends the lease for
// the rest of the term: the target's election ignores the followers'
// promise.
type leaseState struct {
	ticks  uint64 // the leader's ticks in this term
	rounds []leaseRound
	// ackedAt[id] is 1 + the tick at which the newest heartbeat round id
	// answered was sent.
	ackedAt map[uint64]uint64
	broken  bool
}

type leaseRound struct{ round, tick uint64 }

// sent records that heartbeat round `round` leaves now. Rounds older than
// an election timeout can no longer extend the lease and are forgotten.
func (l *leaseState) sent(round uint64, electionTimeout int) {
	drop := 0
	for drop < len(l.rounds) && l.rounds[drop].tick+uint64(electionTimeout) < l.ticks {
		drop++
	}
	l.rounds = append(l.rounds[drop:], leaseRound{round: round, tick: l.ticks})
}

// acked records that member from answered heartbeat round `round`.
func (l *leaseState) acked(from, round uint64) {
	for i := len(l.rounds) - 1; i >= 0; i-- {
		if l.rounds[i].round <= round {
			if l.ackedAt == nil {
				l.ackedAt = map[uint64]uint64{}
			}
			if at := l.rounds[i].tick + 1; at > l.ackedAt[from] {
				l.ackedAt[from] = at
			}
			return
		}
	}
}

// inLease reports whether this leader holds a read lease now.
func (r *raft) inLease() bool {
	l := &r.lease
	if !r.readLease || !r.checkQuorum || l.broken || r.state != StateLeader || r.electionTimeout <= 2 {
		return false
	}
	if r.bugs.LeaseWithoutAcks {
		return true
	}
	start := quorum.CommittedIndex(r.voters, func(id uint64) uint64 {
		if id == r.id {
			return l.ticks + 1
		}
		return l.ackedAt[id]
	})
	return start > 0 && l.ticks+1 < start+uint64(r.electionTimeout)-2
}
