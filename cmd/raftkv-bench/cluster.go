package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// localCluster is a 3-member cluster of some v2 server binary that the
// generator started on loopback (--server, --compare), each member in its
// own data directory under dir, its output in dir/<name>.log.
type localCluster struct {
	name    string // label in the reports: the binary's base name
	bin     string
	dir     string
	keep    bool
	cmds    []*exec.Cmd
	exited  []chan struct{}
	members []Member
}

// clusterSize is the number of members --server and --compare start.
const clusterSize = 3

// freePorts reserves n loopback ports by listening on port 0, then frees
// them for the members to take (another process could take one in
// between; the member then fails to start and says so in its log).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startCluster starts a fresh clusterSize-member cluster of bin with
// etcd's flags (which raftkv shares) and waits until every member is
// healthy. ETCD_ENABLE_V2=true is in the environment, so an etcd 3.x
// serves the v2 API (raftkv ignores it with a warning). extra goes to
// every member's command line.
func startCluster(ctx context.Context, bin string, extra []string, keep bool, stderr io.Writer) (*localCluster, error) {
	abs, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("server binary %q: %w", bin, err)
	}
	dir, err := os.MkdirTemp("", "raftkv-bench-"+filepath.Base(abs)+"-")
	if err != nil {
		return nil, err
	}
	lc := &localCluster{name: filepath.Base(abs), bin: abs, dir: dir, keep: keep}
	ports, err := freePorts(2 * clusterSize)
	if err != nil {
		lc.stop(stderr)
		return nil, err
	}
	url := func(p int) string { return "http://127.0.0.1:" + strconv.Itoa(p) }
	var initial []string
	for i := range clusterSize {
		initial = append(initial, fmt.Sprintf("m%d=%s", i, url(ports[2*i+1])))
	}
	token := "raftkv-bench-" + runID()
	for i := range clusterSize {
		name := "m" + strconv.Itoa(i)
		client, peer := url(ports[2*i]), url(ports[2*i+1])
		args := []string{
			"--name", name,
			"--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new", "--initial-cluster-token", token,
		}
		args = append(args, extra...)
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			lc.stop(stderr)
			return nil, err
		}
		cmd := exec.Command(abs, args...)
		cmd.Env = append(os.Environ(), "ETCD_ENABLE_V2=true")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			lc.stop(stderr)
			return nil, fmt.Errorf("starting %s: %w", abs, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
		lc.cmds = append(lc.cmds, cmd)
		lc.exited = append(lc.exited, done)
		lc.members = append(lc.members, Member{Endpoint: client, PID: cmd.Process.Pid})
	}
	c := newClient(clusterSize, time.Second, Access{})
	defer c.close()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lc.anyExited():
			cancel()
		case <-wctx.Done():
		}
	}()
	if err := waitHealthy(wctx, c.ops, lc.endpoints(), 60*time.Second); err != nil {
		if lc.exitedMember() >= 0 {
			err = fmt.Errorf("member %s of %s exited; see %s", lc.members[lc.exitedMember()].Endpoint, abs,
				filepath.Join(dir, "m"+strconv.Itoa(lc.exitedMember())+".log"))
			lc.keep = true
		}
		lc.stop(stderr)
		return nil, fmt.Errorf("%s cluster: %w", lc.name, err)
	}
	return lc, nil
}

func (lc *localCluster) endpoints() []string {
	out := make([]string, len(lc.members))
	for i, m := range lc.members {
		out[i] = m.Endpoint
	}
	return out
}

// anyExited is closed when some member exits.
func (lc *localCluster) anyExited() <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	for _, e := range lc.exited {
		go func() {
			<-e
			once.Do(func() { close(ch) })
		}()
	}
	return ch
}

// exitedMember is the index of a member that has exited, or -1.
func (lc *localCluster) exitedMember() int {
	for i, e := range lc.exited {
		select {
		case <-e:
			return i
		default:
		}
	}
	return -1
}

// stop ends every member (SIGTERM, then SIGKILL after 10 s) and removes
// the data unless keep.
func (lc *localCluster) stop(stderr io.Writer) {
	for _, cmd := range lc.cmds {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	for i, e := range lc.exited {
		select {
		case <-e:
		case <-time.After(10 * time.Second):
			_ = lc.cmds[i].Process.Kill()
			<-e
		}
	}
	if lc.keep {
		fmt.Fprintf(stderr, "raftkv-bench: kept the %s cluster's data and logs in %s\n", lc.name, lc.dir)
		return
	}
	if err := os.RemoveAll(lc.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(stderr, "raftkv-bench:", err)
	}
}
