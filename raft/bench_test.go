package raft_test

import (
	"fmt"
	"testing"

	"github.com/raftkv/raftkv/raft/rafttest"
)

// BenchmarkCommit3 measures proposals committed per second through a
// 3-member in-memory cluster (no disk, no network: the cost of the protocol
// itself), proposing batchSize entries between Ready cycles. Report with
//
//	go test -run '^$' -bench Commit3 -benchmem ./raft
//
// ns/op and allocs/op are per committed entry.
func BenchmarkCommit3(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchCommit(b, batch) })
	}
}

func benchCommit(b *testing.B, batch int) {
	c := rafttest.New([]uint64{1, 2, 3}, rafttest.Options{Seed: 1})
	c.Nodes[1].Raw.Campaign()
	c.DeliverAll(nil)
	if c.Leader() != 1 {
		b.Fatal("no leader")
	}
	payload := make([]byte, 128)
	data := make([][]byte, batch)
	for i := range data {
		data[i] = payload
	}
	leader := c.Nodes[1]
	start := leader.Raw.Status().Commit
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		if _, err := leader.Raw.ProposeBatch(data); err != nil {
			b.Fatal(err)
		}
		c.DeliverAll(nil)
		// Applied entries are not kept: the benchmark measures raft.
		for _, id := range c.IDs {
			c.Nodes[id].Applied = c.Nodes[id].Applied[:0]
		}
	}
	b.StopTimer()
	committed := leader.Raw.Status().Commit - start
	if committed < uint64(b.N) {
		b.Fatalf("committed %d of %d", committed, b.N)
	}
	b.ReportMetric(float64(committed)/b.Elapsed().Seconds(), "entries/s")
}
