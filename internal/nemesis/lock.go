package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/client/concurrency"
)

// The lock workload: clients take one concurrency.Mutex and, holding it,
// write to a fenced register, a resource outside the cluster that keeps a
// concurrency.Fence and rejects a write whose token is below one it has
// admitted. Some holds are paused past the lock's TTL: the holder checks
// that it holds the lock, then freezes (its requests, the lock's
// refreshes included, wait at a gate in its transport, and its own work
// sleeps), as a process stopped by a GC pause or SIGSTOP would, and then
// writes with its old token. Meanwhile the nemesis partitions, kills and
// pauses the members.

// lockTTL is the lock's TTL: whole seconds (v2), long enough for a
// refresh to get through a leader election.
const lockTTL = 3 * time.Second

// lockDir is the lock's directory, outside the KV workload's keys.
const lockDir = "/nemesis-lock"

// fencedWrite is one write attempt on the register, in the order the
// register took them.
type fencedWrite struct {
	client int
	token  uint64
	// believed: the writer held the lock as far as it knew when it
	// decided to write (Done open). For a write that was not paused this
	// is evaluated atomically with the write.
	believed bool
	// paused: the writer froze past the TTL between deciding and writing.
	paused bool
	// partitioned: a partition fault was in force.
	partitioned bool
	accepted    bool
}

// fencedRegister is the protected resource.
type fencedRegister struct {
	mu     sync.Mutex
	fence  concurrency.Fence
	writes []fencedWrite
	// admit is the fence's decision; tests replace it with a broken one.
	admit func(f *concurrency.Fence, token uint64) bool
}

func newFencedRegister() *fencedRegister {
	return &fencedRegister{admit: (*concurrency.Fence).Admit}
}

// write takes one write; believed is asked under the register's lock, so
// that "the writer still held the lock" and "the write happened" are one
// moment.
func (r *fencedRegister) write(w fencedWrite, believed func() bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if believed != nil {
		w.believed = believed()
	}
	w.accepted = r.admit(&r.fence, w.token)
	r.writes = append(r.writes, w)
	return w.accepted
}

// acquisition is one successful Lock.
type acquisition struct {
	client int
	token  uint64
	key    string
}

// LockStats is what the lock workload did and what its checker found.
type LockStats struct {
	Clients      int
	Acquisitions int
	// LockErrors counts Lock calls that failed (timed out in a partition,
	// lost while waiting).
	LockErrors int
	// Losses counts holds that ended with an error matching ErrLost
	// before Unlock.
	Losses             int
	Writes             int
	Accepted, Rejected int
	// PausedHolds counts holders frozen past the TTL; StaleRejected how
	// many of their writes the fence refused (a later holder had
	// written), StaleAccepted how many it took (nobody had taken the lock
	// meanwhile).
	PausedHolds                  int
	StaleRejected, StaleAccepted int
	// PartitionedWrites were made while a partition was in force.
	PartitionedWrites int
	// Violations lists what the checker found; empty is safe.
	Violations []string
}

// add adds o's counters to s; Clients and Violations are the caller's.
func (s *LockStats) add(o *LockStats) {
	s.Acquisitions += o.Acquisitions
	s.LockErrors += o.LockErrors
	s.Losses += o.Losses
	s.Writes += o.Writes
	s.Accepted += o.Accepted
	s.Rejected += o.Rejected
	s.PausedHolds += o.PausedHolds
	s.StaleRejected += o.StaleRejected
	s.StaleAccepted += o.StaleAccepted
	s.PartitionedWrites += o.PartitionedWrites
}

// checkLocks checks the register's writes and the acquisitions:
//
//   - the accepted writes' tokens never go down: no two holders' writes
//     interleave;
//   - a write whose token is below one admitted before it was rejected,
//     and one at or above every admitted token was accepted;
//   - no two acquisitions share a token;
//   - a writer that was not paused and still held the lock at the moment
//     of its write (its Done open) was not rejected: rejection would mean
//     that another client took the lock and wrote while it held it.
func checkLocks(writes []fencedWrite, acqs []acquisition) []string {
	var out []string
	add := func(format string, args ...any) {
		if len(out) < 20 {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	var maxTok uint64
	var lastAccepted *fencedWrite
	for i := range writes {
		w := &writes[i]
		switch {
		case w.accepted && w.token < maxTok:
			add("write %d of client %d with token %d accepted after token %d: a stale holder acted", i, w.client, w.token, maxTok)
		case !w.accepted && w.token >= maxTok && w.token != 0:
			add("write %d of client %d with token %d rejected though no higher token (max %d) was admitted", i, w.client, w.token, maxTok)
		}
		if w.accepted {
			if lastAccepted != nil && lastAccepted.token > w.token {
				add("writes interleave: client %d (token %d) wrote after client %d (token %d)", w.client, w.token, lastAccepted.client, lastAccepted.token)
			}
			lastAccepted = w
			maxTok = max(maxTok, w.token)
		}
		if !w.accepted && w.believed && !w.paused {
			add("client %d held the lock (token %d, not paused) but a later holder had already written (token %d): the lock was not exclusive", w.client, w.token, maxTok)
		}
	}
	seen := map[uint64]acquisition{}
	for _, a := range acqs {
		if b, dup := seen[a.token]; dup {
			add("token %d given to two acquisitions: client %d (%s) and client %d (%s)", a.token, b.client, b.key, a.client, a.key)
		}
		seen[a.token] = a
	}
	return out
}

// gate holds a client's requests while it is frozen.
type gate struct {
	mu     sync.Mutex
	closed chan struct{} // nil when open; closed (the channel) when reopened
}

func (g *gate) freeze() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed == nil {
		g.closed = make(chan struct{})
	}
}

func (g *gate) thaw() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != nil {
		close(g.closed)
		g.closed = nil
	}
}

func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	c := g.closed
	g.mu.Unlock()
	if c == nil {
		return nil
	}
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gatedTransport sends a request only while its gate is open.
type gatedTransport struct {
	g    *gate
	next http.RoundTripper
}

func (t gatedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.g.wait(req.Context()); err != nil {
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// lockClient is one client of the lock workload.
type lockClient struct {
	id  int
	c   *client.Client
	g   *gate
	rng *rand.Rand
	reg *fencedRegister
	// partitioned reports whether a partition is in force.
	partitioned func() bool

	mu    sync.Mutex
	stats LockStats
	acqs  []acquisition
}

func (l *lockClient) run(ctx context.Context) {
	m := concurrency.NewMutex(l.c, lockDir, lockTTL)
	for ctx.Err() == nil {
		lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := m.Lock(lctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				l.count(func(s *LockStats) { s.LockErrors++ })
			}
			// Every member down, say: pace the retries.
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(100+l.rng.IntN(200)) * time.Millisecond):
			}
			continue
		}
		token := m.Token()
		if token == 0 {
			// Lost already, between Lock's return and Token.
			l.count(func(s *LockStats) { s.Losses++ })
			continue
		}
		l.mu.Lock()
		l.stats.Acquisitions++
		l.acqs = append(l.acqs, acquisition{client: l.id, token: token, key: m.Key()})
		l.mu.Unlock()
		pauseAt := -1
		writes := 1 + l.rng.IntN(3)
		if l.rng.IntN(4) == 0 {
			pauseAt = l.rng.IntN(writes)
		}
		for j := range writes {
			w := fencedWrite{client: l.id, token: token, partitioned: l.partitioned()}
			var believed func() bool
			if j == pauseAt {
				// Checks that it holds the lock, then freezes past the TTL
				// (requests and refreshes held at the gate), then writes.
				w.believed, w.paused = isOpen(m.Done()), true
				freeze := lockTTL + time.Duration(1000+l.rng.IntN(2000))*time.Millisecond
				l.g.freeze()
				select {
				case <-time.After(freeze):
					// The freeze itself: the holder is meant to be stuck.
				case <-ctx.Done():
				}
				l.g.thaw()
			} else {
				believed = func() bool { return isOpen(m.Done()) }
			}
			ok := l.reg.write(w, believed)
			l.count(func(s *LockStats) {
				s.Writes++
				if ok {
					s.Accepted++
				} else {
					s.Rejected++
				}
				if w.partitioned {
					s.PartitionedWrites++
				}
				if w.paused {
					s.PausedHolds++
					if ok {
						s.StaleAccepted++
					} else {
						s.StaleRejected++
					}
				}
			})
			if !ok {
				break // the resource told it the lock is gone
			}
			select {
			case <-time.After(time.Duration(20+l.rng.IntN(80)) * time.Millisecond):
				// Work done under the lock between writes.
			case <-ctx.Done():
			}
		}
		if errors.Is(m.Err(), concurrency.ErrLost) {
			l.count(func(s *LockStats) { s.Losses++ })
		}
		uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = m.Unlock(uctx)
		cancel()
	}
}

func (l *lockClient) count(f func(*LockStats)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.stats)
}

func isOpen(c <-chan struct{}) bool {
	select {
	case <-c:
		return false
	default:
		return true
	}
}

// startLocks starts n lock clients on the cluster's members; the returned
// function waits for them (after ctx ends) and checks their work.
func (r *runner) startLocks(ctx context.Context, n int) (func() *LockStats, error) {
	reg := newFencedRegister()
	var clients []*lockClient
	var wg sync.WaitGroup
	for i := range n {
		g := &gate{}
		base := r.cluster.HTTPClient(0).Transport
		c, err := client.New(client.Config{
			Endpoints: r.cluster.ClientURLs(), Transport: gatedTransport{g: g, next: base},
			HeaderTimeoutPerRequest: 800 * time.Millisecond,
		})
		if err != nil {
			return nil, err
		}
		l := &lockClient{
			id: i, c: c, g: g, reg: reg,
			rng:         rand.New(rand.NewPCG(r.opts.Seed, uint64(200+i))),
			partitioned: r.partitioned,
		}
		clients = append(clients, l)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer base.(*http.Transport).CloseIdleConnections()
			l.run(ctx)
		}()
	}
	return func() *LockStats {
		wg.Wait()
		st := &LockStats{Clients: n}
		var acqs []acquisition
		for _, l := range clients {
			st.add(&l.stats)
			acqs = append(acqs, l.acqs...)
		}
		reg.mu.Lock()
		st.Violations = checkLocks(reg.writes, acqs)
		reg.mu.Unlock()
		return st
	}, nil
}
