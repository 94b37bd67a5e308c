// Command raftkv-local runs a local raftkv cluster on loopback: what
// `make run` starts. By default three members with client ports 2379,
// 22379 and 32379 and peer ports 2380, 22380 and 32380 (five with
// --members 5: 42379 and 52379 too), data in ./local.raftkv (kept between
// runs; --fresh starts over). It waits for a leader, prints the endpoints
// and lines to try, and stops every member gracefully on Ctrl-C (SIGINT)
// or SIGTERM.
//
// A member that exits or is killed is reported (pid, exit status, the end
// of its log, how to bring it back) and the others keep serving; the
// leader it watches is announced when it changes. From another terminal,
//
//	raftkv-local status        each member's pid, process state, raft role and client URL
//	raftkv-local kill m2       SIGKILL member m2
//	raftkv-local stop m2       stop m2 gracefully (SIGTERM)
//	raftkv-local restart m2    start m2 again on its data dir and wait until it is healthy
//
// talk to the running raftkv-local through a unix socket in its data dir
// (<data-dir>/control.sock); when raftkv-local runs in a terminal, the
// same commands can be typed there (s, k 2, r 2).
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
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/term"
)

const defaultDir = "local.raftkv"

func main() {
	if len(os.Args) > 1 {
		if _, ok := commands[os.Args[1]]; ok {
			os.Exit(command(os.Args[1], os.Args[2:], self(), os.Stdout, os.Stderr))
		}
	}
	bin := flag.String("bin", "", "the raftkv binary (default: raftkv next to this program, then $PATH)")
	dir := flag.String("data-dir", defaultDir, "directory for the members' data dirs and logs, and the control socket")
	fresh := flag.Bool("fresh", false, "remove --data-dir first and bootstrap a new cluster")
	var members int
	flag.IntVar(&members, "members", 3, "number of members, 1 to 5 (3 or 5 survive losing members)")
	flag.IntVar(&members, "n", 3, "shorthand for --members")
	heartbeat := flag.Int("heartbeat-interval", 100, "ms")
	election := flag.Int("election-timeout", 1000, "ms")
	logs := flag.Bool("logs", false, "print the members' logs here instead of to files in --data-dir")
	useTLS := flag.Bool("tls", false, "https with client certificates, and mutual TLS between members, on a CA and certificates made in --data-dir/tls")
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Sprintf("unknown command %q (commands: status, kill, stop, restart; see --help)", flag.Arg(0)))
	}

	if *bin == "" {
		*bin = findRaftkv()
	}
	if members < 1 || members > 5 {
		fail("--members must be 1 to 5")
	}
	cfg := config{
		Bin: *bin, Dir: *dir, Fresh: *fresh, Members: members,
		ClientPorts: []int{2379, 22379, 32379, 42379, 52379}[:members],
		PeerPorts:   []int{2380, 22380, 32380, 42380, 52380}[:members],
		HeartbeatMs: *heartbeat, ElectionMs: *election, TLS: *useTLS, Self: self(),
	}
	if *logs {
		cfg.Logs = os.Stderr
	}
	// Typed commands only from a terminal: under make in CI, stdin is not
	// one and nothing reads it.
	if term.IsTerminal(int(os.Stdin.Fd())) {
		cfg.Keys = os.Stdin
		// Run in the background (raftkv-local &), a read from the terminal
		// would stop the whole process; ignored, it fails instead (and the
		// reader tries again later).
		signal.Ignore(syscall.SIGTTIN)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fail(err.Error())
	}
}

func usage() {
	w := flag.CommandLine.Output()
	fmt.Fprintf(w, `Usage:
  raftkv-local [flags]                 run a local cluster until Ctrl-C
  raftkv-local status [--data-dir D]   each member of the running cluster: pid, process, raft role, client URL
  raftkv-local kill [--data-dir D] m2  SIGKILL a member (the others keep serving)
  raftkv-local stop [--data-dir D] m2  stop a member gracefully (SIGTERM)
  raftkv-local restart [--data-dir D] m2
                                       start a member again on its data dir and wait until it is healthy

Flags of the cluster:
`)
	flag.PrintDefaults()
}

// self is how to call this program again in the hints it prints
// ("bin/raftkv-local" under make run).
func self() string {
	if p := filepath.Clean(os.Args[0]); filepath.Base(p) != p {
		return p
	}
	return os.Args[0]
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

// config is what run needs: the flags, resolved.
type config struct {
	Bin, Dir string
	Fresh    bool
	Members  int
	// ClientPorts and PeerPorts fix the ports; nil picks free ones (tests).
	ClientPorts, PeerPorts  []int
	HeartbeatMs, ElectionMs int
	// Logs, if set, takes the members' logs instead of files in Dir.
	Logs io.Writer
	TLS  bool
	// Self is how the hints name this program ("bin/raftkv-local").
	Self string
	// Keys, if set, is a terminal to read typed commands from.
	Keys io.Reader
}
