package concurrency_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client/concurrency"
)

// TestElection runs an election through campaign, proclaim, observe,
// leader and resign.
func TestElection(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv, nil)
	ctx := testContext(t)
	const dir = "/elections/e"
	e1 := concurrency.NewElection(c, dir, 10*time.Second)
	e2 := concurrency.NewElection(c, dir, 10*time.Second)

	if _, err := e1.Leader(ctx); !errors.Is(err, concurrency.ErrNoLeader) {
		t.Errorf("Leader of an empty election: %v, want ErrNoLeader", err)
	}
	if err := e1.Proclaim(ctx, "x"); !errors.Is(err, concurrency.ErrNotLeader) {
		t.Errorf("Proclaim before Campaign: %v, want ErrNotLeader", err)
	}
	octx, stopObserving := context.WithCancel(ctx)
	obs := e2.Observe(octx)
	next := func(what string) concurrency.Leader {
		t.Helper()
		select {
		case l, ok := <-obs:
			if !ok {
				t.Fatalf("%s: the observer's channel closed", what)
			}
			return l
		case <-ctx.Done():
			t.Fatalf("%s: nothing observed", what)
		}
		return concurrency.Leader{}
	}

	if err := e1.Campaign(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	want := concurrency.Leader{Key: e1.Key(), Value: "one", Token: e1.Token()}
	if l := next("first leader"); l != want {
		t.Errorf("observed %+v, want %+v", l, want)
	}
	if l, err := e2.Leader(ctx); err != nil || l != want {
		t.Errorf("Leader = %+v, %v; want %+v", l, err, want)
	}

	won := make(chan error, 1)
	go func() { won <- e2.Campaign(ctx, "two") }()
	awaitFiles(ctx, t, c, dir, 2)
	if isClosed(e1.Done()) || e2.Token() != 0 {
		t.Fatalf("a second candidate changed the leadership: e1 done %v, e2 token %d", isClosed(e1.Done()), e2.Token())
	}

	if err := e1.Proclaim(ctx, "one, again"); err != nil {
		t.Fatal(err)
	}
	want.Value = "one, again"
	if l := next("proclaim"); l != want {
		t.Errorf("after Proclaim observed %+v, want %+v", l, want)
	}
	if e1.Token() != want.Token || e1.Err() != nil {
		t.Errorf("Proclaim changed the leader's token or ended it: %d, %v", e1.Token(), e1.Err())
	}

	if err := e1.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-won; err != nil {
		t.Fatalf("second candidate: %v", err)
	}
	if !isClosed(e1.Done()) || e1.Err() != nil || e1.Token() != 0 {
		t.Errorf("after Resign: done %v, err %v, token %d", isClosed(e1.Done()), e1.Err(), e1.Token())
	}
	want2 := concurrency.Leader{Key: e2.Key(), Value: "two", Token: e2.Token()}
	if want2.Token <= want.Token {
		t.Errorf("the new leader's token %d is not above the old %d", want2.Token, want.Token)
	}
	if l := next("second leader"); l != want2 {
		t.Errorf("observed %+v, want %+v", l, want2)
	}
	if err := e1.Proclaim(ctx, "usurper"); !errors.Is(err, concurrency.ErrNotLeader) {
		t.Errorf("Proclaim after Resign: %v", err)
	}

	if err := e2.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if l := next("vacancy"); l != (concurrency.Leader{}) {
		t.Errorf("after the last resign observed %+v, want the zero Leader", l)
	}
	if _, err := e1.Leader(ctx); !errors.Is(err, concurrency.ErrNoLeader) {
		t.Errorf("Leader after every resign: %v", err)
	}
	stopObserving()
	for range obs {
	}
}

// TestElectionLeaderLosesKey: a leader whose key expires behind its back
// (here: is deleted) learns it, and Proclaim fails.
func TestElectionLeaderLosesKey(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, srv, nil)
	ctx := testContext(t)
	e := concurrency.NewElection(c, "/elections/lost", time.Minute)
	if err := e.Campaign(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, e.Key(), nil); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(e.Done(), 10*time.Second) || !errors.Is(e.Err(), concurrency.ErrLostDeleted) {
		t.Fatalf("leader not told of its key's delete: %v", e.Err())
	}
	if err := e.Proclaim(ctx, "q"); !errors.Is(err, concurrency.ErrNotLeader) {
		t.Errorf("Proclaim after the loss: %v", err)
	}
	// It can campaign again.
	if err := e.Campaign(ctx, "p2"); err != nil {
		t.Fatal(err)
	}
	if l, err := e.Leader(ctx); err != nil || l.Value != "p2" || l.Key != e.Key() {
		t.Errorf("Leader = %+v, %v", l, err)
	}
}

// TestElectionProclaimRacesResign: a Resign between Proclaim's check and
// its update deletes the key under it; Proclaim must say ErrNotLeader,
// not nil.
func TestElectionProclaimRacesResign(t *testing.T) {
	srv := newServer(t)
	var e *concurrency.Election
	var armed atomic.Bool
	tr := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method == http.MethodPut && req.Body != nil && armed.Load() {
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return nil, err
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			if strings.Contains(string(body), "value=proclaimed") && armed.CompareAndSwap(true, false) {
				if err := e.Resign(req.Context()); err != nil {
					t.Errorf("Resign: %v", err)
				}
			}
		}
		return http.DefaultTransport.RoundTrip(req)
	})
	c := newClient(t, srv, tr)
	ctx := testContext(t)
	e = concurrency.NewElection(c, "/elections/resigning", time.Minute)
	if err := e.Campaign(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	if err := e.Proclaim(ctx, "proclaimed"); !errors.Is(err, concurrency.ErrNotLeader) {
		t.Errorf("Proclaim racing Resign = %v, want ErrNotLeader", err)
	}
	if armed.Load() {
		t.Fatal("the proclaim's update was not seen")
	}
	if _, err := e.Leader(ctx); !errors.Is(err, concurrency.ErrNoLeader) {
		t.Errorf("Leader after Resign: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
