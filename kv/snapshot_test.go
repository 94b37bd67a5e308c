package kv

import (
	"bytes"
	"errors"
	"testing"

	"pgregory.net/rapid"
)

func saveBytes(t interface {
	Helper()
	Fatal(...any)
}, s *Store) bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf
}

// TestSnapshotRoundTrip: under random histories, two members applying the
// same log write byte-identical snapshots; a restored store re-saves the
// same bytes, lists the same tree, and behaves the same afterwards (TTLs,
// history and index all rebuilt).
func TestSnapshotRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		histSize := rapid.IntRange(1, 20).Draw(t, "histSize")
		a := New(Options{HistorySize: histSize})
		b := New(Options{HistorySize: histSize})
		m := newModel(histSize, 100) // only to drive genCommand's clock and index
		n := rapid.IntRange(0, 200).Draw(t, "n")
		for range n {
			c := genCommand(t, m)
			m.apply(c)
			_, _ = a.Apply(c)
			_, _ = b.Apply(c)
		}
		snapA, snapB := saveBytes(t, a), saveBytes(t, b)
		if !bytes.Equal(snapA.Bytes(), snapB.Bytes()) {
			t.Fatal("two stores with the same history wrote different snapshots")
		}
		r := New(Options{HistorySize: histSize})
		// Replaced by the restore; in a directory the history may not have,
		// or have as a file, so that a store still remembering it as the
		// directory of its last write would go wrong.
		mustApply(t, r, put("/a/junk", "replaced by the restore"))
		if err := r.Restore(bytes.NewReader(snapA.Bytes())); err != nil {
			t.Fatal(err)
		}
		again := saveBytes(t, r)
		if !bytes.Equal(snapA.Bytes(), again.Bytes()) {
			t.Fatal("re-saved snapshot differs")
		}
		if r.Index() != a.Index() || r.HasTTLs() != a.HasTTLs() {
			t.Fatalf("index %d/%d HasTTLs %v/%v", r.Index(), a.Index(), r.HasTTLs(), a.HasTTLs())
		}
		// Continue both with the same commands: same results, same watch
		// history answers.
		for range rapid.IntRange(0, 50).Draw(t, "more") {
			c := genCommand(t, m)
			m.apply(c)
			ea, erra := a.Apply(c)
			er, errr := r.Apply(c)
			if eventJSON(t, ea) != eventJSON(t, er) || (erra == nil) != (errr == nil) {
				t.Fatalf("after restore %+v: %s/%v vs %s/%v", *c, eventJSON(t, ea), erra, eventJSON(t, er), errr)
			}
		}
		since := rapid.Uint64Range(0, a.Index()+1).Draw(t, "since")
		wa, erra := a.Watch("/", true, true, since)
		wr, errr := r.Watch("/", true, true, since)
		if (erra == nil) != (errr == nil) {
			t.Fatalf("watch since %d: %v vs %v", since, erra, errr)
		}
		if erra == nil {
			if len(wa.Events()) != len(wr.Events()) {
				t.Fatalf("history replay %d vs %d events", len(wa.Events()), len(wr.Events()))
			}
			for range len(wa.Events()) {
				if x, y := eventJSON(t, <-wa.Events()), eventJSON(t, <-wr.Events()); x != y {
					t.Fatalf("history differs: %s vs %s", x, y)
				}
			}
		}
	})
}

func TestRestoreRejectsDamageAndKeepsState(t *testing.T) {
	src := New(Options{})
	mustApply(t, src, put("/a/b", "v"))
	mustApply(t, src, &Command{Method: MethodPut, Path: "/t", TTLSec: Uint64(9)})
	good := saveBytes(t, src)
	for name, data := range map[string][]byte{
		"empty":     nil,
		"truncated": good.Bytes()[:good.Len()-3],
		"version":   append([]byte{0x96, 0x09}, good.Bytes()[2:]...),
	} {
		dst := New(Options{})
		mustApply(t, dst, put("/keep", "me"))
		err := dst.Restore(bytes.NewReader(data))
		if !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("%s: %v, want ErrBadSnapshot", name, err)
		}
		if ev, err := dst.Get("/keep", false, false); err != nil || dst.Index() != 1 || *ev.Node.Value != "me" {
			t.Fatalf("%s: a failed restore changed the store", name)
		}
	}
	// An orphan node (its parent missing) is refused.
	orphan := New(Options{})
	orphan.mu.Lock()
	orphan.put(node{path: "/no/parent", nameAt: 4, value: "x", created: 0, modified: 0})
	orphan.mu.Unlock()
	buf := saveBytes(t, orphan)
	if err := New(Options{}).Restore(&buf); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("orphan: %v, want ErrBadSnapshot", err)
	}
}

// TestRestoreForgetsLastDirectory: a store remembers the directory of its
// last create so as not to look it up again. A restore that drops that
// directory, here turning it into a file, must leave nothing remembered.
func TestRestoreForgetsLastDirectory(t *testing.T) {
	src := New(Options{})
	mustApply(t, src, put("/d", "a file"))
	snap := saveBytes(t, src)
	s := New(Options{})
	mustApply(t, s, put("/d/x", "1"))
	if err := s.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	_, err := s.Apply(put("/d/y", "2"))
	var e *Error
	if !errors.As(err, &e) || e.Code != EcodeNotDir || e.Cause != "/d" {
		t.Fatalf("put under a file restored over a directory: %v, want 104 on /d", err)
	}
}
