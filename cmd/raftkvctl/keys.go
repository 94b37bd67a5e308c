package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/raftkv/raftkv/client"
)

// checkArgs checks the argument count of a command: want the required ones,
// at most max ("key required", "value required" as etcdctl words them).
func (a *app) checkArgs(args []string, names []string, max int) (bool, int) {
	if len(args) < len(names) {
		return false, a.badArgs(names[len(args)] + " required")
	}
	if len(args) > max {
		return false, a.badArgs(fmt.Sprintf("too many arguments: %q (quote a value that has spaces)", args[max:]))
	}
	return true, 0
}

// valueArg is args[1], or else all of stdin (as etcdctl: the bytes as they
// are, a final newline included). Empty stdin is an error.
func (a *app) valueArg(args []string) (string, bool) {
	if len(args) > 1 {
		return args[1], true
	}
	b, err := io.ReadAll(a.in)
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(b), true
}

func ttlDuration(s uint64) time.Duration { return time.Duration(s) * time.Second }

// keysCall runs one keys call with a synced client under --total-timeout,
// and prints its response unless print is nil; it returns the exit code.
func (a *app) keysCall(call func(ctx context.Context, c *client.Client) (*client.Response, error), print func(*client.Response)) int {
	return a.withClient(func(ctx context.Context, c *client.Client) int {
		resp, err := call(ctx, c)
		if err != nil {
			return a.keysError(err)
		}
		if print != nil {
			print(resp)
		}
		return exitSuccess
	})
}

// setValue is set, mk and update: it checks for <key> [<value>], takes a
// missing value from stdin, runs call with the value and prints the
// response.
func (a *app) setValue(args []string, call func(ctx context.Context, c *client.Client, value string) (*client.Response, error)) int {
	if ok, code := a.checkArgs(args, []string{"key"}, 2); !ok {
		return code
	}
	value, ok := a.valueArg(args)
	if !ok {
		return a.badArgs("value required")
	}
	return a.keysCall(func(ctx context.Context, c *client.Client) (*client.Response, error) {
		return call(ctx, c, value)
	}, a.printResponse)
}

// setDir is mkdir, setdir and updatedir: a Set of the directory <key> with
// a TTL and a prevExist condition, printing nothing.
func (a *app) setDir(args []string, ttl uint64, prevExist client.PrevExistType) int {
	if ok, code := a.checkArgs(args, []string{"key"}, 1); !ok {
		return code
	}
	return a.keysCall(func(ctx context.Context, c *client.Client) (*client.Response, error) {
		return c.Set(ctx, args[0], "", &client.SetOptions{Dir: true, TTL: ttlDuration(ttl), PrevExist: prevExist})
	}, nil)
}

const valueFromStdin = `If <value> is missing, it is read from stdin, byte for byte (a final
newline included): raftkvctl set /config/app < app.json.
A value that starts with "-" is read as a flag: write "set -- <key> <value>".`

func setCommand() *command {
	var ttl, swapIndex uint64
	var swapValue string
	return &command{
		name:  "set",
		usage: "set the value of a key",
		args:  "<key> <value>",
		desc: `Sets <key> to <value>, creating it (and missing parent directories) or
replacing it, and prints the new value. With --swap-with-value or
--swap-with-index it is a compare-and-swap: it fails with error 101 unless
the key still has that value or modified index.

` + valueFromStdin,
		examples: []string{
			"raftkvctl set /message Hello",
			"raftkvctl set /session/abc token --ttl 60",
			"raftkvctl set /counter 2 --swap-with-value 1",
			"echo -n hello | raftkvctl set /message",
		},
		flags: func(fs *flagSet) {
			fs.ttlVar(&ttl, "ttl", "time to live of the key; without it the key is permanent")
			fs.stringVar(&swapValue, "swap-with-value", "value", "set only if the current value is this (compare-and-swap)")
			fs.indexVar(&swapIndex, "swap-with-index", "set only if the key's modified index is this (compare-and-swap)")
		},
		run: func(a *app, args []string) int {
			return a.setValue(args, func(ctx context.Context, c *client.Client, value string) (*client.Response, error) {
				return c.Set(ctx, args[0], value, &client.SetOptions{TTL: ttlDuration(ttl), PrevValue: swapValue, PrevIndex: swapIndex})
			})
		},
	}
}

func mkCommand() *command {
	var ttl uint64
	var inOrder bool
	return &command{
		name:  "mk",
		usage: "make a new key with a value (fails if it exists)",
		args:  "<key> <value>",
		desc: `Creates <key> with <value> and prints the value; fails with error 105 if
the key exists, so it never overwrites. With --in-order, <key> is a
directory and the new key is created in it, named after the store index
(20 digits, zero-padded): names sort in the order they were made.

` + valueFromStdin,
		examples: []string{
			"raftkvctl mk /lock/owner $(hostname) --ttl 30",
			"raftkvctl mk --in-order /queue job-1",
			"raftkvctl -o extended mk --in-order /queue job-2",
		},
		flags: func(fs *flagSet) {
			fs.boolVar(&inOrder, "in-order", "create an in-order key under the directory <key>")
			fs.ttlVar(&ttl, "ttl", "time to live of the key")
		},
		run: func(a *app, args []string) int {
			return a.setValue(args, func(ctx context.Context, c *client.Client, value string) (*client.Response, error) {
				if inOrder {
					return c.CreateInOrder(ctx, args[0], value, &client.CreateInOrderOptions{TTL: ttlDuration(ttl)})
				}
				return c.Set(ctx, args[0], value, &client.SetOptions{TTL: ttlDuration(ttl), PrevExist: client.PrevNoExist})
			})
		},
	}
}

func mkdirCommand() *command {
	var ttl uint64
	return &command{
		name:     "mkdir",
		usage:    "make a new directory (fails if it exists)",
		args:     "<key>",
		desc:     "Creates the directory <key>; fails with error 105 if the key exists. Prints nothing.",
		examples: []string{"raftkvctl mkdir /config", "raftkvctl mkdir /tmp/job-7 --ttl 3600"},
		flags:    func(fs *flagSet) { fs.ttlVar(&ttl, "ttl", "time to live of the directory (and all it holds)") },
		run:      func(a *app, args []string) int { return a.setDir(args, ttl, client.PrevNoExist) },
	}
}

func setdirCommand() *command {
	var ttl uint64
	return &command{
		name:  "setdir",
		usage: "create a directory, or replace a file with one",
		args:  "<key>",
		desc: `Makes <key> a directory: creates it, or replaces a file of that name. On
an existing directory it fails with error 102 (use updatedir to change a
directory's TTL). Prints nothing.`,
		examples: []string{"raftkvctl setdir /config"},
		flags:    func(fs *flagSet) { fs.ttlVar(&ttl, "ttl", "time to live of the directory") },
		run:      func(a *app, args []string) int { return a.setDir(args, ttl, client.PrevIgnore) },
	}
}

func updateCommand() *command {
	var ttl uint64
	return &command{
		name:  "update",
		usage: "update an existing key with a value",
		args:  "<key> <value>",
		desc: `Replaces the value of <key>, which must exist (else error 100), and prints
it. Without --ttl the key becomes permanent: give --ttl again to keep one.

` + valueFromStdin,
		examples: []string{"raftkvctl update /message Goodbye", "raftkvctl update /session/abc token --ttl 60"},
		flags:    func(fs *flagSet) { fs.ttlVar(&ttl, "ttl", "time to live of the key; without it the key is permanent") },
		run: func(a *app, args []string) int {
			return a.setValue(args, func(ctx context.Context, c *client.Client, value string) (*client.Response, error) {
				return c.Set(ctx, args[0], value, &client.SetOptions{TTL: ttlDuration(ttl), PrevExist: client.PrevExist})
			})
		},
	}
}

func updatedirCommand() *command {
	var ttl uint64
	return &command{
		name:  "updatedir",
		usage: "update the TTL of an existing directory",
		args:  "<key>",
		desc: `Sets the TTL of the existing directory <key> (without --ttl it becomes
permanent); error 100 if it is missing. Prints nothing.`,
		examples: []string{"raftkvctl updatedir /tmp/job-7 --ttl 3600"},
		flags:    func(fs *flagSet) { fs.ttlVar(&ttl, "ttl", "new time to live of the directory") },
		run:      func(a *app, args []string) int { return a.setDir(args, ttl, client.PrevExist) },
	}
}

func getCommand() *command {
	var sorted, quorum bool
	return &command{
		name:  "get",
		usage: "retrieve the value of a key",
		args:  "<key>",
		desc: `Prints the value of <key>. For a directory it prints "<key>: is a
directory" to stderr and exits 1 (use ls). --quorum reads through the Raft
log, so the value is the latest committed one even on a member that lags.`,
		examples: []string{"raftkvctl get /message", "raftkvctl -o extended get /message", "raftkvctl get --quorum /message"},
		flags: func(fs *flagSet) {
			fs.boolVar(&sorted, "sort", "return the result in sorted order")
			fs.boolVar(&quorum, "quorum,q", "linearizable read through the Raft log")
		},
		run: func(a *app, args []string) int {
			if ok, code := a.checkArgs(args, []string{"key"}, 1); !ok {
				return code
			}
			return a.keysCall(func(ctx context.Context, c *client.Client) (*client.Response, error) {
				resp, err := c.Get(ctx, args[0], &client.GetOptions{Sort: sorted, Quorum: quorum})
				if err == nil && resp.Node.Dir {
					return nil, errIsDir{resp.Node.Key}
				}
				return resp, err
			}, a.printResponse)
		},
	}
}

// errIsDir is get's answer for a directory: a local error, exit 1.
type errIsDir struct{ key string }

func (e errIsDir) Error() string { return e.key + ": is a directory" }

func lsCommand() *command {
	var sorted, recursive, slash, quorum bool
	return &command{
		name:  "ls",
		usage: "list a directory",
		args:  "[key]",
		desc: `Prints the keys in directory [key] (default /), one a line; for a file,
its own key. With -o extended or -o json it prints the whole response.`,
		examples: []string{"raftkvctl ls", "raftkvctl ls --recursive -p /config", "raftkvctl ls --sort /queue"},
		flags: func(fs *flagSet) {
			fs.boolVar(&sorted, "sort", "return the result in sorted order")
			fs.boolVar(&recursive, "recursive,r", "list every key below the directory")
			fs.boolVar(&slash, "p", "append a slash (/) to directories")
			fs.boolVar(&quorum, "quorum,q", "linearizable read through the Raft log")
		},
		run: func(a *app, args []string) int {
			if ok, code := a.checkArgs(args, nil, 1); !ok {
				return code
			}
			key := "/"
			if len(args) == 1 {
				key = args[0]
			}
			return a.keysCall(func(ctx context.Context, c *client.Client) (*client.Response, error) {
				return c.Get(ctx, key, &client.GetOptions{Sort: sorted, Recursive: recursive, Quorum: quorum})
			}, func(resp *client.Response) {
				if a.output != "simple" {
					a.printResponse(resp)
					return
				}
				if !resp.Node.Dir {
					fmt.Fprintln(a.out, resp.Node.Key)
				}
				var walk func(n *client.Node)
				walk = func(n *client.Node) {
					if n.Dir && slash {
						fmt.Fprintln(a.out, n.Key+"/")
					} else {
						fmt.Fprintln(a.out, n.Key)
					}
					for _, child := range n.Nodes {
						walk(child)
					}
				}
				for _, n := range resp.Node.Nodes {
					walk(n)
				}
			})
		},
	}
}

func rmCommand() *command {
	var dir, recursive bool
	var withValue string
	var withIndex uint64
	return &command{
		name:  "rm",
		usage: "remove a key or a directory",
		args:  "<key>",
		desc: `Removes <key> and prints "PrevNode.Value: <old value>" (nothing for a
directory). A directory needs --dir (if empty) or --recursive. With
--with-value or --with-index it is a compare-and-delete: error 101 unless
the key still has that value or modified index.`,
		examples: []string{"raftkvctl rm /message", "raftkvctl rm --recursive /config", "raftkvctl rm /lock/owner --with-value $(hostname)"},
		flags: func(fs *flagSet) {
			fs.boolVar(&dir, "dir", "remove the key if it is an empty directory or a file")
			fs.boolVar(&recursive, "recursive,r", "remove the key and everything below it")
			fs.stringVar(&withValue, "with-value", "value", "remove only if the current value is this")
			fs.indexVar(&withIndex, "with-index", "remove only if the key's modified index is this")
		},
		run: func(a *app, args []string) int {
			if ok, code := a.checkArgs(args, []string{"key"}, 1); !ok {
				return code
			}
			return a.keysCall(func(ctx context.Context, c *client.Client) (*client.Response, error) {
				return c.Delete(ctx, args[0], &client.DeleteOptions{Dir: dir, Recursive: recursive, PrevValue: withValue, PrevIndex: withIndex})
			}, func(resp *client.Response) {
				if resp.Node == nil || !resp.Node.Dir {
					a.printResponse(resp)
				}
			})
		},
	}
}

func rmdirCommand() *command {
	return &command{
		name:     "rmdir",
		usage:    "remove an empty directory or a key",
		args:     "<key>",
		desc:     "Removes the empty directory <key> (error 108 if it is not empty). Prints nothing.",
		examples: []string{"raftkvctl rmdir /config"},
		run: func(a *app, args []string) int {
			if ok, code := a.checkArgs(args, []string{"key"}, 1); !ok {
				return code
			}
			return a.keysCall(func(ctx context.Context, c *client.Client) (*client.Response, error) {
				return c.Delete(ctx, args[0], &client.DeleteOptions{Dir: true})
			}, nil)
		},
	}
}
