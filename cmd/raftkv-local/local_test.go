package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testcluster"
)

// watchBuffer collects run's output and lets a test wait for a line.
type watchBuffer struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{} // closed and replaced on every write
}

func newWatchBuffer() *watchBuffer { return &watchBuffer{changed: make(chan struct{})} }

func (w *watchBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	close(w.changed)
	w.changed = make(chan struct{})
	return len(p), nil
}

func (w *watchBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitFor waits until the output holds s.
func (w *watchBuffer) waitFor(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		found, changed := strings.Contains(w.b.String(), s), w.changed
		w.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("after %v the output has no %q:\n%s", timeout, s, w.String())
		}
	}
}

// startLocal runs raftkv-local's run in the background on a fresh data
// dir with free ports, waits for its banner, and stops it at cleanup
// (checking that it stops cleanly).
func startLocal(t *testing.T, members int, keys io.Reader) (config, *watchBuffer) {
	t.Helper()
	cfg := config{
		Bin: testcluster.Build(t), Dir: t.TempDir(), Members: members,
		HeartbeatMs: 50, ElectionMs: 500, Self: "raftkv-local", Keys: keys,
	}
	out := newWatchBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(2 * stopTimeout):
			t.Errorf("run did not return %v after its context ended", 2*stopTimeout)
		}
		if t.Failed() {
			t.Logf("raftkv-local's output:\n%s", out.String())
		}
	})
	out.waitFor(t, fmt.Sprintf("raftkv: %d-member cluster running", members), 30*time.Second)
	return cfg, out
}

// ctl runs a raftkv-local command as the command line would, and returns
// its exit code, stdout and stderr.
func ctl(cfg config, args ...string) (int, string, string) {
	var stdout, stderr strings.Builder
	code := command(args[0], append([]string{"--data-dir", cfg.Dir}, args[1:]...), cfg.Self, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// untilOK retries a request against another process until it answers
// 2xx, or fails the test at the deadline.
func untilOK(t *testing.T, timeout time.Duration, method, u string, form url.Values) string {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequest(method, u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		var body struct {
			Node struct {
				Value string `json:"value"`
			} `json:"node"`
		}
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err == nil && resp.StatusCode/100 == 2 {
				return body.Node.Value
			}
			if err == nil {
				err = fmt.Errorf("%s", resp.Status)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %v after %v", method, u, err, timeout)
		}
		time.Sleep(50 * time.Millisecond) // polling another process: no event to wait on
	}
}

// The part of issue 18 that `make run` keeps going: a member killed from
// outside (kill -9) is reported with its pid, exit status, the end of its
// log and the command that brings it back; the others keep serving; the
// restart command brings it back through the control socket, healthy and
// caught up.
func TestMemberDeathIsReportedAndRestartBringsItBack(t *testing.T) {
	cfg, out := startLocal(t, 3, nil)

	// A second raftkv-local on the same data dir is refused before it
	// touches anything.
	cfg2 := cfg
	cfg2.Fresh = true
	if err := run(context.Background(), cfg2, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), "another raftkv-local") {
		t.Fatalf("a second raftkv-local on %s: %v, want another raftkv-local is running", cfg.Dir, err)
	}

	st, err := getStatus(filepath.Join(cfg.Dir, socketName))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 3 {
		t.Fatalf("status lists %d members, want 3: %+v", len(st.Members), st)
	}
	// Kill the leader, as the README's walk-through does.
	victim := slices.IndexFunc(st.Members, func(m memberStatus) bool { return m.Role == "leader" })
	if victim < 0 {
		t.Fatalf("no member reports itself leader: %+v", st.Members)
	}
	dead := st.Members[victim]
	var alive []memberStatus
	for i, m := range st.Members {
		if i != victim {
			alive = append(alive, m)
		}
	}
	if err := syscall.Kill(dead.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	out.waitFor(t, fmt.Sprintf("raftkv-local: %s (pid %d) exited: signal: killed", dead.Name, dead.PID), 10*time.Second)
	restartCmd := fmt.Sprintf("raftkv-local restart --data-dir %s %s", cfg.Dir, dead.Name)
	out.waitFor(t, "bring it back: "+restartCmd, time.Second)
	report := out.String()
	for _, want := range []string{
		"the end of " + filepath.Join(cfg.Dir, dead.Name+".log"),
		fmt.Sprintf("%s, %s keep serving (2 of 3 members run; a majority is 2)", alive[0].Name, alive[1].Name),
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the death report has no %q:\n%s", want, report)
		}
	}

	// The others elect a leader and serve a write and a quorum read.
	out.waitFor(t, "is the leader now", 10*time.Second)
	untilOK(t, 10*time.Second, http.MethodPut, alive[0].ClientURL+"/v2/keys/survivor", url.Values{"value": {"written-while-down"}})
	if v := untilOK(t, 5*time.Second, http.MethodGet, alive[1].ClientURL+"/v2/keys/survivor?quorum=true", nil); v != "written-while-down" {
		t.Fatalf("%s reads %q, want written-while-down", alive[1].Name, v)
	}

	// status says who is down; kill refuses a dead member, restart a
	// running one, and both name the way out.
	if code, stdout, stderr := ctl(cfg, "status"); code != 0 || !strings.Contains(stdout, "exited (signal: killed)") {
		t.Errorf("status: exit %d, stdout:\n%s\nstderr: %s", code, stdout, stderr)
	}
	if code, _, stderr := ctl(cfg, "kill", dead.Name); code != 1 || !strings.Contains(stderr, "is not running") || !strings.Contains(stderr, restartCmd) {
		t.Errorf("kill of the dead %s: exit %d, stderr %q", dead.Name, code, stderr)
	}
	if code, _, stderr := ctl(cfg, "restart", alive[0].Name); code != 1 || !strings.Contains(stderr, "is running") {
		t.Errorf("restart of the running %s: exit %d, stderr %q", alive[0].Name, code, stderr)
	}
	if code, _, stderr := ctl(cfg, "restart", "m9"); code != 1 || !strings.Contains(stderr, `no member "m9"`) {
		t.Errorf("restart m9: exit %d, stderr %q", code, stderr)
	}

	// Restart answers once the member is healthy; it has caught up.
	code, stdout, stderr := ctl(cfg, "restart", dead.Name)
	if code != 0 || !strings.Contains(stdout, "is back: healthy at "+dead.ClientURL) {
		t.Fatalf("restart %s: exit %d, stdout %q, stderr %q", dead.Name, code, stdout, stderr)
	}
	out.waitFor(t, fmt.Sprintf("raftkv-local: %s restarted (pid ", dead.Name), time.Second)
	if v := untilOK(t, 5*time.Second, http.MethodGet, dead.ClientURL+"/v2/keys/survivor?quorum=true", nil); v != "written-while-down" {
		t.Fatalf("the restarted %s reads %q, want written-while-down", dead.Name, v)
	}
	st, err = getStatus(filepath.Join(cfg.Dir, socketName))
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Members[victim]; !m.Running || m.PID == dead.PID {
		t.Fatalf("after the restart, status says %+v", m)
	}
}

// Killing through the control socket is reported as asked for, a
// 5-member cluster keeps its majority with two members down, and typed
// commands show the status and restart a member.
func TestFiveMembersLoseTwo(t *testing.T) {
	keys, typing := io.Pipe()
	t.Cleanup(func() { typing.Close() })
	cfg, out := startLocal(t, 5, keys)
	st, err := getStatus(filepath.Join(cfg.Dir, socketName))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 5 {
		t.Fatalf("status lists %d members, want 5", len(st.Members))
	}
	for _, name := range []string{"m1", "2"} {
		if code, stdout, stderr := ctl(cfg, "kill", name); code != 0 || !strings.Contains(stdout, "signal: killed") {
			t.Fatalf("kill %s: exit %d, stdout %q, stderr %q", name, code, stdout, stderr)
		}
	}
	out.waitFor(t, "raftkv-local: m2 (pid ", 5*time.Second)
	out.waitFor(t, "m3, m4, m5 keep serving (3 of 5 members run; a majority is 3)", 5*time.Second)
	if strings.Contains(out.String(), "the end of") {
		t.Errorf("a kill on request printed the member's log:\n%s", out.String())
	}
	out.waitFor(t, "(or type: r 2)", time.Second)
	untilOK(t, 10*time.Second, http.MethodPut, st.Members[4].ClientURL+"/v2/keys/five", url.Values{"value": {"3 of 5"}})

	fmt.Fprintln(typing, "s")
	out.waitFor(t, "exited (signal: killed)", 5*time.Second)
	fmt.Fprintln(typing, "r 2")
	out.waitFor(t, "raftkv-local: m2 restarted (pid ", 5*time.Second)
	out.waitFor(t, "is back: healthy at "+st.Members[1].ClientURL, 20*time.Second)
	fmt.Fprintln(typing, "r 3")
	out.waitFor(t, "m3 is running (pid ", 5*time.Second)
}

// A data dir made for one cluster size or scheme is refused to another,
// with the flags that run it and the way to start over.
func TestLayoutMismatchIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := checkLayout(config{Dir: dir, Members: 5}); err != nil {
		t.Fatalf("an empty data dir: %v", err)
	}
	if err := writeLayout(config{Dir: dir, Members: 3}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  config
		want string
	}{
		{config{Dir: dir, Members: 3}, ""},
		{config{Dir: dir, Members: 5}, "holds a 3-member cluster: run it with --members 3, or start a new one with --fresh"},
		{config{Dir: dir, Members: 3, TLS: true}, "holds a cluster without TLS: run it without --tls"},
	} {
		err := checkLayout(c.cfg)
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("checkLayout(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
	// A data dir from before cluster.json: its members' data dirs count.
	old := t.TempDir()
	for _, m := range []string{"m1.raftkv", "m2.raftkv", "m3.raftkv"} {
		if err := os.Mkdir(filepath.Join(old, m), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkLayout(config{Dir: old, Members: 5}); err == nil || !strings.Contains(err.Error(), "--members 3") {
		t.Errorf("5 members on 3 old data dirs: %v", err)
	}
}
