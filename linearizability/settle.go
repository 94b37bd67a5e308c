package linearizability

import (
	"cmp"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Writes with an unknown outcome are what makes a check slow. Each one
// returns "at infinity", so it is concurrent with everything after its
// call, and Porcupine's search (which keeps the set of operations
// linearized so far in its cache key) may try every subset of the pending
// ones at every point: one key with a few dozen of them can take longer
// than any time limit. This file shrinks that set in two ways.
//
// Exact rewrites (simplify) change no verdict, given that every write of a
// key carries its own value (checked: a value written twice turns them
// off for that value):
//
//   - An ambiguous write that can never match (a compare on a prevValue
//     that no operation of the key writes) or that is called after every
//     definite operation of the key returned is dropped: it can be
//     linearized last, where nobody observes it.
//   - An ambiguous write whose value a definite operation observed (a get
//     returning it, a successful compare on it) certainly took effect, and
//     before the earliest such observer returned: it becomes a successful
//     write (index unknown) returning then.
//
// Restrictions (restrict) may change the verdict, but only from ok to not
// ok. They drop the ambiguous writes, or make each take effect within a
// window after its call or never. A linearization of such a history is
// one of the original once the writes that took no effect (or were
// dropped) are moved to the end, where the original's model may apply
// them unobserved. So when a restricted history checks ok, the original
// is linearizable; Check searches the original beside them (checkKey) for
// every other verdict.

// observers returns, for every value written exactly once in ops (one
// key's operations), the earliest return of a definite operation that
// observed it: a get that read it, or a successful compare on it. written
// counts the writes of each value.
func observers(ops []porcupine.Operation) (written map[string]int, seen map[string]int64) {
	written = make(map[string]int)
	for _, op := range ops {
		in := op.Input.(Input)
		switch in.Op {
		case OpSet, OpCreate, OpUpdate, OpCompareAndSwap:
			written[in.Value]++
		}
	}
	seen = make(map[string]int64)
	note := func(v string, ret int64) {
		if written[v] != 1 {
			return
		}
		if t, ok := seen[v]; !ok || ret < t {
			seen[v] = ret
		}
	}
	for _, op := range ops {
		in, out := op.Input.(Input), op.Output.(Output)
		if out.Status != StatusOK {
			continue
		}
		switch in.Op {
		case OpGet:
			note(out.Value, op.Return)
		case OpCompareAndSwap, OpCompareAndDelete:
			if in.PrevValue != "" {
				note(in.PrevValue, op.Return)
			}
		}
	}
	return written, seen
}

// simplify applies the exact rewrites to one key's operations (ambiguous
// ones already returning at infinity) and returns the new operations and
// how many ambiguous writes are left.
func simplify(ops []porcupine.Operation) ([]porcupine.Operation, int) {
	written, seen := observers(ops)
	var lastReturn int64
	for _, op := range ops {
		if op.Output.(Output).Status != StatusAmbiguous {
			lastReturn = max(lastReturn, op.Return)
		}
	}
	out := make([]porcupine.Operation, 0, len(ops))
	left := 0
	for _, op := range ops {
		if op.Output.(Output).Status != StatusAmbiguous {
			out = append(out, op)
			continue
		}
		in := op.Input.(Input)
		if !in.Op.IsWrite() {
			continue // a read of unknown outcome changed nothing
		}
		if op.Call > lastReturn {
			continue // after everything definite: linearized last
		}
		if (in.Op == OpCompareAndSwap || in.Op == OpCompareAndDelete) && in.PrevValue != "" && written[in.PrevValue] == 0 {
			continue // its compare can never match
		}
		if in.Op != OpDelete && in.Op != OpCompareAndDelete {
			if t, ok := seen[in.Value]; ok && t >= op.Call {
				// Its value was observed, so it took effect before t.
				op.Output, op.Return = Output{Status: StatusOK}, t
				out = append(out, op)
				continue
			}
		}
		out = append(out, op)
		left++
	}
	return out, left
}

// statusWindowed marks, inside a check, an ambiguous write restricted to a
// window: it took effect before its (finite) Return, or never. Only
// windowModel knows it; [Check] rejects it from callers.
const statusWindowed = StatusAmbiguous + 1

// restrict returns ops (one key's, simplified) with every ambiguous write
// dropped when windowNs < 0, or else returning by its call plus windowNs
// (at the latest), having taken effect by then or never.
func restrict(ops []porcupine.Operation, windowNs int64) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		if op.Output.(Output).Status == StatusAmbiguous {
			if windowNs < 0 {
				continue
			}
			op.Output = Output{Status: statusWindowed}
			op.Return = min(op.Return, op.Call+windowNs)
		}
		out = append(out, op)
	}
	return out
}

// stateSet is a set of key states, sorted, without duplicates: the state
// of windowModel, which is [Model] made nondeterministic for windowed
// writes (they take effect or not).
type stateSet []keyState

func compareStates(a, b keyState) int {
	if a.exists != b.exists {
		if a.exists {
			return 1
		}
		return -1
	}
	return cmp.Or(strings.Compare(a.value, b.value), cmp.Compare(a.index, b.index), cmp.Compare(a.floor, b.floor))
}

// stepSet steps every state of ss; the result is empty when no state can
// take the step.
func stepSet(ss stateSet, in Input, out Output) stateSet {
	next := make(stateSet, 0, len(ss)+1)
	for _, s := range ss {
		switch out.Status {
		case statusWindowed:
			next = append(next, s, stepAmbiguous(s, in))
		default:
			if ok, n := step(s, in, out); ok {
				next = append(next, n)
			}
		}
	}
	slices.SortFunc(next, compareStates)
	return slices.Compact(next)
}

// windowModel is [Model] over sets of states, for histories with windowed
// writes; on any other history it reaches the same verdict as Model.
func windowModel() porcupine.Model {
	m := Model()
	m.Init = func() any { return stateSet{{}} }
	m.Step = func(state, input, output any) (bool, any) {
		next := stepSet(state.(stateSet), input.(Input), output.(Output))
		return len(next) > 0, next
	}
	m.Equal = func(a, b any) bool { return slices.Equal(a.(stateSet), b.(stateSet)) }
	m.Hash = func(state any) uint64 {
		h := uint64(14695981039346656037)
		for _, s := range state.(stateSet) {
			h = (h ^ hashState(s)) * 1099511628211
		}
		return h
	}
	m.DescribeState = func(state any) string {
		var parts []string
		for _, s := range state.(stateSet) {
			parts = append(parts, describeState(s))
		}
		return strings.Join(parts, " or ")
	}
	return m
}

// windows are the windows tried after dropping ambiguous writes failed:
// w, 4w and 16w, where w is the longest time a definite write of the
// history took.
func windows(all []porcupine.Operation) []int64 {
	var w int64
	for _, op := range all {
		if out := op.Output.(Output); out.Status != StatusAmbiguous && op.Input.(Input).Op.IsWrite() {
			w = max(w, op.Return-op.Call)
		}
	}
	if w <= 0 {
		return nil
	}
	return []int64{w, 4 * w, 16 * w}
}
