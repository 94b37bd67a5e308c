// Command raftkv-local runs a local raftkv cluster on loopback: what
// `make run` starts. By default three members with client ports 2379,
// 22379 and 32379 and peer ports 2380, 22380 and 32380, data in
// ./local.raftkv (kept between runs; --fresh starts over). It waits for a
// leader, prints the endpoints and lines to try, and stops every member
// gracefully on Ctrl-C (SIGINT) or SIGTERM.
//
// With --tls it first makes a CA and certificates in <data-dir>/tls (with
// Go's crypto/x509; kept between runs): the members serve https and
// require a client certificate, and talk to each other over mutual TLS.
// The lines it prints carry the curl and raftkvctl certificate flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/raftkv/raftkv/internal/testcluster"
)

func main() {
	bin := flag.String("bin", "", "the raftkv binary (default: raftkv next to this program, then $PATH)")
	dir := flag.String("data-dir", "local.raftkv", "directory for the members' data dirs and logs")
	fresh := flag.Bool("fresh", false, "remove --data-dir first and bootstrap a new cluster")
	members := flag.Int("members", 3, "number of members (1, 3 or 5)")
	heartbeat := flag.Int("heartbeat-interval", 100, "ms")
	election := flag.Int("election-timeout", 1000, "ms")
	logs := flag.Bool("logs", false, "print the members' logs here instead of to files in --data-dir")
	useTLS := flag.Bool("tls", false, "https with client certificates, and mutual TLS between members, on a CA and certificates made in --data-dir/tls")
	flag.Parse()

	if *bin == "" {
		*bin = findRaftkv()
	}
	if *members < 1 || *members > 5 {
		fail("--members must be 1 to 5")
	}
	if *fresh {
		if err := os.RemoveAll(*dir); err != nil {
			fail(err.Error())
		}
	}
	clientPorts := []int{2379, 22379, 32379, 42379, 52379}[:*members]
	peerPorts := []int{2380, 22380, 32380, 42380, 52380}[:*members]
	opts := testcluster.Options{
		Bin: *bin, Dir: *dir, Members: *members, ClientPorts: clientPorts, PeerPorts: peerPorts,
		Token: "raftkv-local", HeartbeatMs: *heartbeat, ElectionMs: *election, TLS: *useTLS,
	}
	if *logs {
		opts.Logs = os.Stderr
	}
	c, err := testcluster.Start(opts)
	if err != nil {
		fail(err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	leader, err := waitLeader(ctx, c)
	cancel()
	if err != nil {
		c.Close()
		fail(fmt.Sprintf("the cluster found no leader: %v (logs in %s)", err, *dir))
	}
	fmt.Print(banner(c, leader, *dir))

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	exited := make(chan int, len(c.Members))
	for i := range c.Members {
		go func() {
			<-c.Exited(i)
			exited <- i
		}()
	}
	select {
	case <-sigs:
	case i := <-exited:
		fmt.Fprintf(os.Stderr, "raftkv-local: member %s exited (see %s); stopping the others\n", c.Members[i].Name, filepath.Join(*dir, c.Members[i].Name+".log"))
	}
	fmt.Println("\nstopping...")
	code := 0
	for i := range c.Members {
		if err := c.Stop(i, 15*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "raftkv-local:", err)
			code = 1
		}
	}
	c.Close()
	os.Exit(code)
}

// banner is what raftkv-local prints once the cluster has a leader: the
// endpoints and lines to try (with the certificate flags for a TLS
// cluster).
func banner(c *testcluster.Cluster, leader int, dir string) string {
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
	return fmt.Sprintf(`raftkv: %d-member cluster running; leader is %s
  client URLs: %s
  data and logs: %s
%s
Try:
  %s -X PUT %s/v2/keys/message -d value="Hello"
  %s %s/v2/keys/message
  %s %s/v2/members
  %s set /message Hello
  %s get /message

Ctrl-C stops all members.
`, len(c.Members), c.Members[leader].Name, endpoints, dir, tlsNote,
		curl, first, curl, first, curl, second, ctl, ctl)
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
			return -1, fmt.Errorf("member %s exited:\n%s", c.Members[i].Name, c.Log(i))
		}
	}
	return leader, err
}

func findRaftkv() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "raftkv")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("raftkv"); err == nil {
		return p
	}
	fail("cannot find the raftkv binary: build it (go build -o bin/ ./cmd/...) or pass --bin")
	return ""
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "raftkv-local:", msg)
	os.Exit(1)
}
