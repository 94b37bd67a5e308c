package kv

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

func recv(t *testing.T, w *Watcher) *Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatalf("watcher closed: %v", w.Err())
		}
		return ev
	default:
		t.Fatal("no event delivered")
		return nil
	}
}

func expectNothing(t *testing.T, w *Watcher) {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if ok {
			t.Fatalf("unexpected event %s", asJSON(t, ev))
		}
	default:
	}
}

func TestWatchStreamDeliversInIndexOrder(t *testing.T) {
	s := New(Options{WatcherBuffer: 500})
	w, err := s.Watch("/", true, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		mustApply(t, s, put(fmt.Sprintf("/k%d", i%7), fmt.Sprint(i)))
	}
	for i := range 300 {
		if ev := recv(t, w); ev.Index != uint64(i+1) {
			t.Fatalf("event %d has index %d", i, ev.Index)
		}
	}
	w.Remove()
	if _, ok := <-w.Events(); ok || w.Err() != nil {
		t.Fatalf("after Remove: open=%v err=%v", ok, w.Err())
	}
	if s.Stats().Watchers != 0 {
		t.Fatalf("watchers %d after Remove", s.Stats().Watchers)
	}
}

func TestWatchMatching(t *testing.T) {
	s := New(Options{})
	mustApply(t, s, &Command{Method: MethodPut, Path: "/dir", Dir: true}) // 1
	exact, _ := s.Watch("/dir", false, true, 0)
	rec, _ := s.Watch("/dir", true, true, 0)
	child, _ := s.Watch("/dir/sub/leaf", false, true, 0)
	hiddenExact, _ := s.Watch("/dir/_h", false, true, 0)
	prefixTwin, _ := s.Watch("/dirx", true, true, 0)

	mustApply(t, s, put("/dir/a", "1"))                                            // 2: rec only
	mustApply(t, s, put("/dir/_h", "1"))                                           // 3: hiddenExact only (hidden from rec)
	mustApply(t, s, put("/dir/sub/leaf", "1"))                                     // 4: rec and child
	mustApply(t, s, put("/dirx/a", "1"))                                           // 5: prefixTwin only
	mustApply(t, s, &Command{Method: MethodDelete, Path: "/dir", Recursive: true}) // 6: all on /dir...

	want := map[*Watcher][]uint64{
		exact:       {6},
		rec:         {2, 4, 6},
		child:       {4, 6},
		hiddenExact: {3, 6},
		prefixTwin:  {5},
	}
	names := map[*Watcher]string{exact: "exact", rec: "recursive", child: "child", hiddenExact: "hidden", prefixTwin: "twin"}
	for w, idxs := range want {
		for _, i := range idxs {
			if ev := recv(t, w); ev.Index != i {
				t.Fatalf("%s watcher: got index %d, want %d", names[w], ev.Index, i)
			}
		}
		expectNothing(t, w)
	}
}

func TestWatchOneShotClosesAfterOneEvent(t *testing.T) {
	s := New(Options{})
	w, _ := s.Watch("/k", false, false, 0)
	if w.Index() != 0 {
		t.Fatalf("X-Etcd-Index %d, want 0", w.Index())
	}
	mustApply(t, s, put("/k", "1"))
	mustApply(t, s, put("/k", "2"))
	if ev := recv(t, w); ev.Index != 1 {
		t.Fatalf("index %d", ev.Index)
	}
	if _, ok := <-w.Events(); ok || w.Err() != nil {
		t.Fatal("one-shot watcher still open or closed with an error")
	}
	if s.Stats().Watchers != 0 {
		t.Fatal("one-shot watcher still counted")
	}
}

// TestWatchHistoryWindowEdge: with the default 1000-event history, a
// waitIndex exactly 999 back from the newest event is served and 1000 back
// is 401.
func TestWatchHistoryWindowEdge(t *testing.T) {
	s := New(Options{})
	for i := range 1500 {
		mustApply(t, s, put(fmt.Sprintf("/k%d", i%3), "v"))
	}
	oldest := s.Index() - 999 // 501: the oldest of the 1000 kept
	w, err := s.Watch("/", true, false, oldest)
	if err != nil {
		t.Fatalf("waitIndex %d (oldest kept): %v", oldest, err)
	}
	if ev := recv(t, w); ev.Index != oldest {
		t.Fatalf("got index %d, want %d", ev.Index, oldest)
	}
	_, err = s.Watch("/", true, false, oldest-1)
	var ke *Error
	if !errors.As(err, &ke) || ke.Code != EcodeEventIndexClear || ke.Index != 1500 ||
		ke.Cause != "the requested history has been cleared [501/500]" || ke.StatusCode() != 400 {
		t.Fatalf("waitIndex %d: %v, want 401 [501/500] at index 1500", oldest-1, err)
	}
	// A waitIndex beyond the newest event waits for the future.
	w, _ = s.Watch("/k1", false, false, 1502)
	mustApply(t, s, put("/k1", "a")) // 1501: below the waitIndex
	expectNothing(t, w)
	mustApply(t, s, put("/k1", "b")) // 1502
	if ev := recv(t, w); ev.Index != 1502 {
		t.Fatalf("future waitIndex got %d", ev.Index)
	}
}

// TestWatchStreamReplaysWholeHistory: a streaming watch from an old index
// gets every matching event since, then live ones, with none lost.
func TestWatchStreamReplaysWholeHistory(t *testing.T) {
	s := New(Options{WatcherBuffer: 2})
	for i := range 10 {
		mustApply(t, s, put("/k", fmt.Sprint(i)))
	}
	w, err := s.Watch("/k", false, true, 3)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, put("/k", "live"))
	for i := uint64(3); i <= 11; i++ {
		if ev := recv(t, w); ev.Index != i {
			t.Fatalf("got %d, want %d", ev.Index, i)
		}
	}
}

// TestWatchOverflowIsExplicit: a watcher whose buffer fills is closed with
// an error naming the index to resume from, and resuming loses nothing.
func TestWatchOverflowIsExplicit(t *testing.T) {
	s := New(Options{})
	w, _ := s.Watch("/k", false, true, 0)
	for i := range 150 {
		mustApply(t, s, put("/k", fmt.Sprint(i)))
	}
	var last uint64
	for ev := range w.Events() { // the channel must end: closed, not blocked
		if ev.Index != last+1 {
			t.Fatalf("gap: %d after %d", ev.Index, last)
		}
		last = ev.Index
	}
	if last != 100 {
		t.Fatalf("delivered up to %d, want the 100 buffered", last)
	}
	var ke *Error
	if err := w.Err(); !errors.As(err, &ke) || ke.Code != EcodeWatcherCleared || ke.Index != 100 {
		t.Fatalf("overflow error %v, want code 400 index 100", err)
	}
	w2, err := s.Watch("/k", false, true, ke.Index+1)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(101); i <= 150; i++ {
		if ev := recv(t, w2); ev.Index != i {
			t.Fatalf("resume: got %d want %d", ev.Index, i)
		}
	}
}

// TestWatchSimultaneousExpiriesAllDelivered: many keys expiring at the same
// instant each reach a streaming watcher (etcd #1074).
func TestWatchSimultaneousExpiriesAllDelivered(t *testing.T) {
	s := New(Options{})
	for i := range 50 {
		mustApply(t, s, &Command{Method: MethodPut, Path: fmt.Sprintf("/svc/%02d", i), TTLSec: Uint64(1)})
	}
	w, _ := s.Watch("/svc", true, true, 0)
	mustApply(t, s, &Command{Method: MethodSync, TimeUnixNano: sec})
	for i := range 50 {
		ev := recv(t, w)
		if ev.Action != ActionExpire || ev.Node.Key != fmt.Sprintf("/svc/%02d", i) {
			t.Fatalf("expiry %d: %s", i, asJSON(t, ev))
		}
	}
}

// TestApplyNeverBlocksOnWatchers runs the apply loop against concurrent
// readers and watchers that never drain (under -race this also checks the
// locking).
func TestApplyNeverBlocksOnWatchers(t *testing.T) {
	s := New(Options{WatcherBuffer: 4})
	stuck, _ := s.Watch("/", true, true, 0) // never read
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			_, _ = s.Get("/", true, true)
			_ = s.Stats()
		}
	}()
	go func() {
		defer wg.Done()
		for {
			w, err := s.Watch("/k", false, false, 0)
			if err != nil {
				t.Error(err)
				return
			}
			select {
			case <-w.Events():
			case <-done:
				w.Remove()
				return
			}
		}
	}()
	for i := range 2000 {
		mustApply(t, s, put("/k", fmt.Sprint(i)))
	}
	close(done)
	wg.Wait()
	n := 0
	for range stuck.Events() { // ends: the overflow closed the channel
		n++
	}
	if n != 4 || stuck.Err() == nil {
		t.Fatalf("stuck watcher: %d buffered events and err %v, want 4 and an overflow error", n, stuck.Err())
	}
}

func TestRestoreClosesWatchersWithResumeIndex(t *testing.T) {
	s := New(Options{})
	mustApply(t, s, put("/k", "1"))
	w, _ := s.Watch("/k", false, true, 0)
	other := New(Options{})
	mustApply(t, other, put("/k", "x"))
	mustApply(t, other, put("/k", "y"))
	var buf = saveBytes(t, other)
	if err := s.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-w.Events(); ok {
		t.Fatal("watcher open after restore")
	}
	var ke *Error
	if !errors.As(w.Err(), &ke) || ke.Code != EcodeWatcherCleared || ke.Index != 1 {
		t.Fatalf("restore close: %v, want 400 with index 1", w.Err())
	}
	w2, err := s.Watch("/k", false, false, ke.Index+1)
	if err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, w2); ev.Index != 2 || *ev.Node.Value != "y" {
		t.Fatalf("resume after restore: %s", asJSON(t, ev))
	}
}
