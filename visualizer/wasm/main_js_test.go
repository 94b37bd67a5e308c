//go:build js && wasm

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall/js"
	"testing"

	"github.com/raftkv/raftkv/sim"
)

// lines parses the JSON Lines of an answer's events.
func lines(t *testing.T, a js.Value) []sim.TraceEvent {
	t.Helper()
	var out []sim.TraceEvent
	for _, l := range strings.Split(strings.TrimSpace(a.Get("events").String()), "\n") {
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

func noError(t *testing.T, what string, a js.Value) {
	t.Helper()
	if e := a.Get("error"); !e.IsUndefined() {
		t.Fatalf("%s: %s", what, e.String())
	}
}

// TestGlue calls the engine through globalThis.raftkvLive, as the worker
// does, with the kinds of JavaScript values the worker passes.
func TestGlue(t *testing.T) {
	register(&engine{})
	api := js.Global().Get("raftkvLive")
	if api.Type() != js.TypeObject {
		t.Fatal("globalThis.raftkvLive is not set")
	}
	// The seed as a number, the options as an object.
	a := api.Call("start", 12, js.ValueOf(map[string]any{"members": 3}))
	noError(t, "start", a)
	var h sim.TraceHeader
	if err := json.Unmarshal([]byte(a.Get("header").String()), &h); err != nil || h.Seed != 12 || len(h.Members) != 3 ||
		h.Options.Preset != sim.LivePreset || !strings.Contains(h.Replay, "-replay raftkv-live-12.jsonl") {
		t.Fatalf("header %s: %v", a.Get("header").String(), err)
	}
	if a.Get("nowMs").Float() != 0 {
		t.Fatalf("a new session at %v ms", a.Get("nowMs"))
	}

	a = api.Call("advance", 3000)
	noError(t, "advance", a)
	if a.Get("nowMs").Float() != 3000 {
		t.Fatalf("advanced to %v ms, want 3000", a.Get("nowMs"))
	}
	lead := uint64(0)
	for _, e := range lines(t, a) {
		if e.Type == "role" && e.Role == "leader" {
			lead = e.ID
		}
	}
	if lead == 0 {
		t.Fatal("no leader in 3 s")
	}

	// An input as an object and as a string.
	a = api.Call("input", js.ValueOf(map[string]any{"kind": "client", "op": "put", "id": lead, "key": "k", "value": "v"}))
	noError(t, "put", a)
	if evs := lines(t, a); len(evs) < 2 || evs[0].Type != "input" || evs[0].Op != "put" || evs[1].Type != "request" {
		t.Fatalf("a put traced %+v", evs)
	}
	a = api.Call("step", 1)
	noError(t, "step", a)
	if n := len(lines(t, a)); n == 0 {
		t.Fatal("a step traced nothing")
	}
	noError(t, "advance", api.Call("advance", 4000))
	a = api.Call("input", fmt.Sprintf(`{"kind":"crash","id":%d}`, lead))
	noError(t, "crash", a)

	// Refusals say why, and still say where the session is.
	a = api.Call("input", fmt.Sprintf(`{"kind":"crash","id":%d}`, lead))
	if e := a.Get("error"); e.IsUndefined() || !strings.Contains(e.String(), "down") || a.Get("nowMs").Float() != 4000 {
		t.Fatalf("crashing a crashed member: error %v at %v", e, a.Get("nowMs"))
	}
	for _, c := range []struct {
		fn   string
		args []any
		want string
	}{
		{"advance", []any{"soon"}, "advance"},
		{"step", []any{0}, "step"},
		{"input", []any{"{"}, "input"},
		{"start", []any{"-1"}, "seed"},
		{"start", []any{1, `{"members":0}`}, "members"},
	} {
		if e := api.Call(c.fn, c.args...).Get("error"); e.IsUndefined() || !strings.Contains(e.String(), c.want) {
			t.Errorf("%s%v: error %v, want one about %q", c.fn, c.args, e, c.want)
		}
	}
	// A failed start left no session behind.
	if e := api.Call("advance", 10).Get("error"); e.IsUndefined() || !strings.Contains(e.String(), "no session") {
		t.Fatalf("advance after a failed start: %v", e)
	}
}

// TestGlueCheckAndExport: check answers Porcupine's verdict with its
// HTML; export answers the session's trace, which replays to itself.
func TestGlueCheckAndExport(t *testing.T) {
	register(&engine{})
	api := js.Global().Get("raftkvLive")
	noError(t, "start", api.Call("start", "3", ""))
	noError(t, "advance", api.Call("advance", 2000))
	noError(t, "put", api.Call("input", `{"kind":"client","op":"put","id":1,"key":"a","value":"1"}`))
	noError(t, "advance", api.Call("advance", 3000))
	c := api.Call("check")
	noError(t, "check", c)
	if c.Get("verdict").String() != "ok" || c.Get("operations").Int() != 1 || !strings.Contains(c.Get("html").String(), "<html") {
		t.Fatalf("check: %s, %v operations", c.Get("detail").String(), c.Get("operations"))
	}
	x := api.Call("export")
	noError(t, "export", x)
	trace := x.Get("trace").String()
	if x.Get("filename").String() != "raftkv-live-3.jsonl" || !strings.Contains(x.Get("command").String(), "-replay raftkv-live-3.jsonl") {
		t.Fatalf("export: %s, %s", x.Get("filename").String(), x.Get("command").String())
	}
	sess, err := sim.ReadSession(strings.NewReader(trace))
	if err != nil || len(sess.Inputs) != 1 || sess.EndMs != 3000 {
		t.Fatalf("exported session: %+v, %v", sess, err)
	}
	var b strings.Builder
	if _, err := sess.Replay(&b); err != nil || b.String() != trace {
		t.Fatalf("the export does not replay to itself: %v", err)
	}
}
