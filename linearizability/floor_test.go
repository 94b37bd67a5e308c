package linearizability

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

// Store indexes are integers and every write of a key raises them by at
// least one. y must take effect after x@5 (else the cas could not see it)
// and before z, so z's index is at least 7: a cas reporting 6 reported the
// replaced node's index (the planted bug wrong-index). The model used to
// let an unknown index sit anywhere above 5, even between 5 and 6.
func TestUnknownIndexStillRaisesTheFloor(t *testing.T) {
	ops := []porcupine.Operation{
		{ClientId: 0, Input: Input{Op: OpSet, Key: "a", Value: "x"}, Call: 0, Return: 1, Output: Output{Status: StatusOK, Index: 5}},
		{ClientId: 1, Input: Input{Op: OpSet, Key: "a", Value: "y"}, Call: 2, Output: Output{Status: StatusAmbiguous}},
		{ClientId: 2, Input: Input{Op: OpCompareAndSwap, Key: "a", Value: "z", PrevValue: "y"}, Call: 3, Return: 4, Output: Output{Status: StatusOK, Index: 6}},
		{ClientId: 3, Input: Input{Op: OpGet, Key: "a"}, Call: 5, Return: 6, Output: Output{Status: StatusOK, Value: "z", Index: 6}},
	}
	res, err := Check(ops, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictIllegal {
		t.Fatalf("verdict %v, want illegal: no integer index fits y between 5 and 6", res.Verdict)
	}
	// With room for y (z at 7) the same history is linearizable.
	ops[2].Output = Output{Status: StatusOK, Index: 7}
	ops[3].Output = Output{Status: StatusOK, Value: "z", Index: 7}
	if res, err := Check(ops, CheckOptions{}); err != nil || res.Verdict != VerdictOK {
		t.Fatalf("verdict %v (%v), want ok with z at 7", res.Verdict, err)
	}
}

// A read whose outcome is unknown changed nothing: it must not be taken for
// an observation of the value it reports (here "", written once).
func TestAmbiguousReadIsNoObservation(t *testing.T) {
	ops := []porcupine.Operation{
		{ClientId: 0, Input: Input{Op: OpSet, Key: "a", Value: ""}, Call: 0, Return: 1, Output: Output{Status: StatusOK, Index: 1}},
		{ClientId: 1, Input: Input{Op: OpGet, Key: "a"}, Call: 0, Return: 10, Output: Output{Status: StatusOK, Value: "", Index: 1}},
		{ClientId: 2, Input: Input{Op: OpSet, Key: "a", Value: "z"}, Call: 2, Return: 3, Output: Output{Status: StatusOK, Index: 2}},
		{ClientId: 3, Input: Input{Op: OpGet, Key: "a"}, Call: 4, Output: Output{Status: StatusAmbiguous}},
	}
	res, err := Check(ops, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictOK {
		t.Fatalf("verdict %v, want ok", res.Verdict)
	}
}
