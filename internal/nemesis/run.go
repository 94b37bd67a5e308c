package nemesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/raftkv/raftkv/internal/testcluster"
	"github.com/raftkv/raftkv/linearizability"
	"github.com/raftkv/raftkv/linearizability/v2workload"
)

// Options configures one run.
type Options struct {
	// Bin is the raftkv binary (see Build).
	Bin string
	// Seed draws the faults (kinds, targets, durations) and the clients'
	// operations. Real processes keep their own timing, so a seed
	// replays the same schedule, not the same interleaving.
	Seed uint64
	// Duration is how long faults are injected (default 60s).
	Duration time.Duration
	// Members is 3 or 5 (default 5).
	Members int
	// Clients is the number of concurrent KV clients (default 6).
	Clients int
	// Locks is the number of clients of the lock workload (default 3;
	// -1: none).
	Locks int
	// Faults are the kinds to draw from (default AllFaults).
	Faults []Fault
	// Compose is the share (0 to 1) of faults that get message delay or
	// loss (the fault hooks) layered on them for their whole duration
	// (default 0: one fault at a time).
	Compose float64
	// Dir keeps the members' data dirs and logs (default: a temporary
	// directory, removed after a run that passed unless Keep).
	Dir  string
	Keep bool
	// CheckTimeout bounds Porcupine (default 2 minutes).
	CheckTimeout time.Duration
	// Log receives the run's progress (faults as they happen); nil: none.
	Log io.Writer
	// Replay is the command that replays the run, printed in the summary
	// (default: the raftkv-nemesis command line for Seed and the options).
	Replay string

	// staleReads plants a bug in the clients for the package's tests:
	// their reads ask for quorum=false, which may be stale, so the check
	// must fail.
	staleReads bool
}

func (o *Options) setDefaults() error {
	if o.Duration <= 0 {
		o.Duration = 60 * time.Second
	}
	if o.Members == 0 {
		o.Members = 5
	}
	if o.Members != 3 && o.Members != 5 {
		return fmt.Errorf("nemesis: %d members; 3 or 5", o.Members)
	}
	if !(o.Compose >= 0 && o.Compose <= 1) { // NaN too
		return fmt.Errorf("nemesis: Compose %v is not between 0 and 1", o.Compose)
	}
	if o.Clients <= 0 {
		o.Clients = 6
	}
	if o.Locks == 0 {
		o.Locks = 3
	}
	if o.Faults == nil {
		o.Faults = slices.Clone(AllFaults)
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 2 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Bin == "" {
		return errors.New("nemesis: Options.Bin (the raftkv binary) is empty")
	}
	if o.Replay == "" {
		var names []string
		for _, f := range o.Faults {
			names = append(names, string(f))
		}
		o.Replay = fmt.Sprintf("go run ./cmd/raftkv-nemesis -seed %d -duration %v -members %d -clients %d -locks %d -faults %s",
			o.Seed, o.Duration, o.Members, o.Clients, max(o.Locks, 0), strings.Join(names, ","))
		if o.Compose > 0 {
			o.Replay += fmt.Sprintf(" -compose %v", o.Compose)
		}
	}
	return nil
}

// Verdict is a run's outcome.
type Verdict string

// The verdicts.
const (
	// VerdictOK: the history is linearizable and every member's final
	// reads agree.
	VerdictOK Verdict = "ok"
	// VerdictViolation: Porcupine found no linearization, or the members
	// disagree after healing, or a final read lost an acknowledged write.
	VerdictViolation Verdict = "violation"
	// VerdictUnknown: Porcupine timed out.
	VerdictUnknown Verdict = "unknown"
	// VerdictLiveness: after healing, the cluster did not elect a leader
	// or answer the final reads in time.
	VerdictLiveness Verdict = "liveness"
)

// Result is what one run found.
type Result struct {
	Seed    uint64
	Members int
	Verdict Verdict
	// Why explains a verdict other than ok.
	Why string
	// Ops counts the clients' operations by kind and outcome (indexed by
	// v2workload.Outcome; final reads not included).
	Ops map[linearizability.Op][numOutcomes]int
	// Faults counts the injected faults by kind; Log lists them in order.
	Faults   map[Fault]int
	FaultLog []string
	// LeaderChanges counts the leaders (distinct terms) seen by polling
	// every member's /v2/stats/self, less the first; Terms is how many
	// terms the cluster went through.
	LeaderChanges int
	Terms         uint64
	// FinalReads is keys x members quorum reads after healing.
	FinalReads int
	Keys       int
	// Check is Porcupine's result; its VisualizationPath is the HTML of
	// a failed history.
	Check linearizability.Result
	// Locks is what the lock workload did and found (nil without it).
	Locks *LockStats
	// Unexpected lists answers outside the v2 contract (reported, not a
	// violation: they were recorded as unknown).
	Unexpected []string
	// ops is the checked history (the package's tests plant a bug in it).
	ops []porcupine.Operation
	// Dir is where the members' logs are (kept on failure), "" if removed.
	Dir    string
	Replay string
	Took   time.Duration
}

// runner is the state of one run.
type runner struct {
	opts    Options
	net     *network
	cluster *testcluster.Cluster
	// ctl is the HTTP client for the fault hooks and the monitor (short
	// timeout), in the clients' namespace.
	ctl *http.Client
	log io.Writer

	leaderMu sync.Mutex
	leader   int // index of the member last seen leading, -1
	// leaders records every (term -> leader name) seen.
	leaders map[uint64]string
	maxTerm uint64
	// fault is the kind of the fault in force ("" between faults).
	fault atomic.Value
}

// partitioned reports whether a partition (iptables) is in force.
func (r *runner) partitioned() bool {
	switch f, _ := r.fault.Load().(Fault); f {
	case FaultIsolateLeader, FaultSplit, FaultBridge, FaultOneWay:
		return true
	}
	return false
}

var runCount atomic.Int64

// Run runs the nemesis once: it makes the network, starts the members,
// runs the clients and the faults for opts.Duration, heals everything,
// reads every key from every member and checks the history. The error is
// for a run that could not be made (no namespaces, a member that would
// not start); what the run found is in the Result.
func Run(ctx context.Context, opts Options) (_ *Result, err error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := Available(ctx); err != nil {
		return nil, err
	}
	gone, err := removeLeftovers(ctx)
	if len(gone) > 0 {
		fmt.Fprintf(opts.Log, "removed namespaces left by killed runs: %s\n", strings.Join(gone, " "))
	}
	if err != nil {
		// Names are unique to this run: others' leftovers are in the
		// way only of the machine's tidiness.
		fmt.Fprintf(opts.Log, "warning: could not remove every namespace left by killed runs: %v\n", err)
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "raftkv-nemesis-"); err != nil {
			return nil, err
		}
	}
	defer func() {
		switch {
		case errors.Is(err, context.Canceled) && opts.Dir == "" && !opts.Keep:
			os.RemoveAll(dir) // interrupted: nothing to look at
		case err != nil:
			err = fmt.Errorf("%w (member logs in %s)", err, dir)
		}
	}()
	tag := fmt.Sprintf("r%d", runCount.Add(1))
	nw, err := setupNetwork(ctx, tag, opts.Members)
	if err != nil {
		return nil, err
	}
	defer nw.teardown()
	r := &runner{opts: opts, net: nw, log: opts.Log, leader: -1, leaders: map[uint64]string{}}
	var hosts []string
	for i := range opts.Members {
		hosts = append(hosts, memberAddr(i))
	}
	r.cluster, err = testcluster.Start(testcluster.Options{
		Bin: opts.Bin, Dir: dir, Members: opts.Members, Hosts: hosts, Wrap: nw.wrap, Dial: nw.dial,
		Token:       "nemesis-" + tag,
		HeartbeatMs: 100, ElectionMs: 1000,
		Args: []string{"--experimental-fault-injection", "--request-timeout", "2s"},
	})
	if err != nil {
		return nil, err
	}
	defer r.cluster.Close()
	r.ctl = r.cluster.HTTPClient(time.Second)
	defer r.ctl.CloseIdleConnections()

	res := &Result{Seed: opts.Seed, Members: opts.Members, Faults: map[Fault]int{}, Replay: opts.Replay, Dir: dir}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = r.cluster.WaitLeader(wctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("the new cluster elected no leader: %v", err)
	}

	// The monitor polls the members' roles until the end.
	monCtx, stopMon := context.WithCancel(ctx)
	var monWG sync.WaitGroup
	monWG.Add(1)
	go func() { defer monWG.Done(); r.monitor(monCtx) }()
	defer func() { stopMon(); monWG.Wait() }()

	h := linearizability.NewHistory(linearizability.WallClock())
	t := newTally()
	ks := keySpace{start: time.Now(), epoch: 10 * time.Second, perEpch: 4}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var clients []*kvClient
	for i := range opts.Clients {
		cl := &kvClient{
			Client: v2workload.Client{
				ID: i, Rec: h.NewRecorder(), HC: r.cluster.HTTPClient(4 * time.Second),
				Rng:        rand.New(rand.NewPCG(opts.Seed, uint64(100+i))),
				Last:       map[string]string{},
				StaleReads: opts.staleReads,
			},
			urls: r.cluster.ClientURLs(), keys: ks, tally: t, used: map[string]bool{},
		}
		clients = append(clients, cl)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.HC.CloseIdleConnections()
			cl.run(loadCtx)
		}()
	}

	var lockResult func() *LockStats
	if opts.Locks > 0 {
		if lockResult, err = r.startLocks(loadCtx, opts.Locks); err != nil {
			stopLoad()
			wg.Wait()
			return nil, err
		}
	}

	faultErr := r.nemesis(ctx, res)
	stopLoad()
	wg.Wait()
	if lockResult != nil {
		res.Locks = lockResult()
	}
	if faultErr != nil {
		return nil, faultErr
	}
	if ctx.Err() != nil {
		// Interrupted: the deferred calls stop the members and remove
		// the namespaces.
		return nil, ctx.Err()
	}

	// Every key any client touched, read from every member.
	keySet := map[string]bool{}
	for _, cl := range clients {
		for k := range cl.used {
			keySet[k] = true
		}
	}
	var allKeys []string
	for k := range keySet {
		allKeys = append(allKeys, k)
	}
	sort.Strings(allKeys)
	res.Keys = len(allKeys)
	res.Verdict, res.Why = r.finalReads(ctx, h, allKeys, res)
	stopMon()
	monWG.Wait()
	r.leaderMu.Lock()
	res.LeaderChanges = max(len(r.leaders)-1, 0)
	res.Terms = r.maxTerm
	r.leaderMu.Unlock()

	res.Ops = map[linearizability.Op][numOutcomes]int{}
	for k, v := range t.counts {
		res.Ops[k] = *v
	}
	res.Unexpected = t.unexpected

	res.ops = h.Operations()
	if res.Verdict == "" && res.Locks != nil && len(res.Locks.Violations) > 0 {
		res.Verdict, res.Why = VerdictViolation, "the lock checker: "+res.Locks.Violations[0]
	}
	if res.Verdict == "" {
		res.Verdict = VerdictOK
		res.Why = r.check(res.ops, res)
	} else if res.Verdict == VerdictViolation {
		// Still check: Porcupine's HTML shows the keys' histories.
		r.check(res.ops, res)
		res.Verdict = VerdictViolation
	}
	r.cluster.Close()
	if res.Verdict == VerdictOK && !opts.Keep && opts.Dir == "" {
		os.RemoveAll(dir)
		res.Dir = ""
	}
	res.Took = time.Since(start)
	return res, nil
}

// nemesis injects faults until opts.Duration has passed, then heals
// everything: one fault at a time (with Compose, some with delay or loss
// layered on), held for 1.5 to 6 s, with 0.5 to 3 s of calm between
// faults.
func (r *runner) nemesis(ctx context.Context, res *Result) error {
	rng := rand.New(rand.NewPCG(r.opts.Seed, 1))
	end := time.Now().Add(r.opts.Duration)
	wait := func(d time.Duration) bool {
		if rest := time.Until(end); d > rest {
			d = rest
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			// The schedule's pace: a timer synchronises nothing here.
			return time.Now().Before(end)
		}
	}
	begin := time.Now()
	for wait(time.Duration(500+rng.IntN(2500)) * time.Millisecond) {
		kind := r.opts.Faults[rng.IntN(len(r.opts.Faults))]
		hold := time.Duration(1500+rng.IntN(4500)) * time.Millisecond
		// A layer of delay or loss goes on first, so that it reaches a
		// member before the fault pauses it. (Drawn only when composing,
		// so that seeds keep their schedules without it.)
		var layer *injected
		if r.opts.Compose > 0 && rng.Float64() < r.opts.Compose && kind != FaultDelay && kind != FaultLoss {
			lk := []Fault{FaultDelay, FaultLoss}[rng.IntN(2)]
			var err error
			if layer, err = r.inject(ctx, lk, rng, r.currentLeader()); err != nil {
				return fmt.Errorf("injecting %s: %v", lk, err)
			}
			res.Faults[lk]++
		}
		inj, err := r.inject(ctx, kind, rng, r.currentLeader())
		if err != nil {
			return fmt.Errorf("injecting %s: %v", kind, err)
		}
		r.fault.Store(kind)
		res.Faults[kind]++
		line := fmt.Sprintf("%6.1fs %-15s %s for %v", time.Since(begin).Seconds(), kind, inj.what, hold)
		if layer != nil {
			line += fmt.Sprintf(", with %s: %s", layer.kind, layer.what)
		}
		res.FaultLog = append(res.FaultLog, line)
		fmt.Fprintln(r.log, line)
		wait(hold)
		if err := inj.heal(context.Background()); err != nil {
			return fmt.Errorf("healing %s: %v", kind, err)
		}
		if layer != nil {
			if err := layer.heal(context.Background()); err != nil {
				return fmt.Errorf("healing %s: %v", layer.kind, err)
			}
		}
		r.fault.Store(Fault(""))
	}
	return r.healAll(context.Background())
}

// healAll undoes every fault: rules flushed, hooks cleared, every member
// running and resumed.
func (r *runner) healAll(ctx context.Context) error {
	if err := r.healRules(ctx); err != nil {
		return err
	}
	for i := range r.cluster.Members {
		if r.cluster.Running(i) {
			r.cluster.Resume(i)
		} else if err := r.cluster.Restart(i); err != nil {
			return err
		}
	}
	return r.healHooks(ctx)
}

// monitor polls every member's /v2/stats/self every 100 ms and records
// the leaders it sees, until ctx ends.
func (r *runner) monitor(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		for i, m := range r.cluster.Members {
			var s selfStats
			c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			err := testcluster.GetJSON(c, r.ctl, m.ClientURL+"/v2/stats/self", &s)
			cancel()
			if err != nil {
				continue
			}
			r.leaderMu.Lock()
			r.maxTerm = max(r.maxTerm, s.RaftTerm)
			if s.State == "StateLeader" {
				r.leaders[s.RaftTerm] = s.Name
				if s.RaftTerm >= r.maxTerm {
					r.leader = i
				}
			} else if r.leader == i {
				r.leader = -1
			}
			r.leaderMu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (r *runner) currentLeader() int {
	r.leaderMu.Lock()
	defer r.leaderMu.Unlock()
	return r.leader
}

// finalReads waits for a leader, then reads every key from every member
// with a quorum read, recorded in the history after everything else, so
// that Porcupine checks them against every acknowledged write. The
// members must agree on every key: a key they disagree on is read again
// (a write with an unknown outcome may still have been applying), up to
// three rounds. It returns the verdict (liveness or violation) and why,
// or "" if the reads agree.
func (r *runner) finalReads(ctx context.Context, h *linearizability.History, keys []string, res *Result) (Verdict, string) {
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if _, err := r.cluster.WaitLeader(wctx); err != nil {
		return VerdictLiveness, fmt.Sprintf("no leader after healing: %v", err)
	}
	hc := r.cluster.HTTPClient(5 * time.Second)
	defer hc.CloseIdleConnections()
	var recs []*linearizability.Recorder
	for range r.cluster.Members {
		recs = append(recs, h.NewRecorder())
	}
	todo := keys
	for round := 1; ; round++ {
		var disagree []string
		var detail string
		for _, key := range todo {
			var vals []string
			var first string
			for i, m := range r.cluster.Members {
				v, why := readFinal(wctx, hc, recs[i], m.ClientURL, key)
				if why != "" {
					return VerdictLiveness, fmt.Sprintf("final read of %s from %s: %s", key, m.Name, why)
				}
				res.FinalReads++
				vals = append(vals, m.Name+"="+v)
				if i == 0 {
					first = v
				} else if v != first {
					disagree = append(disagree, key)
					detail = strings.Join(vals, " ")
					break
				}
			}
		}
		if len(disagree) == 0 {
			return "", ""
		}
		if round == 3 {
			return VerdictViolation, fmt.Sprintf("the members disagree on %d keys after healing, e.g. %s", len(disagree), detail)
		}
		todo = disagree
		select {
		case <-wctx.Done():
			return VerdictLiveness, "final reads: out of time"
		case <-time.After(time.Second):
			// Giving a late apply time to land before reading again.
		}
	}
}

// readFinal reads key from base with a quorum read recorded by rec,
// retrying until it gets a definite answer; it returns the value ("(not
// found)" for a missing key), or why it gave up.
func readFinal(ctx context.Context, hc *http.Client, rec *linearizability.Recorder, base, key string) (string, string) {
	var last string
	for attempt := 0; attempt < 20 && ctx.Err() == nil; attempt++ {
		rec.Call(linearizability.Input{Op: linearizability.OpGet, Key: key})
		resp, err := testcluster.Keys(ctx, hc, http.MethodGet, base, key, nil)
		switch {
		case err == nil && resp.Status == http.StatusOK:
			rec.Return(linearizability.Output{Status: linearizability.StatusOK, Value: resp.Node.Val(), Index: resp.Node.ModifiedIndex})
			return resp.Node.Val(), ""
		case err == nil && resp.ErrorCode == 100:
			rec.Return(linearizability.Output{Status: linearizability.StatusNotFound})
			return "(not found)", ""
		}
		rec.Ambiguous()
		if err != nil {
			last = err.Error()
		} else {
			last = resp.String()
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
			// Polling another process until it answers.
		}
	}
	return "", "no answer after 20 tries; last: " + last
}

// check runs Porcupine on ops and sets the verdict; it returns why the
// verdict is not ok.
func (r *runner) check(ops []porcupine.Operation, res *Result) string {
	htmlDir, err := os.MkdirTemp("", "raftkv-nemesis-porcupine-")
	if err != nil {
		res.Verdict = VerdictUnknown
		return err.Error()
	}
	cr, err := linearizability.Check(ops, linearizability.CheckOptions{
		Timeout: r.opts.CheckTimeout, VisualizationPath: filepath.Join(htmlDir, "history.html"),
	})
	if cr.VisualizationPath == "" {
		os.RemoveAll(htmlDir)
	}
	res.Check = cr
	switch {
	case err != nil:
		res.Verdict = VerdictUnknown
		return err.Error()
	case cr.Verdict == linearizability.VerdictIllegal:
		res.Verdict = VerdictViolation
		return "Porcupine: the history is not linearizable; see " + cr.VisualizationPath
	case cr.Verdict == linearizability.VerdictUnknown:
		res.Verdict = VerdictUnknown
		return fmt.Sprintf("Porcupine timed out after %v", r.opts.CheckTimeout)
	}
	return ""
}

// Build compiles ./cmd/raftkv of the module in dir (or the module
// containing the working directory, if dir is "") into a temporary
// directory and returns the binary's path.
func Build(dir string) (string, error) {
	out, err := os.MkdirTemp("", "raftkv-nemesis-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(out, "raftkv")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/raftkv/raftkv/cmd/raftkv")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/raftkv: %v\n%s", err, b)
	}
	return bin, nil
}

// selfStats is the part of /v2/stats/self the nemesis reads.
type selfStats struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	State    string `json:"state"`
	RaftTerm uint64 `json:"raftTerm"`
}
