// Command raftkv-demo shows the Raft core at work on an in-memory 5-member
// cluster: an election, replication of a few commands, the loss of the
// leader, a new election, and the log every member ends with. It is what
// `make run` starts until the server exists.
//
// Everything runs in one goroutine on a virtual clock; the run is a function
// of -seed, so the same seed prints the same story.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/rafttest"
)

const tickMs = 100 // virtual milliseconds per tick

func main() {
	seed := flag.Uint64("seed", 1, "seed of the run (the election timeouts)")
	flag.Parse()
	if err := run(*seed); err != nil {
		fmt.Fprintln(os.Stderr, "raftkv-demo:", err)
		os.Exit(1)
	}
}

type demo struct {
	c     *rafttest.Cluster
	nowMs int
	seen  map[uint64]raft.StateType
}

func run(seed uint64) error {
	ids := []uint64{1, 2, 3, 4, 5}
	d := &demo{
		c:    rafttest.New(ids, rafttest.Options{ElectionTick: 10, HeartbeatTick: 1, Seed: seed}),
		seen: map[uint64]raft.StateType{},
	}
	d.c.Observe = d.observe
	fmt.Printf("raftkv demo: 5 members in memory, election timeout %d-%d ms, heartbeat %d ms, seed %d\n\n",
		10*tickMs, 20*tickMs-tickMs, tickMs, seed)

	fmt.Println("== 1. Nobody leads yet; the first election timeout to fire starts an election.")
	first, err := d.untilLeader(0)
	if err != nil {
		return err
	}

	fmt.Printf("\n== 2. Member %d replicates three commands to the others.\n", first)
	for _, cmd := range []string{"set /config/color blue", "set /config/size 3", "mkdir /services"} {
		if err := d.c.Propose(first, []byte(cmd)); err != nil {
			return err
		}
		d.step()
	}
	d.settle(5)

	fmt.Printf("\n== 3. Member %d (the leader) crashes.\n", first)
	d.c.Crash(first)
	second, err := d.untilLeader(first)
	if err != nil {
		return err
	}

	fmt.Printf("\n== 4. The new leader %d commits a command without member %d.\n", second, first)
	if err := d.c.Propose(second, []byte("set /config/color green")); err != nil {
		return err
	}
	d.settle(5)

	fmt.Printf("\n== 5. Member %d restarts from what it persisted and catches up.\n", first)
	d.c.Restart(first)
	d.settle(20)

	fmt.Println("\n== The logs (term of each entry; * = committed):")
	var want string
	for _, id := range ids {
		n := d.c.Nodes[id]
		st := n.Raw.Status()
		var b strings.Builder
		for i := uint64(1); i <= st.LastIndex; i++ {
			t, _ := n.Raw.Term(i)
			mark := ""
			if i <= st.Commit {
				mark = "*"
			}
			fmt.Fprintf(&b, " %d%s", t, mark)
		}
		fmt.Printf("  member %d (%s, term %d):%s\n", id, st.RaftState, st.Term, b.String())
		if want == "" {
			want = b.String()
		} else if b.String() != want {
			return fmt.Errorf("member %d ended with log%s, member 1 with%s", id, b.String(), want)
		}
	}
	fmt.Println("\nEvery member holds the same committed entries in the same order: that is the")
	fmt.Println("guarantee the key-value store is built on. `make test` checks it under random")
	fmt.Println("message loss, reordering and crashes.")
	return nil
}

// step advances virtual time by one tick on every live member and delivers
// every message sent (a network with no loss and negligible latency).
func (d *demo) step() {
	d.nowMs += tickMs
	for _, id := range d.c.IDs {
		d.c.Tick(id)
	}
	d.c.DeliverAll(nil)
}

func (d *demo) settle(ticks int) {
	for range ticks {
		d.step()
	}
}

func (d *demo) untilLeader(not uint64) (uint64, error) {
	for range 200 {
		d.step()
		if l := d.c.Leader(); l != 0 && l != not {
			return l, nil
		}
	}
	return 0, fmt.Errorf("no leader elected within 200 ticks")
}

func (d *demo) observe(id uint64, rd raft.Ready) {
	if rd.SoftState != nil && d.seen[id] != rd.SoftState.RaftState {
		d.seen[id] = rd.SoftState.RaftState
		st := d.c.Nodes[id].Raw.Status()
		switch rd.SoftState.RaftState {
		case raft.StatePreCandidate:
			fmt.Printf("  t=%5dms  member %d timed out and asks for pre-votes for term %d\n", d.nowMs, id, st.Term+1)
		case raft.StateCandidate:
			fmt.Printf("  t=%5dms  member %d campaigns in term %d\n", d.nowMs, id, st.Term)
		case raft.StateLeader:
			fmt.Printf("  t=%5dms  member %d is leader of term %d\n", d.nowMs, id, st.Term)
		}
	}
	for _, e := range rd.CommittedEntries {
		if len(e.Data) > 0 && id == d.c.Leader() {
			fmt.Printf("  t=%5dms  entry %d (term %d) %q committed\n", d.nowMs, e.Index, e.Term, e.Data)
		}
	}
}
