package node

import (
	"github.com/raftkv/raftkv/raft"
)

// Lead is the leader this member knows (raft.None if none), without the
// copying Status does.
func (n *Node) Lead() uint64 { return n.raw.SoftState().Lead }

// Stepdown starts handing leadership to the voter most caught up with this
// leader's log (thesis §3.10), so that a graceful shutdown costs the
// cluster no election timeout. It returns the chosen voter, or raft.None
// when there is nothing to do: this member does not lead, or no other voter
// exists. The transfer is not done when Stepdown returns: the caller keeps
// driving the node (ticks, messages, HandleReady) until Lead() is no longer
// this member, or for about an election timeout, after which raft abandons
// the transfer and the caller exits anyway.
//
// The choice is mostCaughtUp's: the voter with the highest match index,
// the lowest id on a tie.
func (n *Node) Stepdown() (uint64, error) {
	st := n.raw.Status()
	if st.RaftState != raft.StateLeader {
		return raft.None, nil
	}
	to := mostCaughtUp(st, n.cfg.ID)
	if to == raft.None {
		return raft.None, nil
	}
	if err := n.raw.TransferLeadership(to); err != nil {
		return raft.None, err
	}
	return to, nil
}

// mostCaughtUp picks the voter other than self with the highest match
// index (None if there is none).
func mostCaughtUp(st raft.Status, self uint64) uint64 {
	var best, bestMatch uint64
	for _, id := range st.Voters {
		pr, ok := st.Progress[id]
		if id == self || !ok {
			continue
		}
		if best == raft.None || pr.Match > bestMatch || (pr.Match == bestMatch && id < best) {
			best, bestMatch = id, pr.Match
		}
	}
	return best
}
