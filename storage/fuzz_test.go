package storage

import (
	"flag"
	"os"
	"reflect"
	"testing"

	"github.com/raftkv/raftkv/internal/fuzzcorpus"
	"github.com/raftkv/raftkv/raft"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpus in testdata/fuzz")

func snapSeeds() [][]byte {
	full := encodeSnapshot(1, 2, raft.Snapshot{
		Metadata: raft.SnapshotMetadata{Index: 9, Term: 3, ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}},
		Data:     []byte("state machine image"),
	})
	empty := encodeSnapshot(1, 2, raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 1, Term: 1}})
	return [][]byte{full, empty, full[:len(full)-3], {}}
}

func TestSnapshotFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		if _, err := os.Stat(fuzzcorpus.Path("FuzzSnapshotFile", 0)); err != nil {
			t.Fatalf("seed corpus missing (regenerate with -update-corpus): %v", err)
		}
		return
	}
	if err := fuzzcorpus.Write("FuzzSnapshotFile", snapSeeds()); err != nil {
		t.Fatal(err)
	}
}

// FuzzSnapshotFile: decoding arbitrary snapshot file bytes never panics,
// and what decodes re-encodes to a file that decodes the same.
func FuzzSnapshotFile(f *testing.F) {
	for _, s := range snapSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cluster, member, snap, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		c2, m2, snap2, err := decodeSnapshot(encodeSnapshot(cluster, member, snap))
		if err != nil || c2 != cluster || m2 != member || !reflect.DeepEqual(snap, snap2) {
			t.Fatalf("re-encoding changed the snapshot: %+v -> %+v (%v)", snap, snap2, err)
		}
	})
}
