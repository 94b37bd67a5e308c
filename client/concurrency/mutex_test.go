package concurrency_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/client/concurrency"
)

// TestMutexMutualExclusion runs goroutines that take one lock in turns
// and checks that no two are ever inside at once, that each holder's token
// is higher than the last one's, and that a read-modify-write of a shared
// key under the lock loses no update.
func TestMutexMutualExclusion(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv, nil)
	ctx := testContext(t)
	const workers, rounds = 5, 4
	var inside atomic.Int32
	var mu sync.Mutex
	var tokens []uint64
	var fence concurrency.Fence
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := concurrency.NewMutex(c, "/locks/mx", 10*time.Second)
			for r := range rounds {
				if err := m.Lock(ctx); err != nil {
					errs <- fmt.Errorf("worker %d round %d: lock: %v", w, r, err)
					return
				}
				if n := inside.Add(1); n != 1 {
					errs <- fmt.Errorf("worker %d: %d holders inside", w, n)
				}
				tok := m.Token()
				if !fence.Admit(tok) {
					errs <- fmt.Errorf("worker %d: token %d refused after %d", w, tok, fence.Max())
				}
				mu.Lock()
				tokens = append(tokens, tok)
				mu.Unlock()
				// An unprotected read-modify-write: only the lock keeps it whole.
				resp, err := c.Get(ctx, "/counter", nil)
				n := 0
				if err == nil {
					n, _ = strconv.Atoi(resp.Node.Value)
				}
				if _, err := c.Set(ctx, "/counter", strconv.Itoa(n+1), nil); err != nil {
					errs <- err
				}
				inside.Add(-1)
				if err := m.Unlock(ctx); err != nil {
					errs <- fmt.Errorf("worker %d: unlock: %v", w, err)
					return
				}
				if m.Err() != nil || !isClosed(m.Done()) || m.Token() != 0 {
					errs <- fmt.Errorf("worker %d after unlock: err %v, done %v, token %d", w, m.Err(), isClosed(m.Done()), m.Token())
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Errorf("tokens not increasing: %v", tokens)
			break
		}
	}
	resp, err := c.Get(ctx, "/counter", nil)
	if err != nil || resp.Node.Value != strconv.Itoa(workers*rounds) {
		t.Errorf("counter = %v, %v; want %d", resp, err, workers*rounds)
	}
	if files := awaitFiles(ctx, t, c, "/locks/mx", 0); len(files) != 0 {
		t.Errorf("keys left in the lock's directory: %v", files)
	}
}

// TestMutexFIFO checks that waiters get the lock in the order they asked.
func TestMutexFIFO(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv, nil)
	ctx := testContext(t)
	const dir = "/locks/fifo"
	first := concurrency.NewMutex(c, dir, 10*time.Second)
	if err := first.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 3)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		m := concurrency.NewMutex(c, dir, 10*time.Second)
		go func() {
			defer wg.Done()
			if err := m.Lock(ctx); err != nil {
				t.Errorf("waiter %d: %v", i, err)
				return
			}
			order <- i
			<-release
			if err := m.Unlock(ctx); err != nil {
				t.Errorf("waiter %d: unlock: %v", i, err)
			}
		}()
		// The next waiter starts once this one's key is in the queue.
		awaitFiles(ctx, t, c, dir, i+2)
	}
	if err := first.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	for want := range 3 {
		if got := <-order; got != want {
			t.Errorf("waiter %d got the lock in turn %d", got, want)
		}
		release <- struct{}{}
	}
	wg.Wait()
}

// TestMutexTryLock checks that TryLock fails at once while another holds
// the lock, leaving no key behind, and succeeds once it is free.
func TestMutexTryLock(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv, nil)
	ctx := testContext(t)
	a := concurrency.NewMutex(c, "/locks/try", 10*time.Second)
	b := concurrency.NewMutex(c, "/locks/try", 10*time.Second)
	if err := a.TryLock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Lock(ctx); !errors.Is(err, concurrency.ErrHeld) {
		t.Errorf("a second Lock of a held Mutex: %v, want ErrHeld", err)
	}
	if err := b.TryLock(ctx); !errors.Is(err, concurrency.ErrLocked) {
		t.Fatalf("TryLock of a held lock: %v, want ErrLocked", err)
	}
	if b.Token() != 0 || !isClosed(b.Done()) {
		t.Errorf("after a failed TryLock: token %d, done %v", b.Token(), isClosed(b.Done()))
	}
	if files := awaitFiles(ctx, t, c, "/locks/try", 1); len(files) != 1 || files[0].Key != a.Key() {
		t.Errorf("lock directory after a failed TryLock: %v (holder %s)", files, a.Key())
	}
	if err := b.Unlock(ctx); !errors.Is(err, concurrency.ErrNotHeld) {
		t.Errorf("Unlock without Lock: %v, want ErrNotHeld", err)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.TryLock(ctx); err != nil {
		t.Fatalf("TryLock of a free lock: %v", err)
	}
	if b.Token() == 0 || isClosed(b.Done()) || b.Err() != nil {
		t.Errorf("holding: token %d, done %v, err %v", b.Token(), isClosed(b.Done()), b.Err())
	}
}

// TestMutexLockCancelled checks that a waiter whose context ends gives its
// place up.
func TestMutexLockCancelled(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv, nil)
	ctx := testContext(t)
	a := concurrency.NewMutex(c, "/locks/cancel", 10*time.Second)
	if err := a.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	b := concurrency.NewMutex(c, "/locks/cancel", 10*time.Second)
	res := make(chan error, 1)
	go func() { res <- b.Lock(wctx) }()
	awaitFiles(ctx, t, c, "/locks/cancel", 2)
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Errorf("Lock with its context cancelled: %v", err)
	}
	if files := awaitFiles(ctx, t, c, "/locks/cancel", 1); len(files) != 1 {
		t.Errorf("the cancelled waiter's key is left: %v", files)
	}
}

// TestMutexDoneWhenKeyDeleted checks that the holder learns at once that
// its key was deleted behind its back.
func TestMutexDoneWhenKeyDeleted(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv, nil)
	ctx := testContext(t)
	m := concurrency.NewMutex(c, "/locks/del", time.Minute)
	if err := m.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	work, cancel := m.Context(ctx)
	defer cancel()
	if _, err := c.Delete(ctx, m.Key(), nil); err != nil {
		t.Fatal(err)
	}
	// Far below the TTL (a minute) and the refresh interval (20s): only
	// the watch can have told it.
	if !closedWithin(m.Done(), 10*time.Second) {
		t.Fatal("Done not closed after the key was deleted")
	}
	if err := m.Err(); !errors.Is(err, concurrency.ErrLostDeleted) || !errors.Is(err, concurrency.ErrLost) {
		t.Errorf("Err = %v, want ErrLostDeleted", err)
	}
	<-work.Done()
	if cause := context.Cause(work); !errors.Is(cause, concurrency.ErrLostDeleted) {
		t.Errorf("the lock's context ended with %v", cause)
	}
	if m.Token() != 0 {
		t.Errorf("Token after the loss = %d", m.Token())
	}
	if err := m.Unlock(ctx); err != nil {
		t.Errorf("Unlock after the loss: %v", err)
	}
	if !errors.Is(m.Err(), concurrency.ErrLostDeleted) {
		t.Errorf("Unlock hid the loss: Err = %v", m.Err())
	}
}

// TestMutexDoneWhenDirDeleted: deleting the lock's directory ends the hold.
func TestMutexDoneWhenDirDeleted(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv, nil)
	ctx := testContext(t)
	m := concurrency.NewMutex(c, "/locks/dir", time.Minute)
	if err := m.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "/locks", &client.DeleteOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(m.Done(), 10*time.Second) {
		t.Fatal("Done not closed after the directory was deleted")
	}
	if !errors.Is(m.Err(), concurrency.ErrLostDeleted) {
		t.Errorf("Err = %v", m.Err())
	}
}

// TestMutexCrashedHolderExpires cuts a holder off the cluster (all its
// requests hang, as a crashed or partitioned holder's): its Done must close
// with ErrLostTimeout, and strictly before the waiter, freed by the key's
// expiry, gets the lock with a higher token.
func TestMutexCrashedHolderExpires(t *testing.T) {
	srv := newServer(t)
	net := newNetCtl()
	cut := newClient(t, srv, net)
	c := newClient(t, srv, nil)
	ctx := testContext(t)
	const dir, ttl = "/locks/crash", 3 * time.Second
	a := concurrency.NewMutex(cut, dir, ttl)
	if err := a.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	tokA := a.Token()
	b := concurrency.NewMutex(c, dir, ttl)
	res := make(chan bool, 1)
	go func() {
		err := b.Lock(ctx)
		if err != nil {
			t.Errorf("waiter: %v", err)
		}
		// Done of the cut-off holder must already be closed here.
		res <- isClosed(a.Done())
	}()
	awaitFiles(ctx, t, c, dir, 2)
	net.Cut()
	if aDone := <-res; !aDone {
		t.Error("the waiter got the lock while the old holder's Done was still open")
	}
	if !errors.Is(a.Err(), concurrency.ErrLostTimeout) {
		t.Errorf("holder's Err = %v, want ErrLostTimeout", a.Err())
	}
	if b.Token() <= tokA {
		t.Errorf("new token %d not above the old %d", b.Token(), tokA)
	}
}

// TestMutexKeyOfCrashedProcess: a key left by a process that died (no
// refresh, no delete) expires and lets the waiter in.
func TestMutexKeyOfCrashedProcess(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv, nil)
	ctx := testContext(t)
	dead, err := c.CreateInOrder(ctx, "/locks/dead", "crashed", &client.CreateInOrderOptions{TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m := concurrency.NewMutex(c, "/locks/dead", 10*time.Second)
	if err := m.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Token() <= dead.Node.CreatedIndex {
		t.Errorf("token %d not above the dead holder's %d", m.Token(), dead.Node.CreatedIndex)
	}
	if _, err := c.Get(ctx, dead.Node.Key, nil); !client.IsKeyNotFound(err) {
		t.Errorf("the dead holder's key is still there: %v", err)
	}
}

// TestMutexWatchesSurvive401 breaks the watch connections of a waiter and
// a holder after the server's history has moved on past them: the
// watches resume with error 401, and both must read the state again
// rather than stall or give up.
func TestMutexWatchesSurvive401(t *testing.T) {
	srv := newServerHistory(t, 20)
	net := newNetCtl()
	c := newClient(t, srv, net)
	other := newClient(t, srv, nil)
	ctx := testContext(t)
	const dir = "/locks/h"
	a := concurrency.NewMutex(c, dir, time.Minute)
	if err := a.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	b := concurrency.NewMutex(c, dir, time.Minute)
	res := make(chan error, 1)
	go func() { res <- b.Lock(ctx) }()
	awaitFiles(ctx, t, other, dir, 2)
	// a watches its own key; b its own and a's.
	if err := net.AwaitWatches(ctx, 3); err != nil {
		t.Fatal(err)
	}
	noise := func() {
		for i := range 50 {
			if _, err := other.Set(ctx, "/noise", strconv.Itoa(i), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	noise()
	net.BreakWatches()
	// Each of the three comes back through a 401 before it is open again.
	if err := net.AwaitWatches(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if n := net.Cleared(); n < 3 {
		t.Errorf("%d watches resumed with error 401, want 3", n)
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Err(); err != nil {
		t.Fatalf("holder lost the lock after a 401: %v", err)
	}
	if err := <-res; err != nil {
		t.Fatalf("waiter after a 401: %v", err)
	}
	if err := net.AwaitWatches(ctx, 1); err != nil {
		t.Fatal(err)
	}
	noise()
	net.BreakWatches()
	if err := net.AwaitWatches(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Delete(ctx, b.Key(), nil); err != nil {
		t.Fatal(err)
	}
	// Deleted (seen by the resumed watch) or not found (by the read after
	// the 401), depending on which comes first.
	if !closedWithin(b.Done(), 10*time.Second) || !errors.Is(b.Err(), concurrency.ErrLost) {
		t.Errorf("holder whose watch went through a 401 missed its key's delete: %v", b.Err())
	}
}

// TestFence checks the fence's rule on its own.
func TestFence(t *testing.T) {
	var f concurrency.Fence
	for _, c := range []struct {
		token uint64
		want  bool
	}{{0, false}, {5, true}, {5, true}, {4, false}, {9, true}, {6, false}, {0, false}, {10, true}} {
		if got := f.Admit(c.token); got != c.want {
			t.Errorf("Admit(%d) after max %d = %v", c.token, f.Max(), got)
		}
	}
	if f.Max() != 10 {
		t.Errorf("Max = %d", f.Max())
	}
}
