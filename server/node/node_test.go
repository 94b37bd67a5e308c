package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/vfs"
)

// syncNet is a synchronous test network: messages queue until deliver.
type syncNet struct {
	queue []raft.Message
	// onSend, if set, sees every batch as it is sent.
	onSend func(msgs []raft.Message)
}

func (t *syncNet) Send(msgs []raft.Message) {
	if t.onSend != nil {
		t.onSend(msgs)
	}
	t.queue = append(t.queue, msgs...)
}

type testCluster struct {
	t     *testing.T
	net   *syncNet
	nodes map[uint64]*Node
	fs    map[uint64]*vfs.MemFS
	ids   []uint64
	now   int64
	// configure, if set, adjusts each node's Config before it starts.
	configure func(*Config)
}

func newTestCluster(t *testing.T, ids ...uint64) *testCluster {
	return newTestClusterWith(t, nil, ids...)
}

func newTestClusterWith(t *testing.T, configure func(*Config), ids ...uint64) *testCluster {
	c := &testCluster{t: t, net: &syncNet{}, nodes: map[uint64]*Node{}, fs: map[uint64]*vfs.MemFS{}, ids: ids, configure: configure}
	for _, id := range ids {
		c.fs[id] = vfs.NewMem(rand.New(rand.NewPCG(id, 7)))
		c.start(id)
	}
	return c
}

func (c *testCluster) start(id uint64) {
	cfg := Config{
		ID: id, ClusterID: 42, Peers: c.ids, FS: c.fs[id], Dir: "/data",
		ElectionTick: 10, HeartbeatTick: 1, TickInterval: 100 * time.Millisecond,
		Rand: rand.New(rand.NewPCG(id, 1)), Transport: c.net,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if c.configure != nil {
		c.configure(&cfg)
	}
	n, err := NewNode(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[id] = n
}

// run delivers messages and handles Readies until the cluster is quiet.
func (c *testCluster) run() {
	for {
		busy := false
		for _, id := range c.ids {
			n := c.nodes[id]
			if n == nil {
				continue
			}
			for {
				did, err := n.HandleReady()
				if err != nil {
					c.t.Fatal(err)
				}
				if !did {
					break
				}
				busy = true
			}
		}
		q := c.net.queue
		c.net.queue = nil
		for _, m := range q {
			if n := c.nodes[m.To]; n != nil {
				_ = n.Step(m)
				busy = true
			}
		}
		if !busy {
			return
		}
	}
}

func (c *testCluster) tick() {
	c.now += int64(100 * time.Millisecond)
	for _, id := range c.ids {
		if n := c.nodes[id]; n != nil {
			n.Tick(c.now)
		}
	}
	c.run()
}

func (c *testCluster) leader() *Node {
	for range 100 {
		for _, id := range c.ids {
			if n := c.nodes[id]; n != nil && n.Status().RaftState == raft.StateLeader {
				return n
			}
		}
		c.tick()
	}
	c.t.Fatal("no leader")
	return nil
}

func (c *testCluster) do(cmd *kv.Command) Result {
	var res *Result
	if err := c.leader().Propose(cmd, c.now, func(r Result) { res = &r }); err != nil {
		c.t.Fatal(err)
	}
	c.run()
	if res == nil {
		c.t.Fatalf("no result for %+v", cmd)
	}
	return *res
}

func TestNodeProposeApplyEverywhere(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	res := c.do(&kv.Command{Method: kv.MethodPut, Path: "/message", Value: "Hello"})
	if res.Err != nil || res.Event.Action != kv.ActionSet || res.Event.Node.Value == nil || *res.Event.Node.Value != "Hello" {
		t.Fatalf("set: %+v %v", res.Event, res.Err)
	}
	// Commit reaches followers with the next heartbeat.
	c.tick()
	for _, id := range c.ids {
		ev, err := c.nodes[id].Store().Get("/message", false, false)
		if err != nil || *ev.Node.Value != "Hello" {
			t.Fatalf("member %d: %v %v", id, ev, err)
		}
	}
	// A refused command answers with the store's error.
	res = c.do(&kv.Command{Method: kv.MethodPut, Path: "/message", Value: "x", PrevValue: "nope"})
	var kerr *kv.Error
	if !errors.As(res.Err, &kerr) || kerr.Code != kv.EcodeTestFailed {
		t.Fatalf("CAS on a wrong value: %v", res.Err)
	}
	// A quorum read goes through the log and sees the write.
	res = c.do(&kv.Command{Method: kv.MethodQuorumGet, Path: "/message"})
	if res.Err != nil || *res.Event.Node.Value != "Hello" {
		t.Fatalf("quorum get: %+v %v", res.Event, res.Err)
	}
}

func TestNodeFollowerRefusesWithLeader(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	lead := c.leader()
	c.tick()
	for _, id := range c.ids {
		if id == lead.ID() {
			continue
		}
		err := c.nodes[id].Propose(&kv.Command{Method: kv.MethodPut, Path: "/a", Value: "1"}, c.now, func(Result) {})
		var nl *raft.NotLeaderError
		if !errors.As(err, &nl) || nl.Leader != lead.ID() {
			t.Fatalf("follower %d: %v", id, err)
		}
	}
}

func TestNodeRestartRecoversState(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	c.do(&kv.Command{Method: kv.MethodPut, Path: "/a", Value: "1"})
	c.do(&kv.Command{Method: kv.MethodPut, Path: "/b", Value: "2"})
	c.tick()
	// Crash every member at once: only what was synced survives, which
	// must include every acknowledged write.
	for _, id := range c.ids {
		c.fs[id].Crash()
		c.start(id)
	}
	c.net.queue = nil
	c.leader()
	c.tick()
	for _, id := range c.ids {
		ev, err := c.nodes[id].Store().Get("/b", false, false)
		if err != nil || *ev.Node.Value != "2" {
			t.Fatalf("member %d after restart: %v %v", id, ev, err)
		}
	}
}

func TestNodeTTLExpiresThroughTimeEntries(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	ttl := uint64(2)
	c.do(&kv.Command{Method: kv.MethodPut, Path: "/lease", Value: "x", TTLSec: &ttl})
	// No client traffic: the leader's time entries must expire the key on
	// every member (after the leader-change grace of one election timeout).
	for range 60 {
		c.tick()
	}
	for _, id := range c.ids {
		if _, err := c.nodes[id].Store().Get("/lease", false, false); err == nil {
			t.Fatalf("member %d still has the expired key", id)
		}
	}
}

func TestNodeReadIndex(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	w := c.do(&kv.Command{Method: kv.MethodPut, Path: "/k", Value: "v1"})
	c.tick()
	for _, id := range c.ids {
		var got uint64
		answered := false
		if err := c.nodes[id].ReadIndex(func(i uint64) { got, answered = i, true }); err != nil {
			t.Fatal(err)
		}
		c.run()
		if !answered || got < w.Index {
			t.Fatalf("member %d: answered=%v index=%d", id, answered, got)
		}
		// At that point a local read is linearizable: it sees the write.
		ev, err := c.nodes[id].Store().Get("/k", false, false)
		if err != nil || *ev.Node.Value != "v1" {
			t.Fatalf("member %d read %v %v", id, ev, err)
		}
	}
}

func TestNodeSnapshotCompactsAndRestarts(t *testing.T) {
	c := newTestClusterWith(t, func(cfg *Config) { cfg.SnapshotCount = 5 }, 1)
	for i := range 12 {
		c.do(&kv.Command{Method: kv.MethodPut, Path: "/k", Value: fmt.Sprint(i)})
	}
	first, _ := c.nodes[1].Storage().FirstIndex()
	if first < 6 {
		t.Fatalf("log not compacted: first index %d", first)
	}
	c.fs[1].Crash()
	c.start(1)
	c.leader()
	ev, err := c.nodes[1].Store().Get("/k", false, false)
	if err != nil || *ev.Node.Value != "11" {
		t.Fatalf("after restart from snapshot: %v %v", ev, err)
	}
}

func TestNodeMembershipChange(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	lead := c.leader()
	c.tick()
	var res *Result
	if err := lead.ProposeConfChange(raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: 3}, func(r Result) { res = &r }); err != nil {
		t.Fatal(err)
	}
	c.run()
	if res == nil || res.Err != nil {
		t.Fatalf("conf change result %+v", res)
	}
	if cs := lead.ConfState(); len(cs.Voters) != 2 {
		t.Fatalf("voters after removal: %v", cs)
	}
	// With 3 gone, the two remaining members still commit.
	c.nodes[3] = nil
	r := c.do(&kv.Command{Method: kv.MethodPut, Path: "/after", Value: "x"})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
}

// TestLeaderAppendsOverlapItsWrite checks thesis §10.2.1 as the node core
// applies it: a leader's appends leave before its own write of the same
// entries, and nothing else ever leaves before the state it reflects is
// durable (a follower's acknowledgement, a vote).
func TestLeaderAppendsOverlapItsWrite(t *testing.T) {
	for _, serial := range []bool{false, true} {
		t.Run(fmt.Sprintf("serial=%v", serial), func(t *testing.T) {
			c := newTestCluster(t, 1, 2, 3)
			for _, n := range c.nodes {
				n.cfg.SerialLeaderWrites = serial
			}
			early := 0
			c.net.onSend = func(msgs []raft.Message) {
				for _, m := range msgs {
					last, err := c.nodes[m.From].Storage().LastIndex()
					if err != nil {
						t.Fatal(err)
					}
					switch {
					case m.Type == raft.MsgApp && len(m.Entries) > 0:
						if last < m.Entries[len(m.Entries)-1].Index {
							early++
						}
					case m.Type == raft.MsgAppResp && !m.Reject && last < m.Index:
						t.Fatalf("member %d acknowledged index %d with only %d durable", m.From, m.Index, last)
					}
				}
			}
			c.leader()
			for i := range 5 {
				if r := c.do(&kv.Command{Method: kv.MethodPut, Path: fmt.Sprintf("/k%d", i), Value: "v"}); r.Err != nil {
					t.Fatal(r.Err)
				}
			}
			if serial && early > 0 {
				t.Fatalf("%d appends left before the leader's write with SerialLeaderWrites", early)
			}
			if !serial && early == 0 {
				t.Fatal("no append left before the leader's own write")
			}
		})
	}
}

// With Config.Background, a snapshot is encoded and written while the node
// keeps applying; the log is compacted only when the finish runs on the
// node's goroutine, to the index the snapshot was frozen at, and a restart
// from it (plus the log after it) has every write.
func TestNodeBackgroundSnapshot(t *testing.T) {
	// With DropSnapshotData, the work streams the key space into the file.
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("DropSnapshotData=%v", drop), func(t *testing.T) {
			var works []func() func()
			c := newTestClusterWith(t, func(cfg *Config) {
				cfg.SnapshotCount = 5
				cfg.DropSnapshotData = drop
				cfg.Background = func(work func() func()) { works = append(works, work) }
			}, 1)
			for i := range 6 {
				c.do(&kv.Command{Method: kv.MethodPut, Path: fmt.Sprintf("/k%d", i), Value: "v"})
			}
			if len(works) != 1 {
				t.Fatalf("%d background snapshots started; want 1", len(works))
			}
			n := c.nodes[1]
			// Run the work on another goroutine while the node applies more.
			finished := make(chan func(), 1)
			go func() { finished <- works[0]() }()
			for i := 6; i < 20; i++ {
				c.do(&kv.Command{Method: kv.MethodPut, Path: fmt.Sprintf("/k%d", i), Value: "v"})
			}
			if len(works) != 1 {
				t.Fatalf("a second snapshot started while the first was being written")
			}
			finish := <-finished
			if first, _ := n.Storage().FirstIndex(); first != 1 {
				t.Fatalf("log compacted to %d before the finish ran", first)
			}
			finish()
			snap, err := n.Storage().Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if first, _ := n.Storage().FirstIndex(); first != snap.Metadata.Index+1 || snap.Metadata.Index < 5 || snap.Metadata.Index >= n.applied {
				t.Fatalf("snapshot at %d, first index %d, applied %d", snap.Metadata.Index, first, n.applied)
			}
			if n.snapLen != len(snap.Data) {
				t.Fatalf("snapLen %d for %d bytes", n.snapLen, len(snap.Data))
			}
			// The snapshot holds exactly the writes up to its index.
			st := kv.New(kv.Options{})
			if err := st.Restore(bytes.NewReader(snap.Data)); err != nil {
				t.Fatal(err)
			}
			// Index 1 is the leader's empty entry, then /k0 at 2, /k1 at 3, ...
			last := int(snap.Metadata.Index) - 2
			for i := 0; i <= last+1; i++ {
				_, err := st.Get(fmt.Sprintf("/k%d", i), false, false)
				if (err == nil) != (i <= last) {
					t.Fatalf("snapshot labelled %d: /k%d: %v", snap.Metadata.Index, i, err)
				}
			}
			// The next write starts the next background snapshot.
			c.do(&kv.Command{Method: kv.MethodPut, Path: "/last", Value: "v"})
			if len(works) != 2 {
				t.Fatalf("%d background snapshots; want a second one after the first finished", len(works))
			}
			c.fs[1].Crash()
			c.start(1)
			c.leader()
			for i := range 20 {
				if _, err := c.nodes[1].Store().Get(fmt.Sprintf("/k%d", i), false, false); err != nil {
					t.Fatalf("after restart: /k%d: %v", i, err)
				}
			}
		})
	}
}

// SnapshotStagger brings only the first snapshot forward: the next ones
// come every SnapshotCount entries after it, so staggered members stay
// apart. A stagger of SnapshotCount or more is capped below it.
func TestNodeSnapshotStagger(t *testing.T) {
	for _, tc := range []struct {
		stagger uint64
		want    []uint64 // the snapshot indexes, in turn
	}{
		{stagger: 0, want: []uint64{0, 10, 20}},
		{stagger: 4, want: []uint64{0, 6, 16}},
		{stagger: 50, want: []uint64{1, 11, 21}}, // capped at 9
	} {
		c := newTestClusterWith(t, func(cfg *Config) {
			cfg.SnapshotCount = 10
			cfg.SnapshotStagger = tc.stagger
		}, 1)
		n := c.nodes[1]
		c.leader() // index 1: the leader's empty entry
		var taken []uint64
		for i := 0; ; i++ {
			if s, _ := n.Storage().Snapshot(); len(taken) == 0 || s.Metadata.Index != taken[len(taken)-1] {
				taken = append(taken, s.Metadata.Index)
			}
			if n.applied >= 25 {
				break
			}
			c.do(&kv.Command{Method: kv.MethodPut, Path: fmt.Sprintf("/k%d", i), Value: "v"})
		}
		if !slices.Equal(taken, tc.want) {
			t.Errorf("stagger %d: snapshots at %v; want %v", tc.stagger, taken, tc.want)
		}
	}
}
