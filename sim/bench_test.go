package sim

import (
	"fmt"
	"testing"
	"time"
)

// TestCatchUpOverNarrowLink: a new member catches up by a snapshot sent in
// chunks over a link of limited bandwidth in about the time the bytes take
// to cross it, each chunk sent once. The leader used to resend the chunk in
// flight at every heartbeat response, queueing copies behind it on the
// link: hundreds of chunks for a handful, and no end for large snapshots.
func TestCatchUpOverNarrowLink(t *testing.T) {
	b, err := BenchCatchUp(20000, 1, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	chunks := (b.SnapshotBytes + 64<<10 - 1) / (64 << 10)
	ideal := time.Duration(float64(b.SnapshotBytes) / 1e6 * float64(time.Second)) // 1 MB/s
	t.Logf("%d-byte snapshot: caught up in %v (ideal %v), %d chunks sent for %d", b.SnapshotBytes,
		time.Duration(b.CaughtUpNs), ideal, b.SnapMessages, chunks)
	if b.SnapMessages > chunks+1 || time.Duration(b.CaughtUpNs) > ideal*5/4+200*time.Millisecond ||
		b.PromotedNs < b.CaughtUpNs {
		t.Fatalf("catch-up took %v (ideal %v) and %d chunks for %d; promoted after %v",
			time.Duration(b.CaughtUpNs), ideal, b.SnapMessages, chunks, time.Duration(b.PromotedNs))
	}
}

// BenchmarkReads compares linearizable reads through ReadIndex with reads
// through the log (quorum gets) and from the leader's lease on a simulated
// 3-member cluster: 8 closed-loop clients, 0.5ms links, disks whose sync
// takes 1ms, one simulated second per iteration. It reports reads per
// simulated second, the mean latency, and per read the members' messages,
// the syncs, and the wall time the simulator spent (the node code
// included).
func BenchmarkReads(b *testing.B) {
	for _, via := range []ReadVia{ReadViaIndex, ReadViaLog, ReadViaLease} {
		name := [...]string{"quorum-get", "read-index", "lease"}[via]
		b.Run(name, func(b *testing.B) {
			var sum ReadBench
			for range b.N {
				r, err := BenchReads(via, 8, 1, 1000)
				if err != nil {
					b.Fatal(err)
				}
				sum.Clients = r.Clients
				sum.Reads += r.Reads
				sum.VirtualNs += r.VirtualNs
				sum.WallNs += r.WallNs
				sum.Messages += r.Messages
				sum.Syncs += r.Syncs
			}
			b.ReportMetric(sum.PerSecond(), "reads/sim-s")
			b.ReportMetric(sum.MeanLatencyMs(), "ms/read")
			b.ReportMetric(float64(sum.Messages)/float64(sum.Reads), "msgs/read")
			b.ReportMetric(float64(sum.Syncs)/float64(sum.Reads), "syncs/read")
			b.ReportMetric(float64(sum.WallNs)/1e3/float64(sum.Reads), "wall-µs/read")
		})
	}
}

// BenchmarkCatchUp measures a new member catching up with a 10^5-key key
// space by InstallSnapshot over 100 Mbit/s links, for three chunk sizes
// (raftkv-sim -bench catchup runs 10^6 keys). It reports the simulated
// time to catch up and the chunks sent.
func BenchmarkCatchUp(b *testing.B) {
	for _, chunk := range []uint64{64 << 10, 1 << 20, 8 << 20} {
		b.Run(fmt.Sprintf("chunk=%dKiB", chunk>>10), func(b *testing.B) {
			var r CatchUpBench
			for range b.N {
				var err error
				if r, err = BenchCatchUp(100_000, 12.5, chunk); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(r.CaughtUpNs)/1e6, "sim-ms")
			b.ReportMetric(float64(r.SnapMessages), "chunks")
			b.ReportMetric(float64(r.SnapshotBytes)/1e6, "MB")
		})
	}
}
