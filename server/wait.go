package server

import (
	"container/heap"
	"context"
	"errors"

	"github.com/raftkv/raftkv/raft"
)

// view is what the loop publishes after each Ready for other goroutines.
type view struct {
	state            raft.StateType
	lead, term       uint64
	commit, applied  uint64
	voters, learners []uint64
}

// waitChange returns the view and a channel closed at its next change.
func (m *Member) waitChange() (*view, <-chan struct{}) {
	m.changedMu.Lock()
	defer m.changedMu.Unlock()
	return m.view.Load(), m.changed
}

// errStopped is the cause of a request cut short by a stopping member.
var errStopped = errors.New("server: member is stopping")

// waitLeader waits until the member knows a leader.
func (m *Member) waitLeader(ctx context.Context) (*view, error) {
	for {
		v, ch := m.waitChange()
		if v.lead != raft.None {
			return v, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, errNoLeader
		case <-m.donec:
			return nil, errStopped
		}
	}
}

// waitLeaderOtherThan waits until the view's leader is not lead (another
// member, or none).
func (m *Member) waitLeaderOtherThan(ctx context.Context, lead uint64) error {
	if v, ch := m.waitChange(); v.lead == lead {
		select {
		case <-ch:
		case <-ctx.Done():
			return errNoLeader
		case <-m.donec:
			return errStopped
		}
	}
	return nil
}

var errNoLeader = errors.New("server: no leader (election in progress or no quorum)")

// waitApplied waits until the member has applied index.
func (m *Member) waitApplied(ctx context.Context, index uint64) error {
	if m.view.Load().applied >= index {
		return nil
	}
	m.appliedMu.Lock()
	// Checked again under the lock: publishView stores the view before it
	// takes the lock to release waiters.
	if m.view.Load().applied >= index {
		m.appliedMu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	heap.Push(&m.applied, appliedWaiter{index: index, ch: ch})
	m.appliedMu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.donec:
		return errStopped
	}
}

// appliedWaiter is a waitApplied call; appliedHeap orders them by index.
type appliedWaiter struct {
	index uint64
	ch    chan struct{}
}

type appliedHeap []appliedWaiter

func (h appliedHeap) Len() int { return len(h) }

func (h appliedHeap) Less(i, j int) bool { return h[i].index < h[j].index }

func (h appliedHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

func (h *appliedHeap) Push(x any) { *h = append(*h, x.(appliedWaiter)) }

func (h *appliedHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	return w
}
