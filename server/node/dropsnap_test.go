package node

import (
	"errors"
	"fmt"
	"path"
	"testing"

	"github.com/raftkv/raftkv/kv"
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
