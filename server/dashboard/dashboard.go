package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

// Files is the page's static files (index.html at the root).
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return sub
}

// Feed computes snapshots every Interval while anyone subscribes and hands
// the newest, encoded as JSON, to every subscriber.
type Feed struct {
	// Snapshot builds one update; it may take up to its context's
	// deadline (Interval). Its result is encoded with encoding/json.
	snapshot func(ctx context.Context) any
	interval time.Duration

	mu sync.Mutex
	// subs are the open subscriptions; invariant: the loop runs iff
	// len(subs) > 0 (stop is non-nil exactly then).
	subs   map[*Sub]struct{}
	stop   chan struct{}
	latest []byte
	// loops counts loop starts (tests check that pages share one).
	loops int
}

// NewFeed returns a feed that calls snapshot every interval while it has
// subscribers.
func NewFeed(interval time.Duration, snapshot func(ctx context.Context) any) *Feed {
	return &Feed{snapshot: snapshot, interval: interval, subs: map[*Sub]struct{}{}}
}

// Sub is one subscription: C delivers the newest update (capacity 1;
// older unread updates are replaced).
type Sub struct {
	C chan []byte
	f *Feed
}

// Subscribe adds a subscriber, starting the loop if it is the first. The
// latest update, if any, is delivered at once.
func (f *Feed) Subscribe() *Sub {
	s := &Sub{C: make(chan []byte, 1), f: f}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs[s] = struct{}{}
	if f.latest != nil {
		s.C <- f.latest
	}
	if f.stop == nil {
		f.stop = make(chan struct{})
		f.loops++
		go f.run(f.stop)
	}
	return s
}

// Close ends the subscription, stopping the loop if it was the last.
func (s *Sub) Close() {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[s]; !ok {
		return
	}
	delete(f.subs, s)
	if len(f.subs) == 0 && f.stop != nil {
		close(f.stop)
		f.stop = nil
		f.latest = nil // stale by the time anyone comes back
	}
}

// Stats reports the number of subscribers and how many times the loop has
// been started.
func (f *Feed) Stats() (subscribers, loops int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs), f.loops
}

func (f *Feed) run(stop chan struct{}) {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		f.tick(stop)
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func (f *Feed) tick(stop chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), f.interval)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	b, err := json.Marshal(f.snapshot(ctx))
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-stop:
		return // the last subscriber left meanwhile
	default:
	}
	f.latest = b
	for s := range f.subs {
		select {
		case <-s.C: // drop the unread older update
		default:
		}
		s.C <- b
	}
}

// ServeEvents is the Server-Sent Events stream: one "data:" event per
// update until the client goes away or done is closed.
func (f *Feed) ServeEvents(w http.ResponseWriter, r *http.Request, done <-chan struct{}) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// retry: how soon the browser reconnects after the stream ends.
	fmt.Fprint(w, "retry: 1000\n\n")
	_ = rc.Flush()
	s := f.Subscribe()
	defer s.Close()
	for {
		select {
		case b := <-s.C:
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-done:
			return
		}
	}
}
