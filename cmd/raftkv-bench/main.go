// Command raftkv-bench is a load generator for the etcd v2 HTTP API. It
// speaks only the public API (/v2/keys, /health, /v2/stats/self,
// /v2/members/leader), so it measures raftkv and any other v2 server alike.
//
// Workloads (--workload):
//
//	put    PUT a --value-size byte value; to a new key every time (--keys 0)
//	       or to a random key of a shared set of --keys keys
//	get    GET a random key of the set (written once beforehand)
//	qget   the same with ?quorum=true, a linearizable read
//	lget   the same with ?quorum=false, a local read (etcd's default GET;
//	       raftkv's default GET is linearizable, like qget)
//	watch  --concurrency watchers on one directory and a single writer
//	       PUTting to --keys keys under it at --watch-rate writes/s; the
//	       latency is from sending the PUT to a watcher decoding the event
//
// put, get and qget run --concurrency closed-loop clients spread round-robin
// over --endpoints (or all on the leader with --leader-only), for --duration
// or until --total operations. The report gives throughput, a latency
// histogram with p50/p90/p99/p99.9, failures by v2 errorCode or HTTP status,
// the CPU the generator itself used, and a last line that scripts can read
// (a leader-only run's ends with to=leader):
//
//	summary workload=put conc=64 ops=… secs=… ops/s=… p50=…ms p90=…ms p99=…ms p999=…ms max=…ms errors=… client-cpu=…
//
// --matrix runs several workload:concurrency pairs in turn with the other
// flags shared and ends with a table of all of them; `make bench` uses it.
// A pair with a third part, workload:concurrency:leader, sends that row's
// requests to the leader only (as --leader-only does for every row); its
// table row is labelled workload@leader.
// --wait-healthy first waits until every endpoint's /health says true.
// --cpuprofile writes the generator's own CPU profile.
//
// The generator measures the server, not itself: put, get, qget and lget
// use a hand-written HTTP/1.1 client (--client lean, lean.go) unless
// --client net/http; and each run reports, per member process, the CPU it
// spent per operation and its read and write system calls (from /proc, for
// members on this machine, found by their listening port), its peak RSS,
// and fsyncs, peer messages and peer bytes per operation (from /metrics,
// members.go); --members=false turns that off.
//
// --server BIN starts a fresh 3-member loopback cluster of a v2 server
// binary (etcd's flags; ETCD_ENABLE_V2=true in the environment) and
// measures it instead of --endpoints; --compare BIN starts a second one and
// runs every matrix entry against both, alternating run by run; --runs N
// repeats each entry. These end with a table of each system's medians and,
// with --compare, their ratio (compare.go, cluster.go).
//
// The exit status is 1 for bad flags, an unreachable cluster, or a run in
// which no operation succeeded; failed operations alone do not change it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	// The first SIGINT or SIGTERM ends the measuring early; what was measured
	// is still reported. A second one kills the process.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "raftkv-bench: %v: stopping, reporting what was measured\n", s)
		signal.Stop(sigs)
		cancel()
	}()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "raftkv-bench:", err)
		}
		os.Exit(1)
	}
}

// matrixEntry is one workload:concurrency[:leader] entry of --matrix.
type matrixEntry struct {
	workload    string
	concurrency int
	leaderOnly  bool
}

func parseMatrix(s string) ([]matrixEntry, error) {
	var out []matrixEntry
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		w, c, ok := strings.Cut(item, ":")
		c, to, _ := strings.Cut(c, ":")
		n, err := strconv.Atoi(c)
		if !ok || err != nil || n < 1 || (to != "" && to != "leader") {
			return nil, fmt.Errorf("matrix entry %q: want workload:concurrency or workload:concurrency:leader, e.g. put:64 or put:1:leader", item)
		}
		out = append(out, matrixEntry{w, n, to == "leader"})
	}
	if len(out) == 0 {
		return nil, errors.New("empty matrix")
	}
	return out, nil
}

// options is the command line: the flags that map onto Config, and those
// that say what surrounds the runs.
type options struct {
	base        Config        // shared by every run (a --matrix entry overrides its workload and concurrency)
	matrix      string        // --matrix, "" for the single run base describes
	waitHealthy time.Duration // --wait-healthy
	cpuProfile  string        // --cpuprofile
	members     bool          // --members: find the endpoints' processes for the per-member figures
	server      string        // --server: start a cluster of this binary instead of using --endpoints
	compare     string        // --compare: start a cluster of this binary too and alternate runs
	serverArgs  string        // --server-args
	compareArgs string        // --compare-args
	runs        int           // --runs
	keepData    bool          // --keep-data
	label       string        // --label: the --endpoints cluster's name in tables
}

// run is the whole command: parse the flags, wait for the cluster if asked,
// run the single workload or every --matrix entry in turn, and report.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfgs, err := runConfigs(opts.base, opts.matrix)
	if err != nil {
		return err
	}
	if opts.server != "" || opts.compare != "" || opts.runs > 1 {
		return runCompare(ctx, opts, cfgs, stdout, stderr)
	}
	if opts.waitHealthy > 0 {
		c := newClient(len(opts.base.Endpoints), time.Second, opts.base.Access)
		err := waitHealthy(ctx, c.ops, opts.base.Endpoints, opts.waitHealthy)
		c.close()
		if err != nil {
			return err
		}
	}
	if opts.members {
		for i := range cfgs {
			cfgs[i].Members = findMembers(cfgs[i].Endpoints)
		}
	}
	if opts.cpuProfile != "" {
		stop, err := startCPUProfile(opts.cpuProfile, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	results, err := runAll(ctx, cfgs, stdout)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Ops == 0 {
			return fmt.Errorf("%s at concurrency %d: no operation succeeded", r.Workload, r.Concurrency)
		}
	}
	return nil
}

// parseFlags parses args into options; on bad flags (or --help) the flag
// package has already said why on stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var opts options
	c := &opts.base
	var endpoints, prefix string
	fs := flag.NewFlagSet("raftkv-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&endpoints, "endpoints", "http://127.0.0.1:2379", "comma-separated client URLs; clients are spread over them round-robin")
	fs.BoolVar(&c.LeaderOnly, "leader-only", false, "send every request to the leader (found via /v2/stats/self or /v2/members/leader)")
	fs.StringVar(&c.Workload, "workload", workloadPut, "put, get, qget (quorum=true GET), lget (quorum=false GET) or watch")
	fs.IntVar(&c.Concurrency, "concurrency", 16, "concurrent clients (watch: watchers)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "length of the measured phase")
	fs.IntVar(&c.Total, "total", 0, "stop after this many operations (watch: writes) instead of after --duration")
	fs.DurationVar(&c.Warmup, "warmup", 0, "run the workload this long, unmeasured, before the measured phase (not for watch)")
	fs.IntVar(&c.ValueSize, "value-size", 256, "bytes per written value")
	fs.IntVar(&c.Keys, "keys", 0, "size of the shared key set; 0: put writes a new key every time, get/qget use 1000, watch 1")
	fs.StringVar(&prefix, "prefix", "/raftkv-bench", "directory under which all keys are written")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.Float64Var(&c.RatePerSec, "rate", 0, "cap on requests/s across all clients for put/get/qget (0: closed loop, no cap)")
	fs.Float64Var(&c.WatchRatePerSec, "watch-rate", 100, "writes/s of the watch workload's writer (0: as fast as its round trips allow)")
	fs.BoolVar(&c.Stream, "stream", false, "watch with stream=true instead of long polls")
	fs.BoolVar(&c.Preload, "preload", true, "get/qget: write the key set before reading it")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the key choices")
	fs.StringVar(&opts.matrix, "matrix", "", "run these workload:concurrency pairs in turn and print a table, e.g. put:1,put:1:leader,put:64,get:64 (:leader: that row to the leader only)")
	fs.DurationVar(&opts.waitHealthy, "wait-healthy", 0, "first wait up to this long for every endpoint's /health to be true")
	fs.StringVar(&opts.cpuProfile, "cpuprofile", "", "write the generator's own CPU profile (go tool pprof format) to this file")
	fs.StringVar(&c.Client, "client", clientLean, "HTTP client of put, get and qget: lean (hand-written HTTP/1.1 on keep-alive connections; https endpoints use net/http anyway) or net/http")
	fs.BoolVar(&opts.members, "members", true, "report what each member process spent per operation (CPU and syscalls from /proc for members on this machine; fsyncs and peer messages from /metrics)")
	fs.StringVar(&opts.server, "server", "", "start a fresh 3-member cluster of this v2 server binary on loopback and measure it instead of --endpoints")
	fs.StringVar(&opts.serverArgs, "server-args", "", "more flags for every --server member (space-separated)")
	fs.StringVar(&opts.compare, "compare", "", "also start a 3-member cluster of this v2 server binary (etcd 3.x gets ETCD_ENABLE_V2=true), run the matrix against both, alternating run by run, and print both with their ratio")
	fs.StringVar(&opts.compareArgs, "compare-args", "", "more flags for every --compare member (space-separated)")
	fs.IntVar(&opts.runs, "runs", 1, "run each matrix entry this many times (per cluster) and print the medians")
	fs.StringVar(&opts.label, "label", "endpoints", "the --endpoints cluster's name in the --compare and --runs tables")
	fs.BoolVar(&opts.keepData, "keep-data", false, "keep the data directories and logs of the clusters --server and --compare started")
	var user, caFile, certFile, keyFile string
	fs.StringVar(&user, "user", "", "v2 auth: send Basic credentials user:password with every request")
	fs.StringVar(&caFile, "cacert", "", "https endpoints: verify the members' certificates with this CA (PEM)")
	fs.StringVar(&certFile, "cert", "", "https endpoints: present this client certificate (PEM; with --key)")
	fs.StringVar(&keyFile, "key", "", "https endpoints: the client certificate's key (PEM)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	access, err := newAccess(user, caFile, certFile, keyFile)
	if err != nil {
		return options{}, err
	}
	c.Access = access
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if opts.runs < 1 {
		return options{}, errors.New("--runs must be at least 1")
	}
	eps, err := parseEndpoints(endpoints)
	if err != nil {
		return options{}, err
	}
	c.Endpoints = eps
	c.Prefix = strings.TrimRight(prefix, "/")
	if c.Total > 0 {
		c.Duration = 0
	}
	return opts, nil
}

// runConfigs is the Config of every run: base alone, or base with each
// entry of matrix (if not "") in turn; each is validated.
func runConfigs(base Config, matrix string) ([]Config, error) {
	entries := []matrixEntry{{base.Workload, base.Concurrency, base.LeaderOnly}}
	if matrix != "" {
		var err error
		if entries, err = parseMatrix(matrix); err != nil {
			return nil, err
		}
	}
	cfgs := make([]Config, len(entries))
	for i, e := range entries {
		cfg := base
		cfg.Workload, cfg.Concurrency = e.workload, e.concurrency
		cfg.LeaderOnly = base.LeaderOnly || e.leaderOnly
		if err := cfg.validate(); err != nil {
			return nil, err
		}
		cfgs[i] = cfg
	}
	return cfgs, nil
}

// runAll runs cfgs in turn, printing each one's report as it ends and,
// after more than one, the table of them all. An interruption (ctx done)
// ends the sequence after the run it cut short, whose report is printed.
func runAll(ctx context.Context, cfgs []Config, stdout io.Writer) ([]*Result, error) {
	var results []*Result
	for i, cfg := range cfgs {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		r, err := Run(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s at concurrency %d: %w", cfg.Workload, cfg.Concurrency, err)
		}
		r.WriteReport(stdout)
		results = append(results, r)
		if ctx.Err() != nil {
			break // interrupted: report what was measured, run no more
		}
	}
	if len(results) > 1 {
		fmt.Fprintln(stdout)
		WriteTable(stdout, results)
	}
	return results, nil
}

// startCPUProfile profiles the generator itself into file until the
// returned function is called: on a machine shared with the cluster, the
// load generator's own cost is part of what a benchmark measures.
func startCPUProfile(file string, stderr io.Writer) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(stderr, "raftkv-bench: --cpuprofile:", err)
		}
	}, nil
}

// runCompare is --server, --compare and --runs: start the clusters asked
// for, run the matrix against each, alternating, and print the medians.
func runCompare(ctx context.Context, opts options, cfgs []Config, stdout, stderr io.Writer) error {
	var systems []system
	var clusters []*localCluster
	defer func() {
		for _, lc := range clusters {
			lc.stop(stderr)
		}
	}()
	start := func(bin, args string) (system, error) {
		lc, err := startCluster(ctx, bin, strings.Fields(args), opts.keepData, stderr)
		if err != nil {
			return system{}, err
		}
		clusters = append(clusters, lc)
		fmt.Fprintf(stdout, "started a %d-member %s cluster: %s\n", clusterSize, lc.name, strings.Join(lc.endpoints(), ","))
		return system{name: lc.name, endpoints: lc.endpoints(), members: lc.members}, nil
	}
	if opts.server != "" {
		s, err := start(opts.server, opts.serverArgs)
		if err != nil {
			return err
		}
		systems = append(systems, s)
	} else {
		if opts.waitHealthy > 0 {
			c := newClient(len(opts.base.Endpoints), time.Second, opts.base.Access)
			err := waitHealthy(ctx, c.ops, opts.base.Endpoints, opts.waitHealthy)
			c.close()
			if err != nil {
				return err
			}
		}
		s := system{name: opts.label, endpoints: opts.base.Endpoints}
		if opts.members {
			s.members = findMembers(s.endpoints)
		}
		systems = append(systems, s)
	}
	if opts.compare != "" {
		s, err := start(opts.compare, opts.compareArgs)
		if err != nil {
			return err
		}
		if s.name == systems[0].name {
			systems[0].name, s.name = "A:"+systems[0].name, "B:"+s.name
		}
		systems = append(systems, s)
	}
	if !opts.members {
		for i := range systems {
			systems[i].members = nil
		}
	}
	if opts.cpuProfile != "" {
		stop, err := startCPUProfile(opts.cpuProfile, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	results, err := runSystems(ctx, systems, cfgs, opts.runs, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if len(systems) > 1 || opts.runs > 1 {
		fmt.Fprintf(stdout, "medians of %d run(s) each", opts.runs)
		if len(systems) > 1 {
			fmt.Fprintf(stdout, ", alternating %s and %s", systems[0].name, systems[1].name)
		}
		fmt.Fprintln(stdout, ":")
	}
	WriteCompareTable(stdout, systems, cfgs, results)
	for s := range results {
		for ci, rs := range results[s] {
			for _, r := range rs {
				if r.Ops == 0 {
					return fmt.Errorf("%s: %s at concurrency %d: no operation succeeded", systems[s].name, cfgs[ci].Workload, cfgs[ci].Concurrency)
				}
			}
		}
	}
	return nil
}
