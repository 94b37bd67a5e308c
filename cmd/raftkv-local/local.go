package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/raftkv/raftkv/internal/testcluster"
)

const (
	// stopTimeout bounds a member's graceful stop before it is killed.
	stopTimeout = 15 * time.Second
	// healthyTimeout bounds the wait for a restarted member to answer
	// /health (it may have a long log to catch up on).
	healthyTimeout = 60 * time.Second
	// leaderPoll is how often the members are asked who leads.
	leaderPoll = 500 * time.Millisecond
	// logTailLines of a dead member's log are printed.
	logTailLines = 8
)

// run starts the cluster cfg describes, serves the control socket and
// watches the members until ctx is done, then stops them. Events go to out.
func run(ctx context.Context, cfg config, out io.Writer) error {
	sock := filepath.Join(cfg.Dir, socketName)
	// Before --fresh removes anything: is a raftkv-local running here?
	if pid, err := probe(sock); err == nil {
		return fmt.Errorf("another raftkv-local (pid %d) is running the cluster in %s: stop it first, or talk to it with %s",
			pid, cfg.Dir, cmdLine(cfg, "status"))
	}
	if err := checkLeftovers(cfg.Dir); err != nil {
		return err
	}
	if cfg.Fresh {
		if err := os.RemoveAll(cfg.Dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	if err := checkLayout(cfg); err != nil {
		return err
	}
	_ = os.Remove(sock) // left by a raftkv-local that was killed
	ln, err := net.Listen("unix", sock)
	if err != nil && len(sock) >= 100 {
		return fmt.Errorf("control socket: %v (a unix socket's path is limited to about 100 bytes: use a shorter --data-dir)", err)
	} else if err != nil {
		return fmt.Errorf("control socket: %v", err)
	}
	defer os.Remove(sock)
	defer ln.Close()

	opts := testcluster.Options{
		Bin: cfg.Bin, Dir: cfg.Dir, Members: cfg.Members, ClientPorts: cfg.ClientPorts, PeerPorts: cfg.PeerPorts,
		Token: "raftkv-local", HeartbeatMs: cfg.HeartbeatMs, ElectionMs: cfg.ElectionMs, TLS: cfg.TLS,
		Logs: cfg.Logs, OwnProcessGroup: true,
	}
	c, err := testcluster.Start(opts)
	if err != nil {
		return err
	}
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	leader, err := waitLeader(wctx, c)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return stopAll(c, out)
		}
		return fmt.Errorf("the cluster found no leader: %v (logs in %s)", err, cfg.Dir)
	}
	if err := writeLayout(cfg); err != nil {
		return err
	}

	l := &local{cfg: cfg, c: c, ctx: ctx, out: out, hc: c.HTTPClient(time.Second),
		why: make([]string, len(c.Members)), seen: make([]chan struct{}, len(c.Members))}
	for i := range c.Members {
		l.watch(i)
	}
	l.printf("%s", banner(l, leader))

	srv := &http.Server{Handler: l.controlHandler()}
	go func() { _ = srv.Serve(ln) }()
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		l.watchLeader(leader)
	}()
	if cfg.Keys != nil {
		go l.readKeys(cfg.Keys)
	}

	<-ctx.Done()
	_ = srv.Close()
	bg.Wait()
	l.ops.Lock() // let a kill or restart under way finish first
	defer l.ops.Unlock()
	return stopAll(c, out)
}

// layout is what a data dir's cluster was made with, kept in
// <data-dir>/cluster.json: restarted members ignore the --initial-* flags,
// so a cluster cannot change its size or its URL scheme by a restart.
type layout struct {
	Members int  `json:"members"`
	TLS     bool `json:"tls"`
}

const layoutName = "cluster.json"

// checkLayout refuses to run cfg on a data dir made for another cluster
// size or scheme.
func checkLayout(cfg config) error {
	p := filepath.Join(cfg.Dir, layoutName)
	want := layout{Members: cfg.Members, TLS: cfg.TLS}
	var have layout
	known := false
	if b, err := os.ReadFile(p); err == nil {
		known = json.Unmarshal(b, &have) == nil
	}
	if !known {
		// Made before cluster.json was: count the members' data dirs.
		for i := 1; ; i++ {
			if _, err := os.Stat(filepath.Join(cfg.Dir, fmt.Sprintf("m%d.raftkv", i))); err != nil {
				break
			}
			have.Members = i
		}
		have.TLS = want.TLS
	}
	again := "start a new one with --fresh (which deletes it) or on another --data-dir"
	switch {
	case have.Members != 0 && have.Members != want.Members:
		return fmt.Errorf("%s holds a %d-member cluster: run it with --members %d, or %s", cfg.Dir, have.Members, have.Members, again)
	case have.Members != 0 && have.TLS && !want.TLS:
		return fmt.Errorf("%s holds a TLS cluster: run it with --tls, or %s", cfg.Dir, again)
	case have.Members != 0 && !have.TLS && want.TLS:
		return fmt.Errorf("%s holds a cluster without TLS: run it without --tls, or %s", cfg.Dir, again)
	}
	return nil
}

// writeLayout records cfg's layout once its cluster has run.
func writeLayout(cfg config) error {
	b, _ := json.Marshal(layout{Members: cfg.Members, TLS: cfg.TLS})
	return os.WriteFile(filepath.Join(cfg.Dir, layoutName), append(b, '\n'), 0o644)
}

// stopAll stops every running member gracefully.
func stopAll(c *testcluster.Cluster, out io.Writer) error {
	fmt.Fprintln(out, "\nstopping...")
	var errs []error
	for i := range c.Members {
		if err := c.Stop(i, stopTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		fmt.Fprintln(out, "all members stopped")
	}
	return errors.Join(errs...)
}

// local is a running raftkv-local: the cluster and what watches it.
type local struct {
	cfg config
	c   *testcluster.Cluster
	// ctx is done when raftkv-local is stopping: exits are then expected.
	ctx context.Context
	hc  *http.Client

	outMu sync.Mutex
	out   io.Writer

	// ops serialises kill, stop and restart.
	ops sync.Mutex
	// mu guards why and seen.
	mu sync.Mutex
	// why[i] says why member i's current process is ending when it was
	// asked to ("killed on request"); "" otherwise.
	why []string
	// seen[i] is closed once the exit of member i's current process has
	// been recorded (a restart waits for it).
	seen []chan struct{}
}

func (l *local) printf(format string, args ...any) {
	l.outMu.Lock()
	defer l.outMu.Unlock()
	fmt.Fprintf(l.out, format, args...)
}

// watch reports the exit of member i's current process.
func (l *local) watch(i int) {
	seen := make(chan struct{})
	l.mu.Lock()
	l.seen[i] = seen
	l.mu.Unlock()
	exited, pid := l.c.Exited(i), l.c.PID(i)
	go func() {
		<-exited
		status := l.c.ExitStatus(i)
		l.mu.Lock()
		why := l.why[i]
		l.why[i] = ""
		l.mu.Unlock()
		close(seen)
		if l.ctx.Err() == nil {
			l.printf("%s", l.exitReport(i, pid, status, why))
		}
	}()
}

// exitReport tells that member i (process pid) ended with status, what
// the others can still do, and how to bring it back.
func (l *local) exitReport(i, pid int, status, why string) string {
	var b strings.Builder
	name := l.c.Members[i].Name
	if why != "" {
		fmt.Fprintf(&b, "\nraftkv-local: %s (pid %d) %s: %s\n", name, pid, why, status)
	} else {
		fmt.Fprintf(&b, "\nraftkv-local: %s (pid %d) exited: %s\n%s", name, pid, status, logEnd(l.c, i))
	}
	var up []string
	for j, m := range l.c.Members {
		if l.c.Running(j) {
			up = append(up, m.Name)
		}
	}
	n, quorum := len(l.c.Members), len(l.c.Members)/2+1
	switch {
	case len(up) == 0:
		fmt.Fprintf(&b, "  no member is running\n")
	case len(up) >= quorum:
		fmt.Fprintf(&b, "  %s keep serving (%d of %d members run; a majority is %d)\n", strings.Join(up, ", "), len(up), n, quorum)
	default:
		fmt.Fprintf(&b, "  only %s of %d members run: no majority (%d), so writes and quorum reads wait until enough are back\n",
			strings.Join(up, ", "), n, quorum)
	}
	fmt.Fprintf(&b, "  bring it back: %s\n", cmdLine(l.cfg, "restart", name))
	if l.cfg.Keys != nil {
		fmt.Fprintf(&b, "  (or type: r %s)\n", strings.TrimPrefix(name, "m"))
	}
	return b.String()
}

// logEnd is the last lines of member i's log file, indented under a
// heading, or a pointer to the logs when they are not in files (--logs).
func logEnd(c *testcluster.Cluster, i int) string {
	p := c.LogPath(i)
	if p == "" {
		return fmt.Sprintf("  (its log is above: the lines that start with %q)\n", c.Members[i].Name+" |")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  the end of %s:\n", p)
	for line := range strings.SplitSeq(c.LogTail(i, logTailLines), "\n") {
		fmt.Fprintf(&b, "    %s\n", line)
	}
	return b.String()
}

// member finds a member by name ("m2", or just "2").
func (l *local) member(name string) (int, error) {
	for i, m := range l.c.Members {
		if name == m.Name || "m"+name == m.Name {
			return i, nil
		}
	}
	var names []string
	for _, m := range l.c.Members {
		names = append(names, m.Name)
	}
	return -1, &requestError{http.StatusNotFound, fmt.Sprintf("no member %q (members: %s)", name, strings.Join(names, ", "))}
}

// requestError is a request that the cluster's members or their state
// do not allow (an unknown member, killing an exited one, restarting a
// running one); code is its HTTP status on the control socket.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func conflict(format string, args ...any) error {
	return &requestError{http.StatusConflict, fmt.Sprintf(format, args...)}
}

// kill kills member i with SIGKILL (graceful: SIGTERM) and returns once it
// has exited.
func (l *local) kill(i int, graceful bool) (string, error) {
	l.ops.Lock()
	defer l.ops.Unlock()
	m := l.c.Members[i]
	if l.ctx.Err() != nil {
		return "", conflict("raftkv-local is stopping")
	}
	pid := l.c.PID(i)
	if !l.c.Running(i) {
		return "", conflict("%s is not running (it exited: %s); bring it back with %s",
			m.Name, l.c.ExitStatus(i), cmdLine(l.cfg, "restart", m.Name))
	}
	l.mu.Lock()
	if graceful {
		l.why[i] = "stopped on request"
	} else {
		l.why[i] = "killed on request"
	}
	l.mu.Unlock()
	if graceful {
		if err := l.c.Stop(i, stopTimeout); err != nil {
			return "", err
		}
		return fmt.Sprintf("stopped %s (pid %d): %s\n", m.Name, pid, l.c.ExitStatus(i)), nil
	}
	l.c.Kill(i)
	return fmt.Sprintf("killed %s (pid %d): %s\n", m.Name, pid, l.c.ExitStatus(i)), nil
}

// restart starts member i again on its data dir and waits until it
// answers /health, or exits, or healthyTimeout passes.
func (l *local) restart(ctx context.Context, i int) (string, error) {
	m := l.c.Members[i]
	pid, exited, err := l.start(i)
	if err != nil {
		return "", err
	}
	l.printf("raftkv-local: %s restarted (pid %d) on %s\n", m.Name, pid, m.DataDir)
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, healthyTimeout)
	defer cancel()
	for {
		if l.healthy(ctx, i) {
			msg := fmt.Sprintf("%s (pid %d) is back: healthy at %s after %.1fs\n", m.Name, pid, m.ClientURL, time.Since(start).Seconds())
			l.printf("raftkv-local: %s", msg)
			return msg, nil
		}
		select {
		case <-exited:
			return "", fmt.Errorf("%s (pid %d) exited again: %s\n%s",
				m.Name, pid, l.c.ExitStatus(i), strings.TrimSuffix(logEnd(l.c, i), "\n"))
		case <-ctx.Done():
			return "", fmt.Errorf("%s (pid %d) runs but is not healthy after %v\n%s", m.Name, pid, healthyTimeout, strings.TrimSuffix(logEnd(l.c, i), "\n"))
		case <-time.After(100 * time.Millisecond):
			// Polling another process: there is no event to wait on.
		}
	}
}

// start starts member i's process again and returns its pid and exit
// channel.
func (l *local) start(i int) (int, <-chan struct{}, error) {
	l.ops.Lock()
	defer l.ops.Unlock()
	m := l.c.Members[i]
	if l.ctx.Err() != nil {
		return 0, nil, conflict("raftkv-local is stopping")
	}
	if l.c.Running(i) {
		return 0, nil, conflict("%s is running (pid %d); kill or stop it first", m.Name, l.c.PID(i))
	}
	l.mu.Lock()
	seen := l.seen[i]
	l.mu.Unlock()
	<-seen // its exit is recorded: the watcher reads the old process's status
	if err := l.c.Restart(i); err != nil {
		return 0, nil, err
	}
	l.watch(i)
	return l.c.PID(i), l.c.Exited(i), nil
}

func (l *local) healthy(ctx context.Context, i int) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.c.Members[i].ClientURL+"/health", nil)
	if err != nil {
		return false
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct {
		Health string `json:"health"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&body) == nil && body.Health == "true"
}

// memberStatus is one member in the answer to status.
type memberStatus struct {
	Name      string `json:"name"`
	PID       int    `json:"pid"`
	Running   bool   `json:"running"`
	Exit      string `json:"exit,omitempty"`
	ClientURL string `json:"clientURL"`
	// Role is the raft state the member reports in /v2/stats/self
	// (leader, follower, candidate, ...), "" if it does not answer.
	Role string `json:"role,omitempty"`
	Term uint64 `json:"term,omitempty"`
}

// statusReply answers status.
type statusReply struct {
	PID     int            `json:"pid"`
	Dir     string         `json:"dir"`
	Members []memberStatus `json:"members"`
}

func (l *local) status(ctx context.Context) statusReply {
	r := statusReply{PID: os.Getpid(), Dir: l.cfg.Dir}
	for i, m := range l.c.Members {
		s := memberStatus{Name: m.Name, PID: l.c.PID(i), Running: l.c.Running(i), ClientURL: m.ClientURL}
		if s.Running {
			s.Role, s.Term = l.role(ctx, i)
		} else {
			s.Exit = l.c.ExitStatus(i)
		}
		r.Members = append(r.Members, s)
	}
	return r
}

// role asks member i for its raft state and term.
func (l *local) role(ctx context.Context, i int) (string, uint64) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.c.Members[i].ClientURL+"/v2/stats/self", nil)
	if err != nil {
		return "", 0
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return "", 0
	}
	defer resp.Body.Close()
	var self struct {
		State    string `json:"state"`
		RaftTerm uint64 `json:"raftTerm"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&self) != nil {
		return "", 0
	}
	return strings.ToLower(strings.TrimPrefix(self.State, "State")), self.RaftTerm
}

// watchLeader announces each new leader until l.ctx is done.
func (l *local) watchLeader(leader int) {
	var lastTerm uint64 // 0: not seen yet
	t := time.NewTicker(leaderPoll)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(l.ctx, leaderPoll)
		now, term := -1, uint64(0)
		for i := range l.c.Members {
			if !l.c.Running(i) {
				continue
			}
			if role, t := l.role(ctx, i); role == "leader" && t >= term {
				now, term = i, t
			}
		}
		cancel()
		switch {
		case now < 0:
			continue // an election, or no majority
		case now != leader:
			l.printf("raftkv-local: %s is the leader now (term %d)\n", l.c.Members[now].Name, term)
		case lastTerm != 0 && term > lastTerm:
			l.printf("raftkv-local: %s is the leader again (term %d)\n", l.c.Members[now].Name, term)
		}
		leader, lastTerm = now, term
	}
}

// cmdLine is the command line of a raftkv-local command against this
// cluster ("bin/raftkv-local restart m2").
func cmdLine(cfg config, args ...string) string {
	parts := []string{cfg.Self, args[0]}
	if filepath.Clean(cfg.Dir) != defaultDir {
		parts = append(parts, "--data-dir", cfg.Dir)
	}
	return strings.Join(append(parts, args[1:]...), " ")
}

// banner is what raftkv-local prints once the cluster has a leader: the
// endpoints, lines to try (with the certificate flags for a TLS cluster)
// and how to kill and restart members.
func banner(l *local, leader int) string {
	c := l.c
	endpoints := strings.Join(c.ClientURLs(), ",")
	first, second := c.Members[0].ClientURL, c.Members[min(1, len(c.Members)-1)].ClientURL
	curl, ctl, tlsNote := "curl -L", "bin/raftkvctl --endpoints "+endpoints, ""
	if f := c.TLS; f != nil {
		curl = fmt.Sprintf("curl -L --cacert %s --cert %s --key %s", f.CAFile, f.ClientCert, f.ClientKey)
		ctl = fmt.Sprintf("bin/raftkvctl --endpoints %s --cacert %s --cert %s --key %s", endpoints, f.CAFile, f.ClientCert, f.ClientKey)
		tlsNote = fmt.Sprintf(`  TLS: https with client certificates, mutual TLS between members
  certificates (CA, server, client CN root, members): %s
`, f.Dir)
	}
	var pids []string
	for i, m := range c.Members {
		pids = append(pids, m.Name+"="+strconv.Itoa(c.PID(i)))
	}
	name := c.Members[leader].Name
	var lb strings.Builder
	tw := tabwriter.NewWriter(&lb, 0, 0, 3, ' ', 0)
	fmt.Fprintf(tw, "  %s\teach member's pid, process and raft role\n", cmdLine(l.cfg, "status"))
	fmt.Fprintf(tw, "  %s\tSIGKILL the leader (or kill -9 its pid)\n", cmdLine(l.cfg, "kill", name))
	fmt.Fprintf(tw, "  %s\tstart it again on its data dir\n", cmdLine(l.cfg, "restart", name))
	_ = tw.Flush()
	lifecycle := lb.String()
	keys := ""
	if l.cfg.Keys != nil {
		keys = "  or type here: s (status), k 1 (kill m1), r 1 (restart m1), then Enter\n"
	}
	return fmt.Sprintf(`raftkv: %d-member cluster running; leader is %s
  client URLs: %s
  dashboard: %s/dashboard/ (every member serves it)
  pids: %s
  data and logs: %s
%s
Try:
  %s -X PUT %s/v2/keys/message -d value="Hello"
  %s %s/v2/keys/message
  %s %s/v2/members
  %s set /message Hello
  %s get /message

Lose a member and bring it back (from another terminal; the others keep serving):
%s%s
Ctrl-C stops all members.
`, len(c.Members), name, endpoints, first, strings.Join(pids, " "), l.cfg.Dir, tlsNote,
		curl, first, curl, first, curl, second, ctl, ctl, lifecycle, keys)
}

// waitLeader waits for a leader, giving up early if a member exits (a
// port in use, say).
func waitLeader(ctx context.Context, c *testcluster.Cluster) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := range c.Members {
		go func() {
			select {
			case <-c.Exited(i):
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	leader, err := c.WaitLeader(ctx)
	for i := range c.Members {
		if !c.Running(i) {
			return -1, fmt.Errorf("member %s exited: %s\n%s", c.Members[i].Name, c.ExitStatus(i), strings.TrimSuffix(logEnd(c, i), "\n"))
		}
	}
	return leader, err
}
