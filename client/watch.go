package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// WatcherOptions are the options of Watcher. The zero value watches one key
// for the changes made after the first call to Next.
type WatcherOptions struct {
	// AfterIndex makes the watcher start with the first event after this
	// store index (waitIndex = AfterIndex+1), from the server's history of
	// the last 1000 events. Zero means: from the moment Next registers (as
	// in etcd's client, so the event at index 1 cannot be asked for; a
	// raftkv cluster's first user write comes later, after the members
	// publish themselves).
	AfterIndex uint64
	// Recursive also reports changes of the keys below a directory.
	Recursive bool
	// Stream keeps one connection open for many events (stream=true)
	// instead of a long poll per event. Call Close when done.
	Stream bool
}

// Watcher reports the changes of a key (or a directory tree) in index order.
// It remembers where it is: after each event it asks for the events after
// that event's index, and if a connection breaks it asks the next endpoint
// for the same, so no event is lost or repeated across member failures and
// leader changes while the events are still in the server's history.
//
// A Watcher is not safe for concurrent use. Next may be called again after
// it returned an error; it resumes from the same place.
type Watcher struct {
	c         *Client
	key       string
	recursive bool
	stream    bool
	// next is the waitIndex of the next request, 0 while nothing is known.
	// invariant: every event before next has been returned by Next.
	next uint64
	st   *watchStream
}

// Watcher returns a watcher of key. It makes no request until Next.
func (c *Client) Watcher(key string, opts *WatcherOptions) *Watcher {
	if opts == nil {
		opts = &WatcherOptions{}
	}
	w := &Watcher{c: c, key: key, recursive: opts.Recursive, stream: opts.Stream}
	if opts.AfterIndex > 0 {
		w.next = opts.AfterIndex + 1
	}
	return w
}

// NextIndex is the index the watcher asks for next: the index after the
// last event returned, or after the store index at registration; 0 before
// the first Next without AfterIndex. Saving it lets a later watcher resume
// with AfterIndex = NextIndex()-1.
func (w *Watcher) NextIndex() uint64 { return w.next }

// maxWatchRetries bounds the connections a Next call may see break before
// it gives up: enough to go round a cluster twice.
func (w *Watcher) maxWatchRetries() int { return 2*len(w.c.Endpoints()) + 1 }

// Next waits for the next event and returns it. Errors: the context's
// error; *Error for an answer such as 401 (IsEventIndexCleared: the events
// wanted are no longer in the history); *ClusterError when no member could
// be reached. A broken connection or an empty answer is not an error: Next
// tries again, from the next endpoint for a broken one.
func (w *Watcher) Next(ctx context.Context) (*Response, error) {
	if w.stream {
		return w.nextStream(ctx)
	}
	var lastErr error
	failures := 0
	for {
		if err := w.beforeRetry(ctx, failures, lastErr); err != nil {
			return nil, err
		}
		start := time.Now()
		rep, err := w.open(ctx, false)
		if err != nil {
			return nil, err
		}
		ev, err := readEvent(json.NewDecoder(rep.stream), rep)
		rep.stream.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err == nil {
			w.next = ev.Node.ModifiedIndex + 1
			return ev, nil
		}
		// io.EOF is a 200 with an empty body: the server ended the poll.
		var fatal error
		if lastErr, fatal = w.connectionEnded(rep.endpoint, err, "watch ended without an event"); fatal != nil {
			return nil, fatal
		}
		failures = quickFailure(failures, start)
	}
}

// beforeRetry runs before each connection of a Next call that has seen
// failures connections break in a row: it pauses (retryPause), and gives
// up with lastErr after maxWatchRetries.
func (w *Watcher) beforeRetry(ctx context.Context, failures int, lastErr error) error {
	if err := retryPause(ctx, failures); err != nil {
		return err
	}
	if failures > w.maxWatchRetries() {
		return lastErr
	}
	return nil
}

// connectionEnded sorts the error that ended a watch connection to ep. An
// error the server wrote in place of an event ends Next: it is returned as
// fatal. Anything else is retried and returned as retry: a clean end
// (io.EOF, described by ended) at the same endpoint, a broken connection
// at the next one.
func (w *Watcher) connectionEnded(ep string, err error, ended string) (retry, fatal error) {
	var we watchError
	switch {
	case errors.As(err, &we):
		return nil, we.err
	case errors.Is(err, io.EOF):
		err = errors.New(ended)
	default:
		w.c.unpin(ep)
	}
	return &EndpointError{Endpoint: ep, Err: err, Sent: true}, nil
}

// quickFailure counts a failed watch connection: one that lasted a while
// was working, so it starts the count afresh.
func quickFailure(failures int, start time.Time) int {
	if time.Since(start) > time.Second {
		return 1
	}
	return failures + 1
}

// retryPause waits a little after the n-th failure in a row: not after the
// first (the next endpoint is likely fine), then doubling from 50ms to 1s.
func retryPause(ctx context.Context, n int) error {
	if n <= 1 {
		return ctx.Err()
	}
	d := min(50*time.Millisecond<<min(n-2, 5), time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// open registers the watch on the first endpoint that answers, and learns
// the registration index if the watcher had none.
func (w *Watcher) open(ctx context.Context, stream bool) (*reply, error) {
	q := url.Values{"wait": {"true"}}
	if w.recursive {
		q.Set("recursive", "true")
	}
	if stream {
		q.Set("stream", "true")
	}
	if w.next > 0 {
		q.Set("waitIndex", strconv.FormatUint(w.next, 10))
	}
	rep, err := w.c.send(ctx, &request{method: http.MethodGet, path: keyPath(w.key), query: q, watch: true, retry5xx: true})
	if err != nil {
		return nil, err
	}
	if rep.status != http.StatusOK {
		err := decodeError(rep)
		rep.stream.Close()
		return nil, err
	}
	if w.next == 0 {
		// Registered "from now": resume after the index it registered at.
		if idx, err := strconv.ParseUint(rep.header.Get("X-Etcd-Index"), 10, 64); err == nil {
			w.next = idx + 1
		}
	}
	return rep, nil
}

// watchError is an error the server wrote in place of an event.
type watchError struct{ err *Error }

func (e watchError) Error() string { return e.err.Error() }
func (e watchError) Unwrap() error { return e.err }

// readEvent decodes one event (or an error body) from a watch response.
// io.EOF means the body ended cleanly with no event.
func readEvent(dec *json.Decoder, rep *reply) (*Response, error) {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("watch stream broken: %w", err)
		}
		return nil, err
	}
	var probe struct {
		Code *int `json:"errorCode"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("bad watch event: %w", err)
	}
	if probe.Code != nil {
		e := &Error{}
		if err := json.Unmarshal(raw, e); err != nil {
			return nil, fmt.Errorf("bad watch error: %w", err)
		}
		if e.Code == ErrorCodeWatcherCleared {
			// The server dropped the watcher (a slow reader, a snapshot
			// restore): resume like after a broken connection.
			return nil, fmt.Errorf("server dropped the watcher: %w", e)
		}
		return nil, watchError{e}
	}
	ev := &Response{}
	if err := json.Unmarshal(raw, ev); err != nil {
		return nil, fmt.Errorf("bad watch event: %w", err)
	}
	if ev.Node == nil {
		return nil, fmt.Errorf("watch event without a node: %s", raw)
	}
	fillHeaders(ev, rep)
	return ev, nil
}

// watchStream is an open stream=true watch and the goroutine reading it.
type watchStream struct {
	rep    *reply
	events chan streamItem
	done   chan struct{} // closed by close: the reader stops sending
	exited chan struct{} // closed when the reader has returned
}

type streamItem struct {
	ev  *Response
	err error
}

func (w *Watcher) startStream(ctx context.Context) error {
	// The stream outlives this Next call: it is bound to ctx only while it
	// opens, and afterwards ends with Close or a broken connection.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	rep, err := w.open(sctx, true)
	if !stop() {
		if err == nil {
			rep.stream.Close()
		}
		cancel()
		return ctx.Err()
	}
	if err != nil {
		cancel()
		return err
	}
	st := &watchStream{rep: rep, events: make(chan streamItem), done: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(st.exited)
		defer cancel()
		dec := json.NewDecoder(rep.stream)
		for {
			ev, err := readEvent(dec, rep)
			select {
			case st.events <- streamItem{ev, err}:
			case <-st.done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	w.st = st
	return nil
}

func (st *watchStream) close() {
	close(st.done)
	st.rep.stream.Close()
	<-st.exited
}

func (w *Watcher) nextStream(ctx context.Context) (*Response, error) {
	var lastErr error
	failures := 0
	var start time.Time
	for {
		if w.st == nil {
			if err := w.beforeRetry(ctx, failures, lastErr); err != nil {
				return nil, err
			}
			start = time.Now()
			if err := w.startStream(ctx); err != nil {
				return nil, err
			}
		}
		var it streamItem
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case it = <-w.st.events:
		}
		if it.err == nil {
			if it.ev.Node.ModifiedIndex < w.next {
				continue // already returned before a resume
			}
			w.next = it.ev.Node.ModifiedIndex + 1
			return it.ev, nil
		}
		ep := w.st.rep.endpoint
		w.st.close()
		w.st = nil
		var fatal error
		if lastErr, fatal = w.connectionEnded(ep, it.err, "watch stream ended"); fatal != nil {
			return nil, fatal
		}
		failures = quickFailure(failures, start)
	}
}

// Close ends a streaming watcher's connection. It is a no-op for a polling
// watcher, and safe to call more than once.
func (w *Watcher) Close() error {
	if w.st != nil {
		w.st.close()
		w.st = nil
	}
	return nil
}
