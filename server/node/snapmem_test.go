package node

import (
	"bytes"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/storage"
	"github.com/raftkv/raftkv/vfs"
)

// heapPeak samples the heap's object bytes (live and not yet collected)
// until stop is called, which returns the largest sample.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
	}
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			default:
			}
			read()
			time.Sleep(100 * time.Microsecond)
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		read()
		return peak.Load()
	}
}

// BenchmarkSnapshotPeakHeap writes a snapshot of a 100,000-key store with
// 256-byte values, as maybeSnapshot does with DropSnapshotData: encoded
// into a buffer sized from the previous snapshot then PrepareSnapshot
// ("buffered", the path before streaming), or streamed into the file
// ("stream"). peak-heap-MB is the most heap above the store's own (after a
// GC) seen while the snapshot is written and committed; snap-MB the
// snapshot's size.
func BenchmarkSnapshotPeakHeap(b *testing.B) {
	const keys = 100_000
	store := kv.New(kv.Options{})
	value := strings.Repeat("x", 256)
	for i := range keys {
		if _, err := store.Apply(&kv.Command{Method: kv.MethodPut, Path: fmt.Sprintf("/bench/k%06d", i), Value: value}); err != nil {
			b.Fatal(err)
		}
	}
	var size bytes.Buffer
	if err := store.Save(&size); err != nil {
		b.Fatal(err)
	}
	snapLen := size.Len()
	size = bytes.Buffer{}
	for _, mode := range []string{"buffered", "stream"} {
		b.Run(mode, func(b *testing.B) {
			st, err := storage.Open(vfs.OS(), b.TempDir(), storage.Options{ClusterID: 1, MemberID: 1, SnapshotsKept: 1,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			cs := raft.ConfState{Voters: []uint64{1}}
			var peak uint64
			b.ReportAllocs()
			for i := range b.N {
				b.StopTimer()
				idx := uint64(i + 1)
				if err := st.Save(raft.HardState{Term: 1, Commit: idx}, []raft.Entry{{Term: 1, Index: idx}}, false); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base := ms.HeapAlloc
				stop := heapPeak()
				b.StartTimer()
				frozen := store.Freeze()
				var p *storage.PreparedSnapshot
				if mode == "buffered" {
					buf := bytes.NewBuffer(make([]byte, 0, snapLen+snapLen/16))
					if err := frozen.Save(buf); err != nil {
						b.Fatal(err)
					}
					p, err = st.PrepareSnapshot(idx, cs, buf.Bytes())
				} else {
					p, err = st.PrepareSnapshotStream(idx, cs, frozen.Save)
				}
				if err != nil {
					b.Fatal(err)
				}
				if err := st.CommitSnapshot(p); err != nil {
					b.Fatal(err)
				}
				st.DropSnapshotData()
				b.StopTimer()
				if got := stop(); got > base && got-base > peak {
					peak = got - base
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(snapLen)/(1<<20), "snap-MB")
		})
	}
}
