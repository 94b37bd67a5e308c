package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/raftkv/raftkv/client"
	"golang.org/x/term"
)

// version is raftkvctl's version.
const version = "0.1.0"

// Exit codes, as etcdctl v2's.
const (
	exitSuccess           = 0
	exitBadArgs           = 1 // also "is a directory" and other local errors
	exitBadConnection     = 2 // no endpoint answered the startup sync
	exitBadAuth           = 3 // a TLS or auth setup failure
	exitServerError       = 4 // the server (or the cluster) answered an error
	exitClusterNotHealthy = 5
)

const defaultEndpoint = "http://127.0.0.1:2379"

// stdio is the process's outside world, replaced in tests.
type stdio struct {
	in     io.Reader
	out    io.Writer
	err    io.Writer
	getenv func(string) string
}

// app is one run of raftkvctl: the global options and the outside world.
type app struct {
	*stdio
	ctx context.Context

	endpoints    string
	endpoint     string // deprecated spelling
	peers        string // 0.4 spelling, -C
	output       string
	timeout      time.Duration
	totalTimeout time.Duration
	noSync       bool
	debug        bool
	cert, key    string
	cacert       string
	username     string
	showVersion  bool
	help         bool
}

// globalFlags defines the global options on fs: every command's flag set
// accepts them too, so "raftkvctl get /k --endpoints ..." works.
func (a *app) globalFlags(fs *flagSet) {
	fs.stringVar(&a.endpoints, "endpoints", "urls", "comma-separated client URLs of members (env RAFTKVCTL_ENDPOINTS)")
	fs.stringVar(&a.output, "output,o", "format", "output format: simple, extended or json")
	fs.durationVar(&a.timeout, "timeout", "wait for one member's response headers before trying the next")
	fs.durationVar(&a.totalTimeout, "total-timeout", "deadline for the whole command (not for watches)")
	fs.boolVar(&a.noSync, "no-sync", "use --endpoints as given: skip replacing them with the URLs the members publish")
	fs.boolVar(&a.debug, "debug", "print the sync steps and a curl command for every request to stderr")
	fs.stringVar(&a.cert, "cert,cert-file", "file", "client TLS certificate (env RAFTKVCTL_CERT)")
	fs.stringVar(&a.key, "key,key-file", "file", "client TLS key (env RAFTKVCTL_KEY)")
	fs.stringVar(&a.cacert, "cacert,ca-file", "file", "CA bundle to verify the members (env RAFTKVCTL_CACERT)")
	fs.stringVar(&a.username, "username,u", "user[:password]", "HTTP Basic auth; asks for the password if it is missing (env RAFTKVCTL_USERNAME)")
	fs.stringVar(&a.endpoint, "endpoint", "urls", "deprecated: same as --endpoints")
	fs.stringVar(&a.peers, "peers,C", "urls", "deprecated: same as --endpoints")
	fs.boolVar(&a.showVersion, "version,v", "print the version and exit")
	fs.boolVar(&a.help, "help,h", "show help")
}

func newApp(ctx context.Context, io *stdio) *app {
	return &app{stdio: io, ctx: ctx, output: "simple", timeout: 2 * time.Second, totalTimeout: 5 * time.Second}
}

// run is raftkvctl with its arguments; it returns the exit code.
func run(ctx context.Context, args []string, io *stdio) int {
	a := newApp(ctx, io)
	gfs := newFlagSet("raftkvctl")
	a.globalFlags(gfs)
	// Global flags come before the command; the first argument is it.
	rest, err := gfs.parse(args, 1)
	if err != nil {
		return a.usageError("", err)
	}
	if a.showVersion {
		return a.printVersion()
	}
	if len(rest) == 0 || a.help {
		a.mainHelp(gfs)
		return exitSuccess
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		return a.helpCommand(gfs, rest)
	}
	cmd := findCommand(commands(), name)
	if cmd == nil {
		return a.usageError("", fmt.Errorf("unknown command %q", name))
	}
	return a.runCommand(cmd, []string{name}, rest)
}

// runCommand parses cmd's flags and runs it; path is the command's words
// ("member", "list").
func (a *app) runCommand(cmd *command, path []string, args []string) int {
	if len(cmd.sub) > 0 {
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
			a.commandHelp(cmd, path)
			return exitSuccess
		}
		sub := findCommand(cmd.sub, args[0])
		if sub == nil {
			return a.usageError(strings.Join(path, " "), fmt.Errorf("unknown command %q", args[0]))
		}
		return a.runCommand(sub, append(path, args[0]), args[1:])
	}
	fs := newFlagSet(strings.Join(path, " "))
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	cfs := fs.defs
	a.globalFlags(fs)
	fs.defs = cfs // help lists the global flags apart
	args, err := fs.parse(args, cmd.stopAfter)
	if err != nil {
		return a.usageError(strings.Join(path, " "), err)
	}
	if a.help {
		a.commandHelp(cmd, path)
		return exitSuccess
	}
	if a.showVersion {
		return a.printVersion()
	}
	switch a.output {
	case "simple", "extended", "json":
	default:
		return a.usageError(strings.Join(path, " "), fmt.Errorf("unsupported output format %q: use simple, extended or json", a.output))
	}
	return cmd.run(a, args)
}

// printVersion answers --version.
func (a *app) printVersion() int {
	fmt.Fprintf(a.out, "raftkvctl version: %s\nAPI version: 2\n", version)
	return exitSuccess
}

// usageError reports a bad command line: one line, exit 1.
func (a *app) usageError(cmd string, err error) int {
	where := "raftkvctl"
	if cmd != "" {
		where += " " + cmd
	}
	fmt.Fprintf(a.err, "Error:  %v (see '%s --help')\n", err, where)
	return exitBadArgs
}

// badArgs reports a missing or bad argument the way etcdctl does.
func (a *app) badArgs(msg string) int {
	fmt.Fprintln(a.err, "Error: ", msg)
	return exitBadArgs
}

// endpointList is the endpoints from the flags, then the environment.
func (a *app) endpointList() []string {
	for _, v := range []string{
		a.endpoints, a.endpoint, a.peers,
		a.getenv("RAFTKVCTL_ENDPOINTS"), a.getenv("ETCDCTL_ENDPOINTS"),
		a.getenv("ETCDCTL_ENDPOINT"), a.getenv("ETCDCTL_PEERS"),
	} {
		if v != "" {
			return strings.Split(v, ",")
		}
	}
	return []string{defaultEndpoint}
}

func (a *app) envOr(v string, names ...string) string {
	for _, n := range names {
		if v != "" {
			return v
		}
		v = a.getenv(n)
	}
	return v
}

// tlsConfig builds the TLS settings from --cert, --key and --cacert, or
// the environment.
func (a *app) tlsConfig() (*tls.Config, error) {
	cert := a.envOr(a.cert, "RAFTKVCTL_CERT", "RAFTKVCTL_CERT_FILE", "ETCDCTL_CERT_FILE")
	key := a.envOr(a.key, "RAFTKVCTL_KEY", "RAFTKVCTL_KEY_FILE", "ETCDCTL_KEY_FILE")
	ca := a.envOr(a.cacert, "RAFTKVCTL_CACERT", "RAFTKVCTL_CA_FILE", "ETCDCTL_CA_FILE")
	if (cert == "") != (key == "") {
		return nil, errors.New("--cert and --key go together")
	}
	return client.TLSConfigFromFiles(cert, key, ca)
}

// credentials splits --username user[:password], asking for a missing
// password (see readSecret).
func (a *app) credentials() (string, string, error) {
	u := a.envOr(a.username, "RAFTKVCTL_USERNAME", "ETCDCTL_USERNAME")
	if u == "" {
		return "", "", nil
	}
	if user, pw, ok := strings.Cut(u, ":"); ok {
		return user, pw, nil
	}
	pw, err := a.readSecret("Password: ")
	if err != nil {
		return "", "", fmt.Errorf("reading the password of %s: %w", u, err)
	}
	return u, pw, nil
}

// readSecret asks for a password on stderr. When stdin is a terminal it
// reads the answer there without echo; otherwise it reads one line of
// stdin (as etcdctl does: its prompt library reads up to the newline
// whatever stdin is), a byte at a time, so that a second question (-u
// root, then user add's "New password: ") gets the next line. A stdin that
// ends before any byte is an error; an empty line is an empty password.
func (a *app) readSecret(prompt string) (string, error) {
	fmt.Fprint(a.err, prompt)
	if f, ok := a.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.err)
		return string(b), err
	}
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := a.in.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			line = append(line, b[0])
			continue
		}
		if err == io.EOF && len(line) > 0 {
			break
		}
		if err != nil {
			fmt.Fprintln(a.err) // end the prompt's line
			if err == io.EOF {
				err = errors.New("stdin ended")
			}
			return "", err
		}
	}
	return strings.TrimSuffix(string(line), "\r"), nil
}

// newClient makes the client. With sync (unless --no-sync) it first
// replaces the endpoints with the members' published client URLs, as
// etcdctl does; a sync that reaches no member ends the command with exit
// code 2. On failure it returns the exit code to end with.
func (a *app) newClient(sync bool) (*client.Client, int) {
	tlsCfg, err := a.tlsConfig()
	if err != nil {
		fmt.Fprintln(a.err, "Error: ", err)
		return nil, exitBadAuth
	}
	user, pw, err := a.credentials()
	if err != nil {
		fmt.Fprintln(a.err, "Error: ", err)
		return nil, exitBadAuth
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	var rt http.RoundTripper = tr
	if a.debug {
		rt = &curlPrinter{next: tr, w: a.err}
	}
	c, err := client.New(client.Config{
		Endpoints:               a.endpointList(),
		Transport:               rt,
		HeaderTimeoutPerRequest: a.timeout,
		Username:                user,
		Password:                pw,
	})
	if err != nil {
		fmt.Fprintln(a.err, "Error: ", err)
		return nil, exitBadArgs
	}
	if !sync || a.noSync {
		if a.debug {
			fmt.Fprintf(a.err, "Cluster-Endpoints: %s\n", strings.Join(c.Endpoints(), ", "))
		}
		return c, exitSuccess
	}
	if a.debug {
		fmt.Fprintf(a.err, "start to sync cluster using endpoints(%s)\n", strings.Join(c.Endpoints(), ","))
	}
	ctx, cancel := a.commandContext()
	err = c.Sync(ctx)
	cancel()
	switch {
	case errors.Is(err, client.ErrNoEndpoints):
		fmt.Fprintln(a.err, "The cluster has no published client endpoints.")
		fmt.Fprintf(a.err, "Try '--no-sync' to use the endpoints given (%s).\n", strings.Join(c.Endpoints(), ","))
		return nil, a.fail(exitServerError, err)
	case isConnectionError(err):
		return nil, a.fail(exitBadConnection, err)
	}
	// Any other sync failure (an old server without /v2/members) leaves
	// the endpoints as given.
	if a.debug {
		fmt.Fprintf(a.err, "got endpoints(%s) after sync\n", strings.Join(c.Endpoints(), ","))
		fmt.Fprintf(a.err, "Cluster-Endpoints: %s\n", strings.Join(c.Endpoints(), ", "))
	}
	return c, exitSuccess
}

// withClient runs fn with a synced client and a context under
// --total-timeout, and returns fn's exit code, or newClient's if it failed.
func (a *app) withClient(fn func(ctx context.Context, c *client.Client) int) int {
	c, code := a.newClient(true)
	if c == nil {
		return code
	}
	ctx, cancel := a.commandContext()
	defer cancel()
	return fn(ctx, c)
}

// commandContext is the deadline of a command (--total-timeout).
func (a *app) commandContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(a.ctx, a.totalTimeout)
}
