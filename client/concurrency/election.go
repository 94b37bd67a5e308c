package concurrency

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/raftkv/raftkv/client"
)

// Leader is the leader of an election: the lowest key of its directory.
// The zero Leader (Key "") stands for no leader.
type Leader struct {
	Key   string // the leader's key
	Value string // its proposal, as last proclaimed
	Token uint64 // the key's createdIndex: a fencing token, as a Mutex's
}

// Election is a leader election over a directory of the v2 key space, on
// the Mutex's mechanism: each candidate creates an in-order key holding
// its proposal, with a TTL kept alive in the background; the candidate
// whose key is the lowest leads, and the key's value is its proposal.
//
// An Election may campaign again after Resign or after losing. Its methods
// are safe for concurrent use; only one Campaign runs at a time.
type Election struct {
	holder
}

// NewElection returns an election on dir (such as "/_elections/web") whose
// candidates' keys live ttl without a refresh. ttl is rounded up to whole
// seconds; zero or negative means DefaultTTL. It makes no request.
func NewElection(c *client.Client, dir string, ttl time.Duration) *Election {
	return &Election{holder: newHolder(c, dir, ttl)}
}

// Campaign puts proposal up and waits until this candidate leads, ctx ends
// (ctx's error) or its key is lost while waiting (ErrLost); errors the keys
// API answers (other than 300) end it too, unavailability only makes it try
// again. On failure the key is deleted. A create of unknown outcome is
// made again: the first key, if it was made, is a candidate no one
// refreshes, which expires after the TTL (and may lead until then, with
// this proposal as its value).
func (e *Election) Campaign(ctx context.Context, proposal string) error {
	return e.acquire(ctx, proposal, false, false)
}

// Proclaim changes the leader's value without an election: an update of
// its key that keeps the TTL. ErrNotLeader if this candidate does not
// lead (or resigned meanwhile); a key found gone ends the leadership
// (ErrLostNotFound).
func (e *Election) Proclaim(ctx context.Context, value string) error {
	h := e.current()
	if !h.isHeld() {
		return ErrNotLeader
	}
	_, err := e.c.Set(ctx, h.key, value, &client.SetOptions{PrevExist: client.PrevExist, TTL: e.ttl})
	if client.IsKeyNotFound(err) {
		h.end(fmt.Errorf("%w (%s: %v)", ErrLostNotFound, h.key, err))
		if err := h.err(); err != nil {
			return err
		}
		// A Resign ended the hold and deleted the key under the update.
		return ErrNotLeader
	}
	return err
}

// Resign gives the leadership up: Done is closed, then the key deleted,
// and the next candidate leads.
func (e *Election) Resign(ctx context.Context) error { return e.release(ctx) }

// Leader reads the current leader: the lowest key of the directory,
// linearizably. ErrNoLeader when there is none.
func (e *Election) Leader(ctx context.Context) (Leader, error) {
	files, _, err := queue(ctx, e.c, e.dir)
	if err != nil {
		return Leader{}, err
	}
	if len(files) == 0 {
		return Leader{}, ErrNoLeader
	}
	return Leader{Key: files[0].Key, Value: files[0].Value, Token: files[0].CreatedIndex}, nil
}

// Observe reports the leader, then each change of leader or of its value,
// until ctx ends; then the channel is closed. A zero Leader means that the
// leadership fell vacant (it is not sent if the election has no leader
// when Observe starts). Changes are read from a watch of the directory;
// if it falls out of the server's history (error 401), or no member can
// be reached, the directory is read again and the current leader reported
// if it changed, so a consumer may miss leaders that came and went
// meanwhile, but never sees one out of order.
func (e *Election) Observe(ctx context.Context) <-chan Leader {
	ch := make(chan Leader)
	go e.observe(ctx, ch)
	return ch
}

func (e *Election) observe(ctx context.Context, ch chan<- Leader) {
	defer close(ch)
	var last Leader
	cands := map[string]Leader{}
	var w *client.Watcher
	failures := 0
	for ctx.Err() == nil {
		if w == nil {
			files, index, err := queue(ctx, e.c, e.dir)
			if err != nil {
				failures++
				_ = pause(ctx, failures)
				continue
			}
			clear(cands)
			for _, n := range files {
				cands[n.Key] = Leader{Key: n.Key, Value: n.Value, Token: n.CreatedIndex}
			}
			w = e.c.Watcher(e.dir, &client.WatcherOptions{Recursive: true, AfterIndex: index})
		} else {
			ev, err := w.Next(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				failures++
				if client.IsEventIndexCleared(err) || failures > 3 {
					w = nil
				}
				_ = pause(ctx, failures)
				continue
			}
			e.apply(cands, ev)
		}
		failures = 0
		if l := lowest(cands); l != last {
			select {
			case ch <- l:
				last = l
			case <-ctx.Done():
				return
			}
		}
	}
}

// apply brings the candidates up to date with one event of the directory's
// recursive watch.
func (e *Election) apply(cands map[string]Leader, ev *client.Response) {
	key := ev.Node.Key
	if key == e.dir || strings.HasPrefix(e.dir, key+"/") {
		if deleteLike(ev.Action) {
			clear(cands) // the directory, or one above it, is gone
		}
		return
	}
	if ev.Node.Dir || key[:strings.LastIndexByte(key, '/')] != e.dir {
		return // not a candidate: a directory, or deeper down
	}
	if deleteLike(ev.Action) {
		delete(cands, key)
		return
	}
	cands[key] = Leader{Key: key, Value: ev.Node.Value, Token: ev.Node.CreatedIndex}
}

// lowest is the candidate created first, the zero Leader if none.
func lowest(cands map[string]Leader) Leader {
	var l Leader
	for _, c := range cands {
		if l.Key == "" || c.Token < l.Token || (c.Token == l.Token && c.Key < l.Key) {
			l = c
		}
	}
	return l
}

// Token is the leader's fencing token (its key's createdIndex), 0 when
// this candidate does not lead.
func (e *Election) Token() uint64 { return e.token() }

// Key is this candidate's key (the last one made), "" before the first
// Campaign.
func (e *Election) Key() string { return e.key() }

// Done is closed as soon as the leadership is lost or resigned, and is
// closed already when this candidate does not lead.
func (e *Election) Done() <-chan struct{} { return e.done() }

// Err is why Done was closed: an error matching ErrLost, or nil after
// Resign and while leading.
func (e *Election) Err() error { return e.err() }

// Context returns a child of parent cancelled when the leadership ends,
// with context.Cause the loss (or ErrNotLeader).
func (e *Election) Context(parent context.Context) (context.Context, context.CancelFunc) {
	return e.context(parent)
}
