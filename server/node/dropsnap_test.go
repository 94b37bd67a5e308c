package node

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/log"
	"github.com/raftkv/raftkv/storage"
	"github.com/raftkv/raftkv/vfs"
)

// With Config.DropSnapshotData, a member's storage does not keep its
// snapshot's data once written (Snapshot then reads the file: a damaged
// file shows it), and a follower that fell behind the leader's log still
// gets the snapshot, read back from the leader's file, and every write.
func TestNodeDropSnapshotData(t *testing.T) {
	c := newTestClusterWith(t, func(cfg *Config) {
		cfg.SnapshotCount = 5
		cfg.DropSnapshotData = true
	}, 1, 2, 3)
	lead := c.leader()
	c.tick()
	c.nodes[3] = nil // down while the others write and compact
	for i := range 12 {
		if r := c.do(&kv.Command{Method: kv.MethodPut, Path: fmt.Sprintf("/k%d", i), Value: "v"}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	md := lead.Storage().SnapshotMetadata()
	if md.Index == 0 {
		t.Fatal("the leader took no snapshot")
	}
	file := path.Join("/data/snap", fmt.Sprintf("%016x-%016x.snap", md.Index, md.Term))
	fs := c.fs[lead.ID()]
	good, err := vfs.ReadFile(fs, file)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good...)
	bad[len(bad)-9] ^= 1
	if err := vfs.WriteFile(fs, file, bad); err != nil {
		t.Fatal(err)
	}
	if _, err := lead.Storage().Snapshot(); !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("the leader still holds its snapshot's data: Snapshot over a damaged file gave %v", err)
	}
	if err := vfs.WriteFile(fs, file, good); err != nil {
		t.Fatal(err)
	}
	c.start(3)
	for range 20 {
		c.tick()
	}
	for i := range 12 {
		if _, err := c.nodes[3].Store().Get(fmt.Sprintf("/k%d", i), false, false); err != nil {
			t.Fatalf("the follower that was behind: /k%d: %v", i, err)
		}
	}
	if first, _ := c.nodes[3].Storage().FirstIndex(); first <= 1 {
		t.Fatalf("the follower caught up without a snapshot (first index %d)", first)
	}
}

// streamedSnapshot reports whether a snapshot file's data has the bin 32
// header that storage.PrepareSnapshotStream always writes, where
// PrepareSnapshot writes the shortest (for data under 64 KiB, a different
// one): the file of a small snapshot tells which path wrote it.
func streamedSnapshot(t *testing.T, file []byte) bool {
	t.Helper()
	_, payload, _, err := log.DecodeFrame(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := msgpack.NewDecoder(bytes.NewReader(payload))
	if _, err := dec.DecodeArrayLen(); err != nil {
		t.Fatal(err)
	}
	for range 8 { // magic, version, cluster, member, index, term, voters, learners
		if err := dec.Skip(); err != nil {
			t.Fatal(err)
		}
	}
	c, err := dec.PeekCode()
	if err != nil {
		t.Fatal(err)
	}
	return c == msgpcode.Bin32
}

// With Config.DropSnapshotData, members stream their snapshots into the
// file (never encoding them into memory) and take the next one's size
// from it; a member restarts from such a snapshot, and a leader sends it,
// read back from its file, to a follower that fell behind its log.
func TestNodeSnapshotStream(t *testing.T) {
	c := newTestClusterWith(t, func(cfg *Config) {
		cfg.SnapshotCount = 5
		cfg.DropSnapshotData = true
	}, 1, 2, 3)
	lead := c.leader()
	c.tick()
	c.nodes[3] = nil // down while the others write and compact
	value := strings.Repeat("v", 300)
	for i := range 20 {
		if r := c.do(&kv.Command{Method: kv.MethodPut, Path: fmt.Sprintf("/k%d", i), Value: value}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	c.tick()
	for _, id := range []uint64{1, 2} {
		n := c.nodes[id]
		md := n.Storage().SnapshotMetadata()
		if md.Index == 0 {
			t.Fatalf("member %d took no snapshot", id)
		}
		file, err := vfs.ReadFile(c.fs[id], path.Join("/data/snap", fmt.Sprintf("%016x-%016x.snap", md.Index, md.Term)))
		if err != nil {
			t.Fatal(err)
		}
		if !streamedSnapshot(t, file) {
			t.Fatalf("member %d: snapshot %d was not streamed", id, md.Index)
		}
		snap, err := n.Storage().Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if n.snapLen != len(snap.Data) || n.snapLen == 0 {
			t.Fatalf("member %d: snapLen %d for a snapshot of %d bytes", id, n.snapLen, len(snap.Data))
		}
	}
	// The leader restarts from its streamed snapshot.
	leadID := lead.ID()
	c.fs[leadID].Crash()
	c.start(leadID)
	if first, _ := c.nodes[leadID].Storage().FirstIndex(); first <= 1 {
		t.Fatalf("member %d restarted without its snapshot (first index %d)", leadID, first)
	}
	c.net.queue = nil
	c.leader()
	c.tick()
	for i := range 20 {
		if _, err := c.nodes[leadID].Store().Get(fmt.Sprintf("/k%d", i), false, false); err != nil {
			t.Fatalf("member %d after restart: /k%d: %v", leadID, i, err)
		}
	}
	c.start(3)
	for range 30 {
		c.tick()
	}
	if r := c.do(&kv.Command{Method: kv.MethodPut, Path: "/last", Value: "x"}); r.Err != nil {
		t.Fatal(r.Err)
	}
	c.tick()
	for i := range 20 {
		if _, err := c.nodes[3].Store().Get(fmt.Sprintf("/k%d", i), false, false); err != nil {
			t.Fatalf("the follower that was behind: /k%d: %v", i, err)
		}
	}
	if _, err := c.nodes[3].Store().Get("/last", false, false); err != nil {
		t.Fatalf("the follower that was behind: /last: %v", err)
	}
	if first, _ := c.nodes[3].Storage().FirstIndex(); first <= 1 {
		t.Fatalf("the follower caught up without a snapshot (first index %d)", first)
	}
}
