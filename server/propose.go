package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/server/node"
)

// proposal is a command or a membership change to run through the log.
type proposal struct {
	Cmd []byte           `msgpack:"c,omitempty"`
	CC  *raft.ConfChange `msgpack:"cc,omitempty"`
	// cmd is the command itself, when the proposal was made here: the
	// leader then proposes it without an encode and decode, and a
	// follower encodes it into Cmd only to forward it.
	cmd *kv.Command
}

// encoded fills in p.Cmd from p.cmd, for sending.
func (p proposal) encoded() (proposal, error) {
	if p.cmd == nil || p.Cmd != nil {
		return p, nil
	}
	b, err := p.cmd.Encode()
	p.Cmd = b
	return p, err
}

// proposeLocal proposes on this member, which must lead. It returns the
// applied result, *raft.NotLeaderError (nothing was proposed), or another
// error whose outcome is unknown if the proposal was accepted.
func (m *Member) proposeLocal(ctx context.Context, p proposal) (node.Result, error) {
	var cmd *kv.Command
	switch {
	case p.CC != nil:
	case p.cmd != nil:
		// A copy: the node keeps the command until it applies it (and
		// its log may keep it longer), and the caller may propose the
		// same one again.
		c := *p.cmd
		cmd = &c
	default:
		var err error
		if cmd, err = kv.DecodeCommand(p.Cmd); err != nil {
			return node.Result{}, err
		}
	}
	lp := localProposals.Get().(*localProposal)
	lp.m, lp.cmd, lp.cc = m, cmd, p.CC
	if err := m.do(ctx, lp.run); err != nil {
		// Not handed to the loop: nothing will send on lp.out.
		lp.release()
		return node.Result{}, err
	}
	// Counted from here, where the request starts waiting, until it stops.
	m.metrics.pending.Inc()
	defer m.metrics.pending.Dec()
	select {
	case o := <-lp.out:
		// The one outcome there will be (a refusal, or done's only
		// call): lp can serve another proposal.
		lp.release()
		if o.refused != nil {
			return node.Result{}, o.refused
		}
		if o.r.Err != nil && !isKVError(o.r.Err) {
			m.metrics.proposalsFailed.Inc()
		}
		return o.r, nil
	case <-ctx.Done():
		// The closure may not have run yet, or the proposal may be in the
		// log: either way the outcome is unknown. (lp is not reused: an
		// answer may still come.)
		m.metrics.proposalsFailed.Inc()
		return node.Result{}, errTimeout
	case <-m.donec:
		return node.Result{}, errStopped
	}
}

// outcome is a local proposal's: refused by the node (nothing proposed),
// or applied. One channel carries it whichever way it goes: a second
// channel for the refusal would wake the proposer twice per write.
type outcome struct {
	r       node.Result
	refused error
}

// localProposal is proposeLocal's channel and closures, made once and
// reused. It goes back to the pool only when nothing can send on out any
// more: m.do did not hand run to the loop, or the one outcome was
// received. That is one: a refusal means the node kept no done (Propose
// and ProposeConfChange register done only when they return nil), and the
// node calls a registered done at most once (it forgets it first). After a
// timeout or a stop an answer may still come, and lp is dropped.
type localProposal struct {
	// m, cmd and cc are the proposal's, read by run on the loop.
	m   *Member
	cmd *kv.Command
	cc  *raft.ConfChange
	out chan outcome
	// done and run are bound to this localProposal.
	done func(node.Result)
	run  func()
}

var localProposals = sync.Pool{New: func() any {
	lp := &localProposal{out: make(chan outcome, 1)}
	lp.done = func(r node.Result) { lp.out <- outcome{r: r} }
	lp.run = func() {
		// Fields read once, before the proposal can be answered and lp
		// reused.
		m, cmd, cc, out := lp.m, lp.cmd, lp.cc, lp.out
		var err error
		if cc != nil {
			err = m.node.ProposeConfChange(*cc, lp.done)
		} else {
			err = m.node.Propose(cmd, time.Now().UnixNano(), lp.done)
		}
		if err != nil {
			out <- outcome{refused: err}
			return
		}
		m.metrics.proposals.Inc()
	}
	return lp
}}

func (lp *localProposal) release() {
	lp.m, lp.cmd, lp.cc = nil, nil, nil
	localProposals.Put(lp)
}

var errTimeout = errors.New("server: request timed out (the outcome is unknown: it may still be applied)")

func isKVError(err error) bool {
	var ke *kv.Error
	return errors.As(err, &ke)
}

// propose runs p through the log from any member: locally on the leader,
// or forwarded over the peer port to the leader. The answer comes once
// this member has applied the entry too, so a client reads its own write
// on the member it wrote through.
func (m *Member) propose(ctx context.Context, p proposal) (node.Result, error) {
	for {
		v, err := m.waitLeader(ctx)
		if err != nil {
			return node.Result{}, err
		}
		var r node.Result
		local := v.lead == m.id
		if local {
			r, err = m.proposeLocal(ctx, p)
		} else {
			r, err = m.forward(ctx, v.lead, p)
		}
		var nle *raft.NotLeaderError
		if errors.As(err, &nle) || errors.Is(err, errForwardNotLeader) {
			// Leadership moved before anything was proposed: try again
			// with the new leader (or wait for one).
			if err := m.waitLeaderOtherThan(ctx, v.lead); err != nil {
				return node.Result{}, err
			}
			continue
		}
		if err != nil {
			return node.Result{}, err
		}
		// A command proposed here was answered by this member's apply:
		// its store holds the write already, and waiting for the loop to
		// publish the view would only cost a second wake-up. (A
		// membership change waits: its answer reads the published view.)
		if r.Index > 0 && !(local && p.CC == nil) {
			if err := m.waitApplied(ctx, r.Index); err != nil {
				// Applied by the cluster, but not yet here: answer anyway.
				m.log.Debug("answer before local apply", "index", r.Index)
			}
		}
		return r, nil
	}
}

// readIndex waits for a linearizable read point (raft's ReadIndex): once it
// returns, a read of the local store is linearizable.
func (m *Member) readIndex(ctx context.Context) error {
	for {
		v, err := m.waitLeader(ctx)
		if err != nil {
			return err
		}
		idxc := make(chan uint64, 1)
		errc := make(chan error, 1)
		if err := m.do(ctx, func() {
			errc <- m.node.ReadIndex(func(i uint64) { idxc <- i })
		}); err != nil {
			return err
		}
		if err := <-errc; err != nil {
			// Refused: no leader known to raft right now. Wait for a change.
			if err := m.waitLeaderOtherThan(ctx, v.lead); err != nil {
				return err
			}
			continue
		}
		index, err := m.awaitReadIndex(ctx, v, idxc)
		if errors.Is(err, errReadLost) {
			continue
		}
		if err != nil {
			return err
		}
		// Also wait for the view (membership, indexes) to show what was
		// applied up to the read index.
		return m.waitApplied(ctx, index)
	}
}

// errReadLost: the leader or term changed while a read index was asked
// for, and the answer may never come.
var errReadLost = errors.New("server: read index lost to a leader change")

// awaitReadIndex waits for the answer to a read index asked for under view
// v. A read can be lost with a leader change: at the first view change
// that shows another leader or term it returns errReadLost, so that the
// caller asks again rather than waiting out the whole timeout.
func (m *Member) awaitReadIndex(ctx context.Context, v *view, idxc <-chan uint64) (uint64, error) {
	for {
		_, ch := m.waitChange()
		select {
		case i := <-idxc:
			return i, nil
		case <-ch:
			if nv := m.view.Load(); nv.lead != v.lead || nv.term != v.term {
				return 0, errReadLost
			}
		case <-ctx.Done():
			return 0, errTimeout
		case <-m.donec:
			return 0, errStopped
		}
	}
}

// proposeCmd runs cmd through the log from b; the store's refusal is an
// error too.
func proposeCmd(ctx context.Context, b Backend, cmd *kv.Command) error {
	r, err := b.Propose(ctx, cmd)
	if err != nil {
		return err
	}
	return r.Err
}
