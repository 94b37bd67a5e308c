package quorum

import (
	"testing"

	"pgregory.net/rapid"
)

// naiveCommitted tries every candidate index and keeps the largest that at
// least a majority has reached: the obvious, slow definition.
func naiveCommitted(match map[uint64]uint64) uint64 {
	var best uint64
	for _, cand := range match {
		n := 0
		for _, m := range match {
			if m >= cand {
				n++
			}
		}
		if n >= len(match)/2+1 && cand > best {
			best = cand
		}
	}
	return best
}

func TestCommittedIndexAgainstNaiveModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 9).Draw(t, "voters")
		match := map[uint64]uint64{}
		var voters []uint64
		for i := 1; i <= n; i++ {
			voters = append(voters, uint64(i))
			match[uint64(i)] = rapid.Uint64Range(0, 20).Draw(t, "match")
		}
		got := CommittedIndex(voters, func(id uint64) uint64 { return match[id] })
		if want := naiveCommitted(match); got != want {
			t.Fatalf("CommittedIndex(%v) = %d, want %d", match, got, want)
		}
	})
}

func TestCommittedIndexIgnoresNonVoters(t *testing.T) {
	// A learner (id 9) far ahead must not advance the commit index: only the
	// listed voters count.
	match := map[uint64]uint64{1: 5, 2: 1, 3: 1, 9: 100}
	if got := CommittedIndex([]uint64{1, 2, 3}, func(id uint64) uint64 { return match[id] }); got != 1 {
		t.Fatalf("got %d, want 1", got)
	}
}

func TestTally(t *testing.T) {
	voters := []uint64{1, 2, 3, 4, 5}
	cases := []struct {
		votes map[uint64]bool
		want  VoteResult
	}{
		{map[uint64]bool{}, VotePending},
		{map[uint64]bool{1: true, 2: true}, VotePending},
		{map[uint64]bool{1: true, 2: true, 3: true}, VoteWon},
		{map[uint64]bool{1: true, 2: false, 3: false}, VotePending},
		{map[uint64]bool{1: true, 2: false, 3: false, 4: false}, VoteLost},
		{map[uint64]bool{1: true, 9: true, 8: true}, VotePending}, // non-voters ignored
	}
	for _, c := range cases {
		if got := Tally(voters, c.votes); got != c.want {
			t.Errorf("Tally(%v) = %v, want %v", c.votes, got, c.want)
		}
	}
	if got := Tally([]uint64{1}, map[uint64]bool{1: true}); got != VoteWon {
		t.Errorf("single voter: %v", got)
	}
}

func TestTallyAgainstNaiveModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 9).Draw(t, "voters")
		var voters []uint64
		votes := map[uint64]bool{}
		granted, rejected := 0, 0
		for i := 1; i <= n; i++ {
			voters = append(voters, uint64(i))
			switch rapid.IntRange(0, 2).Draw(t, "vote") {
			case 1:
				votes[uint64(i)] = true
				granted++
			case 2:
				votes[uint64(i)] = false
				rejected++
			}
		}
		missing := n - granted - rejected
		want := VotePending
		if 2*granted > n {
			want = VoteWon
		} else if 2*(granted+missing) <= n {
			want = VoteLost
		}
		if got := Tally(voters, votes); got != want {
			t.Fatalf("Tally(%v) = %v, want %v", votes, got, want)
		}
	})
}
