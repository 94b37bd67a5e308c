package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/linearizability"
)

// A live session is a run driven by its caller (the visualizer's page,
// through the WebAssembly build): the caller advances the virtual clock
// and applies user actions, Inputs, at the moment it chooses. Each input
// is traced as an "input" event before its effects, with the virtual time
// and the number of events run before it, so the session is its seed, its
// options and its inputs: Session.Replay runs them again and writes the
// same trace byte for byte (raftkv-sim -replay).

// InputKinds are the actions a live session takes (Input.Kind).
var InputKinds = []string{
	"crash", "restart", "pause", "resume", "timeout", "isolate", "rejoin", "transfer",
	"add", "remove",
	"cut", "heal", "healAll", "clog", "drop",
	"client",
}

// ClientOps are the operations of an Input of kind "client".
var ClientOps = []string{"put", "get", "cas", "delete", "watch"}

// maxLiveMembers bounds the members a live session ever starts (the
// initial ones and every one added).
const maxLiveMembers = 16

// Input is one user action on a live session. Kind says which (see
// InputKinds); the other fields say on what:
//
//	crash, restart, pause, resume, timeout, isolate, rejoin   ID (a member)
//	transfer   ID: the member the leader hands leadership to
//	add        (a new member joins with an empty disk, then becomes a voter)
//	remove     ID
//	cut, heal  From, To, Both (both directions)
//	healAll    (every link cut healed, every clog ended)
//	clog       From, To, Ms: the link holds its messages Ms milliseconds
//	drop       MsgID: a message in flight (the trace's mid)
//	client     Op (put|get|cas|delete|watch), ID (the member it is sent
//	           to), Key, Value (put, cas), Prev (cas; delete: compare-and-
//	           delete), Quorum (get: nil or true reads through ReadIndex,
//	           false reads the member's own store at once, possibly stale)
//
// AtMs and Events are filled in when the input is applied: the virtual
// time, and the number of events the run had taken.
type Input struct {
	Kind   string  `json:"kind"`
	ID     uint64  `json:"id,omitempty"`
	From   uint64  `json:"from,omitempty"`
	To     uint64  `json:"to,omitempty"`
	Both   bool    `json:"both,omitempty"`
	Ms     float64 `json:"ms,omitempty"`
	MsgID  uint64  `json:"mid,omitempty"`
	Op     string  `json:"op,omitempty"`
	Key    string  `json:"key,omitempty"`
	Value  string  `json:"value,omitempty"`
	Prev   string  `json:"prev,omitempty"`
	Quorum *bool   `json:"quorum,omitempty"`
	AtMs   float64 `json:"atMs,omitempty"`
	Events int64   `json:"events,omitempty"`
}

func (in Input) event() TraceEvent {
	return TraceEvent{Type: "input", Kind: in.Kind, ID: in.ID, From: in.From, To: in.To, Both: in.Both, Ms: in.Ms,
		MsgID: in.MsgID, Op: in.Op, Key: in.Key, Value: in.Value, Prev: in.Prev, Quorum: in.Quorum, Events: in.Events}
}

// InputOf is the input an "input" trace event records.
func InputOf(e TraceEvent) Input {
	return Input{Kind: e.Kind, ID: e.ID, From: e.From, To: e.To, Both: e.Both, Ms: e.Ms, MsgID: e.MsgID, Op: e.Op,
		Key: e.Key, Value: e.Value, Prev: e.Prev, Quorum: e.Quorum, AtMs: e.T, Events: e.Events}
}

// LiveConfig starts a live session.
type LiveConfig struct {
	Seed uint64
	// Options are the session's, usually MakeOptions(LivePreset, ...)
	// with the user's changes; ValidateLiveOptions says which are allowed.
	Options Options
	// Trace receives the JSON Lines trace; every call of the session
	// writes out (flushes) what it traced before it returns.
	Trace io.Writer
	// CheckTimeout bounds Check (0: 10s). In WebAssembly, where the
	// checker cannot be interrupted, it does not apply.
	CheckTimeout time.Duration
}

// Live is a live session. It is not safe for concurrent use.
type Live struct {
	s       *Sim
	cfg     LiveConfig
	inputs  []Input
	users   []*client
	watches []*liveWatch
	// ended: the end event is written (End, or a failure).
	ended bool
}

// liveWatch is a user's watch waiting on a member's store.
type liveWatch struct {
	c    *client
	m    *member
	life int
	w    *kv.Watcher
	key  string
}

// ErrEnded is returned by a session's methods after End.
var ErrEnded = errors.New("sim: the live session has ended")

// LiveReplayCommand is the command that replays the live session of seed
// from its exported trace (saved under LiveSessionFile's name).
func LiveReplayCommand(seed uint64) string {
	return "go run ./cmd/raftkv-sim -replay " + LiveSessionFile(seed)
}

// LiveSessionFile is the name a live session's trace is exported under.
func LiveSessionFile(seed uint64) string { return fmt.Sprintf("raftkv-live-%d.jsonl", seed) }

// ValidateLiveOptions says why o cannot run as a live session, or nil.
func ValidateLiveOptions(o Options) error {
	bad := func(format string, a ...any) error { return fmt.Errorf("sim: live options: "+format, a...) }
	n := o.Net
	w := o.Workload
	switch {
	case o.Preset != LivePreset:
		return bad("preset %q, want %q", o.Preset, LivePreset)
	case o.Members < 1 || o.Members > 9:
		return bad("members %d, want 1 to 9", o.Members)
	case o.Clients < 0 || o.Clients > 20:
		return bad("clients %d, want 0 to 20", o.Clients)
	case o.Clients > 0 && (o.Keys < 1 || w.Get+w.Set+w.Create+w.CAS+w.Delete+w.Read <= 0 || w.ThinkMs < 0):
		return bad("clients need at least one key and a workload")
	case o.TickMs < 1 || o.TickMs > 1000:
		return bad("tickMs %d, want 1 to 1000", o.TickMs)
	case o.HeartbeatTick < 1 || o.ElectionTick <= o.HeartbeatTick || o.ElectionTick > 1000:
		return bad("electionTick %d and heartbeatTick %d: want 1 <= heartbeat < election <= 1000", o.ElectionTick, o.HeartbeatTick)
	case w.TimeoutMs < 1:
		return bad("workload.timeoutMs %d, want a positive timeout for requests", w.TimeoutMs)
	case n.LatencyMinMs < 0 || n.LatencyTailMs < 0 || n.LatencyMinMs+n.LatencyTailMs > 10_000:
		return bad("latency %v+%v ms", n.LatencyMinMs, n.LatencyTailMs)
	case n.Loss < 0 || n.Loss >= 1 || n.Duplicate < 0 || n.Duplicate >= 1 || n.Reorder < 0 || n.Reorder > 1:
		return bad("loss, duplicate and reorder are probabilities below 1")
	case o.PreloadKeys != 0:
		return bad("preloadKeys is for benchmarks")
	}
	_, err := plantedBugs(o.Bug)
	return err
}

// LiveOptions are the options of a live session: the live preset with the
// fields of changes (a JSON object of Options fields, such as
// {"members":3,"disablePreVote":true}; empty for none) set over it.
func LiveOptions(seed uint64, changes []byte) (Options, error) {
	o, err := MakeOptions(LivePreset, seed, false, "")
	if err != nil {
		return o, err
	}
	o.Faults.MaxDown = 0 // a minority of the members, unless changes say
	if len(bytes.TrimSpace(changes)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(changes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			return o, fmt.Errorf("sim: live options: %w", err)
		}
	}
	o.Preset = LivePreset
	if o.Faults.MaxDown == 0 {
		o.Faults.MaxDown = (o.Members - 1) / 2
	}
	return o, ValidateLiveOptions(o)
}

// NewLive starts a live session: the header and the members' start are
// traced, and the virtual clock is at 0.
func NewLive(cfg LiveConfig) (*Live, error) {
	if err := ValidateLiveOptions(cfg.Options); err != nil {
		return nil, err
	}
	if cfg.CheckTimeout == 0 {
		cfg.CheckTimeout = 10 * time.Second
	}
	s := newSim(Config{Seed: cfg.Seed, Options: cfg.Options, Trace: cfg.Trace, CheckTimeout: cfg.CheckTimeout})
	s.session = true
	l := &Live{s: s, cfg: cfg}
	if err := l.guard(s.init); err != nil {
		return nil, err
	}
	if err := l.flush(); err != nil {
		return nil, err
	}
	return l, l.failed()
}

// guard runs fn, turning a panic into a ClassCrash failure of the run.
func (l *Live) guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			l.s.fail(ClassCrash, "panic", fmt.Sprintf("%v\n%s", p, debug.Stack()))
		}
	}()
	return fn()
}

// failed is the run's failure, as an error, or nil.
func (l *Live) failed() error {
	if f := l.s.failure; f != nil {
		return f
	}
	return nil
}

// flush writes out what was traced; a failure ends the trace with its end
// event.
func (l *Live) flush() error {
	s := l.s
	if s.failure != nil && !l.ended {
		l.writeEnd()
	}
	if s.tr == nil {
		return nil
	}
	if err := s.tr.flush(); err != nil {
		return fmt.Errorf("sim: live trace: %w", err)
	}
	return nil
}

func (l *Live) writeEnd() {
	s := l.s
	l.ended = true
	e := TraceEvent{Type: "end", Result: "ok", Events: s.res.Events}
	if f := s.failure; f != nil {
		e.Result, e.Reason = string(f.Class), f.Check+": "+f.Msg
	}
	s.trace(e)
}

// call runs fn if the session can go on, then flushes the trace; its
// error is fn's, or the run's failure.
func (l *Live) call(fn func() error) error {
	if l.ended {
		if err := l.failed(); err != nil {
			return err
		}
		return ErrEnded
	}
	err := l.guard(fn)
	if ferr := l.flush(); err == nil {
		err = ferr
	}
	if err == nil {
		err = l.failed()
	}
	return err
}

// NowMs is the session's virtual time in milliseconds.
func (l *Live) NowMs() float64 { return msOf(l.s.nowNs) }

// Events is the number of events the session has run.
func (l *Live) Events() int64 { return l.s.res.Events }

// Failure is why the run failed (a checker fired, or a member crashed
// for good), or nil. A failed session takes no more inputs.
func (l *Live) Failure() *Failure { return l.s.failure }

// Options are the session's options.
func (l *Live) Options() Options { return l.s.opts }

// Members are the ids of the members whose process exists, in order.
func (l *Live) Members() []uint64 { return slices.Clone(l.s.live) }

// Leader is the member leading the highest term among those up, or 0.
func (l *Live) Leader() uint64 {
	if m := l.s.leader(); m != nil {
		return m.id
	}
	return 0
}

// nsOfMs is the virtual time of ms, to the microsecond (the trace's
// precision, so that a time read back from a trace is the same).
func nsOfMs(ms float64) int64 { return int64(math.Round(ms*1e3)) * 1e3 }

// step runs the next event and answers the watches it fired.
func (l *Live) step() {
	l.s.step()
	if len(l.watches) > 0 {
		l.pollWatches()
	}
}

// AdvanceTo runs every event due at or before virtual time ms and leaves
// the clock at ms (a time already passed changes nothing).
func (l *Live) AdvanceTo(ms float64) error {
	if math.IsNaN(ms) || ms < 0 || ms > 1e9 {
		return fmt.Errorf("sim: advance to %v ms: want a time from 0 to 1e9 ms", ms)
	}
	return l.call(func() error {
		l.runTo(-1, nsOfMs(ms))
		return nil
	})
}

// runTo runs events until events have run (events >= 0), or else every
// event due at or before tNs, then sets the clock to tNs if it is behind.
func (l *Live) runTo(events int64, tNs int64) {
	s := l.s
	if events >= 0 {
		for s.failure == nil && s.res.Events < events && len(s.q) > 0 {
			l.step()
		}
	} else {
		for s.failure == nil && len(s.q) > 0 && s.q[0].atNs <= tNs {
			l.step()
		}
	}
	if s.failure == nil {
		s.nowNs = max(s.nowNs, tNs)
	}
}

// AdvanceEvents runs the next n events (a single step is 1); the clock is
// left at the last one's time.
func (l *Live) AdvanceEvents(n int) error {
	if n < 0 {
		return fmt.Errorf("sim: advance by %d events", n)
	}
	return l.call(func() error {
		end := l.s.res.Events + int64(n)
		if end < 0 { // overflowed: a huge n runs every event left
			end = math.MaxInt64
		}
		l.runTo(end, 0)
		return nil
	})
}

// NextEventMs is the virtual time of the next event due.
func (l *Live) NextEventMs() float64 {
	if len(l.s.q) == 0 {
		return l.NowMs()
	}
	return msOf(l.s.q[0].atNs)
}

// Apply applies in now. An input that cannot apply (a member that is
// already down, a message no longer in flight, ...) is refused with an
// error that says why, and is not recorded; one that applies is traced as
// an "input" event, followed by its effects.
func (l *Live) Apply(in Input) error {
	return l.call(func() error { return l.apply(in) })
}

func (l *Live) apply(in Input) error {
	s := l.s
	act, err := l.prepare(in)
	if err != nil {
		return err
	}
	in.AtMs, in.Events = msOf(s.nowNs), s.res.Events
	l.inputs = append(l.inputs, in)
	s.trace(in.event())
	act()
	return nil
}

// Inputs are the inputs applied so far, in order.
func (l *Live) Inputs() []Input { return slices.Clone(l.inputs) }

// End ends the session: its trace ends with an "end" event (result ok,
// or the failure's class), and the session takes nothing more.
func (l *Live) End() error {
	if !l.ended {
		l.writeEnd()
	}
	return l.flush()
}

// ---- inputs ----

func (l *Live) member(id uint64) (*member, error) {
	s := l.s
	if id < 1 || id > uint64(len(s.members)) {
		return nil, fmt.Errorf("no member %d", id)
	}
	m := s.member(id)
	if m.gone {
		return nil, fmt.Errorf("member %d was removed", id)
	}
	return m, nil
}

func (l *Live) running(id uint64) (*member, error) {
	m, err := l.member(id)
	switch {
	case err != nil:
		return nil, err
	case !m.up:
		return nil, fmt.Errorf("member %d is down", id)
	case m.paused:
		return nil, fmt.Errorf("member %d is paused", id)
	}
	return m, nil
}

func (l *Live) link(from, to uint64) (int, error) {
	if _, err := l.member(from); err != nil {
		return 0, err
	}
	if _, err := l.member(to); err != nil {
		return 0, err
	}
	if from == to {
		return 0, fmt.Errorf("a link joins two members (from %d to %d)", from, to)
	}
	return l.s.net.link(from, to), nil
}

// prepare checks that in can apply now and returns what applies it.
func (l *Live) prepare(in Input) (func(), error) {
	s := l.s
	nw := s.net
	bad := func(format string, a ...any) (func(), error) {
		return nil, fmt.Errorf("%s: "+format, append([]any{in.Kind}, a...)...)
	}
	switch in.Kind {
	case "crash", "pause", "timeout":
		m, err := l.running(in.ID)
		if err != nil {
			return bad("%v", err)
		}
		switch in.Kind {
		case "crash":
			return func() { s.crash(m, "user") }, nil
		case "pause":
			return func() { s.pause(m) }, nil
		}
		return func() {
			// What a tick does when the election timer runs out.
			m.ticking = true
			m.node.Campaign()
			s.process(m)
			m.ticking = false
		}, nil
	case "restart":
		m, err := l.member(in.ID)
		if err != nil {
			return bad("%v", err)
		}
		if m.up {
			return bad("member %d is up", in.ID)
		}
		return func() { s.restart(m) }, nil
	case "resume":
		m, err := l.member(in.ID)
		if err != nil {
			return bad("%v", err)
		}
		if !m.paused {
			return bad("member %d is not paused", in.ID)
		}
		return func() { s.resume(m) }, nil
	case "isolate", "rejoin":
		if _, err := l.member(in.ID); err != nil {
			return bad("%v", err)
		}
		return func() {
			for _, other := range s.live {
				if other != in.ID {
					nw.blocked[nw.link(in.ID, other)] = in.Kind == "isolate"
					nw.blocked[nw.link(other, in.ID)] = in.Kind == "isolate"
				}
			}
			l.traceLinks()
		}, nil
	case "cut", "heal":
		a, err := l.link(in.From, in.To)
		if err != nil {
			return bad("%v", err)
		}
		b := nw.link(in.To, in.From)
		return func() {
			nw.blocked[a] = in.Kind == "cut"
			if in.Both {
				nw.blocked[b] = in.Kind == "cut"
			}
			l.traceLinks()
		}, nil
	case "healAll":
		return func() {
			nw.healAll()
			l.traceLinks()
			for i, u := range nw.clogUntil {
				if u > s.nowNs {
					nw.clogUntil[i] = s.nowNs
					s.trace(TraceEvent{Type: "unclog", From: uint64(i/nw.n) + 1, To: uint64(i%nw.n) + 1})
				}
			}
		}, nil
	case "clog":
		i, err := l.link(in.From, in.To)
		if err != nil {
			return bad("%v", err)
		}
		if !(in.Ms > 0 && in.Ms <= 600_000) {
			return bad("ms %v: want a duration from 0 to 600000 ms", in.Ms)
		}
		return func() {
			until := s.nowNs + nsOfMs(in.Ms)
			nw.clog(in.From, in.To, until)
			s.trace(TraceEvent{Type: "clog", From: in.From, To: in.To})
			s.at(until, func() {
				if nw.clogUntil[i] == until {
					s.trace(TraceEvent{Type: "unclog", From: in.From, To: in.To})
				}
			})
		}, nil
	case "drop":
		f := nw.inflight[in.MsgID]
		if f == nil || f.dropped {
			return bad("message %d is not in flight", in.MsgID)
		}
		return func() {
			f.dropped = true
			e := msgEvent("drop", in.MsgID, f.m)
			e.Reason = "user"
			s.trace(e)
		}, nil
	case "transfer":
		ld := s.leader()
		switch {
		case ld == nil:
			return bad("no leader")
		case ld.paused:
			return bad("the leader, member %d, is paused", ld.id)
		case ld.id == in.ID:
			return bad("member %d leads already", in.ID)
		case !slices.Contains(ld.node.ConfState().Voters, in.ID):
			return bad("member %d is not a voter", in.ID)
		}
		return func() {
			s.trace(TraceEvent{Type: "transfer", ID: ld.id, To: in.ID})
			if ld.node.TransferLeadership(in.ID) == nil {
				s.process(ld)
			}
		}, nil
	case "add", "remove":
		return l.prepareChurn(in)
	case "client":
		return l.prepareClient(in)
	}
	return nil, fmt.Errorf("unknown input kind %q (want one of %s)", in.Kind, strings.Join(InputKinds, ", "))
}

// prepareChurn: a membership change, through the simulator's churn: the
// change is proposed at the leader (again, until it shows in the leader's
// configuration), one at a time.
func (l *Live) prepareChurn(in Input) (func(), error) {
	s := l.s
	ld := s.leader()
	switch {
	case s.churn != nil:
		return nil, fmt.Errorf("%s: a membership change is in progress", in.Kind)
	case ld == nil:
		return nil, fmt.Errorf("%s: no leader to propose it to", in.Kind)
	}
	cs := ld.node.ConfState()
	if in.Kind == "add" {
		if len(s.members) >= maxLiveMembers {
			return nil, fmt.Errorf("add: a session starts at most %d members", maxLiveMembers)
		}
		return func() {
			op := &churnOp{kind: "add", startNs: s.nowNs}
			op.add = s.join(cs.Voters).id
			s.churn = op
			s.trace(TraceEvent{Type: "churn", Kind: op.kind, To: op.add})
			s.after(0, s.pollChurn)
		}, nil
	}
	if _, err := l.member(in.ID); err != nil {
		return nil, fmt.Errorf("remove: %v", err)
	}
	switch {
	case !slices.Contains(cs.Voters, in.ID) && !slices.Contains(cs.Learners, in.ID):
		return nil, fmt.Errorf("remove: member %d is not in the leader's configuration", in.ID)
	case len(cs.Voters) == 1 && cs.Voters[0] == in.ID:
		return nil, fmt.Errorf("remove: member %d is the last voter", in.ID)
	}
	return func() {
		s.churn = &churnOp{kind: "remove", remove: in.ID, startNs: s.nowNs}
		s.trace(TraceEvent{Type: "churn", Kind: "remove", From: in.ID})
		s.after(0, s.pollChurn)
	}, nil
}

// prepareClient: a request from a user's client, through the simulator's
// client machinery (it follows "not leader" hints and gives up after the
// workload's timeout), checked by Porcupine like the workload's.
func (l *Live) prepareClient(in Input) (func(), error) {
	s := l.s
	bad := func(format string, a ...any) (func(), error) {
		return nil, fmt.Errorf("client %s: "+format, append([]any{in.Op}, a...)...)
	}
	m, err := l.member(in.ID)
	if err != nil {
		return bad("%v", err)
	}
	key := strings.TrimSpace(in.Key)
	if key == "" || len(key) > 200 {
		return bad("a key of 1 to 200 characters")
	}
	p := path.Clean("/" + key)
	if p == "/" || strings.HasPrefix(p, "/_") || strings.Contains(p, "/_") {
		return bad("key %q: not the root, and no hidden (\"_\") part", key)
	}
	if len(in.Value) > 1000 || len(in.Prev) > 1000 {
		return bad("values of at most 1000 bytes")
	}
	op := &clientOp{key: -1, cmd: kv.Command{Path: p}, in: linearizability.Input{Key: p}}
	switch in.Op {
	case "put":
		if in.Value == "" {
			return bad("a value")
		}
		op.in.Op, op.in.Value = linearizability.OpSet, in.Value
		op.cmd.Method, op.cmd.Value = kv.MethodPut, in.Value
	case "get":
		op.in.Op = linearizability.OpGet
		if in.Quorum == nil || *in.Quorum {
			op.readIndex = true
		} else {
			op.local = true
		}
	case "cas":
		if in.Value == "" || in.Prev == "" {
			return bad("a value and the previous value (prev)")
		}
		op.in.Op, op.in.Value, op.in.PrevValue = linearizability.OpCompareAndSwap, in.Value, in.Prev
		op.cmd.Method, op.cmd.Value, op.cmd.PrevValue = kv.MethodPut, in.Value, in.Prev
	case "delete":
		op.in.Op, op.cmd.Method = linearizability.OpDelete, kv.MethodDelete
		if in.Prev != "" {
			op.in.Op, op.in.PrevValue, op.cmd.PrevValue = linearizability.OpCompareAndDelete, in.Prev, in.Prev
		}
	case "watch":
		return func() { l.watch(l.userClient(), m, p) }, nil
	default:
		return nil, fmt.Errorf("client: unknown op %q (want one of %s)", in.Op, strings.Join(ClientOps, ", "))
	}
	return func() {
		c := l.userClient()
		c.target = m.id
		s.opSeq++
		op.id = s.opSeq
		c.start(op)
	}, nil
}

// userClient is an idle client of the user's (a client has one request
// outstanding at a time, so a request made while the others wait gets a
// new client).
func (l *Live) userClient() *client {
	for _, c := range l.users {
		if c.op == nil && !l.watching(c) {
			return c
		}
	}
	s := l.s
	c := newClient(s, len(s.clients)+1)
	c.user = true
	s.clients = append(s.clients, c)
	l.users = append(l.users, c)
	return c
}

func (l *Live) watching(c *client) bool {
	for _, w := range l.watches {
		if w.c == c {
			return true
		}
	}
	return false
}

// watch sends a one-shot watch of key to member m; the answer is the next
// change of the key that m applies (not in the history Porcupine checks).
func (l *Live) watch(c *client, m *member, key string) {
	s := l.s
	c.target = m.id
	s.trace(TraceEvent{Type: "request", Client: c.id, ID: m.id, Op: "watch", Key: key})
	lw := &liveWatch{c: c, m: m, key: key}
	l.watches = append(l.watches, lw) // waiting for it to arrive: w is nil
	s.after(s.net.clientLatencyNs(), func() {
		if !s.onMember(m, func() {
			s.trace(TraceEvent{Type: "request-arrive", Client: c.id, ID: m.id, Attempt: 1})
			w, err := m.node.Store().Watch(key, false, false, 0)
			if err != nil {
				l.endWatch(lw, TraceEvent{Result: err.Error()})
				return
			}
			lw.w, lw.life = w, m.life
		}) {
			l.endWatch(lw, TraceEvent{Result: "down"})
		}
	})
}

// pollWatches answers the watches whose key changed, and closes those
// whose member went down.
func (l *Live) pollWatches() {
	for _, lw := range slices.Clone(l.watches) {
		if lw.w == nil {
			continue
		}
		if lw.m.life != lw.life || !lw.m.up {
			l.endWatch(lw, TraceEvent{Result: "closed"})
			continue
		}
		select {
		case ev, ok := <-lw.w.Events():
			e := TraceEvent{Result: "closed"}
			if ok && ev != nil && ev.Node != nil {
				e = TraceEvent{Result: "ok", Index: ev.Node.ModifiedIndex, Kind: string(ev.Action)}
				if ev.Node.Value != nil {
					e.Value = *ev.Node.Value
				}
			}
			l.endWatch(lw, e)
		default:
		}
	}
}

func (l *Live) endWatch(lw *liveWatch, e TraceEvent) {
	l.watches = slices.DeleteFunc(l.watches, func(x *liveWatch) bool { return x == lw })
	if lw.w != nil {
		lw.w.Remove()
	}
	e.Type, e.Client, e.ID, e.Op, e.Key = "response", lw.c.id, lw.m.id, "watch", lw.key
	l.s.trace(e)
}

// traceLinks traces every directed link cut, after a change.
func (l *Live) traceLinks() {
	nw := l.s.net
	var cut [][2]uint64
	for from := range nw.n {
		for to := range nw.n {
			if nw.blocked[from*nw.n+to] {
				cut = append(cut, [2]uint64{uint64(from + 1), uint64(to + 1)})
			}
		}
	}
	l.s.trace(TraceEvent{Type: "links", Cut: cut})
}

// ---- checking ----

// LiveCheck is Porcupine's verdict on a live session's client history.
type LiveCheck struct {
	Verdict linearizability.Verdict
	// Operations were checked, Ambiguous of them with an unknown outcome.
	Operations, Ambiguous int
	// Detail says it in a sentence.
	Detail string
	// HTML is Porcupine's visualization: a linearization, or the longest
	// partial ones when there is none.
	HTML []byte
}

// Check runs Porcupine on the client history so far. Requests still
// waiting count as timed out: a write may or may not have happened, a
// read is left out.
func (l *Live) Check() (LiveCheck, error) {
	ops := l.s.hist.Operations()
	model := linearizability.Model()
	verdict, info := porcupine.CheckOperationsVerbose(model, ops, l.cfg.CheckTimeout)
	var r LiveCheck
	r.Operations = len(ops)
	for _, op := range ops {
		if out, ok := op.Output.(linearizability.Output); ok && out.Status == linearizability.StatusAmbiguous {
			r.Ambiguous++
		}
	}
	switch verdict {
	case porcupine.Ok:
		r.Verdict = linearizability.VerdictOK
		r.Detail = fmt.Sprintf("linearizable: %d operations (%d with an unknown outcome)", r.Operations, r.Ambiguous)
	case porcupine.Illegal:
		r.Verdict = linearizability.VerdictIllegal
		r.Detail = fmt.Sprintf("not linearizable: no order of the %d operations explains every answer; the visualization shows the longest partial orders", r.Operations)
	default:
		r.Verdict = linearizability.VerdictUnknown
		r.Detail = fmt.Sprintf("unknown: the check of %d operations ran out of time (%v)", r.Operations, l.cfg.CheckTimeout)
	}
	var b bytes.Buffer
	if err := porcupine.Visualize(model, info, &b); err != nil {
		return r, fmt.Errorf("sim: porcupine visualization: %w", err)
	}
	r.HTML = b.Bytes()
	return r, nil
}

// ---- sessions ----

// Session is what a live session's trace says of it: the seed, the
// options, the inputs, and where it ended.
type Session struct {
	Seed    uint64
	Options Options
	Inputs  []Input
	// EndMs and EndEvents: the virtual time and the number of events at
	// the end.
	EndMs     float64
	EndEvents int64
}

// Session is the session so far (as it would end now).
func (l *Live) Session() Session {
	return Session{Seed: l.s.cfg.Seed, Options: l.s.opts, Inputs: l.Inputs(), EndMs: l.NowMs(), EndEvents: l.s.res.Events}
}

// ApplyAt applies an input recorded by an earlier session (AtMs and
// Events set): it runs the session to that point, then applies it. It is
// an error if the session has gone past it, or if the input does not
// apply there. An input without Events (0: a script's, not a trace's) is
// applied at AtMs after every event due by then, as AdvanceTo and Apply
// would.
func (l *Live) ApplyAt(in Input) error {
	return l.call(func() error {
		s := l.s
		t := nsOfMs(in.AtMs)
		timed := in.Events == 0
		if !timed && s.res.Events > in.Events || msOf(s.nowNs) > in.AtMs {
			return fmt.Errorf("sim: input %s at %.3fms after %d events: the session is past it (%.3fms, %d events)",
				in.Kind, in.AtMs, in.Events, msOf(s.nowNs), s.res.Events)
		}
		ev := in.Events
		if timed {
			ev = -1
		}
		l.runTo(ev, t)
		if s.failure != nil {
			return nil
		}
		if !timed && s.res.Events != in.Events || len(s.q) > 0 && s.q[0].atNs < s.nowNs {
			return fmt.Errorf("sim: input %s at %.3fms after %d events: the session does not get there (%d events, next at %.3fms)",
				in.Kind, in.AtMs, in.Events, s.res.Events, l.NextEventMs())
		}
		return l.apply(in)
	})
}

// Replay runs the session again, writing its trace to w: the same bytes
// as the session's own trace. The Failure is the run's, if it failed
// (again); the error says why the replay could not be done.
func (sess Session) Replay(w io.Writer) (*Failure, error) {
	l, err := NewLive(LiveConfig{Seed: sess.Seed, Options: sess.Options, Trace: w})
	if l == nil {
		return nil, err
	}
	for i, in := range sess.Inputs {
		if err := l.ApplyAt(in); err != nil {
			if f := l.Failure(); f != nil {
				return f, l.End()
			}
			return nil, fmt.Errorf("input %d: %w", i+1, err)
		}
	}
	if err := l.call(func() error { l.runTo(sess.EndEvents, nsOfMs(sess.EndMs)); return nil }); err != nil && l.Failure() == nil {
		return nil, err
	}
	return l.Failure(), l.End()
}

// ReadSession reads a live session's trace (an exported one): the header,
// the input events and the end event.
func ReadSession(r io.Reader) (Session, error) {
	var sess Session
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20)
	line := 0
	ended := false
	for sc.Scan() {
		line++
		if line == 1 {
			var h TraceHeader
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Type != "header" {
				return sess, errors.New("line 1: not a raftkv-sim trace (no header)")
			}
			if h.Format != TraceFormat {
				return sess, fmt.Errorf("line 1: trace format %d, this raftkv-sim reads %d", h.Format, TraceFormat)
			}
			if h.Options.Preset != LivePreset {
				return sess, fmt.Errorf("line 1: the trace of a run of preset %q, not of a live session (replay it with: %s)", h.Options.Preset, h.Replay)
			}
			sess.Seed, sess.Options = h.Seed, h.Options
			continue
		}
		b := sc.Bytes()
		if !bytes.Contains(b, []byte(`"type":"input"`)) && !bytes.Contains(b, []byte(`"type":"end"`)) {
			continue
		}
		var e TraceEvent
		if err := json.Unmarshal(b, &e); err != nil {
			return sess, fmt.Errorf("line %d: %w", line, err)
		}
		switch e.Type {
		case "input":
			sess.Inputs = append(sess.Inputs, InputOf(e))
		case "end":
			sess.EndMs, sess.EndEvents, ended = e.T, e.Events, true
		}
	}
	if err := sc.Err(); err != nil {
		return sess, fmt.Errorf("line %d: %w", line+1, err)
	}
	if line == 0 {
		return sess, errors.New("empty trace")
	}
	if !ended {
		return sess, errors.New("no end event: the trace is cut short (export the session again)")
	}
	return sess, nil
}
