package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/raftkv/raftkv/client"
)

func watchCommand() *command {
	var forever, recursive bool
	var afterIndex uint64
	return &command{
		name:  "watch",
		usage: "watch a key for changes",
		args:  "<key>",
		desc: `Waits for the next change of <key> and prints it as get does (the new
value; "PrevNode.Value: <old>" for a delete or an expiry), then exits.
With --forever it prints every change until Ctrl-C (exit 0); with
--recursive it watches a directory's tree and prints "[<action>] <key>"
before each change. Changes of directories themselves are skipped.

--after-index N starts from the first change after index N, from the
server's history of the last 1000 events: nothing is missed between a get
(whose -o extended output shows "Index: N") and the watch. If those events
have left the history the watch fails with error 401. With --forever, a
watch that falls that far behind later prints a warning, reads the current
index and goes on from there.`,
		examples: []string{
			"raftkvctl watch /message",
			"raftkvctl watch --forever --recursive /config",
			"raftkvctl watch --after-index 42 /message",
		},
		flags: func(fs *flagSet) {
			fs.boolVar(&forever, "forever,f", "watch until Ctrl-C")
			fs.indexVar(&afterIndex, "after-index", "start with the first change after this index")
			fs.boolVar(&recursive, "recursive,r", "watch the keys below the directory too")
		},
		run: func(a *app, args []string) int {
			if ok, code := a.checkArgs(args, []string{"key"}, 1); !ok {
				return code
			}
			return a.watchLoop(args[0], recursive, afterIndex, forever, false, func(ev *client.Response) error {
				if recursive {
					fmt.Fprintf(a.out, "[%s] %s\n", ev.Action, ev.Node.Key)
				}
				a.printResponse(ev)
				return nil
			})
		},
	}
}

func execWatchCommand() *command {
	var recursive bool
	var afterIndex uint64
	return &command{
		name:  "exec-watch",
		usage: "watch a key for changes and run a command for each",
		args:  "<key> <command> [args...]",
		desc: `Watches <key> until Ctrl-C and, for every change, runs <command> with
the environment variables ETCD_WATCH_ACTION, ETCD_WATCH_MODIFIED_INDEX,
ETCD_WATCH_KEY and ETCD_WATCH_VALUE set, its output passed through. One
command runs at a time, in the order of the changes. Flags after <command>
are the command's; "--" may separate them: exec-watch /k -- ls -l.
Directory changes are skipped (noted on stderr).`,
		examples: []string{
			`raftkvctl exec-watch /config/app -- sh -c 'echo "$ETCD_WATCH_KEY is now $ETCD_WATCH_VALUE"'`,
			"raftkvctl exec-watch --recursive /config -- /usr/local/bin/reload",
		},
		stopAfter: 2,
		flags: func(fs *flagSet) {
			fs.indexVar(&afterIndex, "after-index", "start with the first change after this index")
			fs.boolVar(&recursive, "recursive,r", "watch the keys below the directory too")
		},
		run: func(a *app, args []string) int {
			if len(args) < 2 {
				return a.badArgs("key and command to exec required")
			}
			key, argv := args[0], args[1:]
			return a.watchLoop(key, recursive, afterIndex, true, true, func(ev *client.Response) error {
				cmd := exec.CommandContext(a.ctx, argv[0], argv[1:]...)
				cmd.Env = append(os.Environ(),
					"ETCD_WATCH_ACTION="+ev.Action,
					"ETCD_WATCH_MODIFIED_INDEX="+strconv.FormatUint(ev.Node.ModifiedIndex, 10),
					"ETCD_WATCH_KEY="+ev.Node.Key,
					"ETCD_WATCH_VALUE="+ev.Node.Value,
				)
				cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, a.out, a.err
				if err := cmd.Start(); err != nil {
					return err
				}
				// The command's own exit status is its business.
				_ = cmd.Wait()
				return nil
			})
		},
	}
}

// watchLoop watches key and calls handle for each change of a file, once
// or until the context ends (Ctrl-C: exit 0). A handle error ends it with
// exit 1.
// Directory changes are skipped, with a note on stderr if noteDirs.
func (a *app) watchLoop(key string, recursive bool, afterIndex uint64, forever, noteDirs bool, handle func(*client.Response) error) int {
	c, code := a.newClient(true)
	if c == nil {
		return code
	}
	w := c.Watcher(key, &client.WatcherOptions{Recursive: recursive, AfterIndex: afterIndex})
	defer w.Close()
	first := true
	for {
		ev, err := w.Next(a.ctx)
		if a.ctx.Err() != nil {
			return exitSuccess // Ctrl-C
		}
		if client.IsEventIndexCleared(err) && forever && !first {
			// Fallen out of the history while between polls: say so, and
			// go on from the current index.
			ctx, cancel := a.commandContext()
			resp, gerr := c.Get(ctx, key, nil)
			cancel()
			idx := uint64(0)
			if gerr == nil {
				idx = resp.Index
			} else if v2, ok := gerr.(*client.Error); ok {
				idx = v2.Index
			} else {
				return a.keysError(gerr)
			}
			fmt.Fprintf(a.err, "Warning: changes of %s after index %d are no longer in the history and were missed; watching from index %d\n", key, w.NextIndex()-1, idx)
			w.Close()
			w = c.Watcher(key, &client.WatcherOptions{Recursive: recursive, AfterIndex: idx})
			continue
		}
		if err != nil {
			return a.keysError(err)
		}
		first = false
		if ev.Node.Dir {
			if noteDirs {
				fmt.Fprintf(a.err, "Ignored dir %s change\n", ev.Node.Key)
			}
			continue
		}
		if err := handle(ev); err != nil {
			fmt.Fprintln(a.err, "Error: ", err)
			return exitBadArgs
		}
		if !forever {
			return exitSuccess
		}
	}
}
