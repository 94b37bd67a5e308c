package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/client/clienttest"
)

// watchLog records the watch requests a test server saw, as "url-name
// query", so tests can assert where and from which index the watcher asked.
type watchLog struct {
	mu  sync.Mutex
	got []string
}

func (l *watchLog) add(name string, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, name+" "+r.URL.RawQuery)
}

func (l *watchLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.got, "\n")
}

// breakAfterHeaders answers 200 with X-Etcd-Index and then drops the
// connection, as a member killed in the middle of a watch does.
func breakAfterHeaders(w http.ResponseWriter, index uint64) {
	w.Header().Set("X-Etcd-Index", fmt.Sprint(index))
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

func TestWatchResumesFromRegistrationIndexOnAnotherEndpoint(t *testing.T) {
	log := &watchLog{}
	a, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.add("a", r)
		breakAfterHeaders(w, 7)
	})
	b, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.add("b", r)
		switch r.URL.Query().Get("waitIndex") {
		case "8":
			okEvent(w, "set", "/k", "v9", 9)
		case "10":
			okEvent(w, "set", "/k", "v12", 12)
		default:
			t.Errorf("unexpected watch %s", r.URL)
		}
	})
	c := newClient(t, client.Config{Endpoints: []string{a.URL, b.URL}})
	w := c.Watcher("/k", nil)
	ctx := context.Background()
	for _, want := range []string{"v9", "v12"} {
		ev, err := w.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Node.Value != want {
			t.Errorf("event %s, want %s", ev.Node.Value, want)
		}
	}
	if w.NextIndex() != 13 {
		t.Errorf("NextIndex = %d, want 13", w.NextIndex())
	}
	// The first poll registered at index 7 and broke: the watcher resumed
	// from 8 on the other member, then from the event's index + 1, and kept
	// using the member that answered.
	want := "a wait=true\nb wait=true&waitIndex=8\nb wait=true&waitIndex=10"
	if got := log.String(); got != want {
		t.Errorf("requests:\n%s\nwant:\n%s", got, want)
	}
}

func TestWatchRetriesAnEmptyAnswer(t *testing.T) {
	log := &watchLog{}
	n := 0
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.add("s", r)
		n++
		if n == 1 {
			w.Header().Set("X-Etcd-Index", "4")
			return // 200 with no body: the server ended the poll
		}
		okEvent(w, "set", "/k", "v", 6)
	})
	c := newClient(t, client.Config{Endpoints: []string{s.URL}})
	ev, err := c.Watcher("/k", &client.WatcherOptions{Recursive: true}).Next(context.Background())
	if err != nil || ev.Node.ModifiedIndex != 6 {
		t.Fatalf("Next = %+v, %v", ev, err)
	}
	if got, want := log.String(), "s recursive=true&wait=true\ns recursive=true&wait=true&waitIndex=5"; got != want {
		t.Errorf("requests:\n%s\nwant:\n%s", got, want)
	}
}

func TestWatchEventIndexCleared(t *testing.T) {
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		v2Error(w, 400, 401, "the requested history has been cleared [1003/3]", 2002)
	})
	c := newClient(t, client.Config{Endpoints: []string{s.URL}})
	_, err := c.Watcher("/k", &client.WatcherOptions{AfterIndex: 2}).Next(context.Background())
	if !client.IsEventIndexCleared(err) {
		t.Fatalf("err = %v, want error 401", err)
	}
	var e *client.Error
	if !errors.As(err, &e) || e.Index != 2002 {
		t.Errorf("err = %#v", err)
	}
}

func TestWatchGivesUpWhenEveryConnectionBreaks(t *testing.T) {
	s, sn := serve(t, func(w http.ResponseWriter, r *http.Request) { breakAfterHeaders(w, 7) })
	c := newClient(t, client.Config{Endpoints: []string{s.URL}})
	_, err := c.Watcher("/k", nil).Next(context.Background())
	var ee *client.EndpointError
	if !errors.As(err, &ee) || ee.Endpoint != s.URL {
		t.Fatalf("err = %v, want the last broken connection", err)
	}
	if n := sn.n.Load(); n != 4 {
		t.Errorf("%d attempts, want 4 (two rounds of one endpoint, plus one)", n)
	}
}

func TestWatchContextAndResume(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	c := newClient(t, client.Config{Endpoints: []string{srv.URL}})
	w := c.Watcher("/k", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := w.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	// The watcher registered at the store's index, so a write made while
	// nobody was waiting is still the next event.
	if want := srv.Index() + 1; w.NextIndex() != want {
		t.Fatalf("NextIndex = %d, want %d", w.NextIndex(), want)
	}
	if _, err := c.Set(context.Background(), "/k", "missed?", nil); err != nil {
		t.Fatal(err)
	}
	ev, err := w.Next(context.Background())
	if err != nil || ev.Node.Value != "missed?" {
		t.Fatalf("Next = %+v, %v", ev, err)
	}
}

// TestWatchWaitsForLiveEvents checks a watch that blocks until a write, with
// the header timeout not cutting the long poll short.
func TestWatchWaitsForLiveEvents(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	c := newClient(t, client.Config{Endpoints: []string{srv.URL}, HeaderTimeoutPerRequest: 50 * time.Millisecond})
	got := make(chan *client.Response, 1)
	errc := make(chan error, 1)
	w := c.Watcher("/dir", &client.WatcherOptions{Recursive: true})
	go func() {
		ev, err := w.Next(context.Background())
		got <- ev
		errc <- err
	}()
	if err := srv.AwaitWatchers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	// The condition under test: the poll outlives the header timeout.
	time.Sleep(100 * time.Millisecond)
	// The write goes through a client without the short header timeout:
	// a real member takes a raft round and an fsync to answer, which under
	// -race on a loaded machine can take longer than 50ms.
	writer := newClient(t, client.Config{Endpoints: []string{srv.URL}})
	if _, err := writer.Set(context.Background(), "/dir/a", "1", nil); err != nil {
		t.Fatal(err)
	}
	ev := <-got
	if err := <-errc; err != nil || ev.Node.Key != "/dir/a" || ev.Action != "set" {
		t.Fatalf("Next = %+v, %v", ev, err)
	}
}

func TestStreamWatchResumes(t *testing.T) {
	log := &watchLog{}
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		log.add("s", r)
		w.Header().Set("X-Etcd-Index", "4")
		switch r.URL.Query().Get("waitIndex") {
		case "":
			okEvent(w, "set", "/k", "a", 5)
			okEvent(w, "set", "/k", "b", 6)
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case "7":
			okEvent(w, "set", "/k", "c", 7)
			// The server drops a slow watcher with error 400.
			io.WriteString(w, `{"errorCode":400,"message":"watcher is cleared due to etcd recovery","index":7}`+"\n")
		case "8":
			okEvent(w, "delete", "/k", "", 8)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			t.Errorf("unexpected watch %s", r.URL)
		}
	})
	c := newClient(t, client.Config{Endpoints: []string{s.URL}})
	w := c.Watcher("/k", &client.WatcherOptions{Stream: true})
	defer w.Close()
	var got []string
	for range 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ev, err := w.Next(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%v; got %v; requests:\n%s", err, got, log)
		}
		got = append(got, fmt.Sprintf("%s:%s@%d", ev.Action, ev.Node.Value, ev.Node.ModifiedIndex))
	}
	if want := "set:a@5 set:b@6 set:c@7 delete:@8"; strings.Join(got, " ") != want {
		t.Errorf("events %v, want %s", got, want)
	}
	want := "s stream=true&wait=true\ns stream=true&wait=true&waitIndex=7\ns stream=true&wait=true&waitIndex=8"
	if got := log.String(); got != want {
		t.Errorf("requests:\n%s\nwant:\n%s", got, want)
	}
}

func TestStreamWatchAgainstServer(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	c := newClient(t, client.Config{Endpoints: []string{srv.URL}})
	ctx := context.Background()
	first, err := c.Set(ctx, "/d/x", "0", nil)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Watcher("/d", &client.WatcherOptions{Stream: true, Recursive: true, AfterIndex: first.Index})
	defer w.Close()
	for i := 1; i <= 3; i++ {
		if _, err := c.Set(ctx, "/d/x", fmt.Sprint(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		ev, err := w.Next(ctx)
		if err != nil || ev.Node.Value != fmt.Sprint(i) {
			t.Fatalf("event %d = %+v, %v", i, ev, err)
		}
	}
	// One connection carried all three.
	n := 0
	for _, r := range srv.Requests() {
		if strings.Contains(r, "wait=true") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d watch requests, want 1", n)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := w.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}
