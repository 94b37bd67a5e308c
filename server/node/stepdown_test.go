package node

import (
	"testing"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
)

// TestNodeStepdown: a leader shutting down gracefully hands leadership to
// the voter most caught up with its log, which takes over within a few
// ticks and without an election timeout; a member that does not lead has
// nothing to hand over.
func TestNodeStepdown(t *testing.T) {
	c := newTestCluster(t, 1, 2, 3)
	old := c.leader()
	c.do(&kv.Command{Method: kv.MethodPut, Path: "/a", Value: "1"})
	c.tick()
	// One follower stops: it falls behind and stops answering.
	var behind, caughtUp uint64
	for _, id := range c.ids {
		if id != old.ID() {
			if behind == 0 {
				behind = id
			} else {
				caughtUp = id
			}
		}
	}
	c.nodes[behind] = nil
	for i := range 3 {
		c.do(&kv.Command{Method: kv.MethodPut, Path: "/b", Value: string(rune('0' + i))})
	}
	for _, id := range []uint64{behind, caughtUp} {
		if n := c.nodes[id]; n != nil {
			if to, err := n.Stepdown(); to != raft.None || err != nil {
				t.Fatalf("follower %d: Stepdown = %d, %v; want nothing to do", id, to, err)
			}
		}
	}
	to, err := old.Stepdown()
	if err != nil || to != caughtUp {
		t.Fatalf("Stepdown = %d, %v; want %d (member %d is behind)", to, err, caughtUp, behind)
	}
	c.run()
	// TimeoutNow makes the target campaign at once: no tick needed.
	if lead := c.nodes[caughtUp].Lead(); lead != caughtUp || old.Lead() != caughtUp {
		t.Fatalf("after the transfer: %d thinks %d leads, %d thinks %d leads", caughtUp, lead, old.ID(), old.Lead())
	}
	r := c.do(&kv.Command{Method: kv.MethodPut, Path: "/c", Value: "after"})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	// A lone voter has nobody to hand over to.
	solo := newTestCluster(t, 1)
	solo.leader()
	if to, err := solo.nodes[1].Stepdown(); to != raft.None || err != nil {
		t.Fatalf("single member: Stepdown = %d, %v", to, err)
	}
}
