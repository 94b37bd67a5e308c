package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/internal/testcluster"
)

// These tests run the client against real raftkv processes.

// TestClusterKeys checks the keys API, stats and failover.
func TestClusterKeys(t *testing.T) {
	c := testcluster.New(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(t, client.Config{Endpoints: c.ClientURLs(), HeaderTimeoutPerRequest: 5 * time.Second})

	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitPublished(ctx, t, cl, len(c.Members))
	if err := cl.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := cl.Endpoints()[0]; got != c.Members[leader].ClientURL {
		t.Errorf("after Sync the leader %s is not first: %v", c.Members[leader].ClientURL, cl.Endpoints())
	}

	set, err := cl.Set(ctx, "/k", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if set.Action != "set" || set.Node.CreatedIndex != set.Index || set.RaftTerm == 0 || set.RaftIndex == 0 || set.ClusterID == "" {
		t.Errorf("set = %+v, node %+v", set, set.Node)
	}
	_, err = cl.Create(ctx, "/k", "v2")
	var e *client.Error
	// (Index >=: the members' own records may still be being written.)
	if !client.IsNodeExist(err) || !errors.As(err, &e) || e.Cause != "/k" || e.Index < set.Index {
		t.Errorf("create of an existing key: %v", err)
	}
	_, err = cl.Set(ctx, "/k", "v2", &client.SetOptions{PrevValue: "nope"})
	if !client.IsCompareFailed(err) {
		t.Errorf("CAS with a wrong value: %v", err)
	}
	cas, err := cl.Set(ctx, "/k", "v2", &client.SetOptions{PrevIndex: set.Node.ModifiedIndex})
	if err != nil || cas.Action != "compareAndSwap" || cas.PrevNode.Value != "v1" {
		t.Fatalf("CAS = %+v, %v", cas, err)
	}
	ref, err := cl.Set(ctx, "/k", "", &client.SetOptions{Refresh: true, TTL: time.Minute, PrevExist: client.PrevExist})
	if err != nil || ref.Node.Value != "v2" || ref.Node.TTL == 0 {
		t.Errorf("refresh = %+v, %v", ref, err)
	}
	q, err := cl.Get(ctx, "/k", &client.GetOptions{Quorum: true})
	if err != nil || q.Node.Value != "v2" {
		t.Errorf("quorum get = %+v, %v", q, err)
	}
	for _, v := range []string{"a", "b"} {
		if _, err := cl.CreateInOrder(ctx, "/q", v, nil); err != nil {
			t.Fatal(err)
		}
	}
	list, err := cl.Get(ctx, "/q", &client.GetOptions{Sort: true})
	if err != nil || len(list.Node.Nodes) != 2 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	for i, n := range list.Node.Nodes {
		name := n.Key[len("/q/"):]
		if len(name) != 20 || n.Value != []string{"a", "b"}[i] {
			t.Errorf("in-order node %d = %+v", i, n)
		}
	}
	if _, err := cl.Delete(ctx, "/q", nil); !errors.Is(err, client.ErrNotFile) {
		t.Errorf("delete of a directory: %v", err)
	}
	if _, err := cl.Delete(ctx, "/q", &client.DeleteOptions{Recursive: true}); err != nil {
		t.Error(err)
	}
	if _, err := cl.Get(ctx, "/q", nil); !client.IsKeyNotFound(err) {
		t.Errorf("get after delete: %v", err)
	}

	st, err := cl.ForEndpoint(c.Members[leader].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	status, err := st.Status(ctx)
	if err != nil || !status.IsLeader || status.Name != c.Members[leader].Name || status.RaftTerm == 0 {
		t.Errorf("leader status = %+v, %v", status, err)
	}
	ls, err := cl.LeaderStats(ctx)
	if err != nil || len(ls.Followers) != 2 {
		t.Errorf("leader stats = %+v, %v", ls, err)
	}
	if ok, err := st.Health(ctx); !ok || err != nil {
		t.Errorf("health = %v, %v", ok, err)
	}

	// Failover: kill the member tried first; the next one answers.
	first := cl.Endpoints()[0]
	for i, m := range c.Members {
		if m.ClientURL == first {
			c.Kill(i)
		}
	}
	for {
		_, err := cl.Set(ctx, "/f", "1", nil)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // the others may be electing a leader
	}
	if got := cl.Endpoints()[0]; got == first {
		t.Errorf("the dead member is still tried first: %v", cl.Endpoints())
	}
	for i := range c.Members {
		c.Kill(i)
	}
	_, err = cl.Get(ctx, "/f", nil)
	var ce *client.ClusterError
	if !errors.As(err, &ce) || len(ce.Errors) != 3 {
		t.Fatalf("err = %v, want a ClusterError with three attempts", err)
	}
}

// TestClusterWatchResumesAcrossLeaderKill watches through the leader, kills
// it with SIGKILL, and checks that a polling watcher and a streaming one
// each see every later write exactly once and in order, served by the
// members that remain.
func TestClusterWatchResumesAcrossLeaderKill(t *testing.T) {
	c := testcluster.New(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaderURL := c.Members[leader].ClientURL
	var followers []string
	for i, m := range c.Members {
		if i != leader {
			followers = append(followers, m.ClientURL)
		}
	}
	// The watchers try the leader first; the writer only the followers.
	watchEps := append([]string{leaderURL}, followers...)
	writer := newClient(t, client.Config{Endpoints: followers, HeaderTimeoutPerRequest: 3 * time.Second})
	// Members publish their names through the log after they start; wait,
	// so the first write below has an index above 1 (AfterIndex 0 would
	// mean "from now").
	waitPublished(ctx, t, writer, len(c.Members))
	first, err := writer.Create(ctx, "/lk/00", "/lk/00")
	if err != nil {
		t.Fatal(err)
	}
	// Both watchers start just before the first write, from the history.
	from := first.Node.ModifiedIndex - 1
	poll := newClient(t, client.Config{Endpoints: watchEps, HeaderTimeoutPerRequest: time.Second}).
		Watcher("/lk", &client.WatcherOptions{Recursive: true, AfterIndex: from})
	stream := newClient(t, client.Config{Endpoints: watchEps, HeaderTimeoutPerRequest: time.Second}).
		Watcher("/lk", &client.WatcherOptions{Recursive: true, AfterIndex: from, Stream: true})
	defer stream.Close()

	// create writes key once: a write whose outcome is unknown (the
	// leader died under it) is retried as a create, which fails with 105
	// if the first attempt was applied.
	create := func(key string) {
		t.Helper()
		for {
			_, err := writer.Create(ctx, key, key)
			if err == nil || client.IsNodeExist(err) {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("writing %s: %v", key, err)
			}
			time.Sleep(50 * time.Millisecond) // an election is under way
		}
	}

	const n = 12
	for _, w := range []*client.Watcher{poll, stream} {
		ev, err := w.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Node.Key != "/lk/00" || ev.Endpoint != leaderURL {
			t.Fatalf("first event %s from %s, want /lk/00 from the leader %s", ev.Node.Key, ev.Endpoint, leaderURL)
		}
	}

	type got struct {
		keys []string
		eps  []string
		err  error
	}
	collect := func(w *client.Watcher, out chan<- got) {
		var g got
		last := uint64(0)
		for len(g.keys) < n-1 {
			ev, err := w.Next(ctx)
			if err != nil {
				g.err = err
				break
			}
			if ev.Node.ModifiedIndex <= last {
				g.err = fmt.Errorf("event %s at %d after %d: out of order or repeated", ev.Node.Key, ev.Node.ModifiedIndex, last)
				break
			}
			last = ev.Node.ModifiedIndex
			g.keys = append(g.keys, ev.Node.Key)
			g.eps = append(g.eps, ev.Endpoint)
		}
		out <- g
	}
	pollOut, streamOut := make(chan got, 1), make(chan got, 1)
	go collect(poll, pollOut)
	go collect(stream, streamOut)

	create("/lk/01")
	c.Kill(leader)
	var want []string
	want = append(want, "/lk/01")
	for i := 2; i < n; i++ {
		key := fmt.Sprintf("/lk/%02d", i)
		create(key)
		want = append(want, key)
	}
	for name, ch := range map[string]chan got{"polling": pollOut, "streaming": streamOut} {
		g := <-ch
		if g.err != nil {
			t.Errorf("%s watcher: %v (got %v)", name, g.err, g.keys)
			continue
		}
		if !slices.Equal(g.keys, want) {
			t.Errorf("%s watcher saw %v, want %v", name, g.keys, want)
		}
		if last := g.eps[len(g.eps)-1]; last == leaderURL {
			t.Errorf("%s watcher: the last event came from the killed leader", name)
		}
		t.Logf("%s watcher: events served by %s", name, strings.Join(g.eps, " "))
	}
}

// waitPublished waits until every member has published its client URLs (a
// member does that through the log once it has started).
func waitPublished(ctx context.Context, t *testing.T, cl *client.Client, n int) {
	t.Helper()
	for {
		ms, err := cl.Members(ctx)
		ok := err == nil && len(ms) == n
		for _, m := range ms {
			ok = ok && len(m.ClientURLs) > 0
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("members did not publish their client URLs: %v, %v", ms, err)
		case <-time.After(20 * time.Millisecond):
			// Polling other processes: no event to wait on.
		}
	}
}
