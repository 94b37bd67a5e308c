package node

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
)

// TestNodeReadIndexAcrossRestart: an answer to a read a member asked for
// before it stopped must not answer a read it asks for after restarting.
// The old answer's index was confirmed before the stop; a write
// acknowledged since lies beyond it, so taking it for the new read serves
// a stale value. Read requests are numbered from a random point in each
// life of a member (as proposals are), so the late answer matches nothing.
func TestNodeReadIndexAcrossRestart(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	lead := c.leader()
	c.do(&kv.Command{Method: kv.MethodPut, Path: "/k", Value: "v1"})
	c.tick()
	var f uint64
	for _, id := range c.ids {
		if id != lead.ID() {
			f = id
			break
		}
	}
	// The follower asks; the leader's answer is held in the network.
	if err := c.nodes[f].ReadIndex(func(uint64) {}); err != nil {
		t.Fatal(err)
	}
	var held []raft.Message
	for range 10 {
		c.runExcept(func(m raft.Message) bool {
			if m.Type == raft.MsgReadIndexResp && m.To == f {
				held = append(held, m)
				return true
			}
			return false
		})
	}
	if len(held) != 1 {
		t.Fatalf("held %d read answers, want 1", len(held))
	}
	// It stops and restarts; meanwhile a write is acknowledged, which the
	// restarted follower has not heard of yet.
	if err := c.nodes[f].Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[f] = nil
	w := c.do(&kv.Command{Method: kv.MethodPut, Path: "/k", Value: "v2"})
	n, err := NewNode(Config{
		ID: f, ClusterID: 42, Peers: c.ids, FS: c.fs[f], Dir: "/data",
		ElectionTick: 10, HeartbeatTick: 1, TickInterval: 100 * time.Millisecond,
		Rand: rand.New(rand.NewPCG(f, 2)), Transport: c.net, // a new life, a new seed
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[f] = n
	c.net.queue = nil
	// It hears from the leader (a heartbeat: no entries, so nothing of
	// the new write) and asks for a read, which the leader does not get
	// in time.
	st := lead.Status()
	if err := c.nodes[f].Step(raft.Message{Type: raft.MsgHeartbeat, From: lead.ID(), To: f, Term: st.Term}); err != nil {
		t.Fatal(err)
	}
	c.runExcept(func(raft.Message) bool { return true })
	var got []uint64
	if err := c.nodes[f].ReadIndex(func(i uint64) { got = append(got, i) }); err != nil {
		t.Fatal(err)
	}
	c.runExcept(func(raft.Message) bool { return true })
	// The old answer arrives.
	for _, m := range held {
		if err := c.nodes[f].Step(m); err != nil {
			t.Fatal(err)
		}
	}
	c.runExcept(func(raft.Message) bool { return true })
	if len(got) != 0 {
		t.Fatalf("the read asked after the restart was answered with index %d by the answer to one asked before it stopped; a write at %d was acknowledged in between",
			got[0], w.Index)
	}
}

// runExcept is run, but the messages hold picks are taken out instead of
// delivered.
func (c *testCluster) runExcept(hold func(raft.Message) bool) {
	for _, id := range c.ids {
		if n := c.nodes[id]; n != nil {
			for {
				did, err := n.HandleReady()
				if err != nil {
					c.t.Fatal(err)
				}
				if !did {
					break
				}
			}
		}
	}
	q := c.net.queue
	c.net.queue = nil
	for _, m := range q {
		if hold(m) {
			continue
		}
		if n := c.nodes[m.To]; n != nil {
			_ = n.Step(m)
		}
	}
}
