// Package testcluster runs real raftkv processes on loopback: the local
// cluster of `make run` (cmd/raftkv-local) and the real-process tests of
// the server, the client and the CLI.
//
// Start launches N members of a new cluster from a raftkv binary, each
// with its own data dir, client port and peer port; Kill (SIGKILL), Stop
// (SIGTERM, graceful), Pause and Resume (SIGSTOP/SIGCONT) and Restart act
// on one member; WaitLeader waits until the members agree on a leader.
// Build compiles the binary once per test process.
package testcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options configures a cluster.
type Options struct {
	// Bin is the raftkv binary.
	Bin string
	// Dir holds the members' data dirs and logs.
	Dir string
	// Members is the cluster size (default 3).
	Members int
	// ClientPorts and PeerPorts fix the ports; by default free ports are
	// picked.
	ClientPorts, PeerPorts []int
	// Token is --initial-cluster-token (default: derived from Dir).
	Token string
	// HeartbeatMs and ElectionMs are the raft timeouts (defaults 50, 500:
	// quick elections for tests).
	HeartbeatMs, ElectionMs int
	// Args are extra flags for every member.
	Args []string
	// Logs, if set, receives every member's stderr, each line prefixed
	// with the member's name; otherwise logs go to Dir/<name>.log.
	Logs io.Writer
}

// Member is one raftkv process of the cluster.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	DataDir   string
	args      []string
	cmd       *exec.Cmd
	exited    chan struct{}
	logFile   *os.File
}

// Cluster is a set of raftkv processes on loopback.
type Cluster struct {
	opts    Options
	Members []*Member
}

// FreePorts returns n TCP ports that were free a moment ago on 127.0.0.1.
func FreePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Start starts a new cluster and returns once every process runs (not
// necessarily with a leader: see WaitLeader).
func Start(opts Options) (*Cluster, error) {
	if opts.Members == 0 {
		opts.Members = 3
	}
	if opts.HeartbeatMs == 0 {
		opts.HeartbeatMs = 50
	}
	if opts.ElectionMs == 0 {
		opts.ElectionMs = 500
	}
	if opts.Token == "" {
		opts.Token = "testcluster-" + filepath.Base(opts.Dir)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	if opts.ClientPorts == nil || opts.PeerPorts == nil {
		ports, err := FreePorts(2 * opts.Members)
		if err != nil {
			return nil, err
		}
		opts.ClientPorts, opts.PeerPorts = ports[:opts.Members], ports[opts.Members:]
	}
	c := &Cluster{opts: opts}
	var initial []string
	for i := range opts.Members {
		name := fmt.Sprintf("m%d", i+1)
		m := &Member{
			Name:      name,
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", opts.ClientPorts[i]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", opts.PeerPorts[i]),
			DataDir:   filepath.Join(opts.Dir, name+".raftkv"),
		}
		c.Members = append(c.Members, m)
		initial = append(initial, name+"="+m.PeerURL)
	}
	for _, m := range c.Members {
		m.args = append([]string{
			"--name", m.Name, "--data-dir", m.DataDir,
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", opts.Token,
			"--heartbeat-interval", fmt.Sprint(opts.HeartbeatMs), "--election-timeout", fmt.Sprint(opts.ElectionMs),
		}, opts.Args...)
		if err := c.start(m); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) start(m *Member) error {
	cmd := exec.Command(c.opts.Bin, m.args...)
	cmd.Env = os.Environ()
	var logw io.Writer
	if c.opts.Logs != nil {
		logw = &prefixWriter{prefix: m.Name + " | ", w: c.opts.Logs}
	} else {
		f, err := os.OpenFile(filepath.Join(c.opts.Dir, m.Name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		m.logFile = f
		logw = f
	}
	cmd.Stdout, cmd.Stderr = logw, logw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %v", m.Name, err)
	}
	m.cmd = cmd
	m.exited = make(chan struct{})
	go func(exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(m.exited)
	return nil
}

// Running reports whether member i's process is alive.
func (c *Cluster) Running(i int) bool {
	m := c.Members[i]
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// Exited is closed when member i's current process exits.
func (c *Cluster) Exited(i int) <-chan struct{} { return c.Members[i].exited }

// ExitCode is the exit code of member i's last process (-1 if killed by
// a signal or still running).
func (c *Cluster) ExitCode(i int) int {
	if c.Running(i) || c.Members[i].cmd == nil || c.Members[i].cmd.ProcessState == nil {
		return -1
	}
	return c.Members[i].cmd.ProcessState.ExitCode()
}

// Kill kills member i with SIGKILL and waits for it to exit.
func (c *Cluster) Kill(i int) {
	m := c.Members[i]
	if !c.Running(i) {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGCONT) // a paused process dies too
	_ = m.cmd.Process.Kill()
	<-m.exited
}

// Stop stops member i gracefully (SIGTERM) and waits up to timeout.
func (c *Cluster) Stop(i int, timeout time.Duration) error {
	m := c.Members[i]
	if !c.Running(i) {
		return nil
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
		return nil
	case <-time.After(timeout):
		c.Kill(i)
		return fmt.Errorf("%s did not stop within %v after SIGTERM", m.Name, timeout)
	}
}

// Pause stops member i with SIGSTOP; Resume continues it.
func (c *Cluster) Pause(i int) { _ = c.Members[i].cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused member.
func (c *Cluster) Resume(i int) { _ = c.Members[i].cmd.Process.Signal(syscall.SIGCONT) }

// Restart starts member i again from its data dir (after Kill or Stop).
func (c *Cluster) Restart(i int) error {
	if c.Running(i) {
		return fmt.Errorf("%s is still running", c.Members[i].Name)
	}
	return c.start(c.Members[i])
}

// ClientURLs lists the members' client URLs.
func (c *Cluster) ClientURLs() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// Close kills every member.
func (c *Cluster) Close() {
	for i, m := range c.Members {
		c.Kill(i)
		if m.logFile != nil {
			m.logFile.Close()
		}
	}
}

// Log returns member i's log so far (when logs go to files).
func (c *Cluster) Log(i int) string {
	b, _ := os.ReadFile(filepath.Join(c.opts.Dir, c.Members[i].Name+".log"))
	return string(b)
}

// WaitLeader waits until every running member (except those listed in
// skip) names the same leader in /v2/members/leader, and returns the index
// of that leader in Members.
func (c *Cluster) WaitLeader(ctx context.Context, skip ...int) (int, error) {
	hc := &http.Client{Timeout: time.Second}
	var last error
	for {
		leader, err := c.agreedLeader(ctx, hc, skip)
		if err == nil {
			return leader, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("no agreed leader: %v", last)
		case <-time.After(20 * time.Millisecond):
			// Polling another process: there is no event to wait on.
		}
	}
}

func (c *Cluster) agreedLeader(ctx context.Context, hc *http.Client, skip []int) (int, error) {
	var id string
	for i, m := range c.Members {
		if !c.Running(i) || slices.Contains(skip, i) {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.ClientURL+"/v2/members/leader", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return -1, err
		}
		var body struct {
			ID         string   `json:"id"`
			ClientURLs []string `json:"clientURLs"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return -1, fmt.Errorf("%s: no leader (%s)", m.Name, resp.Status)
		}
		if id != "" && body.ID != id {
			return -1, errors.New("members disagree on the leader")
		}
		id = body.ID
	}
	if id == "" {
		return -1, errors.New("no member running")
	}
	// Find the leader's index by asking each member for its own id.
	for i, m := range c.Members {
		if !c.Running(i) {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.ClientURL+"/v2/stats/self", nil)
		resp, err := hc.Do(req)
		if err != nil {
			continue
		}
		var self struct {
			ID string `json:"id"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&self)
		resp.Body.Close()
		if self.ID == id {
			return i, nil
		}
	}
	return -1, fmt.Errorf("leader %s is not a running member", id)
}

type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i]); err != nil {
			return 0, err
		}
		p.buf = p.buf[i+1:]
	}
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Build compiles ./cmd/raftkv once per process and returns the binary's
// path. Call it from tests (it finds the module root from this file).
func Build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "raftkv-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "raftkv")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/raftkv")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/raftkv: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// New starts an n-member cluster for a test: it builds the binary, waits
// for a leader, and kills the members (printing their logs if the test
// failed) at cleanup.
func New(t testing.TB, n int, args ...string) *Cluster {
	t.Helper()
	dir := t.TempDir()
	c, err := Start(Options{Bin: Build(t), Dir: dir, Members: n, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			for i, m := range c.Members {
				t.Logf("--- log of %s ---\n%s", m.Name, tail(c.Log(i), 60))
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
