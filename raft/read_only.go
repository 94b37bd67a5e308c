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
	if len(r.voters) == 1 || (r.readLease && r.checkQuorum) || r.bugs.ReadWithoutQuorum {
		// A lone voter is its own quorum. In lease mode, a leader that
		// passed its last CheckQuorum within an election timeout assumes
		// no other leader can exist yet: correct only while clock drift
		// stays below the gap between the lease and the election timeout.
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
	r.readRound++
	for i := len(r.pendingReads) - 1; i >= 0 && r.pendingReads[i].round == 0; i-- {
		r.pendingReads[i].round = r.readRound
	}
	ctx := binary.BigEndian.AppendUint64(nil, r.readRound)
	for _, id := range r.voters {
		if id != r.id {
			commit := min(r.prs[id].Match, r.log.committed)
			r.send(Message{Type: MsgHeartbeat, To: id, Commit: commit, Context: ctx})
		}
	}
}

// ackRead records that member `from` answered heartbeat round ctx: it
// recognised this leader after every read of that round or earlier was
// made. Reads confirmed by a quorum are released, in order.
func (r *raft) ackRead(from uint64, ctx []byte) {
	if len(ctx) != 8 || len(r.pendingReads) == 0 {
		return
	}
	round := binary.BigEndian.Uint64(ctx)
	if round > r.readAcked[from] {
		r.readAcked[from] = round
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
