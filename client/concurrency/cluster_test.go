package concurrency_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/client/concurrency"
	"github.com/raftkv/raftkv/internal/testcluster"
)

// TestClusterLockAcrossFailures runs a lock on a real 3-member cluster: the
// holder's client talks to the leader first, and the leader is killed; the
// lock must stay held (its refreshes go to the other members) so that a
// waiter does not get it for two TTLs, then pass to the waiter on Unlock.
// Then the cluster loses its quorum: the new holder's refreshes fail, and
// its Done must close within the TTL.
func TestClusterLockAcrossFailures(t *testing.T) {
	tc := testcluster.New(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader, err := tc.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	urls := tc.ClientURLs()
	first := append([]string{urls[leader]}, slices.Delete(slices.Clone(urls), leader, leader+1)...)
	cfg := client.Config{Endpoints: first, HeaderTimeoutPerRequest: time.Second}
	ca, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Endpoints = first[1:]
	cb, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const dir, ttl = "/_locks/cluster", 5 * time.Second
	a := concurrency.NewMutex(ca, dir, ttl)
	if err := a.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	tokA := a.Token()
	tc.Kill(leader)

	b := concurrency.NewMutex(cb, dir, ttl)
	wctx, wcancel := context.WithTimeout(ctx, 2*ttl)
	err = b.Lock(wctx)
	wcancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a waiter's Lock while the holder lives through a leader's death: %v", err)
	}
	if isClosed(a.Done()) {
		t.Fatalf("the holder lost the lock when the leader died: %v", a.Err())
	}
	if err := a.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Token() <= tokA {
		t.Errorf("token %d after %d", b.Token(), tokA)
	}

	// Two of three members gone: no refresh can succeed.
	tc.Kill(slices.Index(urls, first[1]))
	if !closedWithin(b.Done(), 2*ttl) {
		t.Fatal("the holder was not told within two TTLs that its refreshes failed")
	}
	if !errors.Is(b.Err(), concurrency.ErrLostTimeout) {
		t.Errorf("Err = %v, want ErrLostTimeout", b.Err())
	}
}
