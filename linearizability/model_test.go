package linearizability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Helpers for hand-written histories. Times are small integers.

func get(k string) Input { return Input{Op: OpGet, Key: k} }
func set(k, v string) Input {
	return Input{Op: OpSet, Key: k, Value: v}
}
func create(k, v string) Input { return Input{Op: OpCreate, Key: k, Value: v} }
func update(k, v string) Input { return Input{Op: OpUpdate, Key: k, Value: v} }
func cas(k, prev, v string) Input {
	return Input{Op: OpCompareAndSwap, Key: k, Value: v, PrevValue: prev}
}
func casIdx(k string, prevIdx uint64, v string) Input {
	return Input{Op: OpCompareAndSwap, Key: k, Value: v, PrevIndex: prevIdx}
}
func del(k string) Input       { return Input{Op: OpDelete, Key: k} }
func cad(k, prev string) Input { return Input{Op: OpCompareAndDelete, Key: k, PrevValue: prev} }
func ok(idx uint64) Output     { return Output{Status: StatusOK, Index: idx} }
func val(v string, idx uint64) Output {
	return Output{Status: StatusOK, Value: v, Index: idx}
}

var (
	notFound   = Output{Status: StatusNotFound}
	cmpFailed  = Output{Status: StatusCompareFailed}
	exists     = Output{Status: StatusAlreadyExists}
	unknownOut = Output{Status: StatusAmbiguous}
)

func op(client int, call, ret int64, in Input, out Output) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

// amb is a write with an unknown outcome; Check moves its return to
// infinity, so the 0 here does not matter.
func amb(client int, call int64, in Input) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: unknownOut}
}

func checkVerdict(t *testing.T, ops []porcupine.Operation) Verdict {
	t.Helper()
	res, err := Check(ops, CheckOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return res.Verdict
}

func TestHandWrittenHistories(t *testing.T) {
	tests := []struct {
		name string
		ops  []porcupine.Operation
		want Verdict
	}{
		{"empty", nil, VerdictOK},
		{"read your write", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			op(0, 2, 3, get("a"), val("1", 5)),
		}, VerdictOK},
		{"read of a missing key", []porcupine.Operation{
			op(0, 0, 1, get("a"), notFound),
		}, VerdictOK},
		{"concurrent read sees old then new", []porcupine.Operation{
			op(0, 0, 10, set("a", "1"), ok(5)),
			op(1, 1, 2, get("a"), notFound),
			op(1, 3, 4, get("a"), val("1", 5)),
		}, VerdictOK},
		{"concurrent read flips back", []porcupine.Operation{
			op(0, 0, 10, set("a", "1"), ok(5)),
			op(1, 1, 2, get("a"), val("1", 5)),
			op(1, 3, 4, get("a"), notFound),
		}, VerdictIllegal},
		{"stale read after a write completed", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			op(0, 2, 3, set("a", "2"), ok(6)),
			op(1, 4, 5, get("a"), val("1", 5)),
		}, VerdictIllegal},
		{"lost write", []porcupine.Operation{
			op(0, 0, 1, create("a", "1"), ok(5)),
			op(1, 2, 3, get("a"), notFound),
		}, VerdictIllegal},
		{"read of a never-written value", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			op(1, 0, 3, get("a"), val("ghost", 5)),
		}, VerdictIllegal},
		{"concurrent creates, one wins", []porcupine.Operation{
			op(0, 0, 10, create("a", "x"), ok(5)),
			op(1, 0, 10, create("a", "y"), exists),
			op(2, 11, 12, get("a"), val("x", 5)),
		}, VerdictOK},
		{"concurrent creates, both succeed", []porcupine.Operation{
			op(0, 0, 10, create("a", "x"), ok(5)),
			op(1, 0, 10, create("a", "y"), ok(6)),
		}, VerdictIllegal},
		{"create over a deleted key", []porcupine.Operation{
			op(0, 0, 1, create("a", "x"), ok(5)),
			op(0, 2, 3, del("a"), ok(6)),
			op(0, 4, 5, create("a", "y"), ok(7)),
			op(0, 6, 7, get("a"), val("y", 7)),
		}, VerdictOK},
		{"cas on the right value", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			op(0, 2, 3, cas("a", "1", "2"), ok(6)),
			op(0, 4, 5, get("a"), val("2", 6)),
		}, VerdictOK},
		{"cas on the wrong value succeeds", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			op(0, 2, 3, cas("a", "0", "2"), ok(6)),
		}, VerdictIllegal},
		{"cas on the right value fails", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			op(0, 2, 3, cas("a", "1", "2"), cmpFailed),
		}, VerdictIllegal},
		{"cas on a missing key", []porcupine.Operation{
			op(0, 0, 1, cas("a", "1", "2"), notFound),
		}, VerdictOK},
		{"cas by index", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			op(0, 2, 3, casIdx("a", 4, "2"), cmpFailed),
			op(0, 4, 5, casIdx("a", 5, "3"), ok(6)),
			op(0, 6, 7, get("a"), val("3", 6)),
		}, VerdictOK},
		{"cas by a stale index succeeds", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			op(0, 2, 3, set("a", "2"), ok(6)),
			op(0, 4, 5, casIdx("a", 5, "3"), ok(7)),
		}, VerdictIllegal},
		{"update and delete of a missing key", []porcupine.Operation{
			op(0, 0, 1, update("a", "1"), notFound),
			op(0, 2, 3, del("a"), notFound),
			op(0, 4, 5, cad("a", "1"), notFound),
		}, VerdictOK},
		{"update of a missing key succeeds", []porcupine.Operation{
			op(0, 0, 1, update("a", "1"), ok(5)),
		}, VerdictIllegal},
		{"delete of a missing key succeeds", []porcupine.Operation{
			op(0, 0, 1, del("a"), ok(5)),
		}, VerdictIllegal},
		{"cad on the right and wrong values", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			op(0, 2, 3, cad("a", "0"), cmpFailed),
			op(0, 4, 5, cad("a", "1"), ok(6)),
			op(0, 6, 7, get("a"), notFound),
		}, VerdictOK},
		{"read reports another index than the write", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			op(0, 2, 3, get("a"), val("1", 6)),
		}, VerdictIllegal},
		{"write indexes go backwards", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			op(0, 2, 3, set("a", "2"), ok(4)),
		}, VerdictIllegal},
		{"concurrent writes order by index", []porcupine.Operation{
			op(0, 0, 10, set("a", "1"), ok(6)),
			op(1, 0, 10, set("a", "2"), ok(5)),
			op(2, 11, 12, get("a"), val("1", 6)),
		}, VerdictOK},
		{"concurrent writes: last by index must win", []porcupine.Operation{
			op(0, 0, 10, set("a", "1"), ok(6)),
			op(1, 0, 10, set("a", "2"), ok(5)),
			op(2, 11, 12, get("a"), val("2", 5)),
		}, VerdictIllegal},
		{"no indexes reported", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(0)),
			op(0, 2, 3, get("a"), val("1", 0)),
			op(0, 4, 5, set("a", "2"), ok(0)),
			op(0, 6, 7, get("a"), val("2", 0)),
		}, VerdictOK},

		// Ambiguous writes.
		{"ambiguous write that took effect", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, set("a", "2")),
			op(1, 5, 6, get("a"), val("2", 9)),
			op(1, 7, 8, get("a"), val("2", 9)),
		}, VerdictOK},
		{"ambiguous write that did not take effect", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, set("a", "2")),
			op(1, 5, 6, get("a"), val("1", 5)),
			op(1, 7, 8, set("a", "3"), ok(7)),
			op(1, 9, 10, get("a"), val("3", 7)),
		}, VerdictOK},
		{"ambiguous write applied late", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, set("a", "2")),
			op(1, 5, 6, get("a"), val("1", 5)),
			op(1, 7, 8, get("a"), val("2", 8)),
		}, VerdictOK},
		{"ambiguous write seen, then unseen", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, set("a", "2")),
			op(1, 5, 6, get("a"), val("2", 9)),
			op(1, 7, 8, get("a"), val("1", 5)),
		}, VerdictIllegal},
		{"ambiguous write seen before its call", []porcupine.Operation{
			op(1, 0, 1, get("a"), val("2", 9)),
			amb(0, 2, set("a", "2")),
		}, VerdictIllegal},
		{"ambiguous create of an existing key cannot apply", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, create("a", "2")),
			op(1, 5, 6, get("a"), val("2", 9)),
		}, VerdictIllegal},
		{"ambiguous create of a missing key", []porcupine.Operation{
			amb(0, 0, create("a", "2")),
			op(1, 5, 6, get("a"), val("2", 9)),
		}, VerdictOK},
		{"ambiguous delete took effect", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, del("a")),
			op(1, 5, 6, get("a"), notFound),
		}, VerdictOK},
		{"ambiguous cas on a wrong value cannot apply", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, cas("a", "0", "2")),
			op(1, 5, 6, get("a"), val("2", 9)),
		}, VerdictIllegal},
		{"index of an ambiguous write learned by a read", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, set("a", "2")),
			op(1, 5, 6, get("a"), val("2", 9)),
			op(1, 7, 8, casIdx("a", 9, "3"), ok(10)),
			op(1, 9, 10, get("a"), val("3", 10)),
		}, VerdictOK},
		{"learned index contradicted", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, set("a", "2")),
			op(1, 5, 6, get("a"), val("2", 9)),
			op(1, 7, 8, get("a"), val("2", 11)),
		}, VerdictIllegal},
		{"learned index below the floor", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, set("a", "2")),
			op(1, 5, 6, get("a"), val("2", 4)),
		}, VerdictIllegal},
		{"index of an ambiguous write learned by a cas", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, set("a", "2")),
			op(1, 5, 6, casIdx("a", 8, "3"), ok(9)),
			op(1, 7, 8, get("a"), val("3", 9)),
		}, VerdictOK},
		{"cas by an index below the floor succeeds", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, set("a", "2")),
			op(1, 5, 6, casIdx("a", 4, "3"), ok(9)),
		}, VerdictIllegal},
		{"cas by index fails while the index is unknown", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, set("a", "2")),
			op(1, 5, 6, casIdx("a", 8, "3"), cmpFailed),
			op(1, 7, 8, get("a"), val("2", 9)),
		}, VerdictOK},
		{"ambiguous cas by an unknown index", []porcupine.Operation{
			op(0, 0, 1, set("a", "1"), ok(5)),
			amb(0, 2, set("a", "2")),
			amb(1, 3, casIdx("a", 8, "3")),
			op(2, 5, 6, get("a"), val("3", 10)),
		}, VerdictOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkVerdict(t, tt.ops); got != tt.want {
				t.Errorf("verdict %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPartitionByKey(t *testing.T) {
	// Each key is fine on its own; a model that mixed keys would see "b"
	// read a value written to "a".
	ops := []porcupine.Operation{
		op(0, 0, 1, set("b", "x"), ok(5)),
		op(0, 2, 3, set("a", "y"), ok(6)),
		op(1, 4, 5, get("b"), val("x", 5)),
		op(1, 6, 7, get("c"), notFound),
	}
	res, err := Check(ops, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictOK || res.Keys != 3 || res.Operations != 4 {
		t.Fatalf("got %v", res)
	}

	parts := partitionOperations(ops)
	var keys []string
	for _, p := range parts {
		k := p[0].Input.(Input).Key
		for _, o := range p {
			if o.Input.(Input).Key != k {
				t.Fatalf("partition %q holds an operation on %q", k, o.Input.(Input).Key)
			}
		}
		keys = append(keys, k)
	}
	if strings.Join(keys, ",") != "a,b,c" {
		t.Fatalf("partitions %v, want a,b,c", keys)
	}

	// One bad key among many is found.
	var many []porcupine.Operation
	for i := range 10 {
		k := string(rune('a' + i))
		many = append(many,
			op(i, int64(10*i), int64(10*i+1), set(k, k+"1"), ok(uint64(2*i+1))),
			op(i, int64(10*i+2), int64(10*i+3), get(k), val(k+"1", uint64(2*i+1))))
	}
	many = append(many, op(0, 200, 201, get("g"), notFound))
	res, err = Check(many, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictIllegal || res.Keys != 10 {
		t.Fatalf("got %v, want illegal on 10 keys", res)
	}
}

func TestPartitionEvents(t *testing.T) {
	ev := func(kind porcupine.EventKind, id int, v any) porcupine.Event {
		return porcupine.Event{ClientId: id, Kind: kind, Value: v, Id: id}
	}
	legal := []porcupine.Event{
		ev(porcupine.CallEvent, 0, set("a", "1")),
		ev(porcupine.CallEvent, 1, set("b", "2")),
		ev(porcupine.ReturnEvent, 0, ok(5)),
		ev(porcupine.ReturnEvent, 1, ok(6)),
		ev(porcupine.CallEvent, 2, get("a")),
		ev(porcupine.ReturnEvent, 2, val("1", 5)),
	}
	if !porcupine.CheckEvents(Model(), legal) {
		t.Error("legal event history rejected")
	}
	if n := len(partitionEvents(legal)); n != 2 {
		t.Errorf("%d partitions, want 2", n)
	}
	illegal := append(legal[:4:4],
		ev(porcupine.CallEvent, 2, get("a")),
		ev(porcupine.ReturnEvent, 2, val("2", 6)))
	if porcupine.CheckEvents(Model(), illegal) {
		t.Error("illegal event history accepted")
	}
}

func TestVisualizationWrittenOnFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "failure.html")
	bad := []porcupine.Operation{
		op(0, 0, 1, set("a", "1"), ok(5)),
		op(1, 2, 3, get("a"), val("ghost", 5)),
	}
	res, err := Check(bad, CheckOptions{Timeout: time.Minute, VisualizationPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictIllegal || res.VisualizationPath != path {
		t.Fatalf("got %v", res)
	}
	html, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The operation descriptions end up in the embedded data.
	for _, want := range []string{"<html", "ghost", "set("} {
		if !strings.Contains(string(html), want) {
			t.Errorf("visualization lacks %q", want)
		}
	}

	okPath := filepath.Join(dir, "ok.html")
	res, err = Check(bad[:1], CheckOptions{VisualizationPath: okPath})
	if err != nil || res.Verdict != VerdictOK || res.VisualizationPath != "" {
		t.Fatalf("got %v, %v", res, err)
	}
	if _, err := os.Stat(okPath); !os.IsNotExist(err) {
		t.Errorf("visualization written for a linearizable history (stat: %v)", err)
	}

	// An unwritable path is reported, with the verdict.
	res, err = Check(bad, CheckOptions{VisualizationPath: filepath.Join(dir, "missing", "x.html")})
	if err == nil || res.Verdict != VerdictIllegal {
		t.Fatalf("got %v, %v; want illegal and an error", res, err)
	}
}

func TestCheckTimesOut(t *testing.T) {
	// Many concurrent writes and reads of one key, then a read of a value
	// nobody wrote: the checker must exhaust a huge space to say illegal.
	var ops []porcupine.Operation
	const n = 24
	for i := range n {
		v := string(rune('A' + i))
		ops = append(ops,
			op(i, 0, 100, set("a", v), ok(0)),
			op(n+i, 0, 100, get("a"), val(string(rune('A'+(i+7)%n)), 0)))
	}
	ops = append(ops, op(0, 200, 201, get("a"), val("ghost", 0)))
	path := filepath.Join(t.TempDir(), "unknown.html")
	res, err := Check(ops, CheckOptions{Timeout: 50 * time.Millisecond, VisualizationPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictUnknown {
		t.Fatalf("verdict %v, want unknown", res.Verdict)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("no visualization after a timeout: %v", err)
	}
}

func TestCheckRejectsMalformedHistories(t *testing.T) {
	tests := []struct {
		name string
		op   porcupine.Operation
	}{
		{"foreign input", porcupine.Operation{Input: "get a", Output: ok(1)}},
		{"foreign output", porcupine.Operation{Input: get("a"), Output: 1}},
		{"invalid op", porcupine.Operation{Input: Input{Key: "a"}, Output: ok(1)}},
		{"empty key", porcupine.Operation{Input: get(""), Output: notFound}},
		{"cas without a condition", porcupine.Operation{Input: cas("a", "", "x"), Output: ok(1)}},
		{"set with a condition", porcupine.Operation{Input: Input{Op: OpSet, Key: "a", Value: "x", PrevIndex: 3}, Output: ok(1)}},
		{"invalid status", porcupine.Operation{Input: get("a"), Output: Output{Status: 99}}},
		{"return before call", porcupine.Operation{Input: get("a"), Output: notFound, Call: 5, Return: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Check([]porcupine.Operation{tt.op}, CheckOptions{}); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestStatusOf(t *testing.T) {
	for code, want := range map[int]Status{100: StatusNotFound, 101: StatusCompareFailed, 105: StatusAlreadyExists} {
		if got, ok := StatusOf(code); !ok || got != want {
			t.Errorf("StatusOf(%d) = %v, %v", code, got, ok)
		}
	}
	if _, ok := StatusOf(102); ok {
		t.Error("StatusOf(102) is known")
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		in   Input
		out  Output
		want string
	}{
		{get("a"), val("1", 5), `get("a") -> "1" @5`},
		{get("a"), notFound, `get("a") -> not found`},
		{casIdx("a", 5, "2"), ok(6), `cas("a", "2", prevIndex=5) -> ok @6`},
		{cad("a", "1"), cmpFailed, `cad("a", prevValue="1") -> compare failed`},
		{set("a", "1"), unknownOut, `set("a", "1") -> ? (outcome unknown)`},
	}
	for _, tt := range tests {
		if got := describeOperation(tt.in, tt.out); got != tt.want {
			t.Errorf("describeOperation = %s, want %s", got, tt.want)
		}
	}
	if got := describeState(keyState{exists: true, value: "1", floor: 5}); got != `"1" @? (last known write @5)` {
		t.Errorf("describeState = %s", got)
	}
}

// TestGeneratedHistories checks histories of a correct store, with lost
// responses, and proves each planted bug is caught.
func TestGeneratedHistories(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		ops := generate(genOptions{seed: seed, clients: 6, keys: 3, ops: 1500, ambiguousPct: 5})
		res, err := Check(ops, CheckOptions{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != VerdictOK || res.Ambiguous == 0 {
			t.Errorf("seed %d: %v, want ok with some ambiguous writes", seed, res)
		}
	}
	bugs := map[plantedBug]string{
		bugStaleRead:  "stale read",
		bugLostWrite:  "lost write",
		bugBlindCAS:   "blind cas",
		bugWrongIndex: "wrong index",
	}
	for bug, name := range bugs {
		t.Run(name, func(t *testing.T) {
			ops := generate(genOptions{seed: 1, clients: 6, keys: 3, ops: 1500, ambiguousPct: 2, bug: bug})
			res, err := Check(ops, CheckOptions{Timeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != VerdictIllegal {
				t.Errorf("%v, want illegal", res)
			}
		})
	}
}
