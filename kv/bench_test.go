package kv

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The benchmarks use the shape: 10^6 keys with 16-byte names and
// 256-byte values. Run them with
//
//	go test -run '^$' -bench . -benchmem ./kv/
//
// Building the 10^6-key store takes a few seconds and happens once.

const benchKeys = 1_000_000

var benchValue = strings.Repeat("v", 256)

// benchName is a 16-byte key name.
func benchName(i int) string { return fmt.Sprintf("/k%015d", i) }

var (
	bigOnce  sync.Once
	bigStore *Store
	bigSnap  []byte
)

func bigStoreForBench(b *testing.B) *Store {
	b.Helper()
	bigOnce.Do(func() {
		bigStore = New(Options{})
		for i := range benchKeys {
			if _, err := bigStore.Apply(&Command{Method: MethodPut, Path: benchName(i), Value: strings.Clone(benchValue)}); err != nil {
				panic(err)
			}
		}
		var buf bytes.Buffer
		if err := bigStore.Save(&buf); err != nil {
			panic(err)
		}
		bigSnap = buf.Bytes()
	})
	return bigStore
}

func BenchmarkSet1M(b *testing.B) {
	s := bigStoreForBench(b)
	cmds := make([]Command, 1024)
	for i := range cmds {
		cmds[i] = Command{Method: MethodPut, Path: benchName(i * 977 % benchKeys), Value: benchValue}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Apply(&cmds[i%len(cmds)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetNewKeys is the write benchmark's shape: every PUT creates a
// new key in one existing directory, as raftkv-bench's put does with
// /raftkv-bench/<runid>-<n>. The directory starts with 10^5 keys, so that
// the tree's depth, and ns/op, change little with b.N.
func BenchmarkSetNewKeys(b *testing.B) { benchSetNewKeys(b, New(Options{})) }

// BenchmarkSetNewKeysWatched is BenchmarkSetNewKeys with the watchers a
// raftkv server always has registered (recursive, on the members and auth
// directories), which match none of the writes: what a member's store does
// for each write of the write benchmark.
func BenchmarkSetNewKeysWatched(b *testing.B) {
	s := New(Options{})
	for _, p := range []string{"/_raftkv/members", "/_raftkv/_auth"} {
		if _, err := s.Watch(p, true, true, 0); err != nil {
			b.Fatal(err)
		}
	}
	benchSetNewKeys(b, s)
}

func benchSetNewKeys(b *testing.B, s *Store) {
	const prefill = 100_000
	paths := make([]string, prefill+b.N)
	for i := range paths {
		paths[i] = fmt.Sprintf("/raftkv-bench/r0123456789-%d", i)
	}
	for _, p := range paths[:prefill] {
		mustApply(b, s, &Command{Method: MethodPut, Path: p, Value: benchValue})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for _, p := range paths[prefill:] {
		if _, err := s.Apply(&Command{Method: MethodPut, Path: p, Value: benchValue}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCommands are the shapes the command benchmarks encode and decode: a
// write benchmark's PUT, and a compare-and-swap carrying every kind of field.
var benchCommands = []struct {
	name string
	cmd  Command
}{
	{"put", Command{Method: MethodPut, Path: "/raftkv-bench/r0123456789-123456", Value: benchValue,
		TimeUnixNano: 1_700_000_000_000_000_000}},
	{"cas", Command{Method: MethodPut, Path: "/locks/leader", Value: "member-2", TTLSec: Uint64(30),
		PrevValue: "member-1", PrevIndex: 123_456, PrevExist: Bool(true), TimeUnixNano: 1_700_000_000_000_000_000}},
}

func BenchmarkEncodeCommand(b *testing.B) {
	for _, bc := range benchCommands {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := bc.cmd.Encode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeCommand(b *testing.B) {
	for _, bc := range benchCommands {
		b.Run(bc.name, func(b *testing.B) {
			enc, err := bc.cmd.Encode()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := DecodeCommand(enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGet1M(b *testing.B) {
	s := bigStoreForBench(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Get(benchName(i*7919%benchKeys), false, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkListRecursive10k(b *testing.B) {
	s := New(Options{})
	for i := range 10_000 {
		if _, err := s.Apply(&Command{Method: MethodPut, Path: "/dir" + benchName(i), Value: benchValue}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ev, err := s.Get("/dir", true, true)
		if err != nil || len(ev.Node.Nodes) != 10_000 {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotSave1M saves a million keys with Save ("hand") and
// with the Encoder-only writer it replaced ("reference", saveReference).
func BenchmarkSnapshotSave1M(b *testing.B) {
	s := bigStoreForBench(b)
	for _, bc := range []struct {
		name string
		save func(*Frozen, io.Writer) error
	}{{"hand", (*Frozen).Save}, {"reference", (*Frozen).saveReference}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bigSnap)))
			for b.Loop() {
				var w countingWriter
				if err := bc.save(s.Freeze(), &w); err != nil || w.n != len(bigSnap) {
					b.Fatal(err, w.n)
				}
			}
		})
	}
}

func BenchmarkSnapshotRestore1M(b *testing.B) {
	bigStoreForBench(b)
	b.SetBytes(int64(len(bigSnap)))
	b.ResetTimer()
	for range b.N {
		s := New(Options{})
		if err := s.Restore(bytes.NewReader(bigSnap)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeapPerKey reports the live heap per key of a store holding 10^6
// keys (16-byte names, 256-byte values), measured after GC.
func BenchmarkHeapPerKey(b *testing.B) {
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(Options{})
		for i := range benchKeys {
			if _, err := s.Apply(&Command{Method: MethodPut, Path: benchName(i), Value: strings.Clone(benchValue)}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/benchKeys, "heapB/key")
		runtime.KeepAlive(s)
	}
}

// countingWriter discards what it is given, so the save benchmark measures
// encoding rather than buffer growth.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}
