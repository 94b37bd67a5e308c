package kv

import (
	"encoding/json"
	"flag"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// model is the deliberately naive key space the Store is checked against: a
// map of full paths, linear scans and sorting at read time, an unbounded
// event list. It restates the v2 rules from the reference, not from
// store.go.
type model struct {
	nodes    map[string]*mNode
	index    uint64
	clock    int64
	grace    int64
	events   []*Event
	histSize int
	bufSize  int
	watchers []*mWatcher
	bug      string // a planted mistake, for TestModelComparisonIsLive
}

type mNode struct {
	dir      bool
	value    string
	created  uint64
	modified uint64
	hasTTL   bool
	exp      int64
}

type mWatcher struct {
	real      *Watcher
	path      string
	recursive bool
	stream    bool
	since     uint64
	pending   []*Event // delivered by the model, not yet drained by the test
	done      bool     // the model says the channel is closed
	err       *Error
	last      uint64
	capacity  int // a streaming watcher's buffer: its replay plus bufSize
}

func newModel(histSize, bufSize int) *model {
	return &model{nodes: map[string]*mNode{}, histSize: histSize, bufSize: bufSize}
}

func (m *model) sortedKeys() []string {
	var ks []string
	for k := range m.nodes {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (m *model) advance(t, grace int64) {
	m.grace = max(m.grace, grace)
	if t > m.clock {
		m.clock = t
		if m.grace > 0 {
			until := m.clock + m.grace
			for _, n := range m.nodes {
				if n.hasTTL && n.exp < until {
					n.exp = until
				}
			}
			m.grace = 0
		}
	}
	for {
		var best string
		var bn *mNode
		for _, k := range m.sortedKeys() {
			n := m.nodes[k]
			if n.hasTTL && (n.exp <= m.clock && m.bug != "expireLate" || n.exp < m.clock) && (bn == nil || n.exp < bn.exp) {
				best, bn = k, n
			}
		}
		if bn == nil {
			return
		}
		prev := m.repr(best, bn, false)
		m.removeAll(best)
		m.index++
		m.emit(&Event{Action: ActionExpire, Node: &Node{Key: best, Dir: bn.dir, CreatedIndex: bn.created, ModifiedIndex: m.index},
			PrevNode: prev, Index: m.index})
	}
}

func (m *model) removeAll(p string) {
	for k := range m.nodes {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(m.nodes, k)
		}
	}
}

func (m *model) lookup(p string) (*mNode, *Error) {
	if p == "/" {
		return &mNode{dir: true}, nil
	}
	cur, curDir := "", true
	for _, c := range strings.Split(p[1:], "/") {
		if !curDir {
			return nil, NewError(EcodeNotDir, cur, m.index)
		}
		cur += "/" + c
		n := m.nodes[cur]
		if n == nil {
			return nil, NewError(EcodeKeyNotFound, cur, m.index)
		}
		curDir = n.dir
	}
	return m.nodes[p], nil
}

func (m *model) ttlFields(out *Node, n *mNode) {
	if n.hasTTL {
		e := time.Unix(0, n.exp).UTC()
		out.Expiration = &e
		d := n.exp - m.clock
		out.TTL = d / 1e9
		if d%1e9 > 0 {
			out.TTL++
		}
	}
}

func (m *model) children(dir string) []string {
	var out []string
	for _, k := range m.sortedKeys() {
		if path.Dir(k) == dir && (!strings.HasPrefix(path.Base(k), "_") || m.bug == "hiddenInListing") {
			out = append(out, k)
		}
	}
	return out
}

func (m *model) repr(p string, n *mNode, recursive bool) *Node {
	out := &Node{Key: p, CreatedIndex: n.created, ModifiedIndex: n.modified}
	if n.dir {
		out.Dir = true
		if recursive {
			for _, c := range m.children(p) {
				out.Nodes = append(out.Nodes, m.repr(c, m.nodes[c], true))
			}
		}
	} else {
		v := n.value
		out.Value = &v
	}
	m.ttlFields(out, n)
	return out
}

func (m *model) get(p string, recursive bool) (*Event, *Error) {
	n, err := m.lookup(p)
	if err != nil {
		return nil, err
	}
	out := m.repr(p, n, recursive)
	if n.dir && !recursive {
		for _, c := range m.children(p) {
			out.Nodes = append(out.Nodes, m.repr(c, m.nodes[c], false))
		}
	}
	if p == "/" {
		out.Key = ""
	}
	return &Event{Action: ActionGet, Node: out, Index: m.index}, nil
}

func (m *model) expiry(ttl *uint64) (bool, int64) {
	if ttl == nil {
		return false, 0
	}
	return true, m.clock + int64(*ttl)*1e9
}

func (m *model) apply(c *Command) (*Event, *Error) {
	m.advance(c.TimeUnixNano, c.GraceNs)
	if c.Method < MethodQuorumGet || c.Method > MethodSync || c.GraceNs < 0 {
		return nil, NewError(EcodeInvalidField, "", 0)
	}
	if c.TTLSec != nil && *c.TTLSec > MaxTTLSec {
		return nil, NewError(EcodeTTLNaN, "", 0)
	}
	if c.Method == MethodPut && c.Refresh && c.Value != "" {
		return nil, NewError(EcodeRefreshValue, "A value was provided on a refresh", 0)
	}
	if c.Method == MethodPut && c.Refresh && c.TTLSec == nil {
		return nil, NewError(EcodeRefreshTTLReq, "No TTL value set", 0)
	}
	p := path.Clean("/" + c.Path)
	switch c.Method {
	case MethodQuorumGet:
		return m.get(p, c.Recursive)
	case MethodSync:
		return nil, nil
	case MethodPost:
		return m.create(p+"/"+fmt.Sprintf("%020d", m.index+1), c.Dir, c.Value, c.TTLSec, ActionCreate, false, false)
	case MethodDelete:
		if c.PrevValue != "" || c.PrevIndex != 0 {
			return m.cad(p, c.PrevValue, c.PrevIndex)
		}
		return m.del(p, c.Dir || c.Recursive, c.Recursive)
	}
	// PUT
	if c.PrevExist != nil && !*c.PrevExist {
		return m.create(p, c.Dir, c.Value, c.TTLSec, ActionCreate, false, false)
	}
	if c.PrevValue != "" || c.PrevIndex != 0 {
		return m.cas(p, c.PrevValue, c.PrevIndex, c.Value, c.TTLSec, c.Refresh)
	}
	if c.PrevExist != nil {
		return m.update(p, c.Value, c.TTLSec, c.Refresh)
	}
	n, err := m.lookup(p)
	if err != nil && (err.Code != EcodeKeyNotFound || c.Refresh) {
		return nil, err
	}
	v := c.Value
	if c.Refresh {
		v = n.value
	}
	return m.create(p, c.Dir, v, c.TTLSec, ActionSet, true, c.Refresh)
}

func (m *model) create(p string, dir bool, value string, ttl *uint64, action string, replace, refresh bool) (*Event, *Error) {
	p = path.Clean(p)
	if p == "/" {
		return nil, NewError(EcodeRootROnly, "/", m.index)
	}
	// Every proper ancestor must be a directory or missing.
	for a := path.Dir(p); a != "/"; a = path.Dir(a) {
		if n := m.nodes[a]; n != nil && !n.dir {
			// The v2 walk reports the file nearest the root.
			top := a
			for b := path.Dir(a); b != "/"; b = path.Dir(b) {
				if nb := m.nodes[b]; nb != nil && !nb.dir {
					top = b
				}
			}
			return nil, NewError(EcodeNotDir, top, m.index)
		}
	}
	var prev *Node
	if old := m.nodes[p]; old != nil {
		if !replace {
			return nil, NewError(EcodeNodeExist, p, m.index)
		}
		if old.dir {
			return nil, NewError(EcodeNotFile, p, m.index)
		}
		prev = m.repr(p, old, false)
	}
	m.index++
	for a := path.Dir(p); a != "/"; a = path.Dir(a) {
		if m.nodes[a] == nil {
			m.nodes[a] = &mNode{dir: true, created: m.index, modified: m.index}
		}
	}
	n := &mNode{dir: dir, created: m.index, modified: m.index}
	if !dir {
		n.value = value
	}
	n.hasTTL, n.exp = m.expiry(ttl)
	m.nodes[p] = n
	ev := &Event{Action: action, Node: m.repr(p, n, false), PrevNode: prev, Index: m.index, Refresh: refresh}
	m.emit(ev)
	return ev, nil
}

func (m *model) update(p, value string, ttl *uint64, refresh bool) (*Event, *Error) {
	if p == "/" {
		return nil, NewError(EcodeRootROnly, "/", m.index)
	}
	n, err := m.lookup(p)
	if err != nil {
		return nil, err
	}
	if n.dir && value != "" {
		return nil, NewError(EcodeNotFile, p, m.index)
	}
	prev := m.repr(p, n, false)
	m.index++
	if !n.dir && !refresh {
		n.value = value
	}
	n.modified = m.index
	n.hasTTL, n.exp = m.expiry(ttl)
	ev := &Event{Action: ActionUpdate, Node: m.repr(p, n, false), PrevNode: prev, Index: m.index, Refresh: refresh}
	m.emit(ev)
	return ev, nil
}

func (m *model) compareFail(n *mNode, pv string, pi uint64) *Error {
	vbad := pv != "" && pv != n.value
	ibad := pi != 0 && pi != n.modified && m.bug != "ignorePrevIndex"
	switch {
	case vbad && ibad:
		return NewError(EcodeTestFailed, fmt.Sprintf("[%s != %s] [%d != %d]", pv, n.value, pi, n.modified), m.index)
	case vbad:
		return NewError(EcodeTestFailed, fmt.Sprintf("[%s != %s]", pv, n.value), m.index)
	case ibad:
		return NewError(EcodeTestFailed, fmt.Sprintf("[%d != %d]", pi, n.modified), m.index)
	}
	return nil
}

func (m *model) cas(p, pv string, pi uint64, value string, ttl *uint64, refresh bool) (*Event, *Error) {
	if p == "/" {
		return nil, NewError(EcodeRootROnly, "/", m.index)
	}
	n, err := m.lookup(p)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, NewError(EcodeNotFile, p, m.index)
	}
	if err := m.compareFail(n, pv, pi); err != nil {
		return nil, err
	}
	prev := m.repr(p, n, false)
	m.index++
	if !refresh {
		n.value = value
	}
	n.modified = m.index
	n.hasTTL, n.exp = m.expiry(ttl)
	ev := &Event{Action: ActionCompareAndSwap, Node: m.repr(p, n, false), PrevNode: prev, Index: m.index, Refresh: refresh}
	m.emit(ev)
	return ev, nil
}

func (m *model) del(p string, dir, recursive bool) (*Event, *Error) {
	if p == "/" {
		return nil, NewError(EcodeRootROnly, "/", m.index)
	}
	n, err := m.lookup(p)
	if err != nil {
		return nil, err
	}
	if n.dir && !dir {
		return nil, NewError(EcodeNotFile, p, m.index)
	}
	if n.dir && !recursive {
		for k := range m.nodes {
			if path.Dir(k) == p {
				return nil, NewError(EcodeDirNotEmpty, p, m.index)
			}
		}
	}
	prev := m.repr(p, n, false)
	m.removeAll(p)
	m.index++
	ev := &Event{Action: ActionDelete, Node: &Node{Key: p, Dir: n.dir, CreatedIndex: n.created, ModifiedIndex: m.index},
		PrevNode: prev, Index: m.index}
	m.emit(ev)
	return ev, nil
}

func (m *model) cad(p, pv string, pi uint64) (*Event, *Error) {
	n, err := m.lookup(p)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, NewError(EcodeNotFile, p, m.index)
	}
	if err := m.compareFail(n, pv, pi); err != nil {
		return nil, err
	}
	prev := m.repr(p, n, false)
	m.removeAll(p)
	m.index++
	ev := &Event{Action: ActionCompareAndDelete, Node: &Node{Key: p, CreatedIndex: n.created, ModifiedIndex: m.index},
		PrevNode: prev, Index: m.index}
	m.emit(ev)
	return ev, nil
}

// mMatch restates the v2 watch rule.
func mMatch(w *mWatcher, ev *Event, bug string) bool {
	if ev.Refresh {
		return false
	}
	k := ev.Node.Key
	if k == w.path {
		return true
	}
	if w.recursive {
		prefix := w.path + "/"
		if w.path == "/" {
			prefix = "/"
		}
		if strings.HasPrefix(k, prefix) && !strings.HasPrefix(k[len(prefix):], "_") && !strings.Contains(k[len(prefix):], "/_") {
			return true
		}
	}
	gone := ev.Action == ActionDelete || ev.Action == ActionCompareAndDelete || ev.Action == ActionExpire
	return gone && ev.Node.Dir && strings.HasPrefix(w.path, k+"/") && bug != "watchNoAncestorDelete"
}

func (m *model) deliver(w *mWatcher, ev *Event) {
	if w.done || ev.Index < w.since {
		return
	}
	if !mMatch(w, ev, m.bug) {
		return
	}
	if len(w.pending) >= w.capacity && w.stream {
		w.done = true
		w.err = &Error{Code: EcodeWatcherCleared, Index: w.last}
		return
	}
	w.pending = append(w.pending, ev)
	w.last = ev.Index
	if !w.stream {
		w.done = true
	}
}

func (m *model) emit(ev *Event) {
	m.events = append(m.events, ev)
	for _, w := range m.watchers {
		m.deliver(w, ev)
	}
}

func (m *model) kept() []*Event {
	if len(m.events) > m.histSize {
		return m.events[len(m.events)-m.histSize:]
	}
	return m.events
}

func (m *model) watch(p string, recursive, stream bool, since uint64) (*mWatcher, *Error) {
	p = path.Clean("/" + p)
	if since == 0 {
		since = m.index + 1
	}
	kept := m.kept()
	oldest := m.index + 1
	if len(kept) > 0 {
		oldest = kept[0].Index
		if m.bug == "historyOffByOne" {
			oldest--
		}
	}
	if since < oldest {
		return nil, NewError(EcodeEventIndexClear, fmt.Sprintf("the requested history has been cleared [%d/%d]", oldest, since), m.index)
	}
	w := &mWatcher{path: p, recursive: recursive, stream: stream, since: since, last: since - 1}
	for _, ev := range kept {
		if ev.Index >= since && !w.done && mMatch(w, ev, m.bug) {
			w.pending = append(w.pending, ev)
			w.last = ev.Index
			if !stream {
				w.done = true
			}
		}
	}
	w.capacity = len(w.pending) + m.bufSize
	m.watchers = append(m.watchers, w)
	return w, nil
}

func eventJSON(t *rapid.T, ev *Event) string {
	if ev == nil {
		return "<nil>"
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return fmt.Sprintf("%s index=%d refresh=%v", b, ev.Index, ev.Refresh)
}

func sameResult(t *rapid.T, what string, gotEv *Event, gotErr error, wantEv *Event, wantErr *Error) {
	t.Helper()
	if wantErr != nil {
		ge, ok := gotErr.(*Error)
		if !ok {
			t.Fatalf("%s: got %s, err %v; model wants error %v", what, eventJSON(t, gotEv), gotErr, wantErr)
		}
		if ge.Code != wantErr.Code || ge.Index != wantErr.Index || (wantErr.Code != EcodeInvalidField && ge.Cause != wantErr.Cause) {
			t.Fatalf("%s: got error %v; model wants %v", what, ge, wantErr)
		}
		return
	}
	if gotErr != nil {
		t.Fatalf("%s: got error %v; model wants %s", what, gotErr, eventJSON(t, wantEv))
	}
	if g, w := eventJSON(t, gotEv), eventJSON(t, wantEv); g != w {
		t.Fatalf("%s:\n got  %s\n want %s", what, g, w)
	}
}

// Generators over a small key universe so operations collide often.
var (
	genComp  = rapid.SampledFrom([]string{"a", "b", "_h"})
	genValue = rapid.SampledFrom([]string{"", "x", "y"})
)

func genPath(t *rapid.T, label string) string {
	n := rapid.IntRange(0, 3).Draw(t, label+"Depth")
	p := ""
	for i := range n {
		p += "/" + genComp.Draw(t, fmt.Sprintf("%s%d", label, i))
	}
	if p == "" {
		return "/"
	}
	if rapid.IntRange(0, 9).Draw(t, label+"Messy") == 0 {
		p = "/" + p + "/./" // uncleaned forms must behave like clean ones
	}
	return p
}

func genCommand(t *rapid.T, m *model) *Command {
	c := &Command{
		Method: rapid.SampledFrom([]Method{MethodQuorumGet, MethodPut, MethodPut, MethodPut, MethodPost, MethodDelete, MethodDelete, MethodSync}).Draw(t, "method"),
		Path:   genPath(t, "path"),
		Value:  genValue.Draw(t, "value"),
	}
	c.Dir = rapid.IntRange(0, 4).Draw(t, "dir") == 0
	c.Recursive = rapid.Bool().Draw(t, "recursive")
	if rapid.IntRange(0, 2).Draw(t, "hasTTL") == 0 {
		c.TTLSec = Uint64(rapid.Uint64Range(0, 3).Draw(t, "ttl"))
	}
	switch rapid.IntRange(0, 3).Draw(t, "cond") {
	case 1:
		c.PrevValue = genValue.Draw(t, "prevValue")
	case 2:
		c.PrevIndex = rapid.Uint64Range(0, m.index+1).Draw(t, "prevIndex")
	case 3:
		c.PrevValue = genValue.Draw(t, "prevValue")
		c.PrevIndex = rapid.Uint64Range(0, m.index+1).Draw(t, "prevIndex")
	}
	switch rapid.IntRange(0, 3).Draw(t, "prevExist") {
	case 1:
		c.PrevExist = Bool(true)
	case 2:
		c.PrevExist = Bool(false)
	}
	c.Refresh = rapid.IntRange(0, 5).Draw(t, "refresh") == 0
	// Time mostly moves forward in half seconds, sometimes stands still or
	// goes back (a proposer with a slower clock).
	step := rapid.IntRange(-2, 4).Draw(t, "timeStep")
	c.TimeUnixNano = max(m.clock+int64(step)*int64(500*time.Millisecond), 0)
	if rapid.IntRange(0, 15).Draw(t, "grace") == 0 {
		c.GraceNs = int64(rapid.IntRange(1, 4).Draw(t, "graceHalfSec")) * int64(500*time.Millisecond)
	}
	return c
}

func drain(t *rapid.T, m *model, w *mWatcher) {
	for _, want := range w.pending {
		select {
		case got, ok := <-w.real.Events():
			if !ok {
				t.Fatalf("watch %s: closed, model wants %s", w.path, eventJSON(t, want))
			}
			if got != want && eventJSON(t, got) != eventJSON(t, want) {
				t.Fatalf("watch %s:\n got  %s\n want %s", w.path, eventJSON(t, got), eventJSON(t, want))
			}
		default:
			t.Fatalf("watch %s: nothing delivered, model wants %s", w.path, eventJSON(t, want))
		}
	}
	w.pending = nil
	select {
	case got, ok := <-w.real.Events():
		if ok {
			t.Fatalf("watch %s: unexpected %s", w.path, eventJSON(t, got))
		}
		if !w.done {
			t.Fatalf("watch %s: closed, model has it open", w.path)
		}
		err := w.real.Err()
		if w.err == nil && err != nil {
			t.Fatalf("watch %s: closed with %v, model wants a normal close", w.path, err)
		}
		if w.err != nil {
			ke, ok := err.(*Error)
			if !ok || ke.Code != w.err.Code || ke.Index != w.err.Index {
				t.Fatalf("watch %s: closed with %v, model wants code %d index %d", w.path, err, w.err.Code, w.err.Index)
			}
		}
		m.watchers = slices.DeleteFunc(m.watchers, func(x *mWatcher) bool { return x == w })
	default:
		if w.done {
			t.Fatalf("watch %s: open, model has it closed", w.path)
		}
	}
}

// TestStoreAgainstModel runs random operation sequences on the Store and the
// naive model; every response, error, listing and watch delivery must agree.
func TestStoreAgainstModel(t *testing.T) {
	rapid.Check(t, modelProperty(""))
}

// modelProperty is the store-versus-model property; bug plants a mistake in
// the model to prove the comparison can fail.
func modelProperty(bug string) func(*rapid.T) {
	return func(t *rapid.T) {
		histSize := rapid.IntRange(1, 12).Draw(t, "histSize")
		bufSize := rapid.IntRange(1, 4).Draw(t, "bufSize")
		s := New(Options{HistorySize: histSize, WatcherBuffer: bufSize})
		m := newModel(histSize, bufSize)
		m.bug = bug
		actions := map[string]func(*rapid.T){
			"apply": func(t *rapid.T) {
				c := genCommand(t, m)
				ev, err := s.Apply(c)
				wantEv, wantErr := m.apply(c)
				sameResult(t, fmt.Sprintf("apply %+v", *c), ev, err, wantEv, wantErr)
				if s.Index() != m.index {
					t.Fatalf("index %d, model %d", s.Index(), m.index)
				}
			},
			"get": func(t *rapid.T) {
				p := genPath(t, "getPath")
				rec := rapid.Bool().Draw(t, "getRecursive")
				ev, err := s.Get(p, rec, true)
				wantEv, wantErr := m.get(path.Clean("/"+p), rec)
				sameResult(t, "get "+p, ev, err, wantEv, wantErr)
			},
			"watch": func(t *rapid.T) {
				p := genPath(t, "watchPath")
				rec := rapid.Bool().Draw(t, "watchRecursive")
				stream := rapid.Bool().Draw(t, "stream")
				var since uint64
				if rapid.Bool().Draw(t, "hasSince") {
					since = rapid.Uint64Range(0, m.index+2).Draw(t, "since")
				}
				w, err := s.Watch(p, rec, stream, since)
				mw, wantErr := m.watch(p, rec, stream, since)
				if wantErr != nil {
					sameResult(t, "watch", nil, err, nil, wantErr)
					return
				}
				if err != nil {
					t.Fatalf("watch %s since %d: %v", p, since, err)
				}
				if w.Index() != m.index {
					t.Fatalf("watch index %d, model %d", w.Index(), m.index)
				}
				mw.real = w
			},
			"drain": func(t *rapid.T) {
				if len(m.watchers) == 0 {
					return
				}
				drain(t, m, rapid.SampledFrom(m.watchers).Draw(t, "drainWatcher"))
			},
			"remove": func(t *rapid.T) {
				if len(m.watchers) == 0 {
					return
				}
				w := rapid.SampledFrom(m.watchers).Draw(t, "removeWatcher")
				w.real.Remove()
				m.watchers = slices.DeleteFunc(m.watchers, func(x *mWatcher) bool { return x == w })
			},
			"": func(t *rapid.T) {
				st := s.Stats()
				open := 0
				for _, w := range m.watchers {
					if !w.done {
						open++
					}
				}
				if st.Watchers != uint64(open) {
					t.Fatalf("stats watchers %d, model %d", st.Watchers, open)
				}
			},
		}
		// Our own loop rather than t.Repeat: long histories regardless of
		// the -rapid.steps flag, with writes weighted up.
		names := []string{"apply", "apply", "apply", "apply", "get", "watch", "drain", "drain", "remove"}
		steps := rapid.IntRange(1, 400).Draw(t, "steps")
		for range steps {
			actions[rapid.SampledFrom(names).Draw(t, "action")](t)
			actions[""](t)
		}
	}
}

// recordTB is a rapid.TB that records a failure instead of failing the
// test, for checking that the model comparison catches planted bugs.
type recordTB struct {
	failed bool
	msg    string
}

func (r *recordTB) Helper()                   {}
func (r *recordTB) Name() string              { return "planted" }
func (r *recordTB) Logf(string, ...any)       {}
func (r *recordTB) Log(...any)                {}
func (r *recordTB) Skipf(string, ...any)      {}
func (r *recordTB) Skip(...any)               {}
func (r *recordTB) SkipNow()                  {}
func (r *recordTB) Errorf(f string, a ...any) { r.failed, r.msg = true, fmt.Sprintf(f, a...) }
func (r *recordTB) Error(a ...any)            { r.failed, r.msg = true, fmt.Sprint(a...) }
func (r *recordTB) Fatalf(f string, a ...any) { r.Errorf(f, a...) }
func (r *recordTB) Fatal(a ...any)            { r.Error(a...) }
func (r *recordTB) FailNow()                  { r.failed = true }
func (r *recordTB) Fail()                     { r.failed = true }
func (r *recordTB) Failed() bool              { return r.failed }

// noFailFile stops rapid from writing a fail file, and from spending long
// minimising, for a failure the test expects.
func noFailFile(t *testing.T) {
	setFlag(t, "rapid.nofailfile", "true")
	setFlag(t, "rapid.shrinktime", "20ms")
}

// setFlag sets a flag for the rest of the test.
func setFlag(t *testing.T, name, v string) {
	f := flag.Lookup(name)
	old := f.Value.String()
	if err := f.Value.Set(v); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Value.Set(old) })
}

// mustCatch runs prop, which has a bug planted, and fails t unless the
// property fails.
func mustCatch(t *testing.T, bug string, prop func(*rapid.T)) {
	t.Helper()
	var rec recordTB
	noFailFile(t)
	rapid.Check(&rec, prop)
	if !rec.failed {
		t.Fatalf("planted bug %q was not caught", bug)
	}
	t.Logf("caught: %.200s", rec.msg)
}

// TestModelComparisonIsLive plants one mistake at a time in the model and
// checks that the property fails: the oracle can catch what it is for.
func TestModelComparisonIsLive(t *testing.T) {
	for _, bug := range []string{"ignorePrevIndex", "expireLate", "hiddenInListing", "watchNoAncestorDelete", "historyOffByOne"} {
		t.Run(bug, func(t *testing.T) { mustCatch(t, bug, modelProperty(bug)) })
	}
}
