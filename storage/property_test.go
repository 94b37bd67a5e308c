package storage

import (
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/raftkv/raftkv/log"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/vfs"
	"pgregory.net/rapid"
)

// Longer runs: go test ./storage -run Property -rapid.checks=20000

// model is what a member's durable state should be: the obvious structure
// the optimised Storage is checked against.
type model struct {
	hs       raft.HardState
	snap     raft.SnapshotMetadata
	snapData []byte
	ents     []raft.Entry // after snap.Index
}

func (m model) clone() model {
	m.ents = slices.Clone(m.ents)
	return m
}

func (m model) last() uint64 { return m.snap.Index + uint64(len(m.ents)) }

func (m model) term(i uint64) (uint64, bool) {
	switch {
	case i == m.snap.Index:
		return m.snap.Term, true
	case i > m.snap.Index && i <= m.last():
		return m.ents[i-m.snap.Index-1].Term, true
	}
	return 0, false
}

// appendOne applies one entry record, as replay does.
func (m *model) appendOne(e raft.Entry) {
	if e.Index <= m.snap.Index {
		return
	}
	m.ents = append(m.ents[:e.Index-m.snap.Index-1:e.Index-m.snap.Index-1], e)
}

func (m *model) snapshot(s raft.Snapshot) {
	if t, ok := m.term(s.Metadata.Index); ok && t == s.Metadata.Term {
		m.ents = slices.Clone(m.ents[s.Metadata.Index-m.snap.Index:])
	} else {
		m.ents = nil
	}
	m.snap, m.snapData = s.Metadata, s.Data
}

func observe(t *rapid.T, s *Storage) model {
	var m model
	var cs raft.ConfState
	m.hs, cs, _ = s.InitialState()
	snap, _ := s.Snapshot()
	m.snap, m.snapData = snap.Metadata, snap.Data
	if !reflect.DeepEqual(cs, snap.Metadata.ConfState) {
		t.Fatalf("InitialState's ConfState %+v is not the snapshot's %+v", cs, snap.Metadata.ConfState)
	}
	fi, _ := s.FirstIndex()
	li, _ := s.LastIndex()
	if fi != m.snap.Index+1 {
		t.Fatalf("FirstIndex %d with snapshot at %d", fi, m.snap.Index)
	}
	if li >= fi {
		es, err := s.Entries(fi, li+1, ^uint64(0))
		if err != nil {
			t.Fatalf("Entries: %v", err)
		}
		m.ents = slices.Clone(es)
	}
	return m
}

func describe(m model) string {
	s := fmt.Sprintf("hs=%+v snap=%d/%d ents=[", m.hs, m.snap.Index, m.snap.Term)
	for _, e := range m.ents {
		s += fmt.Sprintf(" %d/%d", e.Index, e.Term)
	}
	return s + " ]"
}

func equalModels(a, b model) bool {
	return a.hs == b.hs && a.snap.Index == b.snap.Index && a.snap.Term == b.snap.Term &&
		reflect.DeepEqual(a.snap.ConfState, b.snap.ConfState) &&
		slices.Equal(a.snapData, b.snapData) &&
		slices.EqualFunc(a.ents, b.ents, func(x, y raft.Entry) bool {
			return x.Index == y.Index && x.Term == y.Term && x.Type == y.Type && slices.Equal(x.Data, y.Data)
		})
}

// TestCrashProperty: random appends (synced or not), truncations, hard
// states, local and leader snapshots, syncs and crashes on the in-memory
// file system. After every crash the recovered state must be one the member
// passed through since its last durable point: every synced record present,
// nothing invented, the log a prefix-consistent sequence of what was
// written. Between crashes, Storage must read exactly like the model.
func TestCrashProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		fsys := vfs.NewMem(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
		o := testOpts()
		o.SegmentSize = int64(rapid.IntRange(256, 4096).Draw(t, "segmentSize"))
		s := mustOpen(t, fsys, "/m", o)
		defer func() { s.Close() }()

		var cur model
		// candidates: states a crash may legitimately recover to.
		candidates := []model{cur.clone()}
		durable := func() { candidates = []model{cur.clone()} }
		data := 0
		nextData := func() []byte {
			data++
			return []byte(fmt.Sprintf("d%d", data))
		}

		steps := rapid.IntRange(1, 150).Draw(t, "steps")
		for range steps {
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
			case op <= 4: // append, possibly truncating uncommitted entries
				lo := rapid.Uint64Range(max(cur.hs.Commit, cur.snap.Index)+1, cur.last()+1).Draw(t, "lo")
				n := rapid.Uint64Range(0, 6).Draw(t, "n")
				term := max(cur.hs.Term, 1)
				if rapid.Bool().Draw(t, "newTerm") {
					term++
				}
				var batch []raft.Entry
				for i := range n {
					batch = append(batch, raft.Entry{Term: term, Index: lo + i, Data: nextData()})
				}
				hs := cur.hs
				hs.Term = term
				newLast := cur.last()
				if n > 0 {
					newLast = lo + n - 1
				}
				hs.Commit = rapid.Uint64Range(hs.Commit, max(hs.Commit, newLast)).Draw(t, "commit")
				if hs == cur.hs {
					hs = raft.HardState{} // nothing to write
				}
				sync := rapid.Bool().Draw(t, "sync")
				if err := s.Save(hs, batch, sync); err != nil {
					t.Fatalf("Save: %v", err)
				}
				for _, e := range batch {
					cur.appendOne(e)
					candidates = append(candidates, cur.clone())
				}
				if !hs.IsEmpty() {
					cur.hs = hs
					candidates = append(candidates, cur.clone())
				}
				if sync {
					durable()
				}
			case op == 5: // the member compacts its own log
				if cur.hs.Commit <= cur.snap.Index {
					continue
				}
				i := rapid.Uint64Range(cur.snap.Index+1, cur.hs.Commit).Draw(t, "snapIndex")
				cs := raft.ConfState{Voters: []uint64{1, 2, i}}
				data := nextData()
				var snap raft.Snapshot
				var err error
				if rapid.Bool().Draw(t, "stream") {
					// Streamed into the file: the Storage keeps no data,
					// and Snapshot reads it back.
					var p *PreparedSnapshot
					p, err = s.PrepareSnapshotStream(i, cs, func(w io.Writer) error {
						_, err := w.Write(data)
						return err
					})
					if err == nil {
						err = s.CommitSnapshot(p)
						snap = raft.Snapshot{Metadata: p.Snapshot().Metadata, Data: data}
					}
				} else {
					snap, err = s.CreateSnapshot(i, cs, data)
				}
				if err != nil {
					t.Fatalf("CreateSnapshot(%d): %v", i, err)
				}
				cur.snapshot(snap)
				durable()
			case op == 6: // a leader's snapshot from a newer term
				i := rapid.Uint64Range(max(cur.hs.Commit, cur.snap.Index)+1, cur.last()+3).Draw(t, "leaderSnap")
				term := cur.hs.Term + 1
				snap := raft.Snapshot{
					Metadata: raft.SnapshotMetadata{Index: i, Term: term, ConfState: raft.ConfState{Voters: []uint64{7}}},
					Data:     nextData(),
				}
				if err := s.SaveSnapshot(snap); err != nil {
					t.Fatalf("SaveSnapshot(%d/%d): %v", i, term, err)
				}
				cur.snapshot(snap)
				durable()
				hs := raft.HardState{Term: term, Commit: i}
				if err := s.Save(hs, nil, true); err != nil {
					t.Fatal(err)
				}
				cur.hs = hs
				durable()
			case op == 7:
				if err := s.Sync(); err != nil {
					t.Fatal(err)
				}
				durable()
			case op == 8: // crash and restart
				fsys.Crash()
				var err error
				if s, err = Open(fsys, "/m", o); err != nil {
					t.Fatalf("Open after crash: %v\n%s", err, dumpWAL(fsys, "/m/wal"))
				}
				got := observe(t, s)
				if !slices.ContainsFunc(candidates, func(c model) bool { return equalModels(c, got) }) {
					t.Logf("recovered: %s", describe(got))
					for _, c := range candidates {
						t.Logf("candidate: %s", describe(c))
					}
					t.Fatalf("recovered state is none of the %d the member could have durably reached", len(candidates))
				}
				cur = got
				durable()
			case op == 9: // clean restart: nothing may be lost
				s.Close()
				s = mustOpen(t, fsys, "/m", o)
			}
			if got := observe(t, s); !equalModels(got, cur) {
				t.Fatalf("Storage reads\n %s\nwant\n %s", describe(got), describe(cur))
			}
		}
	})
}

// TestMatchesMemoryStorage checks the raft.Storage answers against raft's
// reference MemoryStorage fed the same operations, over a sweep of indexes
// including out-of-range ones.
func TestMatchesMemoryStorage(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := mustOpen(t, vfs.NewMem(rand.New(rand.NewPCG(1, 2))), "/m", testOpts())
		defer s.Close()
		ms := raft.NewMemoryStorage()
		term := uint64(1)
		for range rapid.IntRange(1, 30).Draw(t, "steps") {
			fi, _ := ms.FirstIndex()
			li, _ := ms.LastIndex()
			if rapid.IntRange(0, 4).Draw(t, "op") > 0 {
				lo := rapid.Uint64Range(fi, li+1).Draw(t, "lo")
				n := rapid.Uint64Range(1, 5).Draw(t, "n")
				term += rapid.Uint64Range(0, 1).Draw(t, "bump")
				batch := ents(term, lo, lo+n-1)
				if err := s.Save(raft.HardState{Term: term}, batch, false); err != nil {
					t.Fatal(err)
				}
				_ = ms.Append(batch)
				ms.SetHardState(raft.HardState{Term: term})
			} else {
				i := rapid.Uint64Range(fi, li+2).Draw(t, "snapIndex")
				snap := raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: i, Term: term + 1}}
				if i <= li && rapid.Bool().Draw(t, "matching") {
					snap.Metadata.Term, _ = ms.Term(i)
				}
				if err := s.SaveSnapshot(snap); err != nil {
					t.Fatal(err)
				}
				if mt, err := ms.Term(i); err == nil && mt == snap.Metadata.Term {
					_, _ = ms.CreateSnapshot(i, &snap.Metadata.ConfState, nil)
					_ = ms.Compact(i)
				} else {
					_ = ms.ApplySnapshot(snap)
				}
				term++
			}
			compare(t, s, ms)
		}
	})
}

func compare(t *rapid.T, s *Storage, ms *raft.MemoryStorage) {
	eq := func(what string, a, b any, ea, eb error) {
		if !reflect.DeepEqual(a, b) || ea != eb {
			t.Fatalf("%s: storage %v, %v; MemoryStorage %v, %v", what, a, ea, b, eb)
		}
	}
	fi, e1 := s.FirstIndex()
	mfi, e2 := ms.FirstIndex()
	eq("FirstIndex", fi, mfi, e1, e2)
	li, e1 := s.LastIndex()
	mli, e2 := ms.LastIndex()
	eq("LastIndex", li, mli, e1, e2)
	hs, cs, e1 := s.InitialState()
	mhs, mcs, e2 := ms.InitialState()
	eq("InitialState", []any{hs, cs}, []any{mhs, mcs}, e1, e2)
	for i := fi - min(fi, 2); i <= li+2; i++ {
		a, e1 := s.Term(i)
		b, e2 := ms.Term(i)
		eq(fmt.Sprintf("Term(%d)", i), a, b, e1, e2)
	}
	for lo := fi - min(fi, 1); lo <= li+1; lo++ {
		hi := min(lo+rapid.Uint64Range(0, 3).Draw(t, "width"), li+2)
		a, e1 := s.Entries(lo, hi, 15)
		b, e2 := ms.Entries(lo, hi, 15)
		if len(a) == 0 && len(b) == 0 {
			a, b = nil, nil
		}
		eq(fmt.Sprintf("Entries(%d, %d, 15)", lo, hi), a, b, e1, e2)
	}
}

// dumpWAL describes every record of every segment, for failure reports.
func dumpWAL(fsys vfs.FS, dir string) string {
	var out string
	names, _ := fsys.ReadDir(dir)
	for _, n := range names {
		b, _ := vfs.ReadFile(fsys, dir+"/"+n)
		out += n + ":"
		for off := 0; off < len(b); {
			typ, p, sz, err := log.DecodeFrame(b[off:])
			if err != nil {
				out += fmt.Sprintf(" [%d: %v]", off, err)
				break
			}
			switch typ {
			case log.RecordEntry:
				e, _ := log.DecodeEntry(p)
				out += fmt.Sprintf(" e%d/%d", e.Index, e.Term)
			case log.RecordHardState:
				h, _ := log.DecodeHardState(p)
				out += fmt.Sprintf(" hs%+v", h)
			case log.RecordSnapshot:
				m, _ := log.DecodeMarker(p)
				out += fmt.Sprintf(" snap%+v", m)
			case log.RecordHeader:
				h, _ := log.DecodeHeader(p)
				out += fmt.Sprintf(" header(seq=%d first=%d)", h.Seq, h.FirstIndex)
			}
			off += sz
		}
		out += "\n"
	}
	return out
}
