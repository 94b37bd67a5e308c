package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// sameJSON fails unless appendJSON writes e as encoding/json does.
func sameJSON(t *testing.T, e TraceEvent) {
	t.Helper()
	var want bytes.Buffer
	if err := json.NewEncoder(&want).Encode(e); err != nil {
		t.Fatal(err)
	}
	got, ok := e.appendJSON(nil)
	if !ok || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("appendJSON (ok %v):\n%s\nencoding/json:\n%s", ok, got, want.Bytes())
	}
}

// sample is a value for a field of TraceEvent's type, not its zero; r
// varies it.
func sample(t *testing.T, typ reflect.Type, r *rand.Rand) reflect.Value {
	t.Helper()
	strs := []string{"x", "a\"b\\c", "<&>", "é\u2028\n\t\x01", "\xff", "plain text 12"}
	floats := []float64{1.5, 123.456, 1e-7, 2e21, -3.25, 1e20, 0.000001, 7}
	v := reflect.New(typ).Elem()
	switch typ.Kind() {
	case reflect.String:
		v.SetString(strs[r.IntN(len(strs))])
	case reflect.Uint64:
		v.SetUint(1 + r.Uint64N(1<<63))
	case reflect.Int, reflect.Int64:
		v.SetInt(r.Int64N(1<<40) - 1<<39 | 1)
	case reflect.Float64:
		v.SetFloat(floats[r.IntN(len(floats))])
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		p := reflect.New(typ.Elem())
		p.Elem().Set(reflect.ValueOf(r.IntN(2) == 0))
		v.Set(p)
	case reflect.Slice:
		n := 1 + r.IntN(3)
		v.Set(reflect.MakeSlice(typ, n, n))
		for i := range n {
			if typ.Elem().Kind() == reflect.Slice && r.IntN(4) == 0 {
				continue // an empty inner slice
			}
			v.Index(i).Set(sample(t, typ.Elem(), r))
		}
	case reflect.Array:
		for i := range typ.Len() {
			v.Index(i).Set(sample(t, typ.Elem(), r))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(typ))
		for range 1 + r.IntN(4) {
			v.SetMapIndex(sample(t, typ.Key(), r), sample(t, typ.Elem(), r))
		}
	default:
		t.Fatalf("TraceEvent has a field of type %v: give sample (and appendJSON) a case for it", typ)
	}
	return v
}

// TestTraceEventJSON: the tracer's encoder writes every field of every
// kind as encoding/json does (a field added to TraceEvent and not to
// appendJSON fails here), alone and all together, and every event of a
// real run.
func TestTraceEventJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	typ := reflect.TypeFor[TraceEvent]()
	sameJSON(t, TraceEvent{})
	for range 20 {
		var all TraceEvent
		for i := range typ.NumField() {
			var one TraceEvent
			reflect.ValueOf(&one).Elem().Field(i).Set(sample(t, typ.Field(i).Type, r))
			sameJSON(t, one)
			reflect.ValueOf(&all).Elem().Field(i).Set(sample(t, typ.Field(i).Type, r))
		}
		sameJSON(t, all)
	}
	f := false
	sameJSON(t, TraceEvent{T: 12.001, Type: "input", Quorum: &f, Groups: [][]uint64{{}, {1}}, Cut: [][2]uint64{}})

	o, err := MakeOptions("churn", 4, true, "")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if r := Run(Config{Seed: 4, Options: o, Trace: &b, HTMLDir: t.TempDir()}); r.Failure != nil {
		t.Fatal(describe(r))
	}
	sc := bufio.NewScanner(&b)
	sc.Buffer(nil, 1<<24)
	sc.Scan() // the header
	n := 0
	for sc.Scan() {
		var e TraceEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		got, _ := e.appendJSON(nil)
		if !bytes.Equal(got[:len(got)-1], sc.Bytes()) {
			t.Fatalf("line %d re-encoded differs:\n%s\n%s", n+2, got, sc.Bytes())
		}
		n++
	}
	if n < 1000 {
		t.Fatalf("only %d events", n)
	}
}
