package tracker

import (
	"testing"

	"pgregory.net/rapid"
)

// The ring buffer against the obvious model: a slice we append to and cut
// from the front.
func TestInflightsAgainstSliceModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		capacity := rapid.IntRange(1, 8).Draw(t, "capacity")
		in := NewInflights(capacity)
		var model []uint64
		next := uint64(1)
		for range rapid.IntRange(0, 100).Draw(t, "steps") {
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0, 1:
				if len(model) == capacity {
					if !in.Full() {
						t.Fatalf("model full at %d but Full() false", capacity)
					}
					continue
				}
				next += rapid.Uint64Range(1, 3).Draw(t, "gap")
				in.Add(next)
				model = append(model, next)
			case 2:
				to := rapid.Uint64Range(0, next+1).Draw(t, "to")
				in.FreeLE(to)
				for len(model) > 0 && model[0] <= to {
					model = model[1:]
				}
			case 3:
				in.FreeFirstOne()
				if len(model) > 0 {
					model = model[1:]
				}
			}
			if in.Count() != len(model) {
				t.Fatalf("count %d, model %v", in.Count(), model)
			}
			if in.Full() != (len(model) == capacity) {
				t.Fatalf("Full()=%v with model %v cap %d", in.Full(), model, capacity)
			}
		}
	})
}

func TestProgressProbeBacktracking(t *testing.T) {
	pr := NewProgress(10, 4, false) // Next=11
	pr.ProbeSent = true
	// A rejection of something other than the last append sent is stale.
	if pr.MaybeDecrTo(5, 2) {
		t.Fatal("stale rejection moved Next")
	}
	// The follower's hint says it could match at most up to 6.
	if !pr.MaybeDecrTo(10, 6) || pr.Next != 7 || pr.ProbeSent {
		t.Fatalf("after rejection: %v", pr)
	}
	// Next never drops to or below Match.
	pr.Match = 6
	pr.Next = 9
	if !pr.MaybeDecrTo(8, 0) || pr.Next != 7 {
		t.Fatalf("Next fell below Match+1: %v", pr)
	}
}

func TestProgressReplicateWindow(t *testing.T) {
	pr := NewProgress(0, 2, false)
	pr.MaybeUpdate(3)
	pr.BecomeReplicate()
	if pr.Next != 4 {
		t.Fatalf("Next = %d, want 4", pr.Next)
	}
	pr.OptimisticUpdate(5)
	pr.Inflights.Add(5)
	pr.OptimisticUpdate(7)
	pr.Inflights.Add(7)
	if !pr.IsPaused() {
		t.Fatal("full window must pause")
	}
	if !pr.MaybeUpdate(5) {
		t.Fatal("ack must advance Match")
	}
	pr.Inflights.FreeLE(5)
	if pr.IsPaused() || pr.Next != 8 {
		t.Fatalf("after ack: %v", pr)
	}
	// A rejection above Match in Replicate falls back to Match+1.
	if !pr.MaybeDecrTo(7, 0) || pr.Next != 6 {
		t.Fatalf("after reject: %v", pr)
	}
	// Rejection at or below Match is stale.
	if pr.MaybeDecrTo(5, 0) {
		t.Fatal("stale reject in replicate")
	}
}

func TestProgressSnapshotToProbe(t *testing.T) {
	pr := NewProgress(0, 2, false)
	pr.BecomeSnapshot(20)
	if !pr.IsPaused() {
		t.Fatal("snapshot state must pause appends")
	}
	pr.BecomeProbe()
	if pr.Next != 21 || pr.State != StateProbe {
		t.Fatalf("after snapshot: %v", pr)
	}
}
