package sim

import (
	"slices"
	"testing"
)

// paperTiming is papers/raft-fig16's timing model: a vote round trip of
// about 15 ms.
var paperTiming = ElectionTiming{TickUs: 100, LatencyMinMs: 6, LatencyTailMs: 1, SyncMs: 1}

func downtimes(t *testing.T, n int, tr ElectionTrial) (ms []float64, split int) {
	t.Helper()
	for i := range n {
		tr.Seed = uint64(i + 1)
		r, err := ElectionAfterCrash(tr)
		if err != nil {
			t.Fatalf("seed %d: %v", tr.Seed, err)
		}
		if !r.Elected {
			t.Fatalf("seed %d: no leader within %g ms", tr.Seed, tr.CapMs)
		}
		ms = append(ms, r.DowntimeMs)
		if r.Terms > 1 {
			split++
		}
	}
	slices.Sort(ms)
	return ms, split
}

// The shape of Figure 16 of the extended Raft paper (papers/raft-fig16),
// at a small size: without randomness in the election timeout (150–150
// ms) split votes make elections long, while 150–300 ms elects a leader
// within about one timeout. A change that breaks the reproduction fails
// here.
func TestElectionAfterCrashShape(t *testing.T) {
	fixed, split := downtimes(t, 5, ElectionTrial{MinMs: 150, MaxMs: 150, Timing: paperTiming, CapMs: 30_000})
	wide, _ := downtimes(t, 11, ElectionTrial{MinMs: 150, MaxMs: 300, Timing: paperTiming, CapMs: 30_000})
	t.Logf("150–150 ms: %v (%d of 5 split); 150–300 ms: median %.0f ms", fixed, split, wide[len(wide)/2])
	if split < 4 {
		t.Errorf("150–150 ms: only %d of 5 elections had a split vote", split)
	}
	if m := fixed[len(fixed)/2]; m < 600 {
		t.Errorf("150–150 ms: median %.0f ms, want the long tail of repeated split votes (> 600 ms)", m)
	}
	if m := wide[len(wide)/2]; m >= 400 || m < 75 {
		t.Errorf("150–300 ms: median %.0f ms, want 75–400 ms", m)
	}
	// Pre-Vote keeps the two members with shorter logs from starting
	// elections they cannot win (and from resetting the others' timers
	// with their higher terms).
	pv, _ := downtimes(t, 5, ElectionTrial{MinMs: 150, MaxMs: 150, Timing: paperTiming, CapMs: 30_000, PreVote: true, CheckQuorum: true})
	if m := pv[len(pv)/2]; m >= 400 {
		t.Errorf("150–150 ms with Pre-Vote and CheckQuorum: median %.0f ms, want < 400 ms", m)
	}
}

func TestElectionAfterCrashDeterministic(t *testing.T) {
	tr := ElectionTrial{Seed: 7, MinMs: 150, MaxMs: 155, Timing: paperTiming, CapMs: 30_000}
	a, err := ElectionAfterCrash(tr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ElectionAfterCrash(tr)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("same trial, different results: %+v and %+v", a, b)
	}
}

func TestElectionAfterCrashBadInput(t *testing.T) {
	for _, tr := range []ElectionTrial{
		{MinMs: 150, MaxMs: 300, Timing: ElectionTiming{TickUs: 300}},
		{MinMs: 150, MaxMs: 100, Timing: paperTiming},
		{MinMs: 0.1, MaxMs: 0.2, Timing: paperTiming},
	} {
		if _, err := ElectionAfterCrash(tr); err == nil {
			t.Errorf("%+v accepted", tr)
		}
	}
}

// The shape of papers/raft-disruption at a small size: a member cut off
// and healed again and again deposes the leader when it rejoins, unless
// Pre-Vote keeps its term down; CheckQuorum without Pre-Vote makes a leader
// cut off from the others campaign, and then depose the next leader.
func TestDisruptionShape(t *testing.T) {
	run := func(sc DisruptionScenario, preVote, checkQuorum bool) DisruptionResult {
		t.Helper()
		r, err := Disruption(DisruptionConfig{Scenario: sc, PreVote: preVote, CheckQuorum: checkQuorum, Seed: 1,
			DurationMs: 12_000, PartitionMs: 2000, HealedMs: 1000, SlowMs: 100})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%v pre-vote=%v checkquorum=%v: %+v", sc, preVote, checkQuorum, r)
		if r.Partitions < 4 || r.Requests == 0 {
			t.Fatalf("%v: %d cuts and %d requests in 12 s", sc, r.Partitions, r.Requests)
		}
		return r
	}
	neither := run(FlappingMember, false, false)
	if neither.LeaderChanges < neither.Partitions/2 {
		t.Errorf("flapping member without Pre-Vote: %d leader changes for %d cuts", neither.LeaderChanges, neither.Partitions)
	}
	if pv := run(FlappingMember, true, false); pv.LeaderChanges != 0 || pv.LeaderlessMs != 0 {
		t.Errorf("flapping member with Pre-Vote: %d leader changes, %g ms without a leader", pv.LeaderChanges, pv.LeaderlessMs)
	}
	cq := run(IsolatedLeader, false, true)
	both := run(IsolatedLeader, true, true)
	if both.LeaderChanges != both.Partitions || cq.Terms <= both.Terms {
		t.Errorf("isolated leader: %d leader changes for %d cuts with both; %d terms with CheckQuorum alone, %d with both",
			both.LeaderChanges, both.Partitions, cq.Terms, both.Terms)
	}
}

func TestDisruptionBadInput(t *testing.T) {
	if _, err := Disruption(DisruptionConfig{DurationMs: 1000}); err == nil {
		t.Error("a zero partition length accepted")
	}
}
