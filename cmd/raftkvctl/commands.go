package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// command is one raftkvctl command (or a group of subcommands).
type command struct {
	name     string
	usage    string // one line, for the command list
	args     string // the arguments, as "<key> <value>"
	desc     string // more, for the command's help
	examples []string
	// stopAfter: flags are read only until this many arguments (0: all).
	stopAfter int
	flags     func(fs *flagSet)
	run       func(a *app, args []string) int
	sub       []*command
}

func findCommand(cmds []*command, name string) *command {
	for _, c := range cmds {
		if c.name == name {
			return c
		}
	}
	return nil
}

// commands is the command table, in the order the help lists it.
func commands() []*command {
	return []*command{
		setCommand(), getCommand(), lsCommand(), mkCommand(), mkdirCommand(),
		rmCommand(), rmdirCommand(), updateCommand(), updatedirCommand(), setdirCommand(),
		watchCommand(), execWatchCommand(),
		lockCommand(), electCommand(),
		memberCommand(), clusterHealthCommand(), endpointCommand(),
		userCommand(), roleCommand(), authCommand(),
		discoveryCommand(),
		snapshotCommand(), backupCommand(),
	}
}

func (a *app) mainHelp(gfs *flagSet) {
	w := a.out
	fmt.Fprint(w, `NAME:
   raftkvctl - the command-line client for raftkv (the etcd v2 API)

USAGE:
   raftkvctl [global options] <command> [command options] [arguments...]

VERSION:
   `+version+`

COMMANDS:
`)
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "   %s\t%s\n", c.name, c.usage)
	}
	fmt.Fprintf(tw, "   %s\t%s\n", "help", "show the help of a command: raftkvctl help <command>")
	tw.Flush()
	fmt.Fprint(w, "\nGLOBAL OPTIONS:\n")
	gfs.writeHelp(w, "   ")
	fmt.Fprint(w, `
EXAMPLES:
   raftkvctl set /message Hello
   raftkvctl get /message
   raftkvctl --endpoints http://10.0.0.1:2379,http://10.0.0.2:2379 ls --recursive /
   raftkvctl -o extended get /message
   raftkvctl watch --forever --recursive /config
   raftkvctl member list
   raftkvctl cluster-health
   raftkvctl lock backup -- ./backup.sh
   raftkvctl --endpoints https://10.0.0.1:2379 --cacert ca.crt --cert me.crt --key me.key get /message
   raftkvctl -u root user add alice

ENVIRONMENT:
   RAFTKVCTL_ENDPOINTS   the endpoints, when --endpoints is not given (also
                         read: ETCDCTL_ENDPOINTS, ETCDCTL_PEERS)
   RAFTKVCTL_CERT, RAFTKVCTL_KEY, RAFTKVCTL_CACERT, RAFTKVCTL_USERNAME
                         the TLS and auth flags (also read: RAFTKVCTL_CERT_FILE,
                         RAFTKVCTL_KEY_FILE, RAFTKVCTL_CA_FILE, and etcdctl's
                         ETCDCTL_CERT_FILE, ETCDCTL_KEY_FILE, ETCDCTL_CA_FILE,
                         ETCDCTL_USERNAME)

PASSWORDS:
   -u user without ":password", user add without one and user passwd ask on
   the terminal, without echo; when stdin is not a terminal they read a line
   of stdin each, in that order.

EXIT CODES:
   0  success
   1  bad arguments, or a local error (get of a directory)
   2  could not connect: no endpoint answered
   3  TLS or authentication setup failed
   4  the server answered an error
   5  the cluster is not healthy (cluster-health)
   6  the lock or the leadership was lost while held (lock, elect)

Flags may follow the arguments ("set /k v --ttl 5"); a value that starts
with "-" needs "--" before the arguments: raftkvctl set -- /k -1.
`)
}

func (a *app) helpCommand(gfs *flagSet, args []string) int {
	if len(args) == 0 {
		a.mainHelp(gfs)
		return exitSuccess
	}
	cmds, path := commands(), []string(nil)
	var cmd *command
	for _, name := range args {
		cmd = findCommand(cmds, name)
		if cmd == nil {
			return a.usageError("", fmt.Errorf("unknown command %q", strings.Join(append(path, name), " ")))
		}
		path = append(path, name)
		cmds = cmd.sub
	}
	a.commandHelp(cmd, path)
	return exitSuccess
}

func (a *app) commandHelp(cmd *command, path []string) {
	w := a.out
	full := "raftkvctl " + strings.Join(path, " ")
	fmt.Fprintf(w, "NAME:\n   %s - %s\n\nUSAGE:\n", full, cmd.usage)
	if len(cmd.sub) > 0 {
		fmt.Fprintf(w, "   %s <command> [arguments...]\n\nCOMMANDS:\n", full)
		tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		for _, s := range cmd.sub {
			fmt.Fprintf(tw, "   %s %s\t%s\n", s.name, s.args, s.usage)
		}
		tw.Flush()
	} else {
		opts := ""
		fs := newFlagSet(full)
		if cmd.flags != nil {
			cmd.flags(fs)
		}
		if len(fs.defs) > 0 {
			opts = " [command options]"
		}
		fmt.Fprintf(w, "   %s\n", strings.TrimSpace(full+opts+" "+cmd.args))
		if cmd.desc != "" {
			fmt.Fprintf(w, "\nDESCRIPTION:\n")
			for _, l := range strings.Split(strings.TrimRight(cmd.desc, "\n"), "\n") {
				if l == "" {
					fmt.Fprintln(w)
				} else {
					fmt.Fprintf(w, "   %s\n", l)
				}
			}
		}
		if len(fs.defs) > 0 {
			fmt.Fprintf(w, "\nOPTIONS:\n")
			fs.writeHelp(w, "   ")
		}
	}
	if len(cmd.examples) > 0 {
		fmt.Fprintf(w, "\nEXAMPLES:\n")
		for _, e := range cmd.examples {
			fmt.Fprintf(w, "   %s\n", e)
		}
	}
	fmt.Fprintf(w, "\nGlobal options (--endpoints, --output, --timeout, ...) are listed by 'raftkvctl --help'.\n")
}
