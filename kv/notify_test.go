package kv

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// notifyReference is hub.notify as it was before it reused its search key
// and hit list: a new pivot for every lookup. TestNotifyMatchesReference
// holds notify to it.
func notifyReference(h *hub, ev *Event, c *counters) {
	if h.watchers.Len() == 0 {
		return
	}
	var hit []*Watcher
	collect := func(p string) {
		if l, ok := h.watchers.Get(&watchList{path: p}); ok {
			for _, w := range l.ws {
				if ev.Index >= w.since && watchMatches(w.path, w.recursive, ev) {
					hit = append(hit, w)
				}
			}
		}
	}
	key := ev.Node.Key
	collect("/")
	for i := 1; i < len(key); i++ {
		if key[i] == '/' {
			collect(key[:i])
		}
	}
	if key != "/" {
		collect(key)
	}
	deleted := ev.Action == ActionDelete || ev.Action == ActionExpire || ev.Action == ActionCompareAndDelete
	if deleted && ev.Node.Dir {
		h.watchers.AscendGreaterOrEqual(&watchList{path: key + "/"}, func(l *watchList) bool {
			if !strings.HasPrefix(l.path, key+"/") {
				return false
			}
			collect(l.path)
			return true
		})
	}
	for _, w := range hit {
		if w.closed || w.lastSent >= ev.Index {
			continue
		}
		select {
		case w.ch <- ev:
			w.lastSent = ev.Index
			if !w.stream {
				h.remove(w, c)
			}
		default:
			w.err = &Error{
				Code:    EcodeWatcherCleared,
				Message: "Watcher cleared: event buffer overflowed",
				Cause:   fmt.Sprintf("events after index %d were not delivered; resume with waitIndex=%d", w.lastSent, w.lastSent+1),
				Index:   w.lastSent,
			}
			h.remove(w, c)
		}
	}
}

var notifyPaths = []string{"/", "/a", "/a/b", "/a/b/c", "/a/_h", "/a/_h/x", "/ab", "/b", "/b/a"}

// notifyProperty: two hubs with twin watchers (same path, recursion,
// stream, start index and buffer), one told of each event by notify, the
// other by notifyReference, with watchers registered and removed between
// events; every twin must end with the same events, state and error, and
// the hubs with the same watcher lists and counts. bug plants a mistake in
// notify's side.
func notifyProperty(bug string) func(*rapid.T) {
	return func(t *rapid.T) {
		got, want := newHub(), newHub()
		var gotC, wantC counters
		type twin struct{ got, want *Watcher }
		var twins []twin
		index := uint64(0)
		for step := range rapid.IntRange(1, 60).Draw(t, "steps") {
			switch rapid.IntRange(0, 5).Draw(t, fmt.Sprintf("op%d", step)) {
			case 0: // register a watcher
				p := rapid.SampledFrom(notifyPaths).Draw(t, "watchPath")
				rec := rapid.Bool().Draw(t, "recursive")
				stream := rapid.Bool().Draw(t, "stream")
				buf := rapid.IntRange(0, 3).Draw(t, "buffer")
				since := index + uint64(rapid.IntRange(0, 2).Draw(t, "ahead"))
				mk := func() *Watcher {
					return &Watcher{path: p, recursive: rec, stream: stream, ch: make(chan *Event, buf), since: since, lastSent: since - 1}
				}
				tw := twin{mk(), mk()}
				twins = append(twins, tw)
				got.add(tw.got, &gotC)
				want.add(tw.want, &wantC)
			case 1: // remove one
				if len(twins) > 0 {
					tw := twins[rapid.IntRange(0, len(twins)-1).Draw(t, "remove")]
					got.remove(tw.got, &gotC)
					want.remove(tw.want, &wantC)
				}
			default: // an event
				index++
				actions := []string{ActionSet, ActionCreate, ActionUpdate, ActionCompareAndSwap, ActionDelete, ActionCompareAndDelete, ActionExpire}
				ev := &Event{
					Action:  rapid.SampledFrom(actions).Draw(t, "action"),
					Node:    &Node{Key: rapid.SampledFrom(notifyPaths).Draw(t, "key"), Dir: rapid.Bool().Draw(t, "dir")},
					Index:   index,
					Refresh: rapid.IntRange(0, 9).Draw(t, "refresh") == 0,
				}
				got.notify(ev, &gotC)
				if bug == "skipDirDelete" && ev.Node.Dir && ev.Action == ActionDelete {
					ev = &Event{Action: ActionSet, Node: &Node{Key: "/elsewhere"}, Index: index}
				}
				notifyReference(&want, ev, &wantC)
				if len(got.hit) != 0 || got.pivot.path != "" {
					t.Fatalf("notify left hit %d, pivot %q", len(got.hit), got.pivot.path)
				}
			}
		}
		if gotC.watchers.Load() != wantC.watchers.Load() || got.watchers.Len() != want.watchers.Len() {
			t.Fatalf("watchers %d in %d lists, reference %d in %d", gotC.watchers.Load(), got.watchers.Len(), wantC.watchers.Load(), want.watchers.Len())
		}
		for i, tw := range twins {
			g, w := tw.got, tw.want
			if g.closed != w.closed || g.lastSent != w.lastSent || !reflect.DeepEqual(g.err, w.err) {
				t.Fatalf("watcher %d (%s): closed %v lastSent %d err %v; reference %v %d %v", i, g.path, g.closed, g.lastSent, g.err, w.closed, w.lastSent, w.err)
			}
			if ge, we := pending(g), pending(w); !reflect.DeepEqual(ge, we) {
				t.Fatalf("watcher %d (%s): events %v; reference %v", i, g.path, ge, we)
			}
		}
	}
}

// pending returns the indexes of the events waiting on w's channel.
func pending(w *Watcher) []uint64 {
	var out []uint64
	for {
		select {
		case ev, ok := <-w.ch:
			if !ok {
				return out
			}
			out = append(out, ev.Index)
		default:
			return out
		}
	}
}

func TestNotifyMatchesReference(t *testing.T) {
	rapid.Check(t, notifyProperty(""))
}

func TestNotifyComparisonIsLive(t *testing.T) {
	mustCatch(t, "skipDirDelete", notifyProperty("skipDirDelete"))
}

// TestNotifyAllocatesNothing: with watchers registered (as the server's
// own always are) and none matching, an event costs notify no allocation.
func TestNotifyAllocatesNothing(t *testing.T) {
	s := New(Options{})
	for _, p := range []string{"/_raftkv/members", "/_raftkv/_auth", "/raftkv-bench/x"} {
		if _, err := s.Watch(p, true, true, 0); err != nil {
			t.Fatal(err)
		}
	}
	ev := &Event{Action: ActionSet, Node: &Node{Key: "/raftkv-bench/r0123456789-1"}, Index: 1}
	if n := testing.AllocsPerRun(100, func() { s.hub.notify(ev, &s.stats) }); n != 0 {
		t.Fatalf("%v allocations per notify", n)
	}
}
