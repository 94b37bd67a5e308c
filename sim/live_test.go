package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/linearizability"
	"github.com/raftkv/raftkv/raft"
)

// liveSession starts a live session of seed with the live preset changed
// by changes (JSON, may be empty), its trace in the returned buffer.
func liveSession(t *testing.T, seed uint64, changes string) (*Live, *bytes.Buffer) {
	t.Helper()
	o, err := LiveOptions(seed, []byte(changes))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	l, err := NewLive(LiveConfig{Seed: seed, Options: o, Trace: &b})
	if err != nil {
		t.Fatal(err)
	}
	return l, &b
}

func advance(t *testing.T, l *Live, ms float64) {
	t.Helper()
	if err := l.AdvanceTo(l.NowMs() + ms); err != nil {
		t.Fatalf("advance to %.3fms: %v (replay the session: seed %d)", l.NowMs()+ms, err, l.s.cfg.Seed)
	}
}

func apply(t *testing.T, l *Live, in Input) {
	t.Helper()
	if err := l.Apply(in); err != nil {
		t.Fatalf("%+v at %.3fms: %v", in, l.NowMs(), err)
	}
}

// waitLeader advances until a leader is elected (within 5 s).
func waitLeader(t *testing.T, l *Live) uint64 {
	t.Helper()
	for range 500 {
		if id := l.Leader(); id != 0 && l.s.member(id).view.commit > 0 {
			return id
		}
		advance(t, l, 10)
	}
	t.Fatalf("no leader after %.0fms", l.NowMs())
	return 0
}

// events parses a trace's events (after the header).
func events(t *testing.T, b []byte) []TraceEvent {
	t.Helper()
	var out []TraceEvent
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<24)
	sc.Scan()
	for sc.Scan() {
		var e TraceEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", sc.Bytes(), err)
		}
		out = append(out, e)
	}
	return out
}

func pfalse() *bool { f := false; return &f }

// TestLiveReplay: a session with every kind of input, applied at chosen
// times and after single steps, replays to the same trace byte for byte,
// from the session itself and from its trace (as raftkv-sim -replay does).
func TestLiveReplay(t *testing.T) {
	l, b := liveSession(t, 3, `{"clients":2}`)
	lead := waitLeader(t, l)
	f := lead%5 + 1 // a follower
	apply(t, l, Input{Kind: "client", Op: "put", ID: f, Key: "x", Value: "1"})
	apply(t, l, Input{Kind: "client", Op: "watch", ID: lead, Key: "x"})
	advance(t, l, 7.5)
	if err := l.AdvanceEvents(3); err != nil {
		t.Fatal(err)
	}
	var mid uint64
	for id := range l.s.net.inflight {
		mid = max(mid, id)
	}
	apply(t, l, Input{Kind: "drop", MsgID: mid})
	apply(t, l, Input{Kind: "client", Op: "get", ID: f, Key: "x"})
	apply(t, l, Input{Kind: "client", Op: "get", ID: f, Key: "/x", Quorum: pfalse()})
	apply(t, l, Input{Kind: "cut", From: lead, To: f, Both: true})
	apply(t, l, Input{Kind: "clog", From: f, To: lead, Ms: 120})
	advance(t, l, 300)
	apply(t, l, Input{Kind: "client", Op: "put", ID: lead, Key: "x", Value: "2"})
	apply(t, l, Input{Kind: "pause", ID: f})
	advance(t, l, 50)
	apply(t, l, Input{Kind: "resume", ID: f})
	apply(t, l, Input{Kind: "client", Op: "cas", ID: lead, Key: "x", Value: "3", Prev: "2"})
	apply(t, l, Input{Kind: "heal", From: lead, To: f, Both: true})
	apply(t, l, Input{Kind: "isolate", ID: lead})
	advance(t, l, 1500)
	apply(t, l, Input{Kind: "rejoin", ID: lead})
	apply(t, l, Input{Kind: "crash", ID: lead})
	lead2 := waitLeader(t, l)
	apply(t, l, Input{Kind: "restart", ID: lead})
	apply(t, l, Input{Kind: "client", Op: "delete", ID: lead2, Key: "x", Prev: "3"})
	apply(t, l, Input{Kind: "timeout", ID: lead})
	advance(t, l, 1000)
	lead3 := waitLeader(t, l)
	apply(t, l, Input{Kind: "transfer", ID: lead3%5 + 1})
	advance(t, l, 1000)
	apply(t, l, Input{Kind: "add"})
	advance(t, l, 2000)
	waitLeader(t, l)
	apply(t, l, Input{Kind: "remove", ID: 2})
	apply(t, l, Input{Kind: "healAll"})
	advance(t, l, 3000)
	if err := l.AdvanceEvents(1); err != nil {
		t.Fatal(err)
	}
	sess := l.Session()
	if err := l.End(); err != nil {
		t.Fatal(err)
	}
	if len(sess.Inputs) != 22 {
		t.Fatalf("%d inputs recorded, want 22", len(sess.Inputs))
	}
	var again bytes.Buffer
	if f, err := sess.Replay(&again); err != nil || f != nil {
		t.Fatalf("replay: %v, %v", f, err)
	}
	sameTrace(t, b.Bytes(), again.Bytes())

	read, err := ReadSession(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	again.Reset()
	if f, err := read.Replay(&again); err != nil || f != nil {
		t.Fatalf("replay of the read session: %v, %v", f, err)
	}
	sameTrace(t, b.Bytes(), again.Bytes())

	// Every kind of input is in the trace, once, before its effects.
	seen := map[string]int{}
	for _, e := range events(t, b.Bytes()) {
		if e.Type == "input" {
			seen[e.Kind]++
		}
	}
	for _, k := range InputKinds {
		if seen[k] == 0 {
			t.Errorf("no %q input in the trace", k)
		}
	}
}

func sameTrace(t *testing.T, a, b []byte) {
	t.Helper()
	if bytes.Equal(a, b) {
		return
	}
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			t.Fatalf("the replay differs at line %d:\n%s\nvs\n%s", i+1, la[i], lb[i])
		}
	}
	t.Fatalf("the replay has %d lines, the session %d", len(lb), len(la))
}

// TestLiveActions: each input does what it says.
func TestLiveActions(t *testing.T) {
	t.Run("crash the leader: a new one is elected", func(t *testing.T) {
		l, _ := liveSession(t, 1, "")
		old := waitLeader(t, l)
		apply(t, l, Input{Kind: "crash", ID: old})
		if l.s.member(old).up {
			t.Fatal("the leader is still up")
		}
		if now := waitLeader(t, l); now == old {
			t.Fatalf("member %d leads again while down", now)
		}
	})
	t.Run("a dropped message is never delivered", func(t *testing.T) {
		l, b := liveSession(t, 2, "")
		waitLeader(t, l)
		var mid uint64
		for advance(t, l, 1); mid == 0; advance(t, l, 1) {
			for id := range l.s.net.inflight {
				mid = max(mid, id)
			}
		}
		apply(t, l, Input{Kind: "drop", MsgID: mid})
		if err := l.Apply(Input{Kind: "drop", MsgID: mid}); err == nil {
			t.Fatal("a message dropped twice")
		}
		advance(t, l, 1000)
		var dropped bool
		for _, e := range events(t, b.Bytes()) {
			if e.MsgID == mid && e.Type == "deliver" {
				t.Fatalf("message %d delivered: %+v", mid, e)
			}
			dropped = dropped || e.MsgID == mid && e.Type == "drop" && e.Reason == "user"
		}
		if !dropped {
			t.Fatalf("no drop of message %d traced", mid)
		}
	})
	t.Run("a put through a follower is applied by every member", func(t *testing.T) {
		l, b := liveSession(t, 3, "")
		lead := waitLeader(t, l)
		apply(t, l, Input{Kind: "client", Op: "put", ID: lead%5 + 1, Key: "greeting", Value: "hello"})
		advance(t, l, 1000)
		for _, id := range l.Members() {
			ev, err := l.s.member(id).node.Store().Get("/greeting", false, false)
			if err != nil || ev.Node.Value == nil || *ev.Node.Value != "hello" {
				t.Fatalf("member %d: /greeting is %+v, %v", id, ev, err)
			}
		}
		var ok bool
		for _, e := range events(t, b.Bytes()) {
			ok = ok || e.Type == "response" && e.Op == "set" && e.Result == "ok" && e.Key == "/greeting"
		}
		if !ok {
			t.Fatal("no successful response to the put in the trace")
		}
		if c, err := l.Check(); err != nil || c.Verdict != linearizability.VerdictOK || c.Operations != 1 || len(c.HTML) == 0 {
			t.Fatalf("check: %+v, %v", c.Detail, err)
		}
	})
	t.Run("a local read on a cut-off member is stale and Porcupine says so", func(t *testing.T) {
		l, b := liveSession(t, 4, "")
		lead := waitLeader(t, l)
		f := lead%5 + 1
		apply(t, l, Input{Kind: "client", Op: "put", ID: lead, Key: "k", Value: "old"})
		advance(t, l, 500)
		apply(t, l, Input{Kind: "isolate", ID: f})
		apply(t, l, Input{Kind: "client", Op: "put", ID: lead, Key: "k", Value: "new"})
		advance(t, l, 500)
		apply(t, l, Input{Kind: "client", Op: "get", ID: f, Key: "k", Quorum: pfalse()})
		advance(t, l, 500)
		var got string
		for _, e := range events(t, b.Bytes()) {
			if e.Type == "response" && e.Op == "get" {
				got = e.Value
			}
			if e.Type == "links" && len(e.Cut) != 8 {
				t.Fatalf("isolating a member of five cuts 8 links: %+v", e)
			}
		}
		if got != "old" {
			t.Fatalf("local read on the isolated member: %q, want the stale \"old\"", got)
		}
		c, err := l.Check()
		if err != nil || c.Verdict != linearizability.VerdictIllegal || !bytes.Contains(c.HTML, []byte("<html")) {
			t.Fatalf("check: %+v, %v", c.Detail, err)
		}
	})
	t.Run("a cut link drops what it carries; heal mends it", func(t *testing.T) {
		l, b := liveSession(t, 5, "")
		lead := waitLeader(t, l)
		f := lead%5 + 1
		apply(t, l, Input{Kind: "cut", From: lead, To: f})
		mark := b.Len()
		advance(t, l, 500)
		after := events(t, b.Bytes()[mark-1:])
		var cut, other int
		for _, e := range after {
			if e.Type == "deliver" && e.From == lead && e.To == f {
				t.Fatalf("delivered over a cut link: %+v", e)
			}
			if e.Type == "drop" && e.From == lead && e.To == f && e.Reason == "partition" {
				cut++
			}
			if e.Type == "deliver" && e.From == f && e.To == lead {
				other++ // one way only
			}
		}
		if cut == 0 || other == 0 {
			t.Fatalf("%d dropped on the cut link, %d delivered the other way", cut, other)
		}
		apply(t, l, Input{Kind: "heal", From: lead, To: f})
		if l.s.net.blocked[l.s.net.link(lead, f)] {
			t.Fatal("healed link still cut")
		}
	})
	t.Run("pause holds a member's messages until it resumes", func(t *testing.T) {
		l, _ := liveSession(t, 6, "")
		lead := waitLeader(t, l)
		apply(t, l, Input{Kind: "pause", ID: lead})
		advance(t, l, 2000)
		if l.Leader() == lead || l.Leader() == 0 {
			t.Fatalf("leader %d while the old one (%d) is paused", l.Leader(), lead)
		}
		apply(t, l, Input{Kind: "resume", ID: lead})
		advance(t, l, 500)
		if m := l.s.member(lead); m.view.role != raft.StateFollower {
			t.Fatalf("the old leader is %v after it resumed", m.view.role)
		}
	})
	t.Run("transfer and timeout move leadership", func(t *testing.T) {
		// Without Pre-Vote and CheckQuorum, so that a timeout under a
		// live leader disrupts it.
		l, _ := liveSession(t, 7, `{"disablePreVote":true,"disableCheckQuorum":true}`)
		lead := waitLeader(t, l)
		to := lead%5 + 1
		apply(t, l, Input{Kind: "transfer", ID: to})
		advance(t, l, 500)
		if got := l.Leader(); got != to {
			t.Fatalf("leader %d after a transfer to %d", got, to)
		}
		// A forced timeout: the member campaigns and (its log is as long
		// as anyone's) wins.
		apply(t, l, Input{Kind: "timeout", ID: lead})
		advance(t, l, 500)
		if got := l.Leader(); got != lead {
			t.Fatalf("leader %d after member %d timed out", got, lead)
		}
	})
	t.Run("with Pre-Vote, a timeout under a live leader changes nothing", func(t *testing.T) {
		l, _ := liveSession(t, 7, "")
		lead := waitLeader(t, l)
		term := l.s.member(lead).view.term
		apply(t, l, Input{Kind: "timeout", ID: lead%5 + 1})
		advance(t, l, 500)
		if got := l.Leader(); got != lead || l.s.member(lead).view.term != term {
			t.Fatalf("leader %d of term %d after a timeout; was %d of term %d", got, l.s.member(got).view.term, lead, term)
		}
	})
	t.Run("add and remove change the membership", func(t *testing.T) {
		l, b := liveSession(t, 8, "")
		waitLeader(t, l)
		apply(t, l, Input{Kind: "add"})
		advance(t, l, 3000)
		lead := waitLeader(t, l)
		if vs := l.s.member(lead).node.ConfState().Voters; !slices.Contains(vs, 6) {
			t.Fatalf("voters %v after adding member 6", vs)
		}
		gone := lead%5 + 1
		apply(t, l, Input{Kind: "remove", ID: gone})
		advance(t, l, 5000)
		if vs := l.s.member(waitLeader(t, l)).node.ConfState().Voters; slices.Contains(vs, gone) || len(vs) != 5 {
			t.Fatalf("voters %v after removing member %d", vs, gone)
		}
		if err := l.Apply(Input{Kind: "crash", ID: gone}); err == nil || !strings.Contains(err.Error(), "removed") {
			t.Fatalf("crashing a removed member: %v", err)
		}
		var left bool
		for _, e := range events(t, b.Bytes()) {
			left = left || e.Type == "leave" && e.ID == gone
		}
		if !left {
			t.Fatal("no leave event for the removed member")
		}
	})
	t.Run("a watch answers with the next change", func(t *testing.T) {
		l, b := liveSession(t, 9, "")
		lead := waitLeader(t, l)
		apply(t, l, Input{Kind: "client", Op: "watch", ID: lead%5 + 1, Key: "w"})
		advance(t, l, 100)
		apply(t, l, Input{Kind: "client", Op: "put", ID: lead, Key: "w", Value: "v1"})
		advance(t, l, 1000)
		var got *TraceEvent
		for _, e := range events(t, b.Bytes()) {
			if e.Type == "response" && e.Op == "watch" {
				got = &e
			}
		}
		if got == nil || got.Result != "ok" || got.Value != "v1" || got.Key != "/w" || got.Index == 0 {
			t.Fatalf("watch response %+v", got)
		}
	})
}

// TestLiveBadInputs: an input that cannot apply is refused with a reason
// and leaves no trace.
func TestLiveBadInputs(t *testing.T) {
	l, b := liveSession(t, 1, "")
	waitLeader(t, l)
	apply(t, l, Input{Kind: "crash", ID: 1})
	mark := b.Len()
	for _, c := range []struct {
		in   Input
		want string
	}{
		{Input{Kind: "explode", ID: 1}, "unknown input kind"},
		{Input{Kind: "crash", ID: 1}, "member 1 is down"},
		{Input{Kind: "crash", ID: 9}, "no member 9"},
		{Input{Kind: "restart", ID: 2}, "member 2 is up"},
		{Input{Kind: "resume", ID: 2}, "not paused"},
		{Input{Kind: "cut", From: 2, To: 2}, "two members"},
		{Input{Kind: "clog", From: 2, To: 3}, "duration"},
		{Input{Kind: "drop", MsgID: 1 << 40}, "not in flight"},
		{Input{Kind: "client", Op: "put", ID: 2, Key: "x"}, "a value"},
		{Input{Kind: "client", Op: "cas", ID: 2, Key: "x", Value: "y"}, "prev"},
		{Input{Kind: "client", Op: "get", ID: 2, Key: "/_raftkv"}, "hidden"},
		{Input{Kind: "client", Op: "fly", ID: 2, Key: "x"}, "unknown op"},
		{Input{Kind: "remove", ID: 42}, "no member 42"},
	} {
		err := l.Apply(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.in, err, c.want)
		}
	}
	if b.Len() != mark {
		t.Errorf("refused inputs were traced: %s", b.Bytes()[mark:])
	}
	if len(l.Inputs()) != 1 {
		t.Errorf("%d inputs recorded, want 1", len(l.Inputs()))
	}
	for _, bad := range []string{`{"members":0}`, `{"members":12}`, `{"nosuch":1}`, `{"electionTick":2,"heartbeatTick":2}`, `{"bug":"nope"}`} {
		if _, err := LiveOptions(1, []byte(bad)); err == nil {
			t.Errorf("options %s accepted", bad)
		}
	}
	if _, err := ReadSession(strings.NewReader(`{"type":"header","format":1,"seed":1,"options":{"preset":"default"}}` + "\n")); err == nil ||
		!strings.Contains(err.Error(), "not of a live session") {
		t.Errorf("a run's trace read as a session: %v", err)
	}
}

// TestLiveFailureEnds: a planted bug that a checker catches ends the
// session with its failure, and the replay fails the same way.
func TestLiveFailureEnds(t *testing.T) {
	l, b := liveSession(t, 2, `{"bug":"double-vote","disablePreVote":true}`)
	var err error
	for i := 0; i < 200 && err == nil; i++ {
		for _, id := range l.Members() {
			if e := l.Apply(Input{Kind: "timeout", ID: id}); e != nil && l.Failure() != nil {
				err = e
				break
			}
		}
		if err == nil {
			err = l.AdvanceTo(l.NowMs() + 37)
		}
	}
	f := l.Failure()
	if f == nil || f.Class != ClassSafety || err == nil {
		t.Fatalf("failure %v, error %v: the planted double vote was not caught", f, err)
	}
	if err := l.Apply(Input{Kind: "crash", ID: 1}); err == nil {
		t.Fatal("a failed session took an input")
	}
	sess := l.Session()
	var again bytes.Buffer
	f2, err := sess.Replay(&again)
	if err != nil || f2 == nil || f2.Check != f.Check {
		t.Fatalf("replay: %v, %v; want %v", f2, err, f)
	}
	sameTrace(t, b.Bytes(), again.Bytes())
	if !bytes.Contains(b.Bytes(), []byte(`"type":"end"`)) || !bytes.Contains(b.Bytes(), []byte(`"result":"safety"`)) {
		t.Fatal("no end event with the failure")
	}
}

// TestLiveScriptedInputs: inputs given by time alone (a script's, without
// the events count of a trace's) apply after every event due by then,
// and the session they make replays like any other.
func TestLiveScriptedInputs(t *testing.T) {
	l, b := liveSession(t, 11, "")
	for _, in := range []Input{
		{Kind: "client", Op: "put", ID: 1, Key: "s", Value: "1", AtMs: 1500},
		{Kind: "crash", ID: 2, AtMs: 1700.5},
		{Kind: "restart", ID: 2, AtMs: 2500},
	} {
		if err := l.ApplyAt(in); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Inputs(); got[1].AtMs != 1700.5 || got[1].Events == 0 || l.NowMs() != 2500 {
		t.Fatalf("inputs %+v, now %v", got, l.NowMs())
	}
	if err := l.ApplyAt(Input{Kind: "pause", ID: 3, AtMs: 2000}); err == nil || !strings.Contains(err.Error(), "past") {
		t.Fatalf("an input before now: %v", err)
	}
	advance(t, l, 500)
	sess := l.Session()
	if err := l.End(); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if _, err := sess.Replay(&again); err != nil {
		t.Fatal(err)
	}
	sameTrace(t, b.Bytes(), again.Bytes())
}
