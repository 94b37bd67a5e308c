package concurrency

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/raftkv/raftkv/client"
)

// DefaultTTL is the TTL of a Mutex's or an Election's key when the ttl
// given is zero or negative (etcd's session default).
const DefaultTTL = 60 * time.Second

var (
	// ErrLocked is TryLock's answer when another holder has the lock.
	ErrLocked = errors.New("concurrency: the lock is held by another holder")
	// ErrNoLeader is Leader's answer when no one is campaigning.
	ErrNoLeader = errors.New("concurrency: no leader")
	// ErrNotHeld is the answer of Unlock, Resign or Proclaim without a
	// successful Lock or Campaign, and the cause of Context before one.
	ErrNotHeld = errors.New("concurrency: not held")
	// ErrNotLeader is ErrNotHeld, for elections.
	ErrNotLeader = ErrNotHeld
	// ErrHeld is the answer of Lock, TryLock or Campaign while the Mutex
	// or Election holds already, or another call of them is under way.
	ErrHeld = errors.New("concurrency: already held or being acquired")

	// ErrLost is matched (errors.Is) by every loss of a held key. Err
	// returns one of the reasons below, which all match ErrLost.
	ErrLost = errors.New("concurrency: lost")
	// ErrLostDeleted: a watch saw the key (or a directory above it)
	// deleted, or replaced by a write that is not the holder's.
	ErrLostDeleted = fmt.Errorf("%w: the key was deleted", ErrLost)
	// ErrLostExpired: a watch saw the key expire.
	ErrLostExpired = fmt.Errorf("%w: the key expired", ErrLost)
	// ErrLostNotFound: a refresh or a read found the key missing (it was
	// deleted or it expired).
	ErrLostNotFound = fmt.Errorf("%w: the key is gone", ErrLost)
	// ErrLostTimeout: no refresh succeeded for the key's TTL minus the
	// safety margin, counted from the sending of the last one that did:
	// the key may expire at any moment, so the holder must stop.
	ErrLostTimeout = fmt.Errorf("%w: no refresh succeeded within the TTL", ErrLost)
)

// errReleased is the cause of a hold ended by Unlock or Resign; Err
// reports it as nil.
var errReleased = errors.New("concurrency: released")

// normTTL rounds ttl up to whole seconds (the v2 API's unit), so that the
// deadline counted here is the TTL the server applies.
func normTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return DefaultTTL
	}
	return (ttl + time.Second - 1) / time.Second * time.Second
}

// normDir makes dir an absolute, clean key with no trailing slash.
func normDir(dir string) string { return path.Clean("/" + dir) }

// hold is one key of a queue (a lock's or an election's directory) with its
// TTL kept alive: from the in-order create until the hold ends, by a
// release, or by the loss of the key.
type hold struct {
	c     *client.Client
	dir   string
	key   string
	token uint64 // the key's createdIndex
	ttl   time.Duration

	// ctx is cancelled, with the reason as its cause, when the hold ends.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// deadline ends the hold with ErrLostTimeout; each successful refresh
	// pushes it to the refresh's send time + ttl - margin.
	deadline *time.Timer
	bg       sync.WaitGroup // keepalive and watchOwn

	mu   sync.Mutex
	ep   string // the endpoint refreshes go to, "" for the client's choice
	held bool   // the key has been seen lowest in the directory
}

// interval is the time between refreshes, and the bound of one attempt.
func (h *hold) interval() time.Duration { return h.ttl / 3 }

// margin is how long before the key could expire (by the local clock) the
// holder gives it up: it covers timer lateness and clocks running at
// slightly different rates. (The server counts the TTL from when it got
// the refresh, which is after the send time counted here.) Clock skew
// between members is not covered; fencing tokens are for that.
func margin(ttl time.Duration) time.Duration { return ttl / 5 }

// newID is a random value that names one attempt, so a create of unknown
// outcome can be found.
func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// create makes the hold's key: an in-order key below dir with the TTL and
// value. A create that fails for want of a leader or a member, or whose
// outcome is unknown, is tried again until ctx ends. With find set (value
// is then unique), a create of unknown outcome is first looked for in the
// directory and adopted if it is there, and a create abandoned because ctx
// ended is looked for and deleted. Without find, such a key, if it was
// made, stays until its TTL runs out.
func create(ctx context.Context, c *client.Client, dir, value string, ttl time.Duration, find bool) (*hold, error) {
	var node *client.Node
	var sent time.Time
	for attempt := 1; node == nil; attempt++ {
		sent = time.Now()
		resp, err := c.CreateInOrder(ctx, dir, value, &client.CreateInOrderOptions{TTL: ttl})
		switch {
		case err == nil:
			node = resp.Node
			if node == nil {
				return nil, fmt.Errorf("concurrency: create in %s: no node in the answer", dir)
			}
			continue
		case ctx.Err() != nil:
			if find {
				// Given up while the create was under way: it may have
				// been made.
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl)
				if n := findOrphan(dctx, c, dir, value); n != nil {
					_, _ = c.Delete(dctx, n.Key, nil)
				}
				cancel()
			}
			return nil, ctx.Err()
		case find && unknownOutcome(err):
			if n := findOrphan(ctx, c, dir, value); n != nil {
				// Made at an unknown time: count its lease from a
				// refresh sent now.
				sent = time.Now()
				if _, rerr := refreshKey(ctx, c, n.Key, ttl); rerr == nil {
					node = n
					continue
				}
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl)
				_, _ = c.Delete(dctx, n.Key, nil)
				cancel()
			}
		case !transient(err):
			return nil, err
		}
		if pause(ctx, attempt) != nil {
			return nil, ctx.Err()
		}
	}
	h := &hold{c: c, dir: dir, key: node.Key, token: node.CreatedIndex, ttl: ttl}
	h.ctx, h.cancel = context.WithCancelCause(context.Background())
	// Armed once assigned: end stops it, and may run from its callback.
	h.deadline = time.AfterFunc(time.Hour, func() {
		h.end(fmt.Errorf("%w (%s)", ErrLostTimeout, h.key))
	})
	h.deadline.Reset(time.Until(sent.Add(ttl - margin(ttl))))
	h.bg.Add(2)
	go h.keepalive(sent)
	go h.watchOwn()
	return h, nil
}

// transient reports whether a failed request may succeed if tried again:
// no member answered, no leader (error 300), or an unknown outcome.
func transient(err error) bool {
	return unknownOutcome(err) || errors.Is(err, client.ErrClusterUnavailable)
}

func unknownOutcome(err error) bool {
	var v2 *client.Error
	return errors.Is(err, client.ErrUnknownOutcome) ||
		(errors.As(err, &v2) && v2.Code == client.ErrorCodeRaftInternal)
}

// findOrphan looks for the node of dir whose value is value, with a few
// linearizable reads: nil if it is not found.
func findOrphan(ctx context.Context, c *client.Client, dir, value string) *client.Node {
	for try := 1; try <= 3; try++ {
		resp, err := c.Get(ctx, dir, &client.GetOptions{Sort: true, Quorum: true})
		if err == nil {
			for _, n := range resp.Node.Nodes {
				if !n.Dir && n.Value == value {
					return n
				}
			}
			return nil
		}
		if client.IsKeyNotFound(err) || pause(ctx, try) != nil {
			return nil
		}
	}
	return nil
}

// refreshKey resets key's TTL without changing its value or waking
// watchers: PUT refresh=true&prevExist=true&ttl=.
func refreshKey(ctx context.Context, c *client.Client, key string, ttl time.Duration) (*client.Response, error) {
	return c.Set(ctx, key, "", &client.SetOptions{Refresh: true, PrevExist: client.PrevExist, TTL: ttl})
}

// end ends the hold with cause (the first cause wins) and stops its
// goroutines; it does not wait for them.
func (h *hold) end(cause error) {
	h.cancel(cause)
	h.deadline.Stop()
}

// err is why the hold ended: nil while it lasts and after a release.
func (h *hold) err() error {
	if h.ctx.Err() == nil {
		return nil
	}
	if err := context.Cause(h.ctx); err != errReleased {
		return err
	}
	return nil
}

// release ends the hold and deletes its key (a key already gone is no
// error). The hold ends before the delete is sent, so that Done is closed
// before anyone else can take the lock.
func (h *hold) release(ctx context.Context) error {
	h.end(errReleased)
	h.bg.Wait()
	_, err := h.c.Delete(ctx, h.key, nil)
	if client.IsKeyNotFound(err) {
		return nil
	}
	return err
}

// keepalive refreshes the key every interval, and sooner again after a
// failure, trying the next endpoint each time. A refresh that finds the
// key missing ends the hold at once; failures alone end it when the
// deadline passes.
func (h *hold) keepalive(lastSent time.Time) {
	defer h.bg.Done()
	next := time.NewTimer(time.Until(lastSent.Add(h.interval())))
	defer next.Stop()
	failures := 0
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-next.C:
		}
		sent := time.Now()
		err := h.refreshOnce()
		switch {
		case err == nil:
			failures = 0
			if h.deadline.Reset(time.Until(sent.Add(h.ttl - margin(h.ttl)))) {
				next.Reset(time.Until(sent.Add(h.interval())))
				continue
			}
			// The deadline had passed already: the hold has ended.
			h.end(fmt.Errorf("%w (%s)", ErrLostTimeout, h.key))
			return
		case client.IsKeyNotFound(err):
			h.end(fmt.Errorf("%w (%s: %v)", ErrLostNotFound, h.key, err))
			return
		case h.ctx.Err() != nil:
			return
		default:
			failures++
			next.Reset(min(25*time.Millisecond<<min(failures, 6), h.interval()))
		}
	}
}

// refreshOnce makes one refresh attempt, bounded by the interval, at the
// current endpoint. After a failure other than a missing key the next
// attempt goes to the next endpoint: a write the client may have sent is
// not moved on by the client itself, and a refresh is safe to repeat.
func (h *hold) refreshOnce() error {
	ctx, cancel := context.WithTimeout(h.ctx, h.interval())
	defer cancel()
	h.mu.Lock()
	ep := h.ep
	h.mu.Unlock()
	c := h.c
	if ep != "" {
		if one, err := h.c.ForEndpoint(ep); err == nil {
			c = one
		}
	}
	_, err := refreshKey(ctx, c, h.key, h.ttl)
	if err != nil && !client.IsKeyNotFound(err) {
		eps := h.c.Endpoints()
		i := slices.Index(eps, ep) // -1 for "": the client's first choice failed
		if ep == "" {
			i = 0
		}
		h.mu.Lock()
		h.ep = eps[(i+1)%len(eps)]
		h.mu.Unlock()
	}
	return err
}

// watchOwn watches the key and ends the hold when it is deleted or
// expires (or a directory above it is), or is replaced by someone else's
// write.
func (h *hold) watchOwn() {
	defer h.bg.Done()
	after := h.token
	for {
		w := h.c.Watcher(h.key, &client.WatcherOptions{AfterIndex: after})
		after = 0
		for failures := 0; after == 0; {
			ev, err := w.Next(h.ctx)
			if h.ctx.Err() != nil {
				return
			}
			if client.IsEventIndexCleared(err) {
				// The history moved past the watch: read the key again.
				resp, gerr := h.c.Get(h.ctx, h.key, &client.GetOptions{Quorum: true})
				switch {
				case client.IsKeyNotFound(gerr):
					h.end(fmt.Errorf("%w (%s: %v)", ErrLostNotFound, h.key, gerr))
					return
				case gerr == nil && resp.Node.CreatedIndex != h.token:
					h.end(fmt.Errorf("%w (%s was replaced at index %d)", ErrLostDeleted, h.key, resp.Node.CreatedIndex))
					return
				case gerr == nil:
					after = resp.Index
					continue
				}
				err = gerr
			}
			if err != nil {
				failures++
				if pause(h.ctx, failures) != nil {
					return
				}
				continue
			}
			failures = 0
			if lost := lossOf(ev, h.key, h.token); lost != nil {
				h.end(lost)
				return
			}
		}
	}
}

// lossOf reports whether the watch event ev on key (or a directory above
// it) ends a hold of the key created at token.
func lossOf(ev *client.Response, key string, token uint64) error {
	switch ev.Action {
	case "delete", "compareAndDelete":
		return fmt.Errorf("%w (%s at index %d)", ErrLostDeleted, ev.Node.Key, ev.Node.ModifiedIndex)
	case "expire":
		return fmt.Errorf("%w (%s at index %d)", ErrLostExpired, ev.Node.Key, ev.Node.ModifiedIndex)
	}
	if ev.Node.Key == key && ev.Node.CreatedIndex != token {
		return fmt.Errorf("%w (%s was replaced by a %s at index %d)", ErrLostDeleted, key, ev.Action, ev.Node.ModifiedIndex)
	}
	return nil
}

// deleteLike reports whether a watch event's action removes its node.
func deleteLike(action string) bool {
	return action == "delete" || action == "compareAndDelete" || action == "expire"
}

// pause waits after the n-th failure in a row: 50ms doubling to 1s.
func pause(ctx context.Context, n int) error {
	t := time.NewTimer(min(50*time.Millisecond<<min(max(n-1, 0), 5), time.Second))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// queue lists the files of dir in creation order, and the store index the
// listing was read at. A missing directory is an empty queue.
func queue(ctx context.Context, c *client.Client, dir string) ([]*client.Node, uint64, error) {
	resp, err := c.Get(ctx, dir, &client.GetOptions{Sort: true, Quorum: true})
	if err != nil {
		var v2 *client.Error
		if errors.As(err, &v2) && v2.Code == client.ErrorCodeKeyNotFound {
			return nil, v2.Index, nil
		}
		return nil, 0, err
	}
	if !resp.Node.Dir {
		return nil, 0, fmt.Errorf("%w: %s is a file", errNotDir, dir)
	}
	var files []*client.Node
	for _, n := range resp.Node.Nodes {
		if !n.Dir {
			files = append(files, n)
		}
	}
	slices.SortFunc(files, func(a, b *client.Node) int {
		switch {
		case a.CreatedIndex < b.CreatedIndex:
			return -1
		case a.CreatedIndex > b.CreatedIndex:
			return 1
		}
		return strings.Compare(a.Key, b.Key)
	})
	return files, resp.Index, nil
}

// testHookFront, set by tests only, runs when waitTurn has found the key
// lowest, before it checks that the hold still lasts.
var testHookFront func(*hold)

// errWouldWait is waitTurn's answer in try mode when the key is not first.
var errWouldWait = errors.New("would wait")

// waitTurn blocks until the hold's key is the lowest of the directory, the
// hold ends (its cause is returned), or ctx ends. With try it does not
// wait: errWouldWait if the key is not the lowest.
//
// Each round reads the directory (linearizably) and watches the key just
// before this one from the index after that read, so a delete between the
// read and the watch is not missed; the next round starts when that key
// goes (deleted or expired), when the watch falls out of the history (401),
// and at least every TTL in case the watched member is cut off.
func (h *hold) waitTurn(ctx context.Context, try bool) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(h.ctx, func() { cancel(context.Cause(h.ctx)) })
	defer stop()
	failures := 0
	for {
		files, index, err := queue(ctx, h.c, h.dir)
		if ctx.Err() != nil {
			return h.waitErr(ctx)
		}
		if err != nil && permanent(err) {
			return err
		}
		if err != nil {
			failures++
			if pause(ctx, failures) != nil {
				return h.waitErr(ctx)
			}
			continue
		}
		failures = 0
		i := slices.IndexFunc(files, func(n *client.Node) bool { return n.Key == h.key })
		switch {
		case i < 0:
			h.end(fmt.Errorf("%w (%s is not in %s at index %d)", ErrLostNotFound, h.key, h.dir, index))
			return h.err()
		case i == 0:
			if testHookFront != nil {
				testHookFront(h)
			}
			// The hold may have ended since the read (its deadline, a
			// watch of the key): Lock must not return nil with Done
			// closed already.
			if h.ctx.Err() != nil {
				return h.err()
			}
			h.mu.Lock()
			h.held = true
			h.mu.Unlock()
			return nil
		case try:
			return errWouldWait
		}
		if err := h.waitGone(ctx, files[i-1].Key, index); err != nil {
			if ctx.Err() != nil {
				return h.waitErr(ctx)
			}
			// The watch failed (no member answered): read again soon.
			failures++
			if pause(ctx, failures) != nil {
				return h.waitErr(ctx)
			}
		}
	}
}

// permanent reports whether err, from reading a queue, will not go away
// by trying again: an error the keys API answered (other than 300, no
// leader or a timeout), or a directory that is a file.
func permanent(err error) bool {
	var v2 *client.Error
	if errors.As(err, &v2) {
		return v2.Code != client.ErrorCodeRaftInternal
	}
	return errors.Is(err, errNotDir)
}

var errNotDir = errors.New("concurrency: not a directory")

// waitErr is the error of a wait that ctx ended: the hold's loss if that
// was the reason, else ctx's.
func (h *hold) waitErr(ctx context.Context) error {
	if err := h.err(); err != nil {
		return err
	}
	return ctx.Err()
}

// waitGone returns nil when key may be gone and the queue should be read
// again: a delete or expiry of it from index+1 on, a watch fallen out of
// the history (401), or a TTL with no news. Otherwise it returns ctx's
// error, or the watch's.
func (h *hold) waitGone(ctx context.Context, key string, index uint64) error {
	wctx, cancel := context.WithTimeout(ctx, h.ttl)
	defer cancel()
	w := h.c.Watcher(key, &client.WatcherOptions{AfterIndex: index})
	for {
		ev, err := w.Next(wctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case wctx.Err() != nil, client.IsEventIndexCleared(err):
			return nil
		case err != nil:
			return err
		case deleteLike(ev.Action):
			return nil
		}
	}
}

// isHeld reports whether the hold has reached the front and not ended.
func (h *hold) isHeld() bool {
	if h == nil || h.ctx.Err() != nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

// holder is the state Mutex and Election share: the current hold, and
// whether an acquisition is under way.
type holder struct {
	c   *client.Client
	dir string
	ttl time.Duration

	mu        sync.Mutex
	h         *hold // the last hold acquired; nil before the first
	acquiring bool
}

func newHolder(c *client.Client, dir string, ttl time.Duration) holder {
	return holder{c: c, dir: normDir(dir), ttl: normTTL(ttl)}
}

// acquire creates a key with value and waits for its turn (or, with try,
// does not). On failure the key is deleted.
func (hr *holder) acquire(ctx context.Context, value string, find, try bool) error {
	hr.mu.Lock()
	if hr.acquiring || hr.h.isHeld() {
		hr.mu.Unlock()
		return ErrHeld
	}
	hr.acquiring = true
	hr.mu.Unlock()
	defer func() {
		hr.mu.Lock()
		hr.acquiring = false
		hr.mu.Unlock()
	}()
	h, err := create(ctx, hr.c, hr.dir, value, hr.ttl, find)
	if err != nil {
		return err
	}
	if err := h.waitTurn(ctx, try); err != nil {
		// Give the place up; with ctx ended, on a context of its own.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hr.ttl)
		_ = h.release(dctx)
		cancel()
		if err == errWouldWait {
			return ErrLocked
		}
		return err
	}
	hr.mu.Lock()
	hr.h = h
	hr.mu.Unlock()
	return nil
}

func (hr *holder) current() *hold {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	return hr.h
}

// release ends the current hold and deletes its key.
func (hr *holder) release(ctx context.Context) error {
	h := hr.current()
	if h == nil {
		return ErrNotHeld
	}
	h.mu.Lock()
	held := h.held
	h.mu.Unlock()
	if !held {
		return ErrNotHeld
	}
	return h.release(ctx)
}

func (hr *holder) token() uint64 {
	if h := hr.current(); h.isHeld() {
		return h.token
	}
	return 0
}

func (hr *holder) key() string {
	if h := hr.current(); h != nil {
		return h.key
	}
	return ""
}

// closed is the Done channel of a holder that holds nothing.
var closed = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

func (hr *holder) done() <-chan struct{} {
	if h := hr.current(); h != nil {
		return h.ctx.Done()
	}
	return closed
}

func (hr *holder) err() error {
	if h := hr.current(); h != nil {
		return h.err()
	}
	return nil
}

// context derives from parent a context cancelled when the current hold
// ends, with the loss (or ErrNotHeld after a release) as its cause.
func (hr *holder) context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	h := hr.current()
	if h == nil {
		cancel(ErrNotHeld)
		return ctx, func() {}
	}
	stop := context.AfterFunc(h.ctx, func() {
		cause := h.err()
		if cause == nil {
			cause = ErrNotHeld
		}
		cancel(cause)
	})
	return ctx, func() { stop(); cancel(context.Canceled) }
}
