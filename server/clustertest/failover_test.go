package clustertest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testcluster"
)

// writer is one client of a load: it writes the sequence numbers 1, 2, 3,
// ... to its own key, one write at a time, moving to the next member when
// one does not answer.
type writer struct {
	key string
	// lastAcked is the highest sequence number acknowledged (200/201);
	// lastSent the highest sent. A later read of key must show a number in
	// [lastAcked, lastSent]: acknowledged writes are never lost, and
	// nothing unsent appears.
	lastAcked, lastSent int
	// ackedAfter counts acknowledged writes sent after the kill; firstAfter
	// is when the first of them was acknowledged.
	ackedAfter int
	firstAfter time.Time
	// failures lists answers that were neither an ack nor error 300 nor
	// a connection error: none is expected.
	failures []string
}

// load runs writers against the cluster's members until stop is closed.
type load struct {
	c       *testcluster.Cluster
	hc      *http.Client
	writers []*writer
	acked   atomic.Int64
	// killedAt is set (UnixNano) when the leader is killed.
	killedAt atomic.Int64
	mu       sync.Mutex
	// progress is closed and replaced on every acknowledged write, so the
	// test can wait on the load instead of sleeping.
	progress chan struct{}
	wg       sync.WaitGroup
}

func startLoad(c *testcluster.Cluster, writers int, stop <-chan struct{}) *load {
	l := &load{c: c, hc: newHTTPClient(3 * time.Second), progress: make(chan struct{})}
	for i := range writers {
		w := &writer{key: fmt.Sprintf("/load/w%d", i)}
		l.writers = append(l.writers, w)
		l.wg.Add(1)
		go l.run(i, w, stop)
	}
	return l
}

func (l *load) run(i int, w *writer, stop <-chan struct{}) {
	defer l.wg.Done()
	urls := l.c.ClientURLs()
	target := i % len(urls)
	for {
		select {
		case <-stop:
			return
		default:
		}
		seq := w.lastSent + 1
		sentAt := time.Now()
		r, err := keys(context.Background(), l.hc, http.MethodPut, urls[target], w.key, vals("value", strconv.Itoa(seq)))
		l.mu.Lock()
		w.lastSent = seq
		switch {
		case err != nil:
			// The member is down (or hung): its outcome is unknown. Try
			// the next member.
			target = (target + 1) % len(urls)
		case r.Status == http.StatusOK || r.Status == http.StatusCreated:
			if r.Node.Val() != strconv.Itoa(seq) {
				w.failures = append(w.failures, fmt.Sprintf("PUT %s=%d acknowledged with %v", w.key, seq, r))
			}
			w.lastAcked = seq
			if k := l.killedAt.Load(); k != 0 && sentAt.UnixNano() > k {
				if w.ackedAfter == 0 {
					w.firstAfter = time.Now()
				}
				w.ackedAfter++
			}
			l.acked.Add(1)
			close(l.progress)
			l.progress = make(chan struct{})
		case r.ErrorCode == 300:
			// Outcome unknown (leader lost mid-request): allowed.
			target = (target + 1) % len(urls)
		default:
			w.failures = append(w.failures, fmt.Sprintf("PUT %s=%d to %s: %v", w.key, seq, urls[target], r))
		}
		l.mu.Unlock()
	}
}

// waitFor waits until cond (called with l.mu held) holds, or timeout.
func (l *load) waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		ok, ch := cond(), l.progress
		l.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

// TestLeaderKilledUnderLoad kills the leader with SIGKILL while several
// clients write, and checks that a new leader serves within a few election
// timeouts and that no acknowledged write was lost: every writer's key
// reads, on every surviving member and on the old leader once restarted,
// a value at least as new as the last one acknowledged.
func TestLeaderKilledUnderLoad(t *testing.T) {
	c, hc := newCluster(t, 3)
	leader := waitLeader(t, c, 10*time.Second)
	stop := make(chan struct{})
	l := startLoad(c, 6, stop)
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			l.wg.Wait()
		}
	}
	defer stopLoad()

	// Mid-load: every writer has had some writes acknowledged.
	if !l.waitFor(10*time.Second, func() bool {
		for _, w := range l.writers {
			if w.lastAcked < 10 {
				return false
			}
		}
		return true
	}) {
		t.Fatal("the load made no progress before the kill")
	}
	killedAt := time.Now()
	l.killedAt.Store(killedAt.UnixNano())
	c.Kill(leader)
	t.Logf("killed leader %s after %d acknowledged writes", c.Members[leader].Name, l.acked.Load())

	// A new leader serves: every writer gets writes sent after the kill
	// acknowledged. Electing one takes an election timeout (randomised in
	// [1, 2) timeouts) plus a round; allow a few.
	const serveWithin = 6 * election
	served := l.waitFor(serveWithin, func() bool {
		for _, w := range l.writers {
			if w.ackedAfter == 0 {
				return false
			}
		}
		return true
	})
	if !served {
		t.Fatalf("not every writer had a write acknowledged within %v of killing the leader", serveWithin)
	}
	l.mu.Lock()
	first := time.Time{}
	for _, w := range l.writers {
		if first.IsZero() || w.firstAfter.Before(first) {
			first = w.firstAfter
		}
	}
	l.mu.Unlock()
	t.Logf("first write acknowledged %v after the kill", first.Sub(killedAt).Round(time.Millisecond))
	newLeader := waitLeader(t, c, serveWithin, leader)
	if newLeader == leader {
		t.Fatalf("the killed member %d is the leader", leader)
	}
	// Keep loading the new leader a little, then stop.
	l.waitFor(10*time.Second, func() bool {
		for _, w := range l.writers {
			if w.ackedAfter < 10 {
				return false
			}
		}
		return true
	})
	stopLoad()

	for _, w := range l.writers {
		for _, f := range w.failures {
			t.Errorf("unexpected answer: %s", f)
		}
	}
	check := func(base string, read func(key string) (*v2Resp, error)) {
		t.Helper()
		for _, w := range l.writers {
			r, err := read(w.key)
			if err != nil {
				t.Fatalf("%s: GET %s: %v", base, w.key, err)
			}
			got, err := strconv.Atoi(r.Node.Val())
			if r.Status != http.StatusOK || err != nil {
				t.Errorf("%s: GET %s: %v", base, w.key, r)
				continue
			}
			if got < w.lastAcked || got > w.lastSent {
				t.Errorf("%s: %s = %d, want a value in [%d, %d]: an acknowledged write was lost (or an unsent one appeared)",
					base, w.key, got, w.lastAcked, w.lastSent)
			}
		}
	}
	final := map[string]string{}
	for i, m := range c.Members {
		if i == leader {
			continue
		}
		check(m.ClientURL, func(key string) (*v2Resp, error) {
			r, err := keys(t.Context(), hc, http.MethodGet, m.ClientURL, key, nil)
			if err == nil && r.Node != nil {
				final[key] = r.Node.Val()
			}
			return r, err
		})
	}
	if t.Failed() {
		return
	}
	// The killed leader comes back from its data dir and converges on the
	// same values.
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	for _, w := range l.writers {
		waitLocalValue(t, hc, c.Members[leader].ClientURL, w.key, final[w.key], 10*time.Second)
	}
}
