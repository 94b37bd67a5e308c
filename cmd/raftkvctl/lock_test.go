package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/client/clienttest"
)

// lockFixture is a clienttest server, a client of it, and a runner of
// raftkvctl in this process against it.
type lockFixture struct {
	srv *clienttest.Server
	c   *client.Client
	r   *runner
	ctx context.Context
}

func newLockFixture(t *testing.T) *lockFixture {
	t.Helper()
	srv := clienttest.NewServer()
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{Endpoints: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return &lockFixture{srv: srv, c: c, r: &runner{env: map[string]string{"RAFTKVCTL_ENDPOINTS": srv.URL}}, ctx: ctx}
}

// start runs raftkvctl in the background.
func (f *lockFixture) start(t *testing.T, args ...string) *proc {
	t.Helper()
	return f.r.start(t, args, "", nil)
}

// lines waits until p printed n lines on stdout and returns them.
func (f *lockFixture) lines(t *testing.T, p *proc, n int) []string {
	t.Helper()
	select {
	case <-p.out.await(n):
	case res := <-p.done:
		t.Fatalf("the command ended before printing %d lines: exit %d\nstdout:\n%s\nstderr:\n%s", n, res.code, res.stdout, res.stderr)
	case <-f.ctx.Done():
		t.Fatalf("no %d lines; stdout:\n%s\nstderr:\n%s", n, p.out, p.err)
	}
	return strings.Split(strings.TrimSuffix(p.out.String(), "\n"), "\n")[:n]
}

// files waits, by watching, until dir holds at least n files, and returns
// them in creation order.
func (f *lockFixture) files(t *testing.T, dir string, n int) []*client.Node {
	t.Helper()
	for {
		var files []*client.Node
		var index uint64
		resp, err := f.c.Get(f.ctx, dir, &client.GetOptions{Sort: true, Quorum: true})
		var v2 *client.Error
		switch {
		case err == nil:
			index = resp.Index
			files = append(files, resp.Node.Nodes...)
		case errors.As(err, &v2) && v2.Code == client.ErrorCodeKeyNotFound:
			index = v2.Index
		default:
			t.Fatal(err)
		}
		if len(files) >= n {
			return files
		}
		if _, err := f.c.Watcher(dir, &client.WatcherOptions{Recursive: true, AfterIndex: index}).Next(f.ctx); err != nil {
			t.Fatalf("waiting for %d keys in %s: %v", n, dir, err)
		}
	}
}

var reLockKey = regexp.MustCompile(`^/_locks/db/(\d{20})$`)

// TestLockCommand takes a lock, queues a second raftkvctl lock that runs a
// command behind it, and checks the order, the keys, the tokens and the
// command's environment and exit code.
func TestLockCommand(t *testing.T) {
	f := newLockFixture(t)
	a := f.start(t, "lock", "--ttl", "60", "db")
	out := f.lines(t, a, 2)
	m := reLockKey.FindStringSubmatch(out[0])
	if m == nil {
		t.Fatalf("lock printed %q, want the key /_locks/db/<index>", out)
	}
	tokA, _ := strconv.ParseUint(out[1], 10, 64)
	if idx, _ := strconv.ParseUint(m[1], 10, 64); idx != tokA {
		t.Errorf("token %s is not the key's index (%s)", out[1], out[0])
	}
	resp, err := f.c.Get(f.ctx, out[0], nil)
	if err != nil || resp.Node.CreatedIndex != tokA || resp.Node.TTL == 0 {
		t.Fatalf("the lock's key: %+v, %v", resp, err)
	}

	b := f.start(t, "lock", "--ttl", "60", "db", "--", "sh", "-c", `echo "$RAFTKV_LOCK_TOKEN $RAFTKV_LOCK_KEY $ETCD_LOCK_REV $ETCD_LOCK_KEY"; exit 3`)
	queue := f.files(t, "/_locks/db", 2)
	if b.out.String() != "" {
		t.Fatalf("the second lock ran its command while the first held the lock: %q", b.out)
	}
	a.stop()
	if res := a.wait(t); res.code != 0 || res.stderr != "" {
		t.Errorf("lock after Ctrl-C: exit %d, stderr %q", res.code, res.stderr)
	}
	res := b.wait(t)
	tokB := queue[1].CreatedIndex
	want := fmt.Sprintf("%d %s %d %s\n", tokB, queue[1].Key, tokB, queue[1].Key)
	if res.code != 3 || res.stdout != want {
		t.Errorf("lock with a command: exit %d, stdout %q, want exit 3 and %q; stderr %q", res.code, res.stdout, want, res.stderr)
	}
	if tokB <= tokA {
		t.Errorf("second token %d not above the first %d", tokB, tokA)
	}
	if left := f.files(t, "/_locks/db", 0); len(left) != 0 {
		t.Errorf("keys left after both released: %v", left)
	}

	// The other output formats.
	j := f.start(t, "-o", "json", "lock", "--ttl", "60", "db")
	var v struct {
		Key   string
		Token uint64
	}
	if err := json.Unmarshal([]byte(f.lines(t, j, 1)[0]), &v); err != nil || !reLockKey.MatchString(v.Key) || v.Token <= tokB {
		t.Errorf("-o json: %q (%v)", j.out, err)
	}
	j.stop()
	j.wait(t)
	x := f.start(t, "-o", "extended", "lock", "--ttl", "60", "db")
	if out := f.lines(t, x, 2); !strings.HasPrefix(out[0], "Key: /_locks/db/") || !strings.HasPrefix(out[1], "Token: ") {
		t.Errorf("-o extended: %q", out)
	}
	x.stop()
	x.wait(t)
}

// TestLockCommandKilledOnLoss deletes the lock's key while its command
// runs: the command must be killed and raftkvctl exit 6.
func TestLockCommandKilledOnLoss(t *testing.T) {
	f := newLockFixture(t)
	p := f.start(t, "lock", "--ttl", "60", "job", "sh", "-c", "echo started; exec sleep 600")
	f.lines(t, p, 1)
	keys := f.files(t, "/_locks/job", 1)
	if _, err := f.c.Delete(f.ctx, keys[0].Key, nil); err != nil {
		t.Fatal(err)
	}
	res := p.wait(t)
	if res.code != exitLost || !strings.HasPrefix(res.stderr, "Error:  lock lost: concurrency: lost: the key was deleted") ||
		!strings.HasSuffix(res.stderr, "; killed sh\n") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}

// TestLockHeldLost: lock without a command exits 6 when its key goes.
func TestLockHeldLost(t *testing.T) {
	f := newLockFixture(t)
	p := f.start(t, "lock", "--ttl", "60", "db")
	out := f.lines(t, p, 2)
	if _, err := f.c.Delete(f.ctx, out[0], nil); err != nil {
		t.Fatal(err)
	}
	if res := p.wait(t); res.code != exitLost || !strings.HasPrefix(res.stderr, "Error:  lock lost: ") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}

// TestElectCommand runs two candidates and an observer.
func TestElectCommand(t *testing.T) {
	f := newLockFixture(t)
	obs := f.start(t, "elect", "-l", "web")
	a := f.start(t, "elect", "--ttl", "60", "web", "one")
	outA := f.lines(t, a, 2)
	if !strings.HasPrefix(outA[0], "/_elections/web/") || outA[1] != "one" {
		t.Fatalf("first candidate printed %q", outA)
	}
	if got := f.lines(t, obs, 2); got[0] != outA[0] || got[1] != "one" {
		t.Errorf("observer printed %q, want %q", got, outA)
	}
	b := f.start(t, "elect", "--ttl", "60", "web", "two")
	queue := f.files(t, "/_elections/web", 2)
	if b.out.String() != "" {
		t.Fatalf("second candidate elected while the first leads: %q", b.out)
	}
	a.stop()
	if res := a.wait(t); res.code != 0 {
		t.Errorf("first candidate after Ctrl-C: exit %d, stderr %q", res.code, res.stderr)
	}
	outB := f.lines(t, b, 2)
	if outB[0] != queue[1].Key || outB[1] != "two" {
		t.Errorf("second candidate printed %q, want %s and two", outB, queue[1].Key)
	}
	if got := f.lines(t, obs, 4); got[2] != outB[0] || got[3] != "two" {
		t.Errorf("observer printed %q", got)
	}
	b.stop()
	b.wait(t)
	obs.stop()
	if res := obs.wait(t); res.code != 0 || strings.Count(res.stdout, "\n") != 4 {
		t.Errorf("observer: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
}

// TestLockElectBadArgs checks the errors for bad command lines.
func TestLockElectBadArgs(t *testing.T) {
	f := newLockFixture(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"lock"}, "Error:  lock name required\n"},
		{[]string{"lock", ".."}, "Error:  bad name \"..\": it must name a directory below /_locks\n"},
		{[]string{"lock", "--ttl", "0", "x"}, "Error:  --ttl must be at least 1 second\n"},
		{[]string{"elect"}, "Error:  election name required\n"},
		{[]string{"elect", "web"}, "Error:  proposal required (or -l to observe)\n"},
		{[]string{"elect", "-l", "web", "p"}, "Error:  -l observes: it takes no proposal\n"},
		{[]string{"elect", "web", "p", "q"}, "Error:  too many arguments: [\"q\"] (quote a value that has spaces)\n"},
	} {
		res := f.r.start(t, c.args, "", nil).wait(t)
		if res.code != exitBadArgs || res.stderr != c.want || res.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 1, %q", c.args, res.code, res.stdout, res.stderr, c.want)
		}
	}
}

// TestLockCommandInterrupted: Ctrl-C while the command runs sends it
// SIGTERM, waits for it, releases the lock and exits with its status.
func TestLockCommandInterrupted(t *testing.T) {
	f := newLockFixture(t)
	p := f.start(t, "lock", "--ttl", "60", "job", "sh", "-c", "echo started; exec sleep 600")
	f.lines(t, p, 1)
	f.files(t, "/_locks/job", 1)
	p.stop()
	if res := p.wait(t); res.code != 128+15 || res.stderr != "" {
		t.Errorf("exit %d (want 143: the command's death by SIGTERM), stderr %q", res.code, res.stderr)
	}
	if left := f.files(t, "/_locks/job", 0); len(left) != 0 {
		t.Errorf("the lock was not released: %v", left)
	}
}

// TestElectLost: a leader whose key goes says so and exits 6.
func TestElectLost(t *testing.T) {
	f := newLockFixture(t)
	p := f.start(t, "elect", "--ttl", "60", "web", "one")
	out := f.lines(t, p, 2)
	if _, err := f.c.Delete(f.ctx, out[0], nil); err != nil {
		t.Fatal(err)
	}
	if res := p.wait(t); res.code != exitLost || !strings.HasPrefix(res.stderr, "Error:  leadership lost: concurrency: lost: the key was deleted") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}

// TestLockPausedHolder stops a raftkvctl lock (the built binary) with
// SIGSTOP past its TTL while its command runs on: the key expires, a second
// raftkvctl takes the lock with a higher token, and when the first one is
// continued it finds the lock lost, kills its command and exits 6. (Its
// command kept running meanwhile: only the token tells a resource that its
// writes are stale.)
func TestLockPausedHolder(t *testing.T) {
	f := newLockFixture(t)
	bin := buildCtl(t)
	cmd := exec.Command(bin, "lock", "--ttl", "1", "db", "sh", "-c", "echo $RAFTKV_LOCK_TOKEN; exec sleep 600")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "RAFTKVCTL_ENDPOINTS=" + f.srv.URL}
	out, errOut := &lineWriter{}, &lineWriter{}
	cmd.Stdout, cmd.Stderr = out, errOut
	// A group of its own, so that cleanup can kill its command too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	select {
	case <-out.await(1):
	case err := <-exited:
		t.Fatalf("lock ended: %v; stderr %s", err, errOut)
	case <-f.ctx.Done():
		t.Fatalf("no token printed; stderr %s", errOut)
	}
	tok1, err := strconv.ParseUint(strings.TrimSpace(out.String()), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}

	second := f.start(t, "lock", "--ttl", "60", "db")
	tok2, _ := strconv.ParseUint(f.lines(t, second, 2)[1], 10, 64)
	if tok2 <= tok1 {
		t.Errorf("second holder's token %d not above the paused one's %d", tok2, tok1)
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-f.ctx.Done():
		t.Fatal("the continued holder did not end")
	}
	if code := cmd.ProcessState.ExitCode(); code != exitLost || !strings.HasPrefix(errOut.String(), "Error:  lock lost: concurrency: lost") {
		t.Errorf("continued holder: exit %d, stderr %q", code, errOut)
	}
	second.stop()
	if res := second.wait(t); res.code != 0 {
		t.Errorf("second holder: exit %d, stderr %q", res.code, res.stderr)
	}
}

// TestLockCommandKillsProcessGroup: the command's children die with it,
// when the lock is lost (SIGKILL) and on Ctrl-C (SIGTERM). A surviving
// child would also hold the output pipe open, and raftkvctl would wait
// for it.
func TestLockCommandKillsProcessGroup(t *testing.T) {
	for _, how := range []string{"lost", "interrupted"} {
		t.Run(how, func(t *testing.T) {
			f := newLockFixture(t)
			p := f.start(t, "lock", "--ttl", "60", "job", "--", "sh", "-c", "sleep 600 & echo $!; wait")
			child, err := strconv.Atoi(f.lines(t, p, 1)[0])
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
			keys := f.files(t, "/_locks/job", 1)
			wantCode := exitLost
			if how == "lost" {
				if _, err := f.c.Delete(f.ctx, keys[0].Key, nil); err != nil {
					t.Fatal(err)
				}
			} else {
				p.stop()
				wantCode = 128 + 15
			}
			select {
			case res := <-p.done:
				if res.code != wantCode {
					t.Errorf("exit %d, want %d; stderr %q", res.code, wantCode, res.stderr)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("raftkvctl did not end: waiting for the command's child %d? stderr:\n%s", child, p.err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for processAlive(child) {
				if time.Now().After(deadline) {
					t.Fatalf("the command's child %d outlived it", child)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// processAlive says whether pid runs: it is in /proc and not a zombie
// (its reaper, once its parent died, need not be quick).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
