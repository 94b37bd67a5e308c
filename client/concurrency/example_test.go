package concurrency_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/client/clienttest"
	"github.com/raftkv/raftkv/client/concurrency"
)

// storage is a resource protected by a lock: it keeps a Fence, and takes a
// write only with a token at least as high as every token it has seen.
type storage struct {
	mu    sync.Mutex
	fence concurrency.Fence
	data  string
}

func (s *storage) Write(token uint64, data string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fence.Admit(token) {
		return fmt.Errorf("token %d refused: a holder with token %d wrote since", token, s.fence.Max())
	}
	s.data = data
	return nil
}

// A holder that lost its lock without noticing (here: its key was deleted,
// as if it had expired during a long pause) writes after the next holder
// did; the storage refuses the write, because its token is older.
//
// The example runs against clienttest, a one-member raftkv in the test's
// process; point Endpoints at real members instead.
func Example_fencing() {
	srv := clienttest.NewServer()
	defer srv.Close()
	c, err := client.New(client.Config{Endpoints: []string{srv.URL}, HeaderTimeoutPerRequest: 2 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	var store storage

	// A TTL of a minute: refreshes (writes) every 20s would not happen
	// during the example, so the indexes printed stay the same.
	slow := concurrency.NewMutex(c, "/_locks/storage", time.Minute)
	if err := slow.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	oldToken := slow.Token() // the token goes with every write
	fmt.Println("first write:", store.Write(oldToken, "from the first holder"))

	// The first holder pauses; its key goes away.
	c.Delete(ctx, slow.Key(), nil)
	<-slow.Done()
	fmt.Println("first holder told:", slow.Err())

	fast := concurrency.NewMutex(c, "/_locks/storage", time.Minute)
	if err := fast.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("second holder's token is higher:", fast.Token() > oldToken)
	fmt.Println("second write:", store.Write(fast.Token(), "from the second holder"))

	// The first holder wakes up and writes as if it still held the lock.
	fmt.Println("late write refused:", store.Write(oldToken, "stale") != nil)
	fmt.Println("data:", store.data)
	fast.Unlock(ctx)
	// Output:
	// first write: <nil>
	// first holder told: concurrency: lost: the key was deleted (/_locks/storage/00000000000000000003 at index 4)
	// second holder's token is higher: true
	// second write: <nil>
	// late write refused: true
	// data: from the second holder
}

// Work runs under the lock's context, which ends the moment the lock is
// lost.
func ExampleMutex_Context() {
	srv := clienttest.NewServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})
	ctx := context.Background()

	m := concurrency.NewMutex(c, "/_locks/job", 10*time.Second)
	if err := m.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	work, cancel := m.Context(ctx)
	defer cancel()

	m.Unlock(ctx)
	<-work.Done()
	fmt.Println(context.Cause(work))
	// Output:
	// concurrency: not held
}

// A candidate leads, moves, and resigns; another takes over. An observer
// sees each leader, and the vacancy between them. (A Campaign made while
// another candidate leads waits until that one resigns or is lost.)
func ExampleElection() {
	srv := clienttest.NewServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	observer := concurrency.NewElection(c, "/_elections/web", 10*time.Second)
	leaders := observer.Observe(ctx)

	a := concurrency.NewElection(c, "/_elections/web", 10*time.Second)
	if err := a.Campaign(ctx, "http://10.0.0.1:8080"); err != nil {
		log.Fatal(err)
	}
	first := a.Token()
	fmt.Printf("leader: %q\n", (<-leaders).Value)
	a.Proclaim(ctx, "http://10.0.0.1:9090") // the leader moves
	fmt.Printf("leader: %q\n", (<-leaders).Value)
	a.Resign(ctx)
	fmt.Printf("vacant: %v\n", (<-leaders).Key == "")

	b := concurrency.NewElection(c, "/_elections/web", 10*time.Second)
	if err := b.Campaign(ctx, "http://10.0.0.2:8080"); err != nil {
		log.Fatal(err)
	}
	l := <-leaders
	fmt.Printf("leader: %q, its token higher: %v\n", l.Value, l.Token == b.Token() && l.Token > first)
	// Output:
	// leader: "http://10.0.0.1:8080"
	// leader: "http://10.0.0.1:9090"
	// vacant: true
	// leader: "http://10.0.0.2:8080", its token higher: true
}
