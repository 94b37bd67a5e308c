package storage

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/vfs"
)

// go test ./storage -run '^$' -bench . -benchtime 2000x
// go test ./storage -run '^$' -bench Replay -replay-bytes 1073741824 -benchtime 3x

var replayBytes = flag.Int64("replay-bytes", 64<<20, "size of the WAL BenchmarkReplay generates")

const benchEntrySize = 256

// BenchmarkRawWriteFsync is the physical limit the WAL is measured against:
// append 256 bytes to a file and fsync, in a loop, on the same disk.
func BenchmarkRawWriteFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{'x'}, benchEntrySize)
	b.SetBytes(benchEntrySize)
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkSave: one synced Save per iteration (one Ready: a batch of
// 256-byte entries and a new hard state), on the OS file system and, to
// show the CPU cost alone, on MemFS.
func BenchmarkSave(b *testing.B) {
	for _, fsName := range []string{"os", "mem"} {
		for _, batch := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("fs=%s/batch=%d", fsName, batch), func(b *testing.B) {
				var fsys vfs.FS = vfs.OS()
				dir := filepath.Join(b.TempDir(), "m")
				if fsName == "mem" {
					fsys, dir = vfs.NewMem(rand.New(rand.NewPCG(1, 1))), "/m"
				}
				o := Options{ClusterID: 1, MemberID: 1, Logger: quiet}
				s := mustOpen(b, fsys, dir, o)
				defer s.Close()
				data := bytes.Repeat([]byte{'x'}, benchEntrySize)
				ents := make([]raft.Entry, batch)
				next := uint64(1)
				b.SetBytes(int64(batch * benchEntrySize))
				b.ResetTimer()
				for b.Loop() {
					for i := range ents {
						ents[i] = raft.Entry{Term: 1, Index: next, Data: data}
						next++
					}
					if err := s.Save(raft.HardState{Term: 1, Vote: 1, Commit: next - 1}, ents, true); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	}
}

// BenchmarkReplay: open (recover) a WAL of -replay-bytes of 256-byte
// entries written in batches of 64.
func BenchmarkReplay(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "m")
	o := Options{ClusterID: 1, MemberID: 1, Logger: quiet}
	s := mustOpen(b, vfs.OS(), dir, o)
	data := bytes.Repeat([]byte{'x'}, benchEntrySize)
	ents := make([]raft.Entry, 64)
	next := uint64(1)
	var written int64
	for written < *replayBytes {
		for i := range ents {
			ents[i] = raft.Entry{Term: 1, Index: next, Data: data}
			next++
		}
		if err := s.Save(raft.HardState{Term: 1, Commit: next - 1}, ents, false); err != nil {
			b.Fatal(err)
		}
		written += int64(len(ents)) * (benchEntrySize + 24) // frame + msgpack overhead
	}
	if err := s.Sync(); err != nil {
		b.Fatal(err)
	}
	s.Close()
	total := next - 1
	var size int64
	names, _ := os.ReadDir(filepath.Join(dir, "wal"))
	for _, n := range names {
		fi, _ := n.Info()
		size += fi.Size()
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		s := mustOpen(b, vfs.OS(), dir, o)
		if li, _ := s.LastIndex(); li != total {
			b.Fatalf("replayed %d entries; want %d", li, total)
		}
		s.Close()
	}
	b.ReportMetric(float64(uint64(b.N)*total)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(size)/(1<<20), "MiB")
}
