package linearizability

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one mentioning %q", want)
		}
		if msg := fmt.Sprint(r); !strings.Contains(msg, want) {
			t.Fatalf("panic %q, want one mentioning %q", msg, want)
		}
	}()
	f()
}

func TestRecorderRejectsMisuse(t *testing.T) {
	h := NewHistory(nil)
	r := h.NewRecorder()
	r.CallAt(10, get("a"))
	mustPanic(t, "must not overlap", func() { r.CallAt(11, get("b")) })
	mustPanic(t, "before its call", func() { r.ReturnAt(9, notFound) })
	mustPanic(t, "with Ambiguous", func() { r.ReturnAt(12, unknownOut) })
	r.ReturnAt(20, notFound)
	mustPanic(t, "no operation outstanding", func() { r.ReturnAt(21, notFound) })
	mustPanic(t, "no operation outstanding", func() { r.Ambiguous() })
	mustPanic(t, "before its previous operation returned", func() { r.CallAt(19, get("a")) })
	mustPanic(t, "without prevValue or prevIndex", func() { r.CallAt(30, cas("a", "", "x")) })
	mustPanic(t, "empty key", func() { r.CallAt(30, get("")) })
	mustPanic(t, "no clock", func() { r.Call(get("a")) })
	// A call at the previous return time is allowed (closed intervals).
	r.CallAt(20, get("a"))
	r.ReturnAt(20, notFound)
	if n := len(h.Operations()); n != 2 {
		t.Fatalf("%d operations recorded, want 2", n)
	}
}

func TestRecorderAmbiguous(t *testing.T) {
	now := int64(0)
	h := NewHistory(func() int64 { now++; return now })
	a, b := h.NewRecorder(), h.NewRecorder()
	if a.ClientID() != 0 || b.ClientID() != 1 {
		t.Fatalf("client ids %d, %d", a.ClientID(), b.ClientID())
	}

	a.Call(set("k", "1"))
	a.Return(ok(5))
	// A read that times out is dropped and keeps the client id.
	a.Call(get("k"))
	a.Ambiguous()
	if a.ClientID() != 0 {
		t.Fatalf("client id %d after a dropped read, want 0", a.ClientID())
	}
	// A write that times out stays, and the client moves on under a new id.
	a.Call(set("k", "2"))
	a.Ambiguous()
	if a.ClientID() != 2 {
		t.Fatalf("client id %d after an ambiguous write, want 2", a.ClientID())
	}
	a.Call(get("k"))
	a.Return(val("2", 7))
	// Outstanding at the snapshot: b's write is kept, a's read dropped.
	b.Call(set("k", "3"))
	a.Call(get("k"))

	ops := h.Operations()
	type row struct {
		client int
		op     Op
		status Status
	}
	var got []row
	var latest int64
	for _, o := range ops {
		got = append(got, row{o.ClientId, o.Input.(Input).Op, o.Output.(Output).Status})
		if o.Output.(Output).Status != StatusAmbiguous {
			latest = max(latest, o.Return)
		}
	}
	want := []row{
		{0, OpSet, StatusOK},
		{0, OpSet, StatusAmbiguous},
		{2, OpGet, StatusOK},
		{1, OpSet, StatusAmbiguous},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("operations\n got %v\nwant %v", got, want)
	}
	for _, o := range ops {
		if o.Output.(Output).Status == StatusAmbiguous && o.Return <= latest {
			t.Errorf("ambiguous %v returns at %d, not after everything (%d)", o.Input, o.Return, latest)
		}
	}
	res, err := h.Check(CheckOptions{})
	if err != nil || res.Verdict != VerdictOK || res.Ambiguous != 2 {
		t.Fatalf("got %v, %v", res, err)
	}

	// The recorder is still usable once the outstanding read returns.
	a.Return(val("3", 8))
	res, err = h.Check(CheckOptions{})
	if err != nil || res.Verdict != VerdictOK {
		t.Fatalf("got %v, %v", res, err)
	}
}

// lockedStore is a correct store shared by concurrent clients.
type lockedStore struct {
	mu    sync.Mutex
	store simStore
}

func (s *lockedStore) do(in Input) Output {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.apply(in, nil, bugNone)
}

// TestRecorderConcurrent runs real goroutines on the wall clock against a
// correct store, with timeouts, while snapshots are taken; run it with
// -race.
func TestRecorderConcurrent(t *testing.T) {
	const clients, opsPerClient = 8, 250
	store := &lockedStore{store: simStore{nodes: map[string]simNode{}, prev: map[string]simNode{}}}
	h := NewHistory(WallClock())
	var wg sync.WaitGroup
	for c := range clients {
		r := h.NewRecorder()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range opsPerClient {
				key := fmt.Sprintf("k%d", (c+i)%3)
				var in Input
				switch i % 4 {
				case 0:
					in = set(key, fmt.Sprintf("c%d-%d", c, i))
				case 1:
					in = create(key, fmt.Sprintf("c%d-%d", c, i))
				case 2:
					in = del(key)
				default:
					in = get(key)
				}
				r.Call(in)
				out := store.do(in)
				if i%17 == 0 {
					r.Ambiguous() // the response was "lost"
					continue
				}
				r.Return(out)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			_ = h.Operations()
		}
	}()
	wg.Wait()
	res, err := h.Check(CheckOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictOK {
		t.Fatalf("%v", res)
	}
	if res.Operations <= clients*opsPerClient*3/4 || res.Ambiguous == 0 {
		t.Fatalf("%v: too few operations or no ambiguous ones", res)
	}
}

// TestRecorderNoEffect: an operation the server proved had no effect is
// dropped, keeps the client id, and does not hide a stale read: had the
// lost write been kept as ambiguous, the read of "2" would be accepted.
func TestRecorderNoEffect(t *testing.T) {
	h := NewHistory(nil)
	a, b := h.NewRecorder(), h.NewRecorder()
	a.CallAt(1, set("k", "1"))
	a.ReturnAt(2, ok(5))
	a.CallAt(3, set("k", "2"))
	a.NoEffect()
	if a.ClientID() != 0 {
		t.Fatalf("client id %d after NoEffect, want 0", a.ClientID())
	}
	mustPanic(t, "no operation outstanding", func() { a.NoEffect() })
	b.CallAt(10, get("k"))
	b.ReturnAt(11, val("1", 5))
	if n := len(h.Operations()); n != 2 {
		t.Fatalf("%d operations, want 2 (the lost write dropped)", n)
	}
	if res, err := h.Check(CheckOptions{}); err != nil || res.Verdict != VerdictOK {
		t.Fatalf("got %v, %v", res, err)
	}
	b.CallAt(12, get("k"))
	b.ReturnAt(13, val("2", 6))
	if res, err := h.Check(CheckOptions{}); err != nil || res.Verdict != VerdictIllegal {
		t.Fatalf("a read of a write with no effect: got %v, %v, want illegal", res, err)
	}
}
