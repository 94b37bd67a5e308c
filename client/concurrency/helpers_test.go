package concurrency_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/client/clienttest"
)

// newServer starts a one-member raftkv for one test.
func newServer(t *testing.T) *clienttest.Server {
	t.Helper()
	srv := clienttest.NewServer()
	t.Cleanup(srv.Close)
	return srv
}

// newServerHistory is newServer with an event history of n events.
func newServerHistory(t *testing.T, n int) *clienttest.Server {
	t.Helper()
	srv := clienttest.NewServerHistory(n)
	t.Cleanup(srv.Close)
	return srv
}

// newClient is a client of srv, through tr if it is not nil.
func newClient(t *testing.T, srv *clienttest.Server, tr http.RoundTripper) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: []string{srv.URL}, Transport: tr, HeaderTimeoutPerRequest: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testContext is a context that ends with the test, or after a minute.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// awaitFiles waits, by watching dir, until dir holds at least n files, and
// returns them in key order.
func awaitFiles(ctx context.Context, t *testing.T, c *client.Client, dir string, n int) []*client.Node {
	t.Helper()
	for {
		var files []*client.Node
		var index uint64
		resp, err := c.Get(ctx, dir, &client.GetOptions{Sort: true, Quorum: true})
		var v2 *client.Error
		switch {
		case err == nil:
			index = resp.Index
			for _, f := range resp.Node.Nodes {
				if !f.Dir {
					files = append(files, f)
				}
			}
		case errors.As(err, &v2) && v2.Code == client.ErrorCodeKeyNotFound:
			index = v2.Index
		default:
			t.Fatalf("get %s: %v", dir, err)
		}
		if len(files) >= n {
			return files
		}
		w := c.Watcher(dir, &client.WatcherOptions{Recursive: true, AfterIndex: index})
		if _, err := w.Next(ctx); err != nil {
			t.Fatalf("waiting for %d files in %s (have %d): %v", n, dir, len(files), err)
		}
	}
}

// closedWithin reports whether ch is closed within d (a bound for a
// failure report, not a synchronisation).
func closedWithin(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// netCtl is a transport between one client and the cluster that a test can
// cut (every request then hangs until its context ends, as across a
// partition, and open watches break) and whose watch connections it can
// break.
type netCtl struct {
	next http.RoundTripper

	mu      sync.Mutex
	cut     bool
	watches map[*watchBody]bool
	changed chan struct{} // closed and replaced when watches changes
	cleared int           // watches answered 400 (error 401)
}

func newNetCtl() *netCtl {
	return &netCtl{next: http.DefaultTransport.(*http.Transport).Clone(), watches: map[*watchBody]bool{}, changed: make(chan struct{})}
}

// notify wakes AwaitWatches; n.mu is held.
func (n *netCtl) notify() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// AwaitWatches waits until at least k watch connections are open.
func (n *netCtl) AwaitWatches(ctx context.Context, k int) error {
	for {
		n.mu.Lock()
		have, ch := len(n.watches), n.changed
		n.mu.Unlock()
		if have >= k {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func (n *netCtl) RoundTrip(req *http.Request) (*http.Response, error) {
	n.mu.Lock()
	cut := n.cut
	n.mu.Unlock()
	if cut {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	resp, err := n.next.RoundTrip(req)
	if err != nil || req.URL.Query().Get("wait") != "true" {
		return resp, err
	}
	wb := &watchBody{ReadCloser: resp.Body, n: n}
	n.mu.Lock()
	if resp.StatusCode == http.StatusBadRequest {
		n.cleared++
	}
	n.watches[wb] = true
	n.notify()
	n.mu.Unlock()
	resp.Body = wb
	return resp, nil
}

// Cut makes every request hang, and breaks the open watches.
func (n *netCtl) Cut() {
	n.mu.Lock()
	n.cut = true
	n.mu.Unlock()
	n.BreakWatches()
}

// Cleared is the number of watches answered with a 400 (error 401).
func (n *netCtl) Cleared() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cleared
}

// BreakWatches closes every open watch connection.
func (n *netCtl) BreakWatches() {
	n.mu.Lock()
	ws := make([]*watchBody, 0, len(n.watches))
	for w := range n.watches {
		ws = append(ws, w)
	}
	n.mu.Unlock()
	for _, w := range ws {
		w.Close()
	}
}

type watchBody struct {
	io.ReadCloser
	n    *netCtl
	once sync.Once
}

func (w *watchBody) Close() error {
	w.once.Do(func() {
		w.n.mu.Lock()
		delete(w.n.watches, w)
		w.n.notify()
		w.n.mu.Unlock()
	})
	return w.ReadCloser.Close()
}
