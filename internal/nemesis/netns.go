package nemesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ErrUnavailable is returned when this machine cannot run the nemesis:
// not root, no ip or iptables, or network namespaces refused.
var ErrUnavailable = errors.New("nemesis: network namespaces are not available")

// nsPrefix starts the name of every namespace a nemesis makes; the pid
// that follows tells leftovers of a killed run (pid gone) from a live
// run's.
const nsPrefix = "rkvnem-"

// owned holds the name prefixes of the namespaces this process makes
// (each run's, and Available's probe). A namespace named with this
// process's pid but no owned prefix is a leftover of an earlier process
// that had the same pid (pids are reused): removeLeftovers removes it
// like any other, where trusting the pid alone would keep it, and the
// run that then asks for the same name would fail.
var owned sync.Map // prefix -> struct{}

func own(prefix string) { owned.Store(prefix, struct{}{}) }

func ownedHere(name string) bool {
	found := false
	owned.Range(func(k, _ any) bool {
		found = strings.HasPrefix(name, k.(string))
		return !found
	})
	return found
}

// subnet is the private network inside the namespaces: the clients'
// namespace holds the bridge with clientAddr, member i has memberAddr(i).
const clientAddr = "10.77.0.1"

func memberAddr(i int) string { return fmt.Sprintf("10.77.0.%d", 11+i) }

// network is the namespaces, veth pairs and bridge of one run:
//
//	namespace <prefix>c:  br0 (10.77.0.1/24), vm1..vmN (bridge ports)
//	namespace <prefix>mI: eth0 (10.77.0.1I/24), the peer of vmI
//
// Nothing is configured in the root namespace: the members run in theirs
// (ip netns exec), the clients' sockets are made in the clients' (dial).
type network struct {
	prefix  string
	members int
	// nsFd is the clients' namespace, open for setns.
	nsFd int
}

func (n *network) clientNS() string      { return n.prefix + "c" }
func (n *network) memberNS(i int) string { return fmt.Sprintf("%sm%d", n.prefix, i+1) }

// run runs a command and returns its error with its output.
func run(ctx context.Context, stdin string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// Available reports why this machine cannot run the nemesis (wrapped
// ErrUnavailable), or nil. It makes and removes a probe namespace.
func Available(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root", ErrUnavailable)
	}
	for _, bin := range []string{"ip", "iptables-restore"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%w: %s not found (apt-get install iproute2 iptables)", ErrUnavailable, bin)
		}
	}
	probe := fmt.Sprintf("%s%dprobe", nsPrefix, os.Getpid())
	own(probe)
	if err := run(ctx, "", "ip", "netns", "add", probe); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer run(context.Background(), "", "ip", "netns", "del", probe)
	if err := run(ctx, "*filter\nCOMMIT\n", "ip", "netns", "exec", probe, "iptables-restore"); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

// removeLeftovers deletes the namespaces of nemesis runs whose process is
// gone (killed before it cleaned up) and returns their names.
func removeLeftovers(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var gone []string
	var failed error
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		digits := name
		if i := strings.IndexFunc(name, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
			digits = name[:i]
		}
		pid, err := strconv.Atoi(digits)
		if err != nil {
			continue
		}
		if pid == os.Getpid() {
			if ownedHere(e.Name()) {
				continue
			}
		} else if pidAlive(pid) {
			continue
		}
		// Members of a killed run outlive it, still in their namespace.
		killNamespacePids(ctx, e.Name())
		if err := run(ctx, "", "ip", "netns", "del", e.Name()); err != nil {
			// Go on with the others: one that cannot be removed now
			// must not keep this run from starting.
			failed = errors.Join(failed, err)
			continue
		}
		gone = append(gone, e.Name())
	}
	return gone, failed
}

// killNamespacePids SIGKILLs every process in namespace name.
func killNamespacePids(ctx context.Context, name string) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", name).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// setupNetwork makes the namespaces of a run with tag (unique within
// this process) for members members.
func setupNetwork(ctx context.Context, tag string, members int) (*network, error) {
	n := &network{prefix: fmt.Sprintf("%s%d%s-", nsPrefix, os.Getpid(), tag), members: members, nsFd: -1}
	own(n.prefix)
	ok := false
	defer func() {
		if !ok {
			n.teardown()
		}
	}()
	c := n.clientNS()
	steps := [][]string{
		{"netns", "add", c},
		{"-n", c, "link", "set", "lo", "up"},
		{"-n", c, "link", "add", "br0", "type", "bridge"},
		{"-n", c, "addr", "add", clientAddr + "/24", "dev", "br0"},
		{"-n", c, "link", "set", "br0", "up"},
	}
	for i := range members {
		m, port := n.memberNS(i), fmt.Sprintf("vm%d", i+1)
		steps = append(steps,
			[]string{"netns", "add", m},
			[]string{"-n", m, "link", "set", "lo", "up"},
			[]string{"-n", m, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", c},
			[]string{"-n", m, "addr", "add", memberAddr(i) + "/24", "dev", "eth0"},
			[]string{"-n", m, "link", "set", "eth0", "up"},
			[]string{"-n", c, "link", "set", port, "master", "br0"},
			[]string{"-n", c, "link", "set", port, "up"},
		)
	}
	for _, s := range steps {
		if err := run(ctx, "", "ip", s...); err != nil {
			return nil, err
		}
	}
	fd, err := syscall.Open("/run/netns/"+c, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	n.nsFd = fd
	ok = true
	return n, nil
}

// teardown deletes the run's namespaces (their veths and the bridge go
// with them). Safe to call more than once and on a half-made network.
func (n *network) teardown() {
	if n.nsFd >= 0 {
		syscall.Close(n.nsFd)
		n.nsFd = -1
	}
	names := []string{n.clientNS()}
	for i := range n.members {
		names = append(names, n.memberNS(i))
	}
	for _, name := range names {
		if _, err := os.Stat("/run/netns/" + name); err == nil {
			_ = run(context.Background(), "", "ip", "netns", "del", name)
		}
	}
}

// wrap is the command prefix that runs member i in its namespace.
func (n *network) wrap(i int) []string { return []string{"ip", "netns", "exec", n.memberNS(i)} }

// dial connects from inside the clients' namespace.
func (n *network) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNamespace(n.nsFd, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// inNamespace runs f in the network namespace open as fd. A socket
// belongs to the namespace of the thread that makes it, so f runs on a
// fresh goroutine locked to its OS thread, which enters the namespace
// (setns) and is never unlocked: the runtime ends the thread when the
// goroutine returns, so no thread in another namespace goes back to the
// pool. Sockets made by f are used afterwards from any thread.
func inNamespace(fd int, f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if _, _, e := syscall.Syscall(sysSetns, uintptr(fd), syscall.CLONE_NEWNET, 0); e != 0 {
			ch <- fmt.Errorf("setns: %v", e)
			return
		}
		ch <- f()
	}()
	return <-ch
}

// setRules replaces member i's INPUT rules: packets from the listed
// members are dropped (a cut link seen from i's side). The clients'
// address is never dropped.
func (n *network) setRules(ctx context.Context, i int, dropFrom []int) error {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for _, j := range dropFrom {
		fmt.Fprintf(&b, "-A INPUT -s %s/32 -j DROP\n", memberAddr(j))
	}
	b.WriteString("COMMIT\n")
	return run(ctx, b.String(), "ip", "netns", "exec", n.memberNS(i), "iptables-restore")
}
