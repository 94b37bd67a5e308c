package linearizability

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Op names a v2 key-space operation on a single file key.
type Op uint8

const (
	// OpGet reads a key: GET /v2/keys/<key> (quorum read).
	OpGet Op = iota + 1
	// OpSet creates or replaces a key: PUT without prevExist, prevValue or prevIndex.
	OpSet
	// OpCreate creates a key that must not exist: PUT prevExist=false.
	OpCreate
	// OpUpdate replaces a key that must exist: PUT prevExist=true.
	OpUpdate
	// OpCompareAndSwap replaces a key whose value and/or modifiedIndex match:
	// PUT with prevValue and/or prevIndex.
	OpCompareAndSwap
	// OpDelete deletes a key: DELETE.
	OpDelete
	// OpCompareAndDelete deletes a key whose value and/or modifiedIndex match:
	// DELETE with prevValue and/or prevIndex.
	OpCompareAndDelete
)

var opNames = [...]string{
	OpGet:              "get",
	OpSet:              "set",
	OpCreate:           "create",
	OpUpdate:           "update",
	OpCompareAndSwap:   "cas",
	OpDelete:           "delete",
	OpCompareAndDelete: "cad",
}

func (o Op) String() string {
	if o >= 1 && int(o) < len(opNames) {
		return opNames[o]
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

func (o Op) valid() bool { return o >= OpGet && o <= OpCompareAndDelete }

// IsWrite reports whether the operation may change the key space. Only
// writes are kept in a history when their outcome is unknown.
func (o Op) IsWrite() bool { return o != OpGet }

// Input is the request half of an operation.
type Input struct {
	Op  Op
	Key string
	// Value is the value written by set, create, update and compareAndSwap.
	// Workloads must make every written value unique (see the package
	// documentation); the model does not rely on it for soundness, but
	// unique values are what make a lost or reordered write visible.
	Value string
	// PrevValue is the value compareAndSwap and compareAndDelete require;
	// "" means no value condition (etcd rejects an empty prevValue).
	PrevValue string
	// PrevIndex is the modifiedIndex compareAndSwap and compareAndDelete
	// require; 0 means no index condition (as in etcd, where 0 matches
	// anything).
	PrevIndex uint64
}

// validate reports why an input cannot be checked, or nil.
func (in Input) validate() error {
	if !in.Op.valid() {
		return fmt.Errorf("linearizability: invalid op %v", in.Op)
	}
	if in.Key == "" {
		return fmt.Errorf("linearizability: %v with an empty key", in.Op)
	}
	switch in.Op {
	case OpCompareAndSwap, OpCompareAndDelete:
		if in.PrevValue == "" && in.PrevIndex == 0 {
			return fmt.Errorf("linearizability: %v on %q without prevValue or prevIndex", in.Op, in.Key)
		}
	default:
		if in.PrevValue != "" || in.PrevIndex != 0 {
			return fmt.Errorf("linearizability: %v on %q with a prevValue or prevIndex", in.Op, in.Key)
		}
	}
	if (in.Op == OpGet || in.Op == OpDelete || in.Op == OpCompareAndDelete) && in.Value != "" {
		return fmt.Errorf("linearizability: %v on %q with a value", in.Op, in.Key)
	}
	return nil
}

// Status is the class of a response: success, or one of the definite
// failures the model knows. A definite failure means the operation did not
// change the key space.
type Status uint8

const (
	// StatusOK: the operation succeeded (HTTP 200/201).
	StatusOK Status = iota
	// StatusNotFound: errorCode 100, key not found.
	StatusNotFound
	// StatusCompareFailed: errorCode 101, prevValue or prevIndex did not match.
	StatusCompareFailed
	// StatusAlreadyExists: errorCode 105, create on an existing key.
	StatusAlreadyExists
	// StatusAmbiguous marks a write whose outcome is unknown (timeout,
	// connection error, any response the client cannot classify). Recorders
	// set it through [Recorder.Ambiguous]; [Check] treats every operation
	// with this status as returning after everything else.
	StatusAmbiguous
)

var statusNames = [...]string{
	StatusOK:            "ok",
	StatusNotFound:      "not found",
	StatusCompareFailed: "compare failed",
	StatusAlreadyExists: "already exists",
	StatusAmbiguous:     "?",
}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// StatusOf maps an etcd v2 errorCode to the status the model knows. It
// returns false for codes that are not part of the model; a client should
// record such a write as ambiguous and treat such a read as a test failure
// or drop it.
func StatusOf(errorCode int) (Status, bool) {
	switch errorCode {
	case 100:
		return StatusNotFound, true
	case 101:
		return StatusCompareFailed, true
	case 105:
		return StatusAlreadyExists, true
	}
	return 0, false
}

// Output is the response half of an operation.
type Output struct {
	Status Status
	// Value is the value a successful get returned.
	Value string
	// Index is the node's modifiedIndex in a successful response: for a get,
	// the index of the write that produced the value read; for a write, the
	// index it was given (for deletes, the index of the deletion). 0 means
	// "not reported" and turns off index checking for this operation.
	Index uint64
}

// keyState is the model's state of one key (one partition).
//
// invariant: exists || (value == "" && index == 0).
// invariant: index == 0 || index <= floor.
type keyState struct {
	exists bool
	value  string
	// index is the modifiedIndex of the current node, 0 if not known: the
	// write that produced it had an unknown outcome or reported no index,
	// and no later read or compare has revealed it.
	index uint64
	// floor is the highest index known for any write of this key linearized
	// so far. Each successful mutation raises the store index, and writes
	// of a key are applied in linearization order, so a later write (and an
	// unknown index learned later) must lie strictly above it.
	floor uint64
}

// withIndex returns the state after the current node's unknown index was
// learned to be idx, and whether that is possible.
func (s keyState) withIndex(idx uint64) (keyState, bool) {
	if s.index != 0 {
		return s, s.index == idx
	}
	if idx < s.floor { // the current node's index is at least floor
		return s, false
	}
	s.index, s.floor = idx, idx
	return s, true
}

// written returns the state after a write with the given value and index
// (0 if unknown), and whether the index is possible.
func (s keyState) written(exists bool, value string, idx uint64) (keyState, bool) {
	if idx != 0 && idx <= s.floor {
		return s, false
	}
	floor := idx
	if idx == 0 {
		floor = s.floor + 1 // an unknown index is still above the last one
	}
	next := keyState{exists: exists, floor: floor}
	if exists {
		next.value, next.index = value, idx
	}
	return next, true
}

// compare evaluates the prevValue/prevIndex conditions against an existing
// key. known is false when the outcome depends on an index the model has
// not learned; match then says whether the value condition holds.
func (s keyState) compare(in Input) (match, known bool) {
	if in.PrevValue != "" && in.PrevValue != s.value {
		return false, true
	}
	if in.PrevIndex == 0 {
		return true, true
	}
	if s.index != 0 {
		return s.index == in.PrevIndex, true
	}
	// The current node's index is unknown, but it lies above floor.
	if in.PrevIndex < s.floor {
		return false, true
	}
	return true, false
}

// step is the sequential specification of one key. It is pure.
func step(s keyState, in Input, out Output) (bool, keyState) {
	if out.Status == StatusAmbiguous {
		return true, stepAmbiguous(s, in)
	}
	switch in.Op {
	case OpGet:
		switch out.Status {
		case StatusNotFound:
			return !s.exists, s
		case StatusOK:
			if !s.exists || s.value != out.Value {
				return false, s
			}
			if out.Index == 0 {
				return true, s
			}
			next, ok := s.withIndex(out.Index)
			return ok, next
		}
		return false, s

	case OpSet:
		if out.Status != StatusOK {
			return false, s
		}
		next, ok := s.written(true, in.Value, out.Index)
		return ok, next

	case OpCreate:
		if s.exists {
			return out.Status == StatusAlreadyExists, s
		}
		if out.Status != StatusOK {
			return false, s
		}
		next, ok := s.written(true, in.Value, out.Index)
		return ok, next

	case OpUpdate, OpDelete:
		if !s.exists {
			return out.Status == StatusNotFound, s
		}
		if out.Status != StatusOK {
			return false, s
		}
		next, ok := s.written(in.Op == OpUpdate, in.Value, out.Index)
		return ok, next

	case OpCompareAndSwap, OpCompareAndDelete:
		if !s.exists {
			return out.Status == StatusNotFound, s
		}
		match, known := s.compare(in)
		switch out.Status {
		case StatusCompareFailed:
			// With an unknown current index a failure is possible even when
			// the value matched; what it teaches (index != PrevIndex) is not
			// representable and is dropped.
			return !match || !known, s
		case StatusOK:
			if !match {
				return false, s
			}
			cur := s
			if !known {
				cur, _ = s.withIndex(in.PrevIndex) // possible: compare checked PrevIndex > floor
			}
			next, ok := cur.written(in.Op == OpCompareAndSwap, in.Value, out.Index)
			return ok, next
		}
		return false, s
	}
	return false, s
}

// stepAmbiguous applies a write whose outcome is unknown as if it took
// effect whenever its conditions can hold. The operation returns after every
// other operation, so the checker may also linearize it last, where its
// effect is never observed: that covers "it did not take effect".
func stepAmbiguous(s keyState, in Input) keyState {
	switch in.Op {
	case OpSet:
		next, _ := s.written(true, in.Value, 0)
		return next
	case OpCreate:
		if !s.exists {
			next, _ := s.written(true, in.Value, 0)
			return next
		}
	case OpUpdate, OpDelete:
		if s.exists {
			next, _ := s.written(in.Op == OpUpdate, in.Value, 0)
			return next
		}
	case OpCompareAndSwap, OpCompareAndDelete:
		if !s.exists {
			return s
		}
		match, known := s.compare(in)
		if !match {
			return s
		}
		cur := s
		if !known {
			cur, _ = s.withIndex(in.PrevIndex)
		}
		next, _ := cur.written(in.Op == OpCompareAndSwap, in.Value, 0)
		return next
	}
	return s
}

// hashState is FNV-1a over the state's fields; it only narrows the
// checker's cache lookups.
func hashState(s keyState) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(b byte) { h = (h ^ uint64(b)) * prime }
	if s.exists {
		mix(1)
	}
	for i := 0; i < len(s.value); i++ {
		mix(s.value[i])
	}
	for _, v := range [2]uint64{s.index, s.floor} {
		for i := 0; i < 8; i++ {
			mix(byte(v >> (8 * i)))
		}
	}
	return h
}

// Model returns the porcupine model of the v2 key space, partitioned by
// key. Operation inputs must be [Input] and outputs [Output]; [Check]
// verifies that before checking.
func Model() porcupine.Model {
	return porcupine.Model{
		Partition:      partitionOperations,
		PartitionEvent: partitionEvents,
		Init:           func() any { return keyState{} },
		Step: func(state, input, output any) (bool, any) {
			return step(state.(keyState), input.(Input), output.(Output))
		},
		Equal:             func(a, b any) bool { return a.(keyState) == b.(keyState) },
		Hash:              func(state any) uint64 { return hashState(state.(keyState)) },
		DescribeOperation: func(input, output any) string { return describeOperation(input.(Input), output.(Output)) },
		DescribeState:     func(state any) string { return describeState(state.(keyState)) },
	}
}

// partitionOperations splits a history by key, keys in sorted order so that
// the visualization is stable.
func partitionOperations(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := make(map[string][]porcupine.Operation)
	for _, op := range history {
		k := op.Input.(Input).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([][]porcupine.Operation, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}

// partitionEvents splits an event history by key; a return event belongs
// to the key of the call event with the same Id.
func partitionEvents(history []porcupine.Event) [][]porcupine.Event {
	keyOf := make(map[int]string)
	byKey := make(map[string][]porcupine.Event)
	for _, ev := range history {
		k, ok := keyOf[ev.Id]
		if !ok {
			k = ev.Value.(Input).Key
			keyOf[ev.Id] = k
		}
		byKey[k] = append(byKey[k], ev)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([][]porcupine.Event, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}

func describeIndex(idx uint64) string {
	if idx == 0 {
		return "@?"
	}
	return "@" + strconv.FormatUint(idx, 10)
}

func describeOperation(in Input, out Output) string {
	var b strings.Builder
	b.WriteString(in.Op.String())
	b.WriteString("(" + strconv.Quote(in.Key))
	switch in.Op {
	case OpSet, OpCreate, OpUpdate, OpCompareAndSwap:
		b.WriteString(", " + strconv.Quote(in.Value))
	}
	if in.PrevValue != "" {
		b.WriteString(", prevValue=" + strconv.Quote(in.PrevValue))
	}
	if in.PrevIndex != 0 {
		b.WriteString(", prevIndex=" + strconv.FormatUint(in.PrevIndex, 10))
	}
	b.WriteString(") -> ")
	switch {
	case out.Status == StatusAmbiguous:
		b.WriteString("? (outcome unknown)")
	case out.Status == statusWindowed:
		b.WriteString("? (outcome unknown; took effect by its return or never)")
	case in.Op == OpGet && out.Status == StatusOK:
		b.WriteString(strconv.Quote(out.Value))
		if out.Index != 0 {
			b.WriteString(" " + describeIndex(out.Index))
		}
	default:
		b.WriteString(out.Status.String())
		if out.Status == StatusOK && out.Index != 0 {
			b.WriteString(" " + describeIndex(out.Index))
		}
	}
	return b.String()
}

func describeState(s keyState) string {
	var b strings.Builder
	if s.exists {
		b.WriteString(strconv.Quote(s.value) + " " + describeIndex(s.index))
	} else {
		b.WriteString("absent")
	}
	if s.floor != 0 {
		b.WriteString(" (last known write @" + strconv.FormatUint(s.floor, 10) + ")")
	}
	return b.String()
}
