package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/raftkv/raftkv/linearizability"
	"github.com/raftkv/raftkv/sim"
)

// engine is one live session and the trace it has written since the
// last answer. Every method answers with a plain object for JavaScript
// (js.ValueOf takes it as it is): "error" when something went wrong, and
// "events" (the new JSON Lines of the trace) and "nowMs" (the engine's
// virtual time) when the session moved.
type engine struct {
	live *sim.Live
	out  bytes.Buffer
}

type answer = map[string]any

func fail(err error) answer { return answer{"error": err.Error()} }

// moved is the answer of a call that may have traced events: them, the
// time, and err if there was one.
func (e *engine) moved(err error) answer {
	a := answer{"events": e.out.String(), "nowMs": 0.0}
	e.out.Reset()
	if e.live != nil {
		a["nowMs"] = e.live.NowMs()
	}
	if err != nil {
		a["error"] = err.Error()
	}
	return a
}

// start begins a new session of seed (a decimal string: JavaScript's
// numbers hold integers up to 2^53 only) with options, a JSON object of
// sim.Options fields over the live preset ("" for none). The answer holds
// the header line as "header" and the first events.
func (e *engine) start(seed, options string) answer {
	e.live = nil // a start ends the session before it, even if it fails
	e.out.Reset()
	n, err := strconv.ParseUint(strings.TrimSpace(seed), 10, 64)
	if err != nil {
		return fail(fmt.Errorf("seed %q: want a whole number from 0 to 2^64-1", seed))
	}
	o, err := sim.LiveOptions(n, []byte(options))
	if err != nil {
		return fail(err)
	}
	l, err := sim.NewLive(sim.LiveConfig{Seed: n, Options: o, Trace: &e.out})
	if l == nil {
		return fail(err)
	}
	e.live = l
	header, rest, _ := strings.Cut(e.out.String(), "\n")
	e.out.Reset()
	e.out.WriteString(rest)
	a := e.moved(err)
	a["header"] = header
	return a
}

// pageInput is an input as the page sends it: a new one, or one from a
// trace's input event (its time in "t") to apply again in a fork.
type pageInput struct {
	sim.Input
	T *float64 `json:"t"`
}

func parseInput(s string) (sim.Input, error) {
	var p pageInput
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return sim.Input{}, fmt.Errorf("input %s: %w", s, err)
	}
	if p.T != nil && p.AtMs == 0 {
		p.AtMs = *p.T
	}
	return p.Input, nil
}

func (e *engine) session() error {
	if e.live == nil {
		return fmt.Errorf("no session: start one first")
	}
	return nil
}

// input applies an action now.
func (e *engine) input(s string) answer {
	if err := e.session(); err != nil {
		return fail(err)
	}
	in, err := parseInput(s)
	if err != nil {
		return e.moved(err)
	}
	return e.moved(e.live.Apply(in))
}

// applyAt applies an input recorded earlier at its own time (a fork).
func (e *engine) applyAt(s string) answer {
	if err := e.session(); err != nil {
		return fail(err)
	}
	in, err := parseInput(s)
	if err != nil {
		return e.moved(err)
	}
	return e.moved(e.live.ApplyAt(in))
}

// advance runs the session up to virtual time toMs.
func (e *engine) advance(toMs float64) answer {
	if err := e.session(); err != nil {
		return fail(err)
	}
	return e.moved(e.live.AdvanceTo(toMs))
}

// maxQuietEvents bounds the events a step runs looking for one that
// traces something.
const maxQuietEvents = 100_000

// step runs events until n of them have been traced (a single step of
// the page is 1): many of the simulator's events, a member's tick that
// changes nothing, leave no trace, and a step that shows nothing is no
// step. The inputs record the exact number of events run before them, so
// a session stepped this way replays exactly all the same.
func (e *engine) step(n float64) answer {
	if err := e.session(); err != nil {
		return fail(err)
	}
	if n != math.Trunc(n) || n < 1 || n > 1e6 {
		return e.moved(fmt.Errorf("step %v events: want a whole number from 1 to 1e6", n))
	}
	// Lines are counted as they come, not over the whole output each time.
	nl := []byte("\n")
	seen, lines := e.out.Len(), bytes.Count(e.out.Bytes(), nl)
	var err error
	for i := 0; err == nil && i < maxQuietEvents && lines < int(n); i++ {
		err = e.live.AdvanceEvents(1)
		lines += bytes.Count(e.out.Bytes()[seen:], nl)
		seen = e.out.Len()
	}
	return e.moved(err)
}

// verdicts names Porcupine's verdicts for the page.
var verdicts = map[linearizability.Verdict]string{
	linearizability.VerdictOK: "ok", linearizability.VerdictIllegal: "illegal", linearizability.VerdictUnknown: "unknown",
}

// check runs Porcupine on the session's client history so far.
func (e *engine) check() answer {
	if err := e.session(); err != nil {
		return fail(err)
	}
	c, err := e.live.Check()
	if err != nil {
		return fail(err)
	}
	return answer{"verdict": verdicts[c.Verdict], "detail": c.Detail, "html": string(c.HTML),
		"operations": float64(c.Operations), "ambiguous": float64(c.Ambiguous)}
}

// export replays the session from its start into a trace that ends now:
// what raftkv-sim -replay reproduces byte for byte.
func (e *engine) export() answer {
	if err := e.session(); err != nil {
		return fail(err)
	}
	sess := e.live.Session()
	var b bytes.Buffer
	if _, err := sess.Replay(&b); err != nil {
		return fail(fmt.Errorf("export: %w", err))
	}
	file := sim.LiveSessionFile(sess.Seed)
	return answer{"trace": b.String(), "filename": file,
		"command": sim.LiveReplayCommand(sess.Seed) + " -trace replayed.jsonl"}
}
