package visualizer

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/raftkv/raftkv/sim"
)

// The browser tests check the page against this oracle: a plain replay of
// the trace in Go, written from sim/doc.go without looking at trace.js.

type readTrace struct {
	header sim.TraceHeader
	events []sim.TraceEvent
}

func loadTrace(t testing.TB, path string) readTrace {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<22)
	var tr readTrace
	for first := true; sc.Scan(); first = false {
		if first {
			if err := json.Unmarshal(sc.Bytes(), &tr.header); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var e sim.TraceEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		tr.events = append(tr.events, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return tr
}

// find is the index of the first event from i on for which ok holds, or -1.
func (tr readTrace) find(from int, ok func(sim.TraceEvent) bool) int {
	for i := from; i < len(tr.events); i++ {
		if ok(tr.events[i]) {
			return i
		}
	}
	return -1
}

type memberWant struct {
	role               string // as the page names it
	term               uint64
	up, absent         bool
	gone               bool // removed and stopped (a leave): not drawn
	joining            bool // joined and not yet a voter by its own membership
	member             bool // in its own membership (a voter or a learner)
	commit, snap, last uint64
}

// membersAfter replays events 0..i.
func (tr readTrace) membersAfter(i int) map[uint64]*memberWant {
	ms := map[uint64]*memberWant{}
	for _, id := range tr.header.Members {
		ms[id] = &memberWant{role: "follower", up: true, member: true}
	}
	// A member the header does not name joins later: it is absent until
	// an event of its own.
	get := func(id uint64) *memberWant {
		m := ms[id]
		if m == nil {
			m = &memberWant{role: "follower", absent: true, member: true}
			ms[id] = m
		}
		if m.absent {
			m.absent, m.up = false, true
		}
		return m
	}
	learner := map[uint64]bool{}
	for _, e := range tr.events[:i+1] {
		switch e.Type {
		case "role":
			m := get(e.ID)
			m.role, m.term = e.Role, e.Term
		case "term":
			get(e.ID).term = e.Term
		case "append":
			get(e.ID).last = e.Index + uint64(e.Count) - 1
		case "truncate":
			get(e.ID).last = e.Index - 1
		case "snapshot":
			m := get(e.ID)
			m.snap, m.last, m.commit = e.Index, e.Index, max(m.commit, e.Index)
		case "compact":
			get(e.ID).snap = e.Index
		case "commit":
			get(e.ID).commit = e.Index
		case "crash":
			m := get(e.ID)
			m.up, m.role = false, "follower"
		case "restart":
			m := get(e.ID)
			m.up, m.role, m.term, m.commit, m.snap, m.last = true, "follower", e.Term, e.Commit, e.Index, e.Index
			for _, r := range e.Log {
				m.last = r[0] + r[1] - 1
			}
		case "conf":
			m := get(e.ID)
			learner[e.ID] = slices.Contains(e.Learners, e.ID)
			m.member = learner[e.ID] || slices.Contains(e.Voters, e.ID)
			if slices.Contains(e.Voters, e.ID) {
				m.joining = false
			}
		case "join":
			get(e.ID).joining = true
		case "leave":
			m := get(e.ID)
			m.gone, m.up, m.role = true, false, "follower"
		}
	}
	for id, m := range ms {
		switch {
		case m.absent:
			m.role = "not yet a member"
		case m.gone:
			m.role = "departed"
		case !m.up:
			m.role = "crashed"
		case !m.member && m.joining:
			// Its membership may come from a snapshot taken before the
			// leader added it.
			m.role = "joining"
		case !m.member:
			m.role = "removed"
		case m.role == "precandidate":
			m.role = "pre-candidate"
		case m.role == "follower" && learner[id]:
			m.role = "learner"
		}
	}
	return ms
}

// drawnAfter is the members the page draws after event i: those in the
// cluster, not the ones yet to join nor the departed.
func (tr readTrace) drawnAfter(i int) map[uint64]*memberWant {
	ms := tr.membersAfter(i)
	for id, m := range ms {
		if m.absent || m.gone {
			delete(ms, id)
		}
	}
	return ms
}
