package raft_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/rafttest"
)

// TestScenarios runs the transcripts in testdata/*.txt. Regenerate the
// expected output with `go test ./raft -run TestScenarios -rewrite` and
// review the diff.
//
// Commands:
//
//	cluster n=3 [prevote=false] [checkquorum=false] [lease=true] [election=10] [heartbeat=5] [chunk=bytes]
//	campaign <id>               start an election on <id> now
//	tick <id> [n=1]             tick a member n times
//	tick-heartbeat <id>         tick a leader until it sends heartbeats
//	tick-election <id>          tick until <id>'s election timeout fires
//	propose <id> <data>         propose on <id>, printing any error
//	read-index <id> <ctx>       ask <id> for a linearizable read
//	transfer <leader> <to>      ask the leader to hand leadership to <to>
//	stabilize                   handle Readies and deliver messages until quiet
//	deliver [n=1]               deliver the next n messages in flight
//	process-ready               handle every pending Ready without delivering
//	drop                        handle pending Readies, then discard every message in flight
//	isolate <id> | partition 1,2 3,4,5 | heal
//	crash <id> | restart <id>
//	join <id>                   start a new empty member (knowing the leader's voters)
//	conf <leader> add-learner|add-voter|remove <id>
//	members                     each member's view of the membership
//	compact <id> <data>         snapshot <id> at its applied index and discard its log
//	drop-next                   lose the next message in flight
//	dup-next                    duplicate the next message in flight (the
//	                            copy goes to the back of the queue)
//	status                      one line per member
//	log <id>                    the member's log, committed part marked
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var h *harness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "cluster" {
				h = newHarness(t, d)
				return h.flush()
			}
			if h == nil {
				t.Fatalf("%s: the first command must be cluster", d.Pos)
			}
			return h.run(t, d)
		})
	})
}

type harness struct {
	c   *rafttest.Cluster
	out strings.Builder
}

func newHarness(t *testing.T, d *datadriven.TestData) *harness {
	n, election, heartbeat, chunk := 3, 10, 5, 0
	prevote, checkquorum, lease := true, true, false
	for _, a := range d.CmdArgs {
		var err error
		switch a.Key {
		case "n":
			n, err = strconv.Atoi(a.Vals[0])
		case "election":
			election, err = strconv.Atoi(a.Vals[0])
		case "heartbeat":
			heartbeat, err = strconv.Atoi(a.Vals[0])
		case "chunk":
			chunk, err = strconv.Atoi(a.Vals[0])
		case "prevote":
			prevote, err = strconv.ParseBool(a.Vals[0])
		case "checkquorum":
			checkquorum, err = strconv.ParseBool(a.Vals[0])
		case "lease":
			lease, err = strconv.ParseBool(a.Vals[0])
		default:
			t.Fatalf("%s: unknown argument %s", d.Pos, a.Key)
		}
		if err != nil {
			t.Fatalf("%s: %s: %v", d.Pos, a.Key, err)
		}
	}
	var ids []uint64
	for i := 1; i <= n; i++ {
		ids = append(ids, uint64(i))
	}
	h := &harness{}
	h.c = rafttest.New(ids, rafttest.Options{
		ElectionTick: election, HeartbeatTick: heartbeat, Seed: 1,
		Configure: func(c *raft.Config) {
			c.DisablePreVote = !prevote
			c.DisableCheckQuorum = !checkquorum
			c.SnapshotChunkSize = uint64(chunk)
			c.ReadOnlyLeaseBased = lease
		},
	})
	h.c.Observe = func(id uint64, rd raft.Ready) {
		if rd.SoftState != nil {
			st := h.c.Nodes[id].Raw.Status()
			fmt.Fprintf(&h.out, "> %d is %s at term %d (lead %d)\n", id, st.RaftState, st.Term, st.Lead)
		}
		if !rd.Snapshot.IsEmpty() {
			fmt.Fprintf(&h.out, "> %d installs snapshot %d/%d %q\n", id, rd.Snapshot.Metadata.Index, rd.Snapshot.Metadata.Term, rd.Snapshot.Data)
		}
		for _, rs := range rd.ReadStates {
			fmt.Fprintf(&h.out, "> %d read %q confirmed at index %d\n", id, rs.RequestCtx, rs.Index)
		}
		for _, e := range rd.CommittedEntries {
			if e.Type == raft.EntryConfChange {
				cc, _ := raft.UnmarshalConfChange(e.Data)
				fmt.Fprintf(&h.out, "> %d applies %d/%d %s %d\n", id, e.Index, e.Term, cc.Type, cc.NodeID)
			} else if len(e.Data) > 0 {
				fmt.Fprintf(&h.out, "> %d applies %d/%d %q\n", id, e.Index, e.Term, e.Data)
			}
		}
	}
	fmt.Fprintf(&h.out, "%d members, prevote=%v checkquorum=%v", n, prevote, checkquorum)
	if lease {
		fmt.Fprint(&h.out, " lease=true")
	}
	fmt.Fprintln(&h.out)
	return h
}

// printDelivery writes one line of a transcript for a message in flight.
func (h *harness) printDelivery(m raft.Message, delivered bool) {
	if delivered {
		fmt.Fprintf(&h.out, "%v\n", m)
	} else {
		fmt.Fprintf(&h.out, "%v DROPPED\n", m)
	}
}

func (h *harness) flush() string {
	s := h.out.String()
	h.out.Reset()
	if s == "" {
		return "ok"
	}
	return strings.TrimRight(s, "\n")
}

func id(t *testing.T, d *datadriven.TestData, i int) uint64 {
	if len(d.CmdArgs) <= i {
		t.Fatalf("%s: %s needs a member id", d.Pos, d.Cmd)
	}
	v, err := strconv.ParseUint(d.CmdArgs[i].Key, 10, 64)
	if err != nil {
		t.Fatalf("%s: bad member id %q", d.Pos, d.CmdArgs[i].Key)
	}
	return v
}

func ids(t *testing.T, s string) []uint64 {
	var out []uint64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			t.Fatalf("bad member list %q", s)
		}
		out = append(out, v)
	}
	return out
}

func (h *harness) run(t *testing.T, d *datadriven.TestData) string {
	c := h.c
	switch d.Cmd {
	case "campaign":
		c.Nodes[id(t, d, 0)].Raw.Campaign()
	case "tick":
		n := 1
		if d.HasArg("n") {
			d.ScanArgs(t, "n", &n)
		}
		for range n {
			c.Tick(id(t, d, 0))
		}
	case "tick-heartbeat":
		target := id(t, d, 0)
		for range 100 {
			c.Tick(target)
			c.HandleReady(target)
			if len(c.Queue) > 0 {
				break
			}
		}
	case "tick-election":
		if !c.TickUntilCampaign(id(t, d, 0)) {
			fmt.Fprintf(&h.out, "%d did not campaign\n", id(t, d, 0))
		}
	case "propose":
		if len(d.CmdArgs) < 2 {
			t.Fatalf("%s: propose <id> <data>", d.Pos)
		}
		if err := c.Propose(id(t, d, 0), []byte(d.CmdArgs[1].Key)); err != nil {
			fmt.Fprintf(&h.out, "error: %v\n", err)
		}
	case "read-index":
		if len(d.CmdArgs) < 2 {
			t.Fatalf("%s: read-index <id> <ctx>", d.Pos)
		}
		if err := c.Nodes[id(t, d, 0)].Raw.ReadIndex([]byte(d.CmdArgs[1].Key)); err != nil {
			fmt.Fprintf(&h.out, "error: %v\n", err)
		}
	case "transfer":
		if err := c.Nodes[id(t, d, 0)].Raw.TransferLeadership(id(t, d, 1)); err != nil {
			fmt.Fprintf(&h.out, "error: %v\n", err)
		}
	case "join":
		var voters []uint64
		for _, i := range c.IDs {
			if st := c.Nodes[i].Raw.Status(); !c.Nodes[i].Down && st.RaftState == raft.StateLeader {
				voters = st.Voters
			}
		}
		c.Join(id(t, d, 0), voters)
	case "conf":
		if len(d.CmdArgs) < 3 {
			t.Fatalf("%s: conf <leader> add-learner|add-voter|remove <id>", d.Pos)
		}
		types := map[string]raft.ConfChangeType{"add-learner": raft.ConfChangeAddLearner, "add-voter": raft.ConfChangeAddVoter, "remove": raft.ConfChangeRemove}
		cc := raft.ConfChange{Type: types[d.CmdArgs[1].Key], NodeID: id(t, d, 2)}
		if _, err := c.Nodes[id(t, d, 0)].Raw.ProposeConfChange(cc); err != nil {
			fmt.Fprintf(&h.out, "error: %v\n", err)
		}
	case "compact":
		if len(d.CmdArgs) < 2 {
			t.Fatalf("%s: compact <id> <data>", d.Pos)
		}
		if err := c.Compact(id(t, d, 0), []byte(d.CmdArgs[1].Key)); err != nil {
			fmt.Fprintf(&h.out, "error: %v\n", err)
		}
	case "dup-next":
		// Duplicate the next message in flight: the copy is delivered
		// last.
		c.HandleAllReady()
		if len(c.Queue) > 0 {
			c.Queue = append(c.Queue, c.Queue[0])
			fmt.Fprintf(&h.out, "duplicated: ")
			h.printDelivery(c.Queue[0], true)
		}
	case "drop-next":
		// Lose the next message in flight (after pending Readies).
		c.HandleAllReady()
		if len(c.Queue) > 0 {
			h.printDelivery(c.Queue[0], false)
			c.Queue = c.Queue[1:]
		}
	case "members":
		for _, i := range c.IDs {
			if n := c.Nodes[i]; !n.Down {
				st := n.Raw.Status()
				fmt.Fprintf(&h.out, "%d: voters=%v learners=%v\n", i, st.Voters, st.Learners)
			}
		}
	case "stabilize":
		c.DeliverAll(h.printDelivery)
	case "deliver":
		n := 1
		if d.HasArg("n") {
			d.ScanArgs(t, "n", &n)
		}
		c.HandleAllReady()
		for ; n > 0 && len(c.Queue) > 0; n-- {
			m := c.Queue[0]
			c.Queue = c.Queue[1:]
			h.printDelivery(m, c.Deliver(m))
			c.HandleAllReady()
		}
	case "process-ready":
		c.HandleAllReady()
	case "drop":
		c.HandleAllReady()
		for _, m := range c.Queue {
			h.printDelivery(m, false)
		}
		c.Queue = nil
	case "isolate":
		c.Isolate(id(t, d, 0))
	case "partition":
		var groups [][]uint64
		for _, a := range d.CmdArgs {
			groups = append(groups, ids(t, a.Key))
		}
		c.Partition(groups...)
	case "heal":
		c.Heal()
	case "crash":
		c.Crash(id(t, d, 0))
	case "restart":
		c.Restart(id(t, d, 0))
	case "status":
		for _, i := range c.IDs {
			n := c.Nodes[i]
			if n.Down {
				fmt.Fprintf(&h.out, "%d: down\n", i)
				continue
			}
			st := n.Raw.Status()
			fmt.Fprintf(&h.out, "%d: %s term=%d vote=%d lead=%d last=%d commit=%d applied=%d\n",
				i, st.RaftState, st.Term, st.Vote, st.Lead, st.LastIndex, st.Commit, st.Applied)
		}
	case "log":
		n := c.Nodes[id(t, d, 0)]
		st := n.Raw.Status()
		first, _ := n.Storage.FirstIndex()
		for i := first; i <= st.LastIndex; i++ {
			term, err := n.Raw.Term(i)
			if err != nil {
				t.Fatal(err)
			}
			mark := " "
			if i <= st.Commit {
				mark = "*"
			}
			fmt.Fprintf(&h.out, "%s %d/%d\n", mark, i, term)
		}
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	return h.flush()
}
