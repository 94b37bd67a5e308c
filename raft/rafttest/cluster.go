// Package rafttest runs a cluster of raft members in memory, in one
// goroutine, with a network the caller controls message by message. It is
// the harness of raft's scenario, property and benchmark tests and of the
// `make run` demonstration; it has no clock and no randomness of its own.
//
// Members persist each Ready to a raft.MemoryStorage before its messages
// enter the network, which is what the Ready contract asks of a real server.
// A crash keeps exactly what was persisted; a restart builds a new RawNode
// from it.
package rafttest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/raftkv/raftkv/raft"
)

// Options configures every member of a Cluster.
type Options struct {
	ElectionTick  int // default 10
	HeartbeatTick int // default 1
	Seed          uint64
	// Configure, if set, adjusts each member's Config before it starts.
	Configure func(*raft.Config)
}

// Node is one member and its durable state.
type Node struct {
	ID      uint64
	Raw     *raft.RawNode
	Storage *raft.MemoryStorage
	// Applied holds every entry this member applied, in order; it survives
	// restarts (as an application's state would, through snapshots).
	Applied []raft.Entry
	// Conf is the membership after the last change this member applied
	// (or the one it started with): what an application persists with its
	// applied state, and what a restart starts from.
	Conf raft.ConfState
	// Snapshots are the snapshots this member installed from a leader.
	Snapshots []raft.Snapshot
	Down      bool
	rand      *rand.Rand
}

// Cluster is a set of members joined by a controllable network.
type Cluster struct {
	IDs   []uint64
	Nodes map[uint64]*Node
	// Queue holds messages sent and not yet delivered, in send order.
	Queue []raft.Message
	opts  Options
	cut   map[[2]uint64]bool // directed links that drop messages
	// Observe, if set, is called for every Ready a member handles.
	Observe func(id uint64, rd raft.Ready)
}

// New starts a brand-new cluster of the given voters.
func New(ids []uint64, opts Options) *Cluster {
	if opts.ElectionTick == 0 {
		opts.ElectionTick = 10
	}
	if opts.HeartbeatTick == 0 {
		opts.HeartbeatTick = 1
	}
	c := &Cluster{IDs: slices.Clone(ids), Nodes: map[uint64]*Node{}, opts: opts, cut: map[[2]uint64]bool{}}
	for _, id := range ids {
		c.add(id, raft.ConfState{Voters: slices.Clone(ids)})
	}
	return c
}

// add starts a new member id with empty storage and membership conf.
func (c *Cluster) add(id uint64, conf raft.ConfState) {
	n := &Node{ID: id, Storage: raft.NewMemoryStorage(), Conf: conf, rand: rand.New(rand.NewPCG(c.opts.Seed, id))}
	c.Nodes[id] = n
	c.start(n)
}

func (c *Cluster) start(n *Node) {
	cfg := &raft.Config{
		ID:            n.ID,
		Peers:         n.Conf.Voters,
		Learners:      n.Conf.Learners,
		ElectionTick:  c.opts.ElectionTick,
		HeartbeatTick: c.opts.HeartbeatTick,
		Storage:       n.Storage,
		Rand:          n.rand,
	}
	if len(n.Applied) > 0 {
		cfg.Applied = n.Applied[len(n.Applied)-1].Index
	}
	if k := len(n.Snapshots); k > 0 {
		// An installed snapshot counts as applied.
		cfg.Applied = max(cfg.Applied, n.Snapshots[k-1].Metadata.Index)
	}
	if _, cs, _ := n.Storage.InitialState(); len(cs.Voters) > 0 {
		cfg.Peers, cfg.Learners = nil, nil // a snapshot holds the membership
	}
	if c.opts.Configure != nil {
		c.opts.Configure(cfg)
	}
	rn, err := raft.NewRawNode(cfg)
	if err != nil {
		panic(err)
	}
	n.Raw = rn
	n.Down = false
}

// Join starts a new member id with empty storage, which knows the current
// voters and itself as a learner, as an operator would start a member that
// is being added. The leader still has to add it with a ConfChange.
func (c *Cluster) Join(id uint64, voters []uint64) {
	c.IDs = append(c.IDs, id)
	c.add(id, raft.ConfState{Voters: slices.Clone(voters), Learners: []uint64{id}})
}

// Crash stops a member: what it had not persisted is lost, and so are the
// messages it had not yet handed to the network.
func (c *Cluster) Crash(id uint64) { c.Nodes[id].Down = true }

// Restart brings a crashed member back from its persisted state.
func (c *Cluster) Restart(id uint64) {
	// MemoryStorage keeps no membership outside snapshots, and a restart
	// does not re-apply entries already applied: start from the membership
	// the member had applied, as an application persisting it would.
	c.start(c.Nodes[id])
}

// Compact makes member id snapshot its state at its applied index, with
// the given state-machine data, and discard the log up to it.
func (c *Cluster) Compact(id uint64, data []byte) error {
	n := c.Nodes[id]
	if len(n.Applied) == 0 {
		return fmt.Errorf("member %d has applied nothing", id)
	}
	i := n.Applied[len(n.Applied)-1].Index
	cs := n.Conf
	if _, err := n.Storage.CreateSnapshot(i, &cs, data); err != nil {
		return err
	}
	return n.Storage.Compact(i)
}

// Cut drops every message from `from` to `to` from now on.
func (c *Cluster) Cut(from, to uint64) { c.cut[[2]uint64{from, to}] = true }

// Isolate cuts every link to and from id.
func (c *Cluster) Isolate(id uint64) {
	for _, o := range c.IDs {
		if o != id {
			c.Cut(id, o)
			c.Cut(o, id)
		}
	}
}

// Partition cuts every link between members of different groups.
func (c *Cluster) Partition(groups ...[]uint64) {
	group := map[uint64]int{}
	for g, ids := range groups {
		for _, id := range ids {
			group[id] = g
		}
	}
	for _, a := range c.IDs {
		for _, b := range c.IDs {
			if a != b && group[a] != group[b] {
				c.Cut(a, b)
			}
		}
	}
}

// Heal restores every link.
func (c *Cluster) Heal() { c.cut = map[[2]uint64]bool{} }

// Linked reports whether messages from `from` reach `to`.
func (c *Cluster) Linked(from, to uint64) bool { return !c.cut[[2]uint64{from, to}] }

// Tick ticks one member.
func (c *Cluster) Tick(id uint64) {
	if n := c.Nodes[id]; !n.Down {
		n.Raw.Tick()
	}
}

// Leader returns the member that is leader with the highest term, or 0.
func (c *Cluster) Leader() uint64 {
	var lead, term uint64
	for _, id := range c.IDs {
		n := c.Nodes[id]
		if n.Down {
			continue
		}
		st := n.Raw.Status()
		if st.RaftState == raft.StateLeader && st.Term >= term {
			lead, term = id, st.Term
		}
	}
	return lead
}

// HandleReady processes one Ready of member id if it has one: persist
// entries and hard state, queue its messages, apply committed entries,
// advance. It reports whether there was one.
func (c *Cluster) HandleReady(id uint64) bool {
	n := c.Nodes[id]
	if n.Down || !n.Raw.HasReady() {
		return false
	}
	rd := n.Raw.Ready()
	if c.Observe != nil {
		c.Observe(id, rd)
	}
	if !rd.Snapshot.IsEmpty() {
		if err := n.Storage.ApplySnapshot(rd.Snapshot); err != nil {
			panic(err)
		}
		n.Conf = rd.Snapshot.Metadata.ConfState
		n.Snapshots = append(n.Snapshots, rd.Snapshot)
	}
	if err := n.Storage.Append(rd.Entries); err != nil {
		panic(err)
	}
	if !rd.HardState.IsEmpty() {
		n.Storage.SetHardState(rd.HardState)
	}
	c.Queue = append(c.Queue, rd.Messages...)
	n.Applied = append(n.Applied, rd.CommittedEntries...)
	for _, e := range rd.CommittedEntries {
		if e.Type == raft.EntryConfChange {
			cc, err := raft.UnmarshalConfChange(e.Data)
			if err != nil {
				panic(err)
			}
			n.Conf = n.Raw.ApplyConfChange(cc)
		}
	}
	n.Raw.Advance(rd)
	return true
}

// HandleAllReady processes Readies until no member has one.
func (c *Cluster) HandleAllReady() {
	for progress := true; progress; {
		progress = false
		for _, id := range c.IDs {
			if c.HandleReady(id) {
				progress = true
			}
		}
	}
}

// Deliver hands message m to its recipient, unless the link is cut or the
// recipient is down. It reports whether the message arrived.
func (c *Cluster) Deliver(m raft.Message) bool {
	n := c.Nodes[m.To]
	if n == nil || n.Down || !c.Linked(m.From, m.To) {
		return false
	}
	if err := n.Raw.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
		// A response from a member removed from the configuration is
		// expected and ignored; anything else is a harness bug.
		panic(fmt.Sprintf("step %v: %v", m, err))
	}
	return true
}

// DeliverAll delivers the queued messages in order, each handled member's
// Readies processed as it goes, until nothing is left in flight. visit, if
// set, sees each message and whether it was delivered.
func (c *Cluster) DeliverAll(visit func(m raft.Message, delivered bool)) {
	c.HandleAllReady()
	for len(c.Queue) > 0 {
		m := c.Queue[0]
		c.Queue = c.Queue[1:]
		ok := c.Deliver(m)
		if visit != nil {
			visit(m, ok)
		}
		c.HandleAllReady()
	}
}

// Propose proposes data on member id.
func (c *Cluster) Propose(id uint64, data []byte) error {
	_, err := c.Nodes[id].Raw.Propose(data)
	return err
}

// TickUntilCampaign ticks member id, handling its Readies, until it starts
// an election (it sends vote or pre-vote requests), at most 2*ElectionTick
// ticks. It reports whether it campaigned.
func (c *Cluster) TickUntilCampaign(id uint64) bool {
	for range 2 * c.opts.ElectionTick {
		c.Tick(id)
		queued := len(c.Queue)
		c.HandleReady(id)
		for _, m := range c.Queue[queued:] {
			if m.From == id && (m.Type == raft.MsgVote || m.Type == raft.MsgPreVote) {
				return true
			}
		}
	}
	return false
}
