package storage

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"

	"github.com/raftkv/raftkv/log"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/vfs"
)

// encodeSnapshotModel is encodeSnapshot as it was before it framed the
// data without copying it: the bytes must not have changed.
func encodeSnapshotModel(cluster, member uint64, snap raft.Snapshot) []byte {
	var b bytes.Buffer
	enc := msgpack.NewEncoder(&b)
	md := snap.Metadata
	_ = enc.EncodeArrayLen(9)
	_ = enc.EncodeString(snapMagic)
	_ = enc.EncodeUint(snapVersion)
	_ = enc.EncodeUint(cluster)
	_ = enc.EncodeUint(member)
	_ = enc.EncodeUint(md.Index)
	_ = enc.EncodeUint(md.Term)
	for _, ids := range [][]uint64{md.ConfState.Voters, md.ConfState.Learners} {
		_ = enc.EncodeArrayLen(len(ids))
		for _, id := range ids {
			_ = enc.EncodeUint(id)
		}
	}
	_ = enc.EncodeBytes(snap.Data)
	return log.AppendFrame(nil, log.RecordSnapshotFile, b.Bytes())
}

func TestEncodeSnapshotBytesUnchanged(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snap := raft.Snapshot{Metadata: raft.SnapshotMetadata{
			Index: rapid.Uint64().Draw(t, "index"), Term: rapid.Uint64().Draw(t, "term"),
			ConfState: raft.ConfState{
				Voters:   rapid.SliceOfN(rapid.Uint64(), 0, 5).Draw(t, "voters"),
				Learners: rapid.SliceOfN(rapid.Uint64(), 0, 2).Draw(t, "learners"),
			},
		}}
		switch rapid.IntRange(0, 3).Draw(t, "dataKind") {
		case 0: // nil
		case 1:
			snap.Data = []byte{}
		case 2:
			snap.Data = rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "data")
		default: // past bin8 and bin16 lengths
			snap.Data = bytes.Repeat([]byte{7}, rapid.SampledFrom([]int{255, 256, 65535, 65536, 70000}).Draw(t, "n"))
		}
		cluster, member := rapid.Uint64().Draw(t, "cluster"), rapid.Uint64().Draw(t, "member")
		want := encodeSnapshotModel(cluster, member, snap)
		got := encodeSnapshot(cluster, member, snap)
		if !bytes.Equal(got, want) {
			t.Fatalf("encodeSnapshot changed the bytes (%d against %d)", len(got), len(want))
		}
		parts := snapshotParts(cluster, member, snap)
		if len(snap.Data) > 0 && &parts[2][0] != &snap.Data[0] {
			t.Fatalf("snapshotParts copied the data")
		}
		c, m, back, err := decodeSnapshot(got)
		if err != nil || c != cluster || m != member || back.Metadata.Index != snap.Metadata.Index || !bytes.Equal(back.Data, snap.Data) {
			t.Fatalf("round trip: %v %d %d %+v", err, c, m, back.Metadata)
		}
	})
}

// The snapshot a Storage keeps after CreateSnapshot has the data's bytes
// in a buffer not much larger than they are: a caller's buffer with much
// slack (grown while the key space was encoded) is not kept, a snug one
// is.
func TestSnapshotKeptWithoutSlack(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		s := mustOpen(t, fsys, dir, testOpts())
		defer s.Close()
		if err := s.Save(raft.HardState{Term: 1, Commit: 10}, ents(1, 1, 10), true); err != nil {
			t.Fatal(err)
		}
		for i, c := range []int{4000, 1000, 1040} {
			data := append(make([]byte, 0, c), fmt.Sprintf("state at %d", i+7)...)
			data = append(data, bytes.Repeat([]byte{'.'}, 1000-len(data))...)
			if _, err := s.CreateSnapshot(uint64(i+7), raft.ConfState{Voters: []uint64{1}}, data); err != nil {
				t.Fatal(err)
			}
			snap, _ := s.Snapshot()
			if string(snap.Data) != string(data) || cap(snap.Data) > len(data)+len(data)/8 {
				t.Fatalf("capacity %d: kept %d bytes with capacity %d", c, len(snap.Data), cap(snap.Data))
			}
			if shared := &snap.Data[0] == &data[0]; shared != (c != 4000) {
				t.Fatalf("capacity %d for %d bytes: kept the caller's buffer: %v", c, len(data), shared)
			}
		}
	})
}
