// Command raftkv is the raftkv server: one member of a cluster that serves
// the etcd v2 HTTP API.
//
// Flags use etcd's names (see ../shared/reference/server-config.md and the
// README); each can also be set in the environment as RAFTKV_ plus the flag
// name upper-cased with dashes as underscores (--data-dir is
// RAFTKV_DATA_DIR), or under etcd's name ETCD_DATA_DIR, so etcd's systemd
// units and container environments work unchanged. The command line wins
// over the environment, and RAFTKV_ wins over ETCD_.
//
// With no flags, raftkv starts a one-member cluster on 127.0.0.1:2379
// (clients) and 127.0.0.1:2380 (peers) with ./default.raftkv as data dir.
// A restart with an existing data dir ignores the --initial-* flags, as
// etcd does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/raftkv/raftkv/server"
	"golang.org/x/crypto/bcrypt"
)

func main() {
	os.Exit(runIO(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run is runIO with --help and --version going to os.Stdout.
func run(args, env []string, stderr io.Writer) int {
	return runIO(args, env, os.Stdout, stderr)
}

type options struct {
	name, dataDir                              string
	listenClient, advertiseClient              string
	listenPeer, advertisePeer                  string
	initialCluster, initialState, initialToken string
	heartbeatMs, electionMs                    uint
	snapshotCount                              uint64
	bcryptCost                                 int
	requestTimeout                             time.Duration
	redirect, leaseReads, pprof, version       bool
	faultInjection                             bool
	cors, logLevel, logFormat                  string
	initialClusterSet                          bool
	forceNewCluster                            bool

	// TLS: the client side, the peer side, and both.
	certFile, keyFile, trustedCA, caFile, clientCRL      string
	clientCertAuth, autoTLS                              bool
	peerCertFile, peerKeyFile, peerTrustedCA, peerCAFile string
	peerCRL, peerAllowedCN                               string
	peerClientCertAuth, peerAutoTLS                      bool
	tlsMinVersion, cipherSuites                          string

	// Discovery and the proxy (discovery.go in this directory).
	discovery, discoveryFallback, discoverySRV, discoverySRVName string
	discoveryProxy, proxy                                        string
	proxyFailureWaitMs, proxyRefreshMs, proxyDialMs              uint
}

func newFlagSet(o *options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("raftkv", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.name, "name", "default", "human-readable name of this member; must match its entry in --initial-cluster")
	fs.StringVar(&o.dataDir, "data-dir", "", "directory for the WAL, snapshots and member file (default ${name}.raftkv)")
	fs.StringVar(&o.listenClient, "listen-client-urls", "http://127.0.0.1:2379", "comma-separated URLs to serve clients on (IP addresses)")
	fs.StringVar(&o.advertiseClient, "advertise-client-urls", "http://127.0.0.1:2379", "comma-separated client URLs this member announces in /v2/members")
	fs.StringVar(&o.listenPeer, "listen-peer-urls", "http://127.0.0.1:2380", "URL to accept peers on (IP address)")
	fs.StringVar(&o.advertisePeer, "initial-advertise-peer-urls", "http://127.0.0.1:2380", "comma-separated peer URLs this member announces")
	fs.StringVar(&o.initialCluster, "initial-cluster", "", "bootstrap members as name=peerURL,... (default ${name}=${initial-advertise-peer-urls})")
	fs.StringVar(&o.initialState, "initial-cluster-state", "new", "new: bootstrap a new cluster; existing: join one (after raftkvctl member add)")
	fs.StringVar(&o.initialToken, "initial-cluster-token", "raftkv-cluster", "salt for the member and cluster ids, so clusters sharing URLs never cross-talk")
	fs.BoolVar(&o.forceNewCluster, "force-new-cluster", false, "restart from the data dir as the only member of the cluster: every other member is removed (recovers a survivor after the majority is lost for good; see the README)")
	fs.UintVar(&o.heartbeatMs, "heartbeat-interval", 100, "leader heartbeat period in ms (also raft's tick)")
	fs.UintVar(&o.electionMs, "election-timeout", 1000, "election timeout in ms (at least 5x the heartbeat)")
	fs.Uint64Var(&o.snapshotCount, "snapshot-count", 100000, "applied entries between snapshots (and log compactions)")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 0, "how long a write or linearizable read may take before error 300 (default 5s + 2 election timeouts)")
	fs.BoolVar(&o.redirect, "redirect", false, "answer writes sent to a follower with a 307 redirect to the leader instead of forwarding them")
	fs.BoolVar(&o.leaseReads, "lease-reads", false, "serve linearizable reads from the leader's read lease, without a heartbeat round (correct only while clocks drift less than one heartbeat interval per election timeout; give it to every member)")
	fs.StringVar(&o.cors, "cors", "", "comma-separated origins allowed by CORS, or *")
	fs.BoolVar(&o.pprof, "enable-pprof", false, "serve /debug/pprof/ on the client URLs")
	fs.IntVar(&o.bcryptCost, "bcrypt-cost", 10, "bcrypt cost (4 to 31) of the v2 auth passwords this member hashes: each step doubles the time a password check takes when it is not cached")
	fs.BoolVar(&o.faultInjection, "experimental-fault-injection", false, "TEST ONLY, never in production: serve /debug/faults on the client URLs, which drops and delays this member's raft messages (used by the nemesis)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")

	fs.StringVar(&o.certFile, "cert-file", "", "the client listener's certificate (PEM); needed for https client URLs")
	fs.StringVar(&o.keyFile, "key-file", "", "the key of --cert-file (PEM, unencrypted)")
	fs.BoolVar(&o.clientCertAuth, "client-cert-auth", false, "require a client certificate signed by --trusted-ca-file (with v2 auth, its CN is the user)")
	fs.StringVar(&o.trustedCA, "trusted-ca-file", "", "CA certificates (PEM) that sign the clients' certificates")
	fs.StringVar(&o.clientCRL, "client-crl-file", "", "certificate revocation list (PEM or DER): clients presenting a revoked certificate are refused")
	fs.BoolVar(&o.autoTLS, "auto-tls", false, "serve https clients with a self-signed certificate made in the data dir (development only: nobody is authenticated)")
	fs.StringVar(&o.caFile, "ca-file", "", "deprecated: --trusted-ca-file plus --client-cert-auth")
	fs.StringVar(&o.peerCertFile, "peer-cert-file", "", "this member's peer certificate (PEM): the peer listener's, and the client certificate when dialling peers; needed for https peer URLs")
	fs.StringVar(&o.peerKeyFile, "peer-key-file", "", "the key of --peer-cert-file (PEM, unencrypted)")
	fs.BoolVar(&o.peerClientCertAuth, "peer-client-cert-auth", false, "require peers to present a certificate signed by --peer-trusted-ca-file")
	fs.StringVar(&o.peerTrustedCA, "peer-trusted-ca-file", "", "CA certificates (PEM) that sign the members' peer certificates")
	fs.StringVar(&o.peerCRL, "peer-crl-file", "", "certificate revocation list (PEM or DER) for peer certificates")
	fs.BoolVar(&o.peerAutoTLS, "peer-auto-tls", false, "encrypt peer traffic with self-signed certificates made in the data dir (development only: peers are not authenticated)")
	fs.StringVar(&o.peerAllowedCN, "peer-cert-allowed-cn", "", "refuse peers whose certificate has another common name")
	fs.StringVar(&o.peerCAFile, "peer-ca-file", "", "deprecated: --peer-trusted-ca-file plus --peer-client-cert-auth")
	fs.StringVar(&o.tlsMinVersion, "tls-min-version", "TLS1.2", "oldest TLS version accepted and offered: TLS1.2 or TLS1.3")
	fs.StringVar(&o.cipherSuites, "cipher-suites", "", "comma-separated TLS 1.2 cipher suites (Go's names, e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256; default: Go's)")
	discoveryFlags(fs, o)
	fs.Usage = func() { printUsage(fs, fs.Output()) }
	return fs
}

// printUsage writes the help: every flag with its value type (string,
// uint, duration, bool, ...; never a word of its description, which
// flag.PrintDefaults takes from `backquotes`), its description and its
// default.
func printUsage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprintf(out, "Usage: raftkv [flags]\n\nStarts one raftkv member. Every flag can also be set as RAFTKV_<FLAG> (e.g. RAFTKV_DATA_DIR)\nor as etcd's ETCD_<FLAG>; the command line wins, then RAFTKV_, then ETCD_.\n\nFlags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		typ := flagType(f)
		fmt.Fprintf(out, "  --%s %s\n    \t%s", f.Name, typ, strings.ReplaceAll(f.Usage, "\n", "\n    \t"))
		switch def := f.DefValue; {
		case def == "" || def == "false" || def == "0" || def == "0s":
		case typ == "string":
			fmt.Fprintf(out, " (default %q)", def)
		default:
			fmt.Fprintf(out, " (default %s)", def)
		}
		fmt.Fprintln(out)
	})
	fmt.Fprintf(out, `
Examples:
  raftkv                                   # one-member cluster on 127.0.0.1:2379
  raftkv --name n1 --data-dir n1.raftkv \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster n1=http://127.0.0.1:2380,n2=http://127.0.0.1:22380,n3=http://127.0.0.1:32380
`)
}

// flagType names the type of f's value as --help shows it: the flag
// package's name for it (bool for a boolean flag), from the value alone.
func flagType(f *flag.Flag) string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "bool"
	}
	bare := *f
	bare.Usage = "" // no backquoted word can stand in for the type
	name, _ := flag.UnquoteUsage(&bare)
	return name
}

// applyEnv sets every flag not given on the command line from its
// RAFTKV_ variable or, failing that, from etcd's ETCD_ variable of the
// same name (ETCD_DATA_DIR for --data-dir), so that etcd's systemd units
// and container environments work. It warns about variables of either
// prefix that name no flag and about ones something else shadows, and
// says once (info) which ETCD_ variables it took.
func applyEnv(fs *flag.FlagSet, env []string, warn, info func(string)) error {
	vars := map[string]string{} // the last value of each, as a shell's
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	known := map[string]bool{}
	var took, shadowed []string // ETCD_ variables used, and overridden by RAFTKV_
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		suffix := strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		rk, ek := "RAFTKV_"+suffix, "ETCD_"+suffix
		known[rk], known[ek] = true, true
		rv, rok := vars[rk]
		ev, eok := vars[ek]
		key, v := rk, rv
		switch {
		case set[f.Name]:
			for _, k := range []string{rk, ek} {
				if _, ok := vars[k]; ok {
					warn(fmt.Sprintf("%s is shadowed by --%s on the command line", k, f.Name))
				}
			}
			return
		case rok && eok:
			if ev != rv {
				shadowed = append(shadowed, ek+" by "+rk)
			}
		case eok:
			key, v = ek, ev
			took = append(took, ek)
		case !rok:
			return
		}
		if e := fs.Set(f.Name, v); e != nil && err == nil {
			err = fmt.Errorf("%s=%q: %v", key, v, e)
		}
	})
	if len(took) > 0 {
		info(fmt.Sprintf("using etcd's environment variables %s as raftkv's (a RAFTKV_ variable of the same name would win)", strings.Join(took, ", ")))
	}
	if len(shadowed) > 0 {
		warn(fmt.Sprintf("RAFTKV_ variables win over ETCD_ ones: %s is shadowed", strings.Join(shadowed, ", ")))
	}
	var unknown []string
	for k := range vars {
		if (strings.HasPrefix(k, "RAFTKV_") || strings.HasPrefix(k, "ETCD_")) && !known[k] {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		warn(fmt.Sprintf("unknown environment variable %s (raftkv has no such flag; ignored)", k))
	}
	return err
}

// runIO runs the server; --help and --version write to stdout, everything
// else (errors, the log) to stderr.
func runIO(args, env []string, stdout, stderr io.Writer) int {
	var o options
	fs := newFlagSet(&o, stderr)
	if wantsHelp(args) {
		// Asked for, the help is output, not a diagnostic: stdout, exit 0
		// (a bad flag still prints it to stderr with exit 2).
		printUsage(fs, stdout)
		return 0
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "raftkv: unexpected argument %q (flags start with --)\n", fs.Arg(0))
		return 2
	}
	var warnings, infos []string
	if err := applyEnv(fs, env, func(s string) { warnings = append(warnings, s) }, func(s string) { infos = append(infos, s) }); err != nil {
		fmt.Fprintf(stderr, "raftkv: %v\n", err)
		return 2
	}
	if o.version {
		fmt.Fprintf(stdout, "raftkv %s (etcd v2 API %s)\n", server.Version, "2.3")
		return 0
	}
	fs.Visit(func(f *flag.Flag) { o.initialClusterSet = o.initialClusterSet || f.Name == "initial-cluster" })
	logger, err := newLogger(o.logLevel, o.logFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "raftkv: %v\n", err)
		return 2
	}
	for _, s := range infos {
		logger.Info(s)
	}
	for _, w := range warnings {
		logger.Warn(w)
	}
	cfg, err := memberConfig(&o, logger)
	if err != nil {
		fmt.Fprintf(stderr, "raftkv: %v\n", err)
		return 2
	}
	if o.proxy != "off" {
		return runProxy(&o, cfg, nil, logger, stderr)
	}
	m, err := server.StartMember(cfg)
	if err != nil {
		var full *server.DiscoveryFullError
		if errors.As(err, &full) && o.discoveryFallback == "proxy" {
			logger.Warn("discovery: the cluster is full; starting as a proxy to its members (--discovery-fallback=proxy)", "members", server.FormatInitialCluster(full.Members))
			return runProxy(&o, cfg, full.Members, logger, stderr)
		}
		fmt.Fprintf(stderr, "raftkv: %v\n", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sigs:
		logger.Info("stopping", "signal", s.String())
		return stopWithin(logger, 10*time.Second, "stopped with an error", m.Stop)
	case <-m.Done():
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := m.Stop(ctx)
		if errors.Is(m.Err(), server.ErrRemoved) {
			// Like etcd: a removed member has nothing left to do. Its data
			// dir cannot rejoin; add it again as a new member instead.
			logger.Warn("this member was removed from the cluster and has stopped; to rejoin, remove its data dir and add it again with member add")
			return 0
		}
		logger.Error("member stopped", "err", err)
		return 1
	}
}

// wantsHelp reports whether args ask for the help (-h, -help, --h or
// --help before the first non-flag argument or "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch {
		case a == "--" || !strings.HasPrefix(a, "-"):
			return false
		case a == "-h" || a == "-help" || a == "--h" || a == "--help":
			return true
		}
	}
	return false
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func memberConfig(o *options, logger *slog.Logger) (server.MemberConfig, error) {
	cfg := server.MemberConfig{
		Name: o.name, DataDir: o.dataDir,
		InitialClusterState: o.initialState, InitialClusterToken: o.initialToken,
		InitialClusterSet: o.initialClusterSet, ForceNewCluster: o.forceNewCluster,
		HeartbeatInterval: time.Duration(o.heartbeatMs) * time.Millisecond,
		ElectionTimeout:   time.Duration(o.electionMs) * time.Millisecond,
		SnapshotCount:     o.snapshotCount, RequestTimeout: o.requestTimeout,
		Redirect: o.redirect, LeaseReads: o.leaseReads, EnablePprof: o.pprof, Logger: logger,
		FaultInjection: o.faultInjection, BcryptCost: o.bcryptCost,
	}
	if o.bcryptCost < bcrypt.MinCost || o.bcryptCost > bcrypt.MaxCost {
		return cfg, fmt.Errorf("--bcrypt-cost must be from %d to %d, not %d", bcrypt.MinCost, bcrypt.MaxCost, o.bcryptCost)
	}
	if o.name == "" {
		return cfg, errors.New("--name is empty")
	}
	if cfg.DataDir == "" {
		cfg.DataDir = o.name + ".raftkv"
	}
	if o.heartbeatMs == 0 {
		return cfg, errors.New("--heartbeat-interval must be above 0")
	}
	if o.electionMs < 5*o.heartbeatMs || o.electionMs > 50000 {
		return cfg, fmt.Errorf("--election-timeout (%d ms) must be at least 5x --heartbeat-interval (%d ms) and at most 50000 ms", o.electionMs, o.heartbeatMs)
	}
	if o.snapshotCount == 0 {
		return cfg, errors.New("--snapshot-count must be above 0")
	}
	var err error
	if cfg.ListenClientURLs, err = server.ParseURLs("listen-client-urls", o.listenClient, true); err != nil {
		return cfg, err
	}
	if cfg.AdvertiseClientURLs, err = server.ParseURLs("advertise-client-urls", o.advertiseClient, false); err != nil {
		return cfg, err
	}
	if cfg.ListenPeerURLs, err = server.ParseURLs("listen-peer-urls", o.listenPeer, true); err != nil {
		return cfg, err
	}
	if cfg.InitialAdvertisePeerURLs, err = server.ParseURLs("initial-advertise-peer-urls", o.advertisePeer, false); err != nil {
		return cfg, err
	}
	ic := o.initialCluster
	if ic == "" {
		var parts []string
		for _, u := range cfg.InitialAdvertisePeerURLs {
			parts = append(parts, o.name+"="+u)
		}
		ic = strings.Join(parts, ",")
	}
	if cfg.InitialCluster, err = server.ParseInitialCluster(ic); err != nil {
		return cfg, err
	}
	if o.cors != "" {
		for c := range strings.SplitSeq(o.cors, ",") {
			cfg.CORS = append(cfg.CORS, strings.TrimSpace(c))
		}
	}
	if err := tlsConfig(o, &cfg, logger); err != nil {
		return cfg, err
	}
	if err := discoveryConfig(o, &cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// tlsConfig fills in the TLS settings of both sides, folding the
// deprecated --ca-file and --peer-ca-file in as etcd does.
func tlsConfig(o *options, cfg *server.MemberConfig, logger *slog.Logger) error {
	cfg.ClientTLS = server.TLSInfo{
		CertFile: o.certFile, KeyFile: o.keyFile, TrustedCAFile: o.trustedCA,
		ClientCertAuth: o.clientCertAuth, CRLFile: o.clientCRL, AutoTLS: o.autoTLS,
	}
	cfg.PeerTLS = server.TLSInfo{
		CertFile: o.peerCertFile, KeyFile: o.peerKeyFile, TrustedCAFile: o.peerTrustedCA,
		ClientCertAuth: o.peerClientCertAuth, CRLFile: o.peerCRL, AutoTLS: o.peerAutoTLS,
		AllowedCN: o.peerAllowedCN,
	}
	deprecated := []struct {
		old, trusted, auth string
		caFile             string
		info               *server.TLSInfo
	}{
		{"--ca-file", "--trusted-ca-file", "--client-cert-auth", o.caFile, &cfg.ClientTLS},
		{"--peer-ca-file", "--peer-trusted-ca-file", "--peer-client-cert-auth", o.peerCAFile, &cfg.PeerTLS},
	}
	for _, d := range deprecated {
		if d.caFile == "" {
			continue
		}
		if d.info.TrustedCAFile != "" && d.info.TrustedCAFile != d.caFile {
			return fmt.Errorf("%s %s and %s %s disagree; give only %s", d.old, d.caFile, d.trusted, d.info.TrustedCAFile, d.trusted)
		}
		logger.Warn(fmt.Sprintf("%s is deprecated: it means %s %s %s; use those", d.old, d.trusted, d.caFile, d.auth))
		d.info.TrustedCAFile, d.info.ClientCertAuth = d.caFile, true
	}
	var err error
	if cfg.TLSMinVersion, err = server.ParseTLSVersion(o.tlsMinVersion); err != nil {
		return err
	}
	if cfg.CipherSuites, err = server.ParseCipherSuites(o.cipherSuites); err != nil {
		return err
	}
	return nil
}

// stopWithin calls stop with a deadline d from now and returns the exit
// code: 0, or 1 (logging failed with the error) if it failed.
func stopWithin(logger *slog.Logger, d time.Duration, failed string, stop func(context.Context) error) int {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := stop(ctx); err != nil {
		logger.Error(failed, "err", err)
		return 1
	}
	return 0
}
