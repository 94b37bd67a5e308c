package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/client/concurrency"
)

// exitLost: the lock or the leadership was lost while held.
const exitLost = 6

// Where the lock and election of a NAME live: hidden directories, so that
// "ls /" does not list them.
const (
	lockRoot  = "/_locks"
	electRoot = "/_elections"
)

// defaultLockTTL is the TTL of lock and election keys, in seconds, as
// etcdctl v3's --ttl default.
const defaultLockTTL = 10

// nameDir is the directory of NAME under root: root/NAME, which must stay
// below root.
func nameDir(root, name string) (string, error) {
	dir := path.Clean(root + "/" + name)
	if name == "" || !strings.HasPrefix(dir, root+"/") {
		return "", fmt.Errorf("bad name %q: it must name a directory below %s", name, root)
	}
	return dir, nil
}

func lockCommand() *command {
	ttl := uint64(defaultLockTTL)
	return &command{
		name:  "lock",
		usage: "acquire a distributed lock, and hold it or run a command under it",
		args:  "<name> [command [args...]]",
		desc: `Waits for the lock <name> (the directory ` + lockRoot + `/<name>), first come
first served. Without a command it prints the lock's key and its fencing
token, one a line, and holds the lock until Ctrl-C, then releases it
(exit 0). With a command it runs the command while holding the lock, with
RAFTKV_LOCK_KEY and RAFTKV_LOCK_TOKEN (and etcdctl's ETCD_LOCK_KEY and
ETCD_LOCK_REV, the same values) in its environment, releases the lock when
the command ends, and exits with the command's exit code. Flags after
<command> are the command's; "--" may separate them.

The lock's key has a TTL (--ttl) that raftkvctl refreshes while it holds
the lock. If the lock is lost (its key deleted or expired, or no refresh
succeeding for the TTL, as when raftkvctl is cut off or paused), the
command's process group (the command and its children) is killed
(SIGKILL) at once and raftkvctl exits 6.

The fencing token is the key's createdIndex, higher for every later
holder: pass it with each write to the resource the lock protects, and
have the resource refuse a token lower than one it has seen. A holder
that was paused past its TTL may not know it lost the lock; the token is
what keeps it from overwriting a newer holder's work.`,
		examples: []string{
			"raftkvctl lock backup",
			"raftkvctl lock backup -- sh -c 'pg_dump db > /backups/db.$RAFTKV_LOCK_TOKEN'",
			"raftkvctl lock --ttl 30 deploy ./deploy.sh",
		},
		stopAfter: 2,
		flags: func(fs *flagSet) {
			fs.ttlVar(&ttl, "ttl", "time to live of the lock's key, refreshed while held (default 10)")
		},
		run: func(a *app, args []string) int {
			if len(args) == 0 {
				return a.badArgs("lock name required")
			}
			dir, c, code := a.holdClient(lockRoot, args[0], ttl)
			if c == nil {
				return code
			}
			m := concurrency.NewMutex(c, dir, ttlDuration(ttl))
			if err := m.Lock(a.ctx); err != nil {
				if a.ctx.Err() != nil {
					return exitSuccess // Ctrl-C while waiting
				}
				return a.keysError(err)
			}
			key, token := m.Key(), m.Token()
			defer a.release(m.Unlock)
			if len(args) == 1 {
				a.printHold(key, token, nil)
				return a.holdUntil(m.Done(), m.Err, "lock")
			}
			t := strconv.FormatUint(token, 10)
			return a.runLocked(args[1:], m.Done(), m.Err, []string{
				"RAFTKV_LOCK_KEY=" + key, "RAFTKV_LOCK_TOKEN=" + t,
				"ETCD_LOCK_KEY=" + key, "ETCD_LOCK_REV=" + t,
			})
		},
	}
}

func electCommand() *command {
	ttl := uint64(defaultLockTTL)
	var listen bool
	return &command{
		name:  "elect",
		usage: "campaign in a leader election, or observe its leaders",
		args:  "<name> [proposal]",
		desc: `Campaigns in the election <name> (the directory ` + electRoot + `/<name>) with
<proposal> as its value, and waits to be elected, first come first
served. Once elected it prints the leader's key and the proposal, one a
line, and leads until Ctrl-C, then resigns (exit 0). If the leadership is
lost (its key deleted or expired, or no refresh succeeding for the TTL),
it says so and exits 6.

With -l it does not campaign but observes: it prints the key and the value
of the leader, and again at each change of leader or of the leader's
value, until Ctrl-C. A vacancy (no candidate left) prints nothing.`,
		examples: []string{
			"raftkvctl elect web http://10.0.0.1:8080",
			"raftkvctl elect -l web",
		},
		flags: func(fs *flagSet) {
			fs.boolVar(&listen, "listen,l", "observe the leaders instead of campaigning")
			fs.ttlVar(&ttl, "ttl", "time to live of the candidate's key, refreshed while it runs (default 10)")
		},
		run: func(a *app, args []string) int {
			if len(args) == 0 {
				return a.badArgs("election name required")
			}
			if listen && len(args) > 1 {
				return a.badArgs("-l observes: it takes no proposal")
			}
			if !listen && len(args) < 2 {
				return a.badArgs("proposal required (or -l to observe)")
			}
			if ok, code := a.checkArgs(args, nil, 2); !ok {
				return code
			}
			dir, c, code := a.holdClient(electRoot, args[0], ttl)
			if c == nil {
				return code
			}
			e := concurrency.NewElection(c, dir, ttlDuration(ttl))
			if listen {
				for l := range e.Observe(a.ctx) {
					if l.Key != "" {
						a.printHold(l.Key, l.Token, &l.Value)
					}
				}
				return exitSuccess // Ctrl-C
			}
			if err := e.Campaign(a.ctx, args[1]); err != nil {
				if a.ctx.Err() != nil {
					return exitSuccess
				}
				return a.keysError(err)
			}
			defer a.release(e.Resign)
			a.printHold(e.Key(), e.Token(), &args[1])
			return a.holdUntil(e.Done(), e.Err, "leadership")
		},
	}
}

// holdClient checks the name and --ttl of a lock or an election and makes
// the client: it returns the name's directory under root and the client,
// or a nil client and the exit code.
func (a *app) holdClient(root, name string, ttl uint64) (string, *client.Client, int) {
	dir, err := nameDir(root, name)
	if err != nil {
		return "", nil, a.badArgs(err.Error())
	}
	if ttl == 0 {
		return "", nil, a.badArgs("--ttl must be at least 1 second")
	}
	c, code := a.newClient(true)
	return dir, c, code
}

// printHold prints a lock's key and token, or a leader's key and value,
// in the --output format: simple is the key, then the token or value;
// extended has "Key:" and "Token:" lines (and the value after a blank
// line); json has key, token (and value).
func (a *app) printHold(key string, token uint64, value *string) {
	switch a.output {
	case "json":
		v := map[string]any{"key": key, "token": token}
		if value != nil {
			v["value"] = *value
		}
		a.printJSON(v)
	case "extended":
		fmt.Fprintln(a.out, "Key:", key)
		fmt.Fprintln(a.out, "Token:", token)
		if value != nil {
			fmt.Fprintln(a.out)
			fmt.Fprintln(a.out, *value)
		}
	default:
		fmt.Fprintln(a.out, key)
		if value != nil {
			fmt.Fprintln(a.out, *value)
		} else {
			fmt.Fprintln(a.out, token)
		}
	}
}

// holdUntil holds until Ctrl-C (exit 0) or the loss (exit 6).
func (a *app) holdUntil(done <-chan struct{}, why func() error, what string) int {
	select {
	case <-a.ctx.Done():
		return exitSuccess
	case <-done:
		return a.lost(what, why())
	}
}

func (a *app) lost(what string, err error) int {
	fmt.Fprintf(a.err, "Error:  %s lost: %v\n", what, err)
	return exitLost
}

// release gives a lock or leadership up, on a context of its own: the
// command's may have ended with Ctrl-C.
func (a *app) release(fn func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(a.ctx), a.totalTimeout)
	defer cancel()
	if err := fn(ctx); err != nil && !errors.Is(err, concurrency.ErrNotHeld) {
		fmt.Fprintf(a.err, "Warning: releasing: %v (the key expires after its TTL)\n", err)
	}
}

// runLocked runs argv with env added while the lock is held. It returns
// the command's exit code; if the lock is lost first the command is
// killed and the exit code is 6; Ctrl-C sends the command SIGTERM (and
// SIGKILL 10s later) and waits for it.
//
// The command runs in a process group of its own, and the signals go to
// the whole group: a shell's children (sh -c 'a; b') must stop acting
// too when the lock is lost, and Wait would otherwise wait for them
// while they hold the output pipes open. (A process that leaves the
// group, by setsid or setpgid, escapes.) Being outside the terminal's
// foreground group, the command is stopped (SIGTTIN) if it reads from
// the terminal.
func (a *app) runLocked(argv []string, done <-chan struct{}, why func() error, env []string) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.in, a.out, a.err
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(a.err, "Error: ", err)
		return exitBadArgs
	}
	// The group's id is the command's pid (Setpgid with Pgid 0).
	signalGroup := func(sig syscall.Signal) { _ = syscall.Kill(-cmd.Process.Pid, sig) }
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return exitCodeOf(err)
	case <-done:
		// Stop acting at once: the lock may be someone else's already.
		signalGroup(syscall.SIGKILL)
		<-exited
		fmt.Fprintf(a.err, "Error:  lock lost: %v; killed %s\n", why(), argv[0])
		return exitLost
	case <-a.ctx.Done():
		signalGroup(syscall.SIGTERM)
		t := time.NewTimer(10 * time.Second)
		defer t.Stop()
		select {
		case err := <-exited:
			return exitCodeOf(err)
		case <-t.C:
			signalGroup(syscall.SIGKILL)
			return exitCodeOf(<-exited)
		case <-done:
			signalGroup(syscall.SIGKILL)
			<-exited
			fmt.Fprintf(a.err, "Error:  lock lost: %v; killed %s\n", why(), argv[0])
			return exitLost
		}
	}
}

// exitCodeOf is a command's exit code as a shell reports it: 128+n for a
// death by signal n.
func exitCodeOf(err error) int {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if err != nil {
			return exitBadArgs
		}
		return exitSuccess
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}
