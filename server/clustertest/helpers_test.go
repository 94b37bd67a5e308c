// Package clustertest tests raftkv as people run it: real raftkv processes
// on loopback (internal/testcluster), talked to over plain HTTP the way
// curl -L and v2 client libraries do, and killed, paused, stopped and
// restarted with signals.
//
// Waiting is on events where the API offers one (a watch with waitIndex)
// and otherwise on polling another process's HTTP state with a short
// interval and a deadline; nothing sleeps to synchronise.
package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testcluster"
)

// Timings of the test clusters (testcluster's defaults).
const (
	heartbeat = 50 * time.Millisecond
	election  = 500 * time.Millisecond
)

// The v2 client the tests talk with (shared with the nemesis).
type v2Resp = testcluster.V2Resp

var (
	keys    = testcluster.Keys
	getJSON = testcluster.GetJSON
)

// newHTTPClient is a plain net/http client: it follows redirects (for a
// PUT or DELETE too, since form bodies can be re-sent), as curl -L does.
func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
	}
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// memberEntry is one member of /v2/members.
type memberEntry struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

func listMembers(ctx context.Context, hc *http.Client, base string) ([]memberEntry, error) {
	var body struct {
		Members []memberEntry `json:"members"`
	}
	err := getJSON(ctx, hc, base+"/v2/members", &body)
	return body.Members, err
}

// selfID is member base's id from /v2/stats/self.
func selfID(ctx context.Context, hc *http.Client, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v2/stats/self", nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var self struct {
		ID       string `json:"id"`
		RaftTerm uint64 `json:"raftTerm"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&self); err != nil {
		return "", err
	}
	return self.ID, nil
}

// eventually polls f, another process's state, every interval until it
// returns nil or the deadline passes; then it fails the test with f's
// last error.
func eventually(t *testing.T, timeout, interval time.Duration, what string, f func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var last error
	for {
		if last = f(ctx); last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v: %v", what, timeout, last)
		case <-time.After(interval):
			// Polling another process: there is no event to wait on.
		}
	}
}

// waitLocalValue waits until member base's own store (quorum=false, a
// local read) holds want at key. Between reads it waits on a watch of the
// key from just past the index it read, so it wakes on the apply itself;
// the watch is bounded so that a dropped watcher (a snapshot install
// drops them) or a member still starting only costs a retry.
func waitLocalValue(t *testing.T, hc *http.Client, base, key, want string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		r, err := keys(ctx, hc, http.MethodGet, base, key, vals("quorum", "false"))
		if err != nil {
			// Not serving yet (restarting): poll the other process.
			last = err.Error()
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		last = r.String()
		if r.Status == http.StatusOK && r.Node.Val() == want {
			return
		}
		wctx, wcancel := context.WithTimeout(ctx, 2*election)
		_, _ = keys(wctx, hc, http.MethodGet, base, key,
			vals("wait", "true", "waitIndex", strconv.FormatUint(r.EtcdIndex()+1, 10)))
		wcancel()
	}
	t.Fatalf("%s: local read of %s never showed %q within %v; last: %s", base, key, want, timeout, last)
}

// newCluster starts an n-member cluster and returns it with a client.
func newCluster(t *testing.T, n int, args ...string) (*testcluster.Cluster, *http.Client) {
	t.Helper()
	c := testcluster.New(t, n, args...)
	hc := newHTTPClient(5 * time.Second)
	t.Cleanup(hc.CloseIdleConnections)
	return c, hc
}

// waitLeader waits for the running members (but skip) to agree on a
// leader and returns its index.
func waitLeader(t *testing.T, c *testcluster.Cluster, timeout time.Duration, skip ...int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	l, err := c.WaitLeader(ctx, skip...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// clusterDir is the directory testcluster keeps the members' data dirs
// in; its base name is the cluster's --initial-cluster-token suffix.
func clusterDir(c *testcluster.Cluster) string { return filepath.Dir(c.Members[0].DataDir) }

// proc is a raftkv process the test starts by hand (a member joining, or
// a misconfigured one that must refuse to start).
type proc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProc starts the raftkv binary with args. It is killed at cleanup,
// and its output is logged if the test failed.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(testcluster.Build(t), args...), out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, p.out.String())
		}
	})
	return p
}

// wait waits up to timeout for the process to exit and returns its exit
// code (-1 if it was killed by a signal); it fails the test if the process
// is still running.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("%v still runs after %v; output so far:\n%s", p.cmd.Args, timeout, p.out.String())
		return 0
	}
}

var (
	ctlOnce sync.Once
	ctlBin  string
	ctlErr  error
)

// buildCtl compiles ./cmd/raftkvctl once per test process (shared by
// every test that runs it; TestMain removes it).
func buildCtl(t *testing.T) string {
	t.Helper()
	ctlOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "raftkvctl-bin-")
		if err != nil {
			ctlErr = err
			return
		}
		ctlBin = filepath.Join(dir, "raftkvctl")
		cmd := exec.Command("go", "build", "-o", ctlBin, "./cmd/raftkvctl")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			ctlErr = fmt.Errorf("go build ./cmd/raftkvctl: %v\n%s", err, out)
		}
	})
	if ctlErr != nil {
		t.Fatal(ctlErr)
	}
	return ctlBin
}

// TestMain removes the raftkvctl that buildCtl compiled, which outlives
// the test that built it (it is shared by the tests of this process).
func TestMain(m *testing.M) {
	code := m.Run()
	if ctlBin != "" {
		os.RemoveAll(filepath.Dir(ctlBin))
	}
	os.Exit(code)
}
