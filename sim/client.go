package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/linearizability"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/server/node"
)

// client is one simulated user of the cluster. It has at most one request
// outstanding, follows NotLeader hints, and gives up on a request after
// TimeoutMs (the outcome is then unknown) and moves on to another member.
type client struct {
	s      *Sim
	id     int
	rand   *rand.Rand
	rec    *linearizability.Recorder
	target uint64
	op     *clientOp
	n      int // operations issued: values are "c<id>.<n>", never reused
	// user: a live session's client (live.go), which sends only what the
	// user asks for and thinks of nothing itself.
	user bool
}

type clientOp struct {
	id      uint64 // unique in the run: answers to older operations are ignored
	key     int    // its key: kvPath(key), with s.known[key]; -1 for a user's
	in      linearizability.Input
	cmd     kv.Command
	attempt int
	// readIndex: a get through ReadIndex rather than through the log.
	readIndex bool
	// local: a get answered from the member's own store at once, without
	// asking the leader (a user's "quorum": false; possibly stale).
	local bool
}

// known is the latest value and index a client saw for each key; CAS and
// CAD take their conditions from it so they often succeed.
type known struct {
	value string
	index uint64
}

func newClient(s *Sim, id int) *client {
	r := subRand(s.cfg.Seed, "client", uint64(id))
	c := &client{s: s, id: id, rand: r, rec: s.hist.NewRecorder()}
	c.target = s.ids[r.IntN(len(s.ids))]
	return c
}

func (c *client) think() {
	s := c.s
	if c.user || s.phase != phaseSafety {
		return
	}
	d := int64(c.rand.ExpFloat64() * s.opts.Workload.ThinkMs * 1e6)
	s.after(d, c.issue)
}

func (c *client) issue() {
	s := c.s
	if s.phase != phaseSafety || c.op != nil {
		return
	}
	s.opSeq++
	op := &clientOp{id: s.opSeq}
	c.generate(op)
	c.start(op)
}

// start issues op: it goes into the history and the trace, its timeout
// is set, and it is sent.
func (c *client) start(op *clientOp) {
	s := c.s
	c.op = op
	c.n++
	s.res.Ops++
	c.rec.CallAt(s.nowNs, op.in)
	ev := TraceEvent{Type: "request", Client: c.id, ID: c.target, Op: op.in.Op.String(), Key: op.in.Key,
		Value: op.in.Value, Prev: op.in.PrevValue}
	switch {
	case op.readIndex:
		ev.Kind = "read-index"
	case op.local:
		ev.Kind = "local"
	}
	s.trace(ev)
	id := op.id
	s.after(s.opts.Workload.TimeoutMs*1e6, func() { c.timeout(id) })
	c.send()
}

func (c *client) generate(op *clientOp) {
	s := c.s
	w := s.opts.Workload
	key := c.rand.IntN(s.opts.Keys)
	path := kvPath(key)
	val := fmt.Sprintf("c%d.%d", c.id, c.n)
	k := s.known[key]
	prev := k.value
	if prev == "" || c.rand.IntN(5) == 0 {
		prev = "never-written" // a compare that fails
	}
	op.key = key
	op.in = linearizability.Input{Key: path}
	op.cmd = kv.Command{Path: path}
	n := c.rand.IntN(w.Get + w.Set + w.Create + w.CAS + w.Delete + w.Read)
	switch {
	case n >= w.Get+w.Set+w.Create+w.CAS+w.Delete:
		op.in.Op, op.readIndex = linearizability.OpGet, true
	case n < w.Get:
		op.in.Op, op.cmd.Method = linearizability.OpGet, kv.MethodQuorumGet
	case n < w.Get+w.Set:
		op.in.Op, op.in.Value = linearizability.OpSet, val
		op.cmd.Method, op.cmd.Value = kv.MethodPut, val
		if c.rand.IntN(4) == 0 {
			op.in.Op, op.cmd.PrevExist = linearizability.OpUpdate, kv.Bool(true)
		}
	case n < w.Get+w.Set+w.Create:
		op.in.Op, op.in.Value = linearizability.OpCreate, val
		op.cmd.Method, op.cmd.Value, op.cmd.PrevExist = kv.MethodPut, val, kv.Bool(false)
	case n < w.Get+w.Set+w.Create+w.CAS:
		op.in.Op, op.in.Value = linearizability.OpCompareAndSwap, val
		op.cmd.Method, op.cmd.Value = kv.MethodPut, val
		if k.index != 0 && c.rand.IntN(3) == 0 {
			op.in.PrevIndex, op.cmd.PrevIndex = k.index, k.index
		} else {
			op.in.PrevValue, op.cmd.PrevValue = prev, prev
		}
	default:
		op.in.Op, op.cmd.Method = linearizability.OpDelete, kv.MethodDelete
		if c.rand.IntN(2) == 0 {
			op.in.Op = linearizability.OpCompareAndDelete
			op.in.PrevValue, op.cmd.PrevValue = prev, prev
		}
	}
}

// send sends the current operation to the member the client believes
// leads.
func (c *client) send() {
	s := c.s
	op := c.op
	op.attempt++
	id, attempt, target := op.id, op.attempt, c.target
	cmd := op.cmd // each attempt proposes its own copy
	s.after(s.net.clientLatencyNs(), func() {
		m := s.member(target)
		s.onMember(m, func() {
			s.trace(TraceEvent{Type: "request-arrive", Client: c.id, ID: target, Attempt: attempt})
			var err error
			if op.local {
				c.readLocal(m, cmd.Path, id, target)
				return
			}
			if op.readIndex {
				err = c.readIndex(m, cmd.Path, id, target)
			} else {
				err = m.node.Propose(&cmd, s.nowNs, func(r node.Result) {
					// Answered once the Ready that applied it is durable.
					s.after(m.syncDelayNs+s.net.clientLatencyNs(), func() { c.answer(id, target, r) })
				})
			}
			if err == nil {
				s.process(m)
				return
			}
			var nl *raft.NotLeaderError
			hint := uint64(0)
			switch {
			case errors.As(err, &nl):
				hint = nl.Leader
			case errors.Is(err, raft.ErrProposalDropped):
			default:
				s.fail(ClassCrash, "propose", fmt.Sprintf("member %d: %v", target, err))
				return
			}
			s.after(s.net.clientLatencyNs(), func() { c.redirect(id, target, hint) })
		})
		// A member that is down never answers: the client times out.
	})
}

// readIndex asks member m for a linearizable read point (raft's ReadIndex)
// and, once m has applied up to it, reads the key from m's own store: that
// moment, between the request and the answer, is the read's linearization
// point, and the history gets what the store held then.
func (c *client) readIndex(m *member, path string, id, target uint64) error {
	s, n := c.s, m.node
	return n.ReadIndex(func(index uint64) {
		r := node.Result{Index: index}
		if ev, err := n.Store().Get(path, false, false); err != nil {
			r.Err = err
		} else {
			r.Event = ev
		}
		s.res.Reads++
		s.after(m.syncDelayNs+s.net.clientLatencyNs(), func() { c.answer(id, target, r) })
	})
}

// readLocal reads the key from m's own store at once, as a GET with
// quorum=false does: no leader is asked, so the answer may be stale.
func (c *client) readLocal(m *member, path string, id, target uint64) {
	s := c.s
	var r node.Result
	if ev, err := m.node.Store().Get(path, false, false); err != nil {
		r.Err = err
	} else {
		r.Event = ev
	}
	s.after(s.net.clientLatencyNs(), func() { c.answer(id, target, r) })
}

func (c *client) redirect(id, from, hint uint64) {
	s := c.s
	if c.op == nil || c.op.id != id {
		return
	}
	s.trace(TraceEvent{Type: "redirect", Client: c.id, ID: from, Lead: hint})
	if hint != 0 && hint != from {
		c.target = hint
		c.send()
		return
	}
	// No leader known there: try another member after a pause.
	c.target = c.otherMember(from)
	s.after(s.opts.TickMs*int64(s.opts.ElectionTick)*1e6/2, func() {
		if c.op != nil && c.op.id == id {
			c.send()
		}
	})
}

func (c *client) otherMember(not uint64) uint64 {
	ids := c.s.live
	if len(ids) == 1 {
		return ids[0]
	}
	for {
		if id := ids[c.rand.IntN(len(ids))]; id != not {
			return id
		}
	}
}

func (c *client) timeout(id uint64) {
	s := c.s
	if c.op == nil || c.op.id != id {
		return
	}
	s.trace(TraceEvent{Type: "response", Client: c.id, Op: c.op.in.Op.String(), Key: c.op.in.Key, Result: "timeout"})
	c.rec.Ambiguous()
	c.op = nil
	c.target = c.otherMember(c.target)
	c.think()
}

func (c *client) answer(id, from uint64, r node.Result) {
	s := c.s
	if c.op == nil || c.op.id != id {
		return
	}
	op := c.op
	c.op = nil
	ev := TraceEvent{Type: "response", Client: c.id, ID: from, Op: op.in.Op.String(), Key: op.in.Key, Index: r.Index}
	var kerr *kv.Error
	switch {
	case errors.Is(r.Err, node.ErrProposalLost):
		ev.Result = "lost"
		c.rec.NoEffect()
	case errors.As(r.Err, &kerr):
		s.noteAcked(r.Index)
		if st, ok := linearizability.StatusOf(kerr.Code); ok {
			ev.Result = st.String()
			c.rec.ReturnAt(s.nowNs, linearizability.Output{Status: st})
		} else {
			ev.Result = fmt.Sprintf("error %d", kerr.Code)
			c.rec.Ambiguous()
		}
	case r.Err != nil:
		ev.Result = r.Err.Error()
		c.rec.Ambiguous()
	default:
		s.noteAcked(r.Index)
		out := linearizability.Output{Status: linearizability.StatusOK}
		if n := r.Event.Node; n != nil {
			out.Index = n.ModifiedIndex
			if op.in.Op == linearizability.OpGet && n.Value != nil {
				out.Value = *n.Value
			}
		}
		switch {
		case op.key < 0: // a user's key: not among the workload's
		case op.in.Op == linearizability.OpGet:
			s.known[op.key] = known{value: out.Value, index: out.Index}
		case op.in.Op == linearizability.OpDelete, op.in.Op == linearizability.OpCompareAndDelete:
			s.known[op.key] = known{}
		default:
			s.known[op.key] = known{value: op.in.Value, index: out.Index}
		}
		ev.Result, ev.Value = "ok", out.Value
		c.rec.ReturnAt(s.nowNs, out)
	}
	s.res.Acked++
	s.trace(ev)
	c.target = from
	c.think()
}
