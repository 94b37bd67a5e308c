// Package quorum holds the arithmetic of majorities: which log index a
// majority of voters has replicated, and whether an election has been won,
// lost, or is still undecided. It is pure: no state, no I/O.
//
// A configuration is a set of voter ids. Learners are never part of it; the
// caller leaves them out, which is what keeps a learner from counting toward a
// quorum.
package quorum

import (
	"slices"
)

// VoteResult is the outcome of tallying the votes of an election so far.
type VoteResult uint8

const (
	// VotePending: neither a majority of grants nor of rejections yet.
	VotePending VoteResult = iota + 1
	// VoteLost: a majority has rejected; the election cannot be won.
	VoteLost
	// VoteWon: a majority has granted.
	VoteWon
)

func (v VoteResult) String() string {
	switch v {
	case VotePending:
		return "pending"
	case VoteLost:
		return "lost"
	case VoteWon:
		return "won"
	}
	return "VoteResult(?)"
}

// Majority returns the size of a majority of n voters.
func Majority(n int) int { return n/2 + 1 }

// CommittedIndex returns the largest index that a majority of voters has
// acknowledged, given each voter's acknowledged (match) index. Voters missing
// from match count as 0. An empty configuration returns the maximum uint64,
// so that it never holds back a joint decision.
func CommittedIndex(voters []uint64, match func(id uint64) uint64) uint64 {
	n := len(voters)
	if n == 0 {
		return ^uint64(0)
	}
	var stack [7]uint64 // clusters of up to 7 voters need no allocation
	var idx []uint64
	if n <= len(stack) {
		idx = stack[:n]
	} else {
		idx = make([]uint64, n)
	}
	for i, id := range voters {
		idx[i] = match(id)
	}
	slices.Sort(idx)
	// Sorted ascending, the (n - majority)th element is acknowledged by
	// exactly a majority: itself and every larger element.
	return idx[n-Majority(n)]
}

// Tally counts the votes of voters: votes[id] is true for a grant, false for a
// rejection; a voter absent from votes has not answered yet.
func Tally(voters []uint64, votes map[uint64]bool) VoteResult {
	if len(voters) == 0 {
		return VoteWon
	}
	granted, rejected := 0, 0
	for _, id := range voters {
		v, ok := votes[id]
		if !ok {
			continue
		}
		if v {
			granted++
		} else {
			rejected++
		}
	}
	q := Majority(len(voters))
	switch {
	case granted >= q:
		return VoteWon
	case rejected >= q, len(voters)-rejected < q:
		return VoteLost
	}
	return VotePending
}
