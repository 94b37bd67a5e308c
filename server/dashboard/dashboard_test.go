package dashboard

import (
	"bufio"
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/browsertest"
)

// TestFeedSharesOneLoop: ten subscribers cost one snapshot a tick, the loop
// starts with the first and stops with the last.
func TestFeedSharesOneLoop(t *testing.T) {
	var calls atomic.Int64
	const interval = 20 * time.Millisecond
	f := NewFeed(interval, func(context.Context) any { return calls.Add(1) })
	start := time.Now()
	var subs []*Sub
	for range 10 {
		subs = append(subs, f.Subscribe())
	}
	for _, s := range subs {
		select {
		case b := <-s.C:
			if len(b) == 0 {
				t.Fatal("empty update")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no update within 5s")
		}
	}
	time.Sleep(100 * time.Millisecond) // a few more ticks
	n, loops := f.Stats()
	if n != 10 || loops != 1 {
		t.Fatalf("subscribers, loops = %d, %d; want 10, 1", n, loops)
	}
	// One snapshot a tick, whatever the number of subscribers.
	if c, ticks := calls.Load(), int64(time.Since(start)/interval); c > ticks+2 {
		t.Fatalf("%d snapshots in %d ticks with 10 subscribers: not shared", c, ticks)
	}
	for _, s := range subs {
		s.Close()
	}
	time.Sleep(60 * time.Millisecond)
	stopped := calls.Load()
	time.Sleep(100 * time.Millisecond)
	if c := calls.Load(); c > stopped+1 {
		t.Fatalf("the loop kept running after the last subscriber left: %d → %d", stopped, c)
	}
	s := f.Subscribe()
	defer s.Close()
	if _, loops := f.Stats(); loops != 2 {
		t.Fatalf("loops = %d after a new subscriber; want 2", loops)
	}
}

// TestSlowSubscriberGetsNewest: an unread update is replaced, not queued.
func TestSlowSubscriberGetsNewest(t *testing.T) {
	var calls atomic.Int64
	f := NewFeed(10*time.Millisecond, func(context.Context) any { return calls.Add(1) })
	s := f.Subscribe()
	defer s.Close()
	for deadline := time.Now().Add(5 * time.Second); calls.Load() < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // nobody reads s.C meanwhile
	}
	made := calls.Load()
	got, err := strconv.ParseInt(string(<-s.C), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if made < 3 || got < made-1 {
		t.Fatalf("got update %d of %d made: an old one was kept", got, made)
	}
}

func TestServeEvents(t *testing.T) {
	f := NewFeed(10*time.Millisecond, func(context.Context) any { return map[string]int{"x": 1} })
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.ServeEvents(w, r, done) }))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "data: ") {
			if line != `data: {"x":1}` {
				t.Fatalf("event %q", line)
			}
			break
		}
	}
	close(done)
	for sc.Scan() {
	}
	if n, _ := f.Stats(); n != 0 {
		t.Fatalf("%d subscribers after the stream ended", n)
	}
}

func TestFilesHaveThePage(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "render.js", "style.css"} {
		if _, err := fs.Stat(Files(), name); err != nil {
			t.Error(err)
		}
	}
}

// TestJavaScript runs the JavaScript unit tests of the page's pure
// renderers (jstest/, node's test runner). Without node the test is
// skipped, except under CI=true, where it fails: CI must run every test.
func TestJavaScript(t *testing.T) {
	node := browsertest.Node()
	browsertest.Need(t, node, "node", "apt-get install nodejs")
	out, err := exec.Command(node, "--test", "--test-reporter=spec", "jstest/").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	if s := string(out); !strings.Contains(s, "skipped 0") || !strings.Contains(s, "fail 0") || !strings.Contains(s, "one chart per follower") {
		t.Fatalf("node --test did not run every test:\n%s", s)
	}
}
