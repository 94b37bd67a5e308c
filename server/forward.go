package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/server/node"
)

// Forwarding. A follower hands a client's write to the leader as an app
// frame on the peer transport (rpc's app lane: one long-lived stream per
// pair of members, pipelined, beside the raft streams), and the leader
// answers with another app frame carrying the applied result. Compared
// with an HTTP request per write, this costs no HTTP parsing on either
// side and no connection pool, which on a small machine is most of what a
// forwarded write costs.
//
// Frames carry no acknowledgements and are never resent: a request or an
// answer lost with a stream leaves the follower waiting, and it stops
// waiting when it sees another leader or when the client's time runs out.
// Either way the outcome is unknown (error 300), which is the truth: the
// leader may have applied the write.

// forwardFrame is the payload of an app frame between members: a
// forwarded proposal (Prop set) or the leader's answer to one (Res set),
// matched by ID, which the follower chose.
type forwardFrame struct {
	ID   uint64         `msgpack:"id"`
	Prop *proposal      `msgpack:"p,omitempty"`
	Res  *forwardResult `msgpack:"r,omitempty"`
	// Deadline (Unix ns, on the follower's clock) is when the follower
	// stops waiting. A proposal that reaches the leader more than
	// forwardGrace after it, having waited in a queue while the stream
	// was down, is not proposed: its client has long been told 300.
	Deadline int64 `msgpack:"d,omitempty"`
}

// forwardGrace allows for clocks that disagree a little.
const forwardGrace = time.Second

// forwardResult is the leader's answer to a forwarded proposal.
type forwardResult struct {
	Event *kv.Event `msgpack:"e,omitempty"`
	Err   *kv.Error `msgpack:"k,omitempty"`
	// NotLeader is set when the member asked does not lead: nothing was
	// proposed, and the follower may try the next leader.
	NotLeader bool `msgpack:"n,omitempty"`
	// Lost is set when the proposal certainly did not take effect.
	Lost bool `msgpack:"l,omitempty"`
	// Index and Term need a tag each: one tag on both encodes two "i"
	// keys and decodes the index into Term, so the follower never waited
	// to apply the write it answered.
	Index        uint64 `msgpack:"i,omitempty"`
	Term         uint64 `msgpack:"t,omitempty"`
	OtherFailure string `msgpack:"o,omitempty"`
}

// forwards are a follower's proposals waiting for the leader's answer.
type forwards struct {
	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan forwardResult
}

func (f *forwards) add() (uint64, chan forwardResult) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waiting == nil {
		f.waiting = make(map[uint64]chan forwardResult)
		// Ids start at random: the leader may answer a request this
		// member sent before it restarted, and the answer must not find a
		// new request that happens to have the same id.
		f.next = rand.Uint64()
	}
	f.next++
	ch := make(chan forwardResult, 1)
	f.waiting[f.next] = ch
	return f.next, ch
}

func (f *forwards) remove(id uint64) {
	f.mu.Lock()
	delete(f.waiting, id)
	f.mu.Unlock()
}

// answer delivers a result to its waiter, if it still waits.
func (f *forwards) answer(id uint64, r forwardResult) {
	f.mu.Lock()
	ch := f.waiting[id]
	delete(f.waiting, id)
	f.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

var (
	errForwardNotLeader = errors.New("server: the member forwarded to no longer leads")
	errLeaderChanged    = errors.New("server: the leader changed while the request was in flight (the outcome is unknown: it may still be applied)")
)

// onApp takes the app frames peers send (rpc.Config.OnApp). It runs on the
// transport's reading goroutine, so proposals are served on their own; data
// is the transport's buffer, but Unmarshal copies what it keeps.
func (m *Member) onApp(from uint64, data []byte) {
	var f forwardFrame
	if err := msgpack.Unmarshal(data, &f); err != nil {
		m.log.Warn("dropping malformed app frame", "from", IDString(from), "err", err)
		return
	}
	switch {
	case f.Prop != nil:
		if f.Deadline != 0 && time.Now().UnixNano() > f.Deadline+int64(forwardGrace) {
			m.log.Warn("dropping a forwarded proposal past its deadline", "from", IDString(from))
			return
		}
		m.fwdMu.Lock()
		stopping := m.fwdStopping
		if !stopping {
			m.fwdServing.Add(1)
		}
		m.fwdMu.Unlock()
		if stopping {
			// Leadership was handed over: nothing is proposed here now.
			m.answerForward(from, f.ID, forwardResult{NotLeader: true})
			return
		}
		go func() {
			defer m.fwdServing.Done()
			m.serveForward(from, f.ID, *f.Prop)
		}()
	case f.Res != nil:
		m.forwards.answer(f.ID, *f.Res)
	}
}

// serveForward runs a proposal forwarded by member from and sends it the
// answer.
func (m *Member) serveForward(from, id uint64, p proposal) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.RequestTimeout)
	defer cancel()
	res, err := m.proposeLocal(ctx, p)
	out := forwardResult{Index: res.Index, Term: res.Term}
	var nle *raft.NotLeaderError
	switch {
	case errors.As(err, &nle) || errors.Is(err, raft.ErrProposalDropped):
		out = forwardResult{NotLeader: true}
	case err != nil:
		out.OtherFailure = err.Error()
	case errors.Is(res.Err, node.ErrProposalLost):
		out.Lost = true
	case res.Err != nil:
		var ke *kv.Error
		if errors.As(res.Err, &ke) {
			out.Err = ke
		} else {
			out.OtherFailure = res.Err.Error()
		}
	default:
		out.Event = res.Event
	}
	m.answerForward(from, id, out)
}

func (m *Member) answerForward(to, id uint64, out forwardResult) {
	b, err := msgpack.Marshal(&forwardFrame{ID: id, Res: &out})
	if err == nil {
		err = m.tr.SendApp(to, b)
	}
	if err != nil {
		// The follower stops waiting on its own (see above) and answers
		// 300, whatever happened here.
		m.log.Warn("cannot answer a forwarded proposal", "to", IDString(to), "err", err)
	}
}

// drainForwards stops taking forwarded proposals and waits (within ctx)
// for those being served to be answered.
func (m *Member) drainForwards(ctx context.Context) {
	m.fwdMu.Lock()
	m.fwdStopping = true
	m.fwdMu.Unlock()
	done := make(chan struct{})
	go func() {
		m.fwdServing.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// forward sends a proposal to the leader and returns its result as if
// proposed here.
func (m *Member) forward(ctx context.Context, lead uint64, p proposal) (node.Result, error) {
	p, err := p.encoded()
	if err != nil {
		return node.Result{}, err
	}
	id, ch := m.forwards.add()
	defer m.forwards.remove(id)
	f := forwardFrame{ID: id, Prop: &p}
	if d, ok := ctx.Deadline(); ok {
		f.Deadline = d.UnixNano()
	}
	b, err := msgpack.Marshal(&f)
	if err != nil {
		return node.Result{}, err
	}
	if err := m.tr.SendApp(lead, b); err != nil {
		// Certainly not sent, but say "unknown" like any other failure to
		// reach the leader: the client retries either way.
		return node.Result{}, fmt.Errorf("server: forwarding to leader %s: %v", IDString(lead), err)
	}
	// A leader that is replaced while the request is in flight (paused, cut
	// off) may never answer: stop waiting when this member sees another
	// leader. The outcome is then unknown.
	for {
		v, changed := m.waitChange()
		if v.lead != lead {
			return node.Result{}, errLeaderChanged
		}
		select {
		case out := <-ch:
			res := node.Result{Index: out.Index, Term: out.Term, Event: out.Event}
			switch {
			case out.NotLeader:
				return node.Result{}, errForwardNotLeader
			case out.OtherFailure != "":
				return node.Result{}, errors.New(out.OtherFailure)
			case out.Lost:
				res.Err = node.ErrProposalLost
			case out.Err != nil:
				res.Err = out.Err
			}
			return res, nil
		case <-changed:
		case <-ctx.Done():
			return node.Result{}, errTimeout
		case <-m.donec:
			return node.Result{}, errStopped
		}
	}
}
