package storage

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

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
	dir := filepath.Join("testdata", "fuzz", "FuzzSnapshotFile")
	if !*updateCorpus {
		if _, err := os.Stat(filepath.Join(dir, "seed0")); err != nil {
			t.Fatalf("seed corpus missing (regenerate with -update-corpus): %v", err)
		}
		return
	}
	_ = os.MkdirAll(dir, 0o755)
	for i, s := range snapSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
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
