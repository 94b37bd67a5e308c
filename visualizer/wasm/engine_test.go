package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/sim"
)

func events(t *testing.T, a answer) []sim.TraceEvent {
	t.Helper()
	if e, ok := a["error"]; ok {
		t.Fatalf("error: %v", e)
	}
	var out []sim.TraceEvent
	for _, l := range strings.Split(strings.TrimSpace(a["events"].(string)), "\n") {
		if l == "" {
			continue
		}
		var e sim.TraceEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// TestEngineFork: a fork (start with the inputs up to a moment, applied at
// their own time and after as many events) gives the same events up to
// that moment, inputs applied after single steps included.
func TestEngineFork(t *testing.T) {
	e := &engine{}
	a := e.start("4", `{"members":3}`)
	header := a["header"].(string)
	all := events(t, a)
	all = append(all, events(t, e.advance(1500))...)
	var inputs []string
	in := func(s string) {
		evs := events(t, e.input(s))
		if len(evs) == 0 || evs[0].Type != "input" {
			t.Fatalf("input %s traced %+v", s, evs)
		}
		b, _ := json.Marshal(evs[0])
		inputs = append(inputs, string(b))
		all = append(all, evs...)
	}
	in(`{"kind":"client","op":"put","id":2,"key":"a","value":"x"}`)
	for range 5 {
		evs := events(t, e.step(1))
		if len(evs) == 0 {
			t.Fatal("a step traced nothing")
		}
		all = append(all, evs...)
	}
	in(`{"kind":"pause","id":1}`)
	all = append(all, events(t, e.advance(1800))...)
	in(`{"kind":"resume","id":1}`)
	all = append(all, events(t, e.advance(2500))...)

	// Fork at 2000 ms: the inputs before it, then the clock to 2000.
	f := &engine{}
	b := f.start("4", `{"members":3}`)
	if b["header"].(string) != header {
		t.Fatalf("fork header %s, want %s", b["header"], header)
	}
	got := events(t, b)
	for _, s := range inputs { // all three are before 2000 ms
		got = append(got, events(t, f.applyAt(s))...)
	}
	got = append(got, events(t, f.advance(2000))...)
	var want []sim.TraceEvent
	for _, ev := range all {
		if ev.T <= 2000 {
			want = append(want, ev)
		}
	}
	for i := range max(len(got), len(want)) {
		var g, w []byte
		if i < len(got) {
			g, _ = json.Marshal(got[i])
		}
		if i < len(want) {
			w, _ = json.Marshal(want[i])
		}
		if !bytes.Equal(g, w) {
			t.Fatalf("the fork differs at event %d: %s, want %s", i, g, w)
		}
	}
	// An input from the past no longer applies.
	if a := f.applyAt(inputs[0]); a["error"] == nil || !strings.Contains(a["error"].(string), "past") {
		t.Fatalf("an input from the past: %v", a["error"])
	}
}

// TestEngineCheckAndExport: a stale local read makes Porcupine's verdict
// illegal; the export replays to itself.
func TestEngineCheckAndExport(t *testing.T) {
	e := &engine{}
	events(t, e.start("5", ""))
	all := events(t, e.advance(2000))
	lead := uint64(0)
	for _, ev := range all {
		if ev.Type == "role" && ev.Role == "leader" {
			lead = ev.ID
		}
	}
	f := lead%5 + 1
	in := func(s string, a ...any) { events(t, e.input(fmt.Sprintf(s, a...))) }
	in(`{"kind":"client","op":"put","id":%d,"key":"k","value":"old"}`, lead)
	events(t, e.advance(2500))
	in(`{"kind":"isolate","id":%d}`, f)
	in(`{"kind":"client","op":"put","id":%d,"key":"k","value":"new"}`, lead)
	events(t, e.advance(3000))
	in(`{"kind":"client","op":"get","id":%d,"key":"k","quorum":false}`, f)
	events(t, e.advance(3500))
	c := e.check()
	if c["verdict"] != "illegal" || !strings.Contains(c["html"].(string), "<html") || c["operations"] != 3.0 {
		t.Fatalf("check: %v (%v operations)", c["detail"], c["operations"])
	}
	x := e.export()
	trace := x["trace"].(string)
	sess, err := sim.ReadSession(strings.NewReader(trace))
	if err != nil || len(sess.Inputs) != 4 {
		t.Fatalf("exported session: %+v, %v", sess, err)
	}
	var b strings.Builder
	if _, err := sess.Replay(&b); err != nil || b.String() != trace {
		t.Fatalf("the export does not replay to itself: %v", err)
	}
}

// BenchmarkLive measures a live session as the page runs it (advances of
// 100 ms), idle and with two clients of background load, in multiples of
// real time. Under WebAssembly: PATH=$(go env GOROOT)/lib/wasm:$PATH
// GOOS=js GOARCH=wasm go test -run '^$' -bench Live ./visualizer/wasm.
func BenchmarkLive(b *testing.B) {
	for _, c := range []struct{ name, options string }{{"idle", `{"members":5}`}, {"clients=2", `{"members":5,"clients":2}`}} {
		b.Run(c.name, func(b *testing.B) {
			e := &engine{}
			if a := e.start("1", c.options); a["error"] != nil {
				b.Fatal(a["error"])
			}
			to := 0.0
			for b.Loop() {
				to += 100
				if a := e.advance(to); a["error"] != nil {
					b.Fatal(a["error"])
				}
			}
			b.ReportMetric(to/b.Elapsed().Seconds()/1000, "x-real-time")
		})
	}
}
