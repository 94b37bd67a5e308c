package kv

import (
	"fmt"
	"path"
	"strings"

	"github.com/google/btree"
)

// history is the ring of the newest events, one per store index.
// invariant: the events are in index order with consecutive indexes.
type history struct {
	ring  []*Event
	start int // position of the oldest event
	n     int // number of events held
}

func newHistory(size int) history { return history{ring: make([]*Event, size)} }

func (h *history) add(ev *Event) {
	if h.n < len(h.ring) {
		h.ring[(h.start+h.n)%len(h.ring)] = ev
		h.n++
		return
	}
	h.ring[h.start] = ev
	h.start = (h.start + 1) % len(h.ring)
}

func (h *history) at(i int) *Event { return h.ring[(h.start+i)%len(h.ring)] }

// events returns the held events, oldest first.
func (h *history) events() []*Event {
	out := make([]*Event, h.n)
	for i := range out {
		out[i] = h.at(i)
	}
	return out
}

// oldest is the smallest index a watch may start from without a 401: the
// index of the oldest event held, or next if none is held.
func (h *history) oldest(next uint64) uint64 {
	if h.n == 0 {
		return next
	}
	return h.at(0).Index
}

// Watcher receives the events matching one watch. Events arrive on Events in
// index order. The channel is closed after the first event of a one-shot
// watcher, after Remove, and when the watcher is dropped; Err then says why.
type Watcher struct {
	store     *Store
	path      string
	recursive bool
	stream    bool
	ch        chan *Event
	// The fields below are guarded by store.mu.
	since    uint64 // the smallest index still of interest
	lastSent uint64 // index of the last event sent
	index    uint64
	closed   bool
	err      *Error
}

// Events is the channel events arrive on.
func (w *Watcher) Events() <-chan *Event { return w.ch }

// Index is the store index when the watch was registered: the X-Etcd-Index
// header of the watch response.
func (w *Watcher) Index() uint64 { return w.index }

// Err returns nil while the watcher is open or after a normal close (one-shot
// delivered, Remove called), and an *Error once the store dropped it: code
// 400 when its buffer overflowed or a snapshot was restored under it. The
// error's Index is the index of the last event delivered (or the watch's
// start index - 1), so a client resumes with waitIndex = Index+1 and loses
// nothing that is still in the history. Call Err after Events is closed.
func (w *Watcher) Err() error {
	w.store.mu.RLock()
	defer w.store.mu.RUnlock()
	if w.err == nil {
		return nil
	}
	return w.err
}

// Remove unregisters the watcher and closes its channel. It is safe to call
// more than once and after the store closed the watcher.
func (w *Watcher) Remove() {
	w.store.mu.Lock()
	defer w.store.mu.Unlock()
	w.store.hub.remove(w, &w.store.stats)
}

// Watch registers a watch on path (cleaned). sinceIndex 0 means from the
// next index; a sinceIndex still in the history is served from it at once
// (a one-shot watcher gets the first match; a streaming one gets every match
// and then the live events). A sinceIndex older than the history gives
// error 401. Matching follows v2: events on the path itself; with recursive,
// events on keys below it unless a component below the watched path is
// hidden; and delete, compareAndDelete or expire of an ancestor directory.
func (s *Store) Watch(p string, recursive, stream bool, sinceIndex uint64) (*Watcher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p = cleanPath(p)
	if sinceIndex == 0 {
		sinceIndex = s.index + 1
	}
	if oldest := s.hist.oldest(s.index + 1); sinceIndex < oldest {
		return nil, NewError(EcodeEventIndexClear,
			fmt.Sprintf("the requested history has been cleared [%v/%v]", oldest, sinceIndex), s.index)
	}
	w := &Watcher{store: s, path: p, recursive: recursive, stream: stream, since: sinceIndex, index: s.index}
	w.lastSent = sinceIndex - 1
	var replay []*Event
	if sinceIndex <= s.index {
		for i := range s.hist.n {
			ev := s.hist.at(i)
			if ev.Index < sinceIndex || !watchMatches(w.path, w.recursive, ev) {
				continue
			}
			replay = append(replay, ev)
			if !stream {
				break
			}
		}
	}
	if !stream && len(replay) > 0 {
		w.ch = make(chan *Event, 1)
		w.ch <- replay[0]
		w.lastSent = replay[0].Index
		close(w.ch)
		w.closed = true
		return w, nil
	}
	w.ch = make(chan *Event, len(replay)+s.opts.WatcherBuffer)
	for _, ev := range replay {
		w.ch <- ev
		w.lastSent = ev.Index
	}
	w.since = max(w.since, s.index+1)
	s.hub.add(w, &s.stats)
	return w, nil
}

// watchMatches is the v2 rule for whether a watch on watchPath sees ev. It
// is used both for live events and for history scans, so a watcher resumed
// from the history sees what a live one would have.
func watchMatches(watchPath string, recursive bool, ev *Event) bool {
	if ev.Refresh || ev.Node == nil {
		return false
	}
	key := ev.Node.Key
	if key == watchPath {
		return true
	}
	if recursive && isUnder(key, watchPath) && !isHidden(watchPath, key) {
		return true
	}
	deleted := ev.Action == ActionDelete || ev.Action == ActionExpire || ev.Action == ActionCompareAndDelete
	return deleted && ev.Node.Dir && isUnder(watchPath, key)
}

// isUnder reports whether p is strictly below directory dir.
func isUnder(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return len(p) > len(dir)+1 && p[len(dir)] == '/' && strings.HasPrefix(p, dir)
}

// isHidden reports whether key, below watchPath, has a hidden component
// (one starting with "_") below watchPath.
func isHidden(watchPath, key string) bool {
	if len(watchPath) > len(key) {
		return false
	}
	return strings.Contains(path.Clean("/"+key[len(watchPath):]), "/_")
}

// hub holds the registered watchers by watched path; ordered so that the
// watchers below a deleted directory are one range. Its methods run under
// the store's write lock (Apply, Watch, Remove, Restore hold it), which is
// what lets them share pivot and hit.
type hub struct {
	watchers *btree.BTreeG[*watchList]
	// pivot is get's search key, one for all lookups so that they do not
	// allocate: notify looks up every level of every written path while
	// the server's own watchers are registered, that is always.
	pivot watchList
	// hit is notify's list of the watchers an event goes to, kept for its
	// capacity. invariant: empty (and cleared) between calls.
	hit []*Watcher
}

type watchList struct {
	path string
	ws   []*Watcher
}

func newHub() hub {
	return hub{watchers: btree.NewG(8, func(a, b *watchList) bool { return a.path < b.path })}
}

// get returns the watchers of path p.
func (h *hub) get(p string) (*watchList, bool) {
	h.pivot.path = p
	l, ok := h.watchers.Get(&h.pivot)
	h.pivot.path = "" // not to keep p alive
	return l, ok
}

func (h *hub) add(w *Watcher, c *counters) {
	l, ok := h.get(w.path)
	if !ok {
		l = &watchList{path: w.path}
		h.watchers.ReplaceOrInsert(l)
	}
	l.ws = append(l.ws, w)
	c.watchers.Add(1)
}

// remove unregisters w (if registered) and closes its channel (if open).
func (h *hub) remove(w *Watcher, c *counters) {
	if w.closed {
		return
	}
	w.closed = true
	close(w.ch)
	l, ok := h.get(w.path)
	if !ok {
		return
	}
	for i, x := range l.ws {
		if x == w {
			l.ws = append(l.ws[:i:i], l.ws[i+1:]...)
			c.watchers.Add(-1)
			break
		}
	}
	if len(l.ws) == 0 {
		h.watchers.Delete(l)
	}
}

// notify delivers ev to every matching watcher without blocking: a watcher
// whose buffer is full is dropped with an overflow error. An event that
// goes to no watcher and deletes no directory costs it no allocation.
func (h *hub) notify(ev *Event, c *counters) {
	if h.watchers.Len() == 0 {
		return
	}
	key := ev.Node.Key
	h.collect(ev, "/")
	for i := 1; i < len(key); i++ {
		if key[i] == '/' {
			h.collect(ev, key[:i])
		}
	}
	if key != "/" {
		h.collect(ev, key)
	}
	deleted := ev.Action == ActionDelete || ev.Action == ActionExpire || ev.Action == ActionCompareAndDelete
	if deleted && ev.Node.Dir {
		below := key + "/"
		h.watchers.AscendGreaterOrEqual(&watchList{path: below}, func(l *watchList) bool {
			if !strings.HasPrefix(l.path, below) {
				return false
			}
			h.collectList(ev, l)
			return true
		})
	}
	for _, w := range h.hit {
		if w.closed || w.lastSent >= ev.Index {
			continue
		}
		select {
		case w.ch <- ev:
			w.lastSent = ev.Index
			if !w.stream {
				h.remove(w, c)
			}
		default:
			w.err = &Error{
				Code:    EcodeWatcherCleared,
				Message: "Watcher cleared: event buffer overflowed",
				Cause:   fmt.Sprintf("events after index %d were not delivered; resume with waitIndex=%d", w.lastSent, w.lastSent+1),
				Index:   w.lastSent,
			}
			h.remove(w, c)
		}
	}
	clear(h.hit)
	h.hit = h.hit[:0]
}

// collect adds to h.hit the watchers of path p that ev matches.
func (h *hub) collect(ev *Event, p string) {
	if l, ok := h.get(p); ok {
		h.collectList(ev, l)
	}
}

func (h *hub) collectList(ev *Event, l *watchList) {
	for _, w := range l.ws {
		if ev.Index >= w.since && watchMatches(w.path, w.recursive, ev) {
			h.hit = append(h.hit, w)
		}
	}
}

// closeAll drops every watcher with err (a snapshot restore).
func (h *hub) closeAll(c *counters, cause string) {
	var all []*Watcher
	h.watchers.Ascend(func(l *watchList) bool {
		all = append(all, l.ws...)
		return true
	})
	for _, w := range all {
		w.err = &Error{
			Code:    EcodeWatcherCleared,
			Message: errorMessages[EcodeWatcherCleared],
			Cause:   fmt.Sprintf("%s; resume with waitIndex=%d", cause, w.lastSent+1),
			Index:   w.lastSent,
		}
		h.remove(w, c)
	}
}
