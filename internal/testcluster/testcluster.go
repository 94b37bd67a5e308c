// Package testcluster runs real raftkv processes on loopback: the local
// cluster of `make run` (cmd/raftkv-local) and the real-process tests of
// the server, the client and the CLI.
//
// Start launches N members of a new cluster from a raftkv binary, each
// with its own data dir, client port and peer port; Kill (SIGKILL), Stop
// (SIGTERM, graceful), Pause and Resume (SIGSTOP/SIGCONT) and Restart act
// on one member; WaitLeader waits until the members agree on a leader.
// Build compiles the binary once per test process. A Cluster's methods
// may be called from several goroutines. With Options.TLS the members
// serve https with client-certificate auth and talk to each other over
// mutual TLS, on certificates made in the cluster's directory. With
// Options.Hosts, Wrap and Dial the members run elsewhere than on loopback:
// the nemesis (internal/nemesis) gives each its own address in a network
// namespace of its own and dials them from another. Keys and GetJSON are
// the raw v2 HTTP client the real-process tests and the nemesis talk to
// the members with.
package testcluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/certs"
)

// Options configures a cluster.
type Options struct {
	// Bin is the raftkv binary.
	Bin string
	// Dir holds the members' data dirs and logs.
	Dir string
	// Members is the cluster size (default 3).
	Members int
	// ClientPorts and PeerPorts fix the ports; by default free ports are
	// picked.
	ClientPorts, PeerPorts []int
	// Token is --initial-cluster-token (default: derived from Dir).
	Token string
	// HeartbeatMs and ElectionMs are the raft timeouts (defaults 50, 500:
	// quick elections for tests).
	HeartbeatMs, ElectionMs int
	// Args are extra flags for every member.
	Args []string
	// Logs, if set, receives every member's stderr, each line prefixed
	// with the member's name; otherwise logs go to Dir/<name>.log.
	Logs io.Writer
	// TLS runs the cluster with https client URLs and client-certificate
	// auth, and peer mutual TLS, on certificates of a CA made in Dir/tls
	// (see TLSFiles; files already there are reused). Args may switch
	// parts off again (--client-cert-auth=false: the last flag wins).
	TLS bool
	// OwnProcessGroup starts each member in a process group of its own,
	// so that a terminal's Ctrl-C reaches only the parent (raftkv-local),
	// which then stops the members itself, instead of every member at once.
	OwnProcessGroup bool
	// Hosts, if set, is each member's IP address (default 127.0.0.1 for
	// every member). With Hosts and no ports given, every member uses
	// 2379 and 2380: the nemesis gives each member a network namespace
	// of its own.
	Hosts []string
	// Wrap, if set, gives the words put before the binary on member i's
	// command line, such as "ip netns exec NS" (which execs the binary,
	// so the process and its signals are still the member's).
	Wrap func(i int) []string
	// Dial, if set, dials the members for HTTPClient and WaitLeader (a
	// client in another network namespace).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// TLSFiles are the certificate files of a TLS cluster, all signed by one
// CA and valid for 127.0.0.1 and localhost with the clientAuth and
// serverAuth usages.
type TLSFiles struct {
	Dir string
	// CAFile is the CA certificate; CAKeyFile its key (to issue more).
	CAFile, CAKeyFile string
	// ServerCert and ServerKey are every member's client-listener
	// certificate.
	ServerCert, ServerKey string
	// ClientCert and ClientKey are a client certificate with CN "root".
	ClientCert, ClientKey string
}

// PeerCert and PeerKey are member name's peer certificate (CN name).
func (f *TLSFiles) PeerCert(name string) string { return filepath.Join(f.Dir, name+".crt") }

// PeerKey is the key of PeerCert(name).
func (f *TLSFiles) PeerKey(name string) string { return filepath.Join(f.Dir, name+".key") }

// CA loads the cluster's CA (to issue more certificates).
func (f *TLSFiles) CA() (*certs.CA, error) { return certs.LoadCA(f.CAFile, f.CAKeyFile) }

// ClientConfig is a TLS client configuration trusting the CA and
// presenting the client certificate: what curl --cacert --cert --key is.
func (f *TLSFiles) ClientConfig() (*tls.Config, error) {
	ca, err := f.CA()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cert}}, nil
}

// makeTLSFiles makes (or finds) the CA and certificates in dir for the
// named members.
func makeTLSFiles(dir string, names []string) (*TLSFiles, error) {
	f := &TLSFiles{
		Dir:    dir,
		CAFile: filepath.Join(dir, "ca.crt"), CAKeyFile: filepath.Join(dir, "ca.key"),
		ServerCert: filepath.Join(dir, "server.crt"), ServerKey: filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key"),
	}
	ca, err := f.CA()
	if err != nil {
		if ca, err = certs.NewCA("raftkv local CA"); err != nil {
			return nil, err
		}
		if err := ca.Write(f.CAFile, f.CAKeyFile); err != nil {
			return nil, err
		}
	}
	pairs := []struct{ cn, cert, key string }{{"server", f.ServerCert, f.ServerKey}, {"root", f.ClientCert, f.ClientKey}}
	for _, n := range names {
		pairs = append(pairs, struct{ cn, cert, key string }{n, f.PeerCert(n), f.PeerKey(n)})
	}
	for _, p := range pairs {
		if old, err := certs.LoadPair(p.cert, p.key); err == nil && old.Cert.CheckSignatureFrom(ca.Cert) == nil && time.Now().Before(old.Cert.NotAfter) {
			continue
		}
		pair, err := ca.Issue(certs.Options{CommonName: p.cn})
		if err != nil {
			return nil, err
		}
		if err := pair.Write(p.cert, p.key); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Member is one raftkv process of the cluster.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	DataDir   string
	args      []string
	wrap      []string // Options.Wrap's words for this member
	// cmd, exited and logFile belong to the current process; they change
	// on Restart and are guarded by Cluster.mu.
	cmd     *exec.Cmd
	exited  chan struct{}
	logFile *os.File
}

// Cluster is a set of raftkv processes on loopback. Its methods may be
// called from several goroutines (raftkv-local restarts members from its
// control socket while it watches them).
type Cluster struct {
	opts    Options
	Members []*Member
	// mu guards each member's current process (cmd, exited, logFile).
	mu sync.Mutex
	// TLS holds the certificate files of a TLS cluster (nil otherwise).
	TLS       *TLSFiles
	clientTLS *tls.Config
}

// FreePorts returns n TCP ports that were free a moment ago on 127.0.0.1.
func FreePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Start starts a new cluster and returns once every process runs (not
// necessarily with a leader: see WaitLeader).
func Start(opts Options) (*Cluster, error) {
	if opts.Members == 0 {
		opts.Members = 3
	}
	if opts.HeartbeatMs == 0 {
		opts.HeartbeatMs = 50
	}
	if opts.ElectionMs == 0 {
		opts.ElectionMs = 500
	}
	if opts.Token == "" {
		opts.Token = "testcluster-" + filepath.Base(opts.Dir)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	if opts.Hosts != nil && len(opts.Hosts) != opts.Members {
		return nil, fmt.Errorf("testcluster: %d hosts for %d members", len(opts.Hosts), opts.Members)
	}
	if opts.Hosts != nil && (opts.ClientPorts == nil || opts.PeerPorts == nil) {
		opts.ClientPorts, opts.PeerPorts = nil, nil
		for range opts.Members {
			opts.ClientPorts, opts.PeerPorts = append(opts.ClientPorts, 2379), append(opts.PeerPorts, 2380)
		}
	}
	if opts.ClientPorts == nil || opts.PeerPorts == nil {
		ports, err := FreePorts(2 * opts.Members)
		if err != nil {
			return nil, err
		}
		opts.ClientPorts, opts.PeerPorts = ports[:opts.Members], ports[opts.Members:]
	}
	c := &Cluster{opts: opts}
	scheme := "http"
	var names []string
	for i := range opts.Members {
		names = append(names, fmt.Sprintf("m%d", i+1))
	}
	if opts.TLS {
		scheme = "https"
		var err error
		if c.TLS, err = makeTLSFiles(filepath.Join(opts.Dir, "tls"), names); err != nil {
			return nil, fmt.Errorf("making the TLS certificates: %v", err)
		}
		if c.clientTLS, err = c.TLS.ClientConfig(); err != nil {
			return nil, err
		}
	}
	var initial []string
	for i, name := range names {
		host := "127.0.0.1"
		if opts.Hosts != nil {
			host = opts.Hosts[i]
		}
		m := &Member{
			Name:      name,
			ClientURL: fmt.Sprintf("%s://%s:%d", scheme, host, opts.ClientPorts[i]),
			PeerURL:   fmt.Sprintf("%s://%s:%d", scheme, host, opts.PeerPorts[i]),
			DataDir:   filepath.Join(opts.Dir, name+".raftkv"),
		}
		c.Members = append(c.Members, m)
		initial = append(initial, name+"="+m.PeerURL)
	}
	for i, m := range c.Members {
		if opts.Wrap != nil {
			m.wrap = opts.Wrap(i)
		}
		m.args = []string{
			"--name", m.Name, "--data-dir", m.DataDir,
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", opts.Token,
			"--heartbeat-interval", fmt.Sprint(opts.HeartbeatMs), "--election-timeout", fmt.Sprint(opts.ElectionMs),
		}
		if f := c.TLS; f != nil {
			m.args = append(m.args,
				"--cert-file", f.ServerCert, "--key-file", f.ServerKey,
				"--client-cert-auth", "--trusted-ca-file", f.CAFile,
				"--peer-cert-file", f.PeerCert(m.Name), "--peer-key-file", f.PeerKey(m.Name),
				"--peer-client-cert-auth", "--peer-trusted-ca-file", f.CAFile)
		}
		m.args = append(m.args, opts.Args...)
		c.mu.Lock()
		err := c.start(m)
		c.mu.Unlock()
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// start starts m's process; the caller holds c.mu.
func (c *Cluster) start(m *Member) error {
	argv := append(append(slices.Clone(m.wrap), c.opts.Bin), m.args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = os.Environ()
	var logw io.Writer
	if c.opts.Logs != nil {
		logw = &prefixWriter{prefix: m.Name + " | ", w: c.opts.Logs}
	} else {
		f, err := os.OpenFile(c.logPath(m), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if m.logFile != nil {
			m.logFile.Close() // the previous process's: it has exited
		}
		m.logFile = f
		logw = f
	}
	cmd.Stdout, cmd.Stderr = logw, logw
	if c.opts.OwnProcessGroup {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %v", m.Name, err)
	}
	m.cmd = cmd
	m.exited = make(chan struct{})
	go func(exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(m.exited)
	return nil
}

// proc returns member i's current process and its exit channel (nil, nil
// if it never started).
func (c *Cluster) proc(i int) (*exec.Cmd, chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Members[i].cmd, c.Members[i].exited
}

// running reports whether cmd (with exit channel exited) is alive.
func running(cmd *exec.Cmd, exited chan struct{}) bool {
	if cmd == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// Running reports whether member i's process is alive.
func (c *Cluster) Running(i int) bool { return running(c.proc(i)) }

// Exited is closed when member i's current process exits.
func (c *Cluster) Exited(i int) <-chan struct{} {
	_, exited := c.proc(i)
	return exited
}

// ExitCode is the exit code of member i's last process (-1 if killed by
// a signal or still running).
func (c *Cluster) ExitCode(i int) int {
	cmd, exited := c.proc(i)
	if running(cmd, exited) || cmd == nil || cmd.ProcessState == nil {
		return -1
	}
	return cmd.ProcessState.ExitCode()
}

// ExitStatus describes how member i's last process ended ("exit status
// 1", "signal: killed"); "" while it runs or if it never started.
func (c *Cluster) ExitStatus(i int) string {
	cmd, exited := c.proc(i)
	if running(cmd, exited) || cmd == nil || cmd.ProcessState == nil {
		return ""
	}
	return cmd.ProcessState.String()
}

// PID is the process id of member i's current (or last) process, 0 if it
// never started.
func (c *Cluster) PID(i int) int {
	cmd, _ := c.proc(i)
	if cmd == nil || cmd.Process == nil {
		return 0
	}
	return cmd.Process.Pid
}

// Kill kills member i with SIGKILL and waits for it to exit.
func (c *Cluster) Kill(i int) {
	cmd, exited := c.proc(i)
	if !running(cmd, exited) {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a paused process dies too
	_ = cmd.Process.Kill()
	<-exited
}

// Stop stops member i gracefully (SIGTERM) and waits up to timeout.
func (c *Cluster) Stop(i int, timeout time.Duration) error {
	cmd, exited := c.proc(i)
	if !running(cmd, exited) {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(timeout):
		c.Kill(i)
		return fmt.Errorf("%s did not stop within %v after SIGTERM", c.Members[i].Name, timeout)
	}
}

// Pause stops member i with SIGSTOP; Resume continues it.
func (c *Cluster) Pause(i int) {
	cmd, _ := c.proc(i)
	_ = cmd.Process.Signal(syscall.SIGSTOP)
}

// Resume continues a paused member.
func (c *Cluster) Resume(i int) {
	cmd, _ := c.proc(i)
	_ = cmd.Process.Signal(syscall.SIGCONT)
}

// Restart starts member i again from its data dir (after Kill or Stop).
func (c *Cluster) Restart(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.Members[i]
	if running(m.cmd, m.exited) {
		return fmt.Errorf("%s is still running", m.Name)
	}
	return c.start(m)
}

// ClientURLs lists the members' client URLs.
func (c *Cluster) ClientURLs() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.ClientURL)
	}
	return out
}

// ClientTLS is the TLS configuration of a client of a TLS cluster (the
// CA and the client certificate), nil for a plain one.
func (c *Cluster) ClientTLS() *tls.Config {
	if c.clientTLS == nil {
		return nil
	}
	return c.clientTLS.Clone()
}

// HTTPClient is an HTTP client for the cluster's client URLs: with the
// CA and client certificate for a TLS cluster.
func (c *Cluster) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: c.ClientTLS(), MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second,
		DialContext: c.opts.Dial,
	}}
}

// Close kills every member.
func (c *Cluster) Close() {
	for i, m := range c.Members {
		c.Kill(i)
		c.mu.Lock()
		if m.logFile != nil {
			m.logFile.Close()
			m.logFile = nil
		}
		c.mu.Unlock()
	}
}

func (c *Cluster) logPath(m *Member) string { return filepath.Join(c.opts.Dir, m.Name+".log") }

// LogPath is the file member i logs to, "" when Options.Logs takes the
// logs.
func (c *Cluster) LogPath(i int) string {
	if c.opts.Logs != nil {
		return ""
	}
	return c.logPath(c.Members[i])
}

// Log returns member i's log so far (when logs go to files).
func (c *Cluster) Log(i int) string {
	b, _ := os.ReadFile(c.logPath(c.Members[i]))
	return string(b)
}

// LogTail returns the last n lines of member i's log (when logs go to
// files).
func (c *Cluster) LogTail(i, n int) string {
	return tail(strings.TrimRight(c.Log(i), "\n"), n)
}

// WaitLeader waits until every running member (except those listed in
// skip) names the same leader in /v2/members/leader, and returns the index
// of that leader in Members.
func (c *Cluster) WaitLeader(ctx context.Context, skip ...int) (int, error) {
	hc := c.HTTPClient(time.Second)
	defer hc.CloseIdleConnections()
	var last error
	for {
		leader, err := c.agreedLeader(ctx, hc, skip)
		if err == nil {
			return leader, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("no agreed leader: %v", last)
		case <-time.After(20 * time.Millisecond):
			// Polling another process: there is no event to wait on.
		}
	}
}

func (c *Cluster) agreedLeader(ctx context.Context, hc *http.Client, skip []int) (int, error) {
	var id string
	for i, m := range c.Members {
		if !c.Running(i) || slices.Contains(skip, i) {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.ClientURL+"/v2/members/leader", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return -1, err
		}
		var body struct {
			ID         string   `json:"id"`
			ClientURLs []string `json:"clientURLs"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return -1, fmt.Errorf("%s: no leader (%s)", m.Name, resp.Status)
		}
		if id != "" && body.ID != id {
			return -1, errors.New("members disagree on the leader")
		}
		id = body.ID
	}
	if id == "" {
		return -1, errors.New("no member running")
	}
	// Find the leader's index by asking each member for its own id.
	for i, m := range c.Members {
		if !c.Running(i) {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.ClientURL+"/v2/stats/self", nil)
		resp, err := hc.Do(req)
		if err != nil {
			continue
		}
		var self struct {
			ID string `json:"id"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&self)
		resp.Body.Close()
		if self.ID == id {
			return i, nil
		}
	}
	return -1, fmt.Errorf("leader %s is not a running member", id)
}

type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i]); err != nil {
			return 0, err
		}
		p.buf = p.buf[i+1:]
	}
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Build compiles ./cmd/raftkv once per process and returns the binary's
// path. Call it from tests (it finds the module root from this file).
func Build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "raftkv-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "raftkv")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/raftkv")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/raftkv: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// New starts an n-member cluster for a test: it builds the binary, waits
// for a leader, and kills the members (printing their logs if the test
// failed) at cleanup.
func New(t testing.TB, n int, args ...string) *Cluster {
	t.Helper()
	return NewWith(t, Options{Members: n, Args: args})
}

// NewWith is New with more options: Bin and Dir are filled in.
func NewWith(t testing.TB, opts Options) *Cluster {
	t.Helper()
	opts.Bin, opts.Dir = Build(t), t.TempDir()
	c, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			for i, m := range c.Members {
				t.Logf("--- log of %s ---\n%s", m.Name, tail(c.Log(i), 60))
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
