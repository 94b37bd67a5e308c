package server

import (
	"container/heap"
	"context"
	"slices"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// run is the member's loop: the only goroutine that touches the node.
func (m *Member) run() {
	defer close(m.donec)
	ticker := time.NewTicker(m.cfg.HeartbeatInterval)
	defer ticker.Stop()
	m.lastTick = time.Now()
	inbound := m.tr.Inbound()
	for {
		select {
		case now := <-ticker.C:
			if m.cfg.LeaseReads {
				m.catchUpTicks(now)
			} else {
				m.node.Tick(now.UnixNano())
			}
		case msg, ok := <-inbound:
			if !ok {
				return
			}
			m.leaseClock()
			m.step(msg)
			m.drain(inbound)
		case f := <-m.reqs:
			m.leaseClock()
			f()
			m.drain(inbound)
		case <-m.stopc:
			return
		}
		for {
			did, err := m.node.HandleReady()
			if err != nil {
				m.log.Error("member stops: storage or log failure", "err", err)
				m.fatal.Store(&err)
				return
			}
			if !did {
				break
			}
		}
		m.publishView()
	}
}

func (m *Member) step(msg raft.Message) {
	m.stats.received(msg)
	if err := m.node.Step(msg); err != nil {
		m.log.Debug("step", "err", err)
	}
}

// publishView publishes the node's state for other goroutines and wakes
// waiters when it changed.
func (m *Member) publishView() {
	nv := m.node.View()
	cs := m.node.ConfState()
	old := m.view.Load()
	v := &view{state: nv.State, lead: nv.Lead, term: nv.Term, commit: nv.Commit, applied: nv.Applied,
		voters: old.voters, learners: old.learners}
	membership := !slices.Equal(cs.Voters, old.voters) || !slices.Equal(cs.Learners, old.learners)
	if membership {
		v.voters, v.learners = slices.Clone(cs.Voters), slices.Clone(cs.Learners)
	}
	role := membership || v.state != old.state || v.lead != old.lead || v.term != old.term
	if !role && v.commit == old.commit && v.applied == old.applied {
		return
	}
	m.metrics.observeView(old, v, m.id)
	m.view.Store(v)
	if role {
		m.changedMu.Lock()
		close(m.changed)
		m.changed = make(chan struct{})
		m.changedMu.Unlock()
	}
	if v.applied != old.applied {
		m.appliedMu.Lock()
		for len(m.applied) > 0 && m.applied[0].index <= v.applied {
			close(heap.Pop(&m.applied).(appliedWaiter).ch)
		}
		m.appliedMu.Unlock()
	}
	if membership {
		select {
		case m.resync <- struct{}{}:
		default: // a resync is already pending
		}
		if m.wasRemoved(old, v) {
			m.stopRemoved("this member was removed from the cluster; stopping")
		}
	}
}

// catchUpTicks gives raft every tick that real time has passed since the
// last one (under LeaseReads). A ticker drops the ticks a stalled process
// (SIGSTOP, a long pause) missed, and raft's lease counts ticks: without
// this, a leader resumed after an election elsewhere would think its
// lease still ran. Called on every tick, and through leaseClock whenever
// the loop wakes for a message or a request (a read among them).
func (m *Member) catchUpTicks(now time.Time) {
	for now.Sub(m.lastTick) >= m.cfg.HeartbeatInterval {
		m.lastTick = m.lastTick.Add(m.cfg.HeartbeatInterval)
		m.node.Tick(now.UnixNano())
	}
}

// leaseClock catches up raft's ticks under LeaseReads, before the loop
// handles what woke it.
func (m *Member) leaseClock() {
	if m.cfg.LeaseReads {
		m.catchUpTicks(time.Now())
	}
}

// drain takes what else has arrived, messages and requests alike (up to
// a bound, so ticks are not starved), so that one Ready answers it all:
// one WAL write and one fsync for every proposal and acknowledgement that
// arrived while the last one ran.
func (m *Member) drain(inbound <-chan raft.Message) {
	for range 512 {
		select {
		case msg, ok := <-inbound:
			if !ok {
				return
			}
			m.step(msg)
		case f := <-m.reqs:
			f()
		default:
			return
		}
	}
}

// background runs a node's snapshot work on its own goroutine and hands
// the finish back to the loop. Stop waits for it (m.bg) before it closes
// the storage; a finish that finds the loop gone is dropped, which leaves
// at most a snapshot file that no WAL marker names.
func (m *Member) background(work func() (finish func())) {
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		finish := work()
		select {
		case m.reqs <- finish:
		case <-m.donec:
		}
	}()
}

// do runs f on the loop goroutine.
func (m *Member) do(ctx context.Context, f func()) error {
	select {
	case m.reqs <- f:
		return nil
	case <-m.donec:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}
