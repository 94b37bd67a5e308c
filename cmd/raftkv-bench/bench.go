package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Workload names, as given to --workload and in --matrix.
const (
	workloadPut   = "put"
	workloadGet   = "get"
	workloadQGet  = "qget"
	workloadLGet  = "lget"
	workloadWatch = "watch"
)

// Config is one run's parameters; the flags map onto it one to one.
type Config struct {
	Endpoints   []string
	LeaderOnly  bool
	Workload    string
	Concurrency int
	// Exactly one of Duration and Total bounds the measured phase.
	Duration  time.Duration
	Total     int
	Warmup    time.Duration
	ValueSize int
	// Keys is the size of the shared key set; 0 means every PUT goes to a
	// new key (for get and qget, 0 means defaultReadKeys).
	Keys    int
	Prefix  string
	Timeout time.Duration
	// RatePerSec caps the request rate of put, get and qget; 0 is a closed
	// loop (every worker sends its next request as soon as it has an answer).
	RatePerSec float64
	// WatchRatePerSec paces the single writer of the watch workload.
	WatchRatePerSec float64
	Stream          bool
	Preload         bool
	Seed            uint64
	// Access is how requests authenticate: v2 auth's Basic credentials and
	// TLS for https endpoints.
	Access Access
	// Client is the HTTP client of put, get and qget: clientLean ("" too)
	// for http endpoints, or clientNetHTTP; https endpoints always use
	// net/http.
	Client string
	// Members, if not nil, are the processes serving Endpoints (one per
	// member, any order): each run reports what they spent per operation.
	Members []Member
}

const defaultReadKeys = 1000

// Result is what one run measured.
type Result struct {
	Workload    string
	Concurrency int
	// LeaderOnly says every request went to the leader.
	LeaderOnly bool
	Ops        uint64 // successful operations (for watch: events delivered)
	Elapsed    time.Duration
	Lat        *Histogram
	Errors     map[string]uint64
	// ClientCPU is the CPU time the benchmark process itself used during
	// the measured phase; on a machine shared with the cluster it tells how
	// much of the machine the load generator took.
	ClientCPU time.Duration

	// Watch only: the writer's acknowledged writes and their latency, and
	// how many of the events those writes should have produced never
	// reached a watcher.
	Writes   uint64
	WriteLat *Histogram
	Missed   uint64

	// Members is what each server process spent in the measured phase
	// (nil when Config.Members was).
	Members []MemberUsage

	// The whole machine during the measured phase (Linux; zero
	// elsewhere): the share of all cores that was busy, that busy time,
	// and the 1-minute load average at the end (-1 unknown). With the
	// members' and the generator's CPU, they tell how much of the machine
	// other work took.
	MachineBusy float64
	MachineCPU  time.Duration
	LoadAvg     float64
}

// OpsPerSec is the throughput: successful operations per second of the
// measured phase.
func (r *Result) OpsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// ErrorCount is the number of failed operations, of every class.
func (r *Result) ErrorCount() uint64 {
	var n uint64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// runID makes the names of distinct keys unique across runs against the
// same cluster, so "distinct" really means a key no earlier run wrote.
func runID() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }

// endpointsFor returns the endpoints workers are spread over: all of them
// round-robin, or only the leader.
func endpointsFor(ctx context.Context, cfg *Config, c *client) ([]string, error) {
	if !cfg.LeaderOnly {
		return cfg.Endpoints, nil
	}
	l, err := findLeader(ctx, c.ops, cfg.Endpoints)
	if err != nil {
		return nil, err
	}
	return []string{l}, nil
}

// Run executes one run as cfg describes and returns what it measured.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := newClient(cfg.Concurrency+16, cfg.Timeout, cfg.Access)
	defer c.close()
	eps, err := endpointsFor(ctx, &cfg, c)
	if err != nil {
		return nil, err
	}
	if cfg.Workload == workloadWatch {
		return runWatch(ctx, cfg, c, eps)
	}
	keys := cfg.Keys
	if keys == 0 && cfg.Workload != workloadPut {
		keys = defaultReadKeys
	}
	value := makeValue(cfg.ValueSize)
	body := []byte("value=" + url.QueryEscape(value))
	urls := keyURLs(eps, cfg.Prefix, keys)
	if cfg.Workload != workloadPut && cfg.Preload {
		if err := preload(ctx, c, urls, cfg, body); err != nil {
			return nil, err
		}
	}
	g := &opGen{
		workload: cfg.Workload,
		eps:      eps,
		keys:     urls,
		prefix:   cfg.Prefix + "/d" + runID(),
		body:     body,
		seed:     cfg.Seed,
	}
	if cfg.Warmup > 0 {
		w := cfg
		w.Duration, w.Total = cfg.Warmup, 0
		w.Members = nil
		if _, err := closedLoop(ctx, w, c, g); err != nil {
			return nil, err
		}
	}
	return closedLoop(ctx, cfg, c, g)
}

func (cfg *Config) validate() error {
	switch cfg.Workload {
	case workloadPut, workloadGet, workloadQGet, workloadLGet, workloadWatch:
	default:
		return fmt.Errorf("unknown workload %q (want put, get, qget, lget or watch)", cfg.Workload)
	}
	switch cfg.Client {
	case "", clientLean, clientNetHTTP:
	default:
		return fmt.Errorf("unknown client %q (want lean or net/http)", cfg.Client)
	}
	switch {
	case len(cfg.Endpoints) == 0:
		return errors.New("no endpoints")
	case cfg.Concurrency < 1:
		return errors.New("concurrency must be at least 1")
	case (cfg.Duration > 0) == (cfg.Total > 0):
		return errors.New("give exactly one of a duration and a total")
	case cfg.ValueSize < 0, cfg.Keys < 0, cfg.RatePerSec < 0, cfg.WatchRatePerSec < 0:
		return errors.New("value size, keys and rates must not be negative")
	case cfg.Prefix == "" || cfg.Prefix[0] != '/' || cfg.Prefix == "/":
		return errors.New(`prefix must start with "/" and name a directory below the root`)
	}
	return nil
}

// makeValue is n printable bytes; values need not be random because nothing
// in the path compresses them.
func makeValue(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}

// keyURLs prebuilds, per endpoint, the URLs of the shared key set
// <prefix>/k0 … <prefix>/k<n-1>.
func keyURLs(eps []string, prefix string, n int) [][]string {
	out := make([][]string, len(eps))
	for i, e := range eps {
		out[i] = make([]string, n)
		for k := range n {
			out[i][k] = keyURL(e, prefix+"/k"+strconv.Itoa(k))
		}
	}
	return out
}

// preload writes every key of the shared set once so that reads find them;
// urls are the set's URLs per endpoint, as keyURLs builds them.
func preload(ctx context.Context, c *client, urls [][]string, cfg Config, body []byte) error {
	keys := len(urls[0])
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range min(cfg.Concurrency, keys) {
		wg.Go(func() {
			ep := w % len(urls)
			for {
				k := int(next.Add(1) - 1)
				if k >= keys || ctx.Err() != nil {
					return
				}
				if class := put(ctx, c.ops, urls[ep][k], body); class != "" {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("preloading %s/k%d: %s", cfg.Prefix, k, class)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

func put(ctx context.Context, c *http.Client, u string, body []byte) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return "request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return classifyTransport(err)
	}
	return finish(resp, http.StatusOK, http.StatusCreated)
}

func get(ctx context.Context, c *http.Client, u string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "request: " + err.Error()
	}
	resp, err := c.Do(req)
	if err != nil {
		return classifyTransport(err)
	}
	return finish(resp, http.StatusOK)
}

// opGen produces the requests of the put, get and qget workloads.
type opGen struct {
	workload string
	eps      []string
	keys     [][]string // [endpoint][key] URLs of the shared key set
	prefix   string     // directory of distinct keys
	body     []byte
	seed     uint64
}

// worker is one closed-loop client: it owns its histogram, error counts and
// random source, so the hot loop shares nothing with other workers but the
// op budget.
type worker struct {
	id   int
	ep   int
	rng  *rand.Rand
	seq  uint64
	hist Histogram
	errs map[string]uint64
	ops  uint64
	lean *leanConn // nil: net/http
}

// do performs one operation and returns "" or its error class.
func (g *opGen) do(ctx context.Context, c *client, w *worker) string {
	switch g.workload {
	case workloadPut:
		var u string
		if len(g.keys[w.ep]) == 0 {
			w.seq++
			u = keyURL(g.eps[w.ep], g.prefix+"w"+strconv.Itoa(w.id)+"-"+strconv.FormatUint(w.seq, 10))
		} else {
			u = g.keys[w.ep][w.rng.IntN(len(g.keys[w.ep]))]
		}
		if w.lean != nil {
			return w.lean.do(ctx, "PUT", u, g.body, 200, 201)
		}
		return put(ctx, c.ops, u, g.body)
	case workloadGet:
		u := g.keys[w.ep][w.rng.IntN(len(g.keys[w.ep]))]
		if w.lean != nil {
			return w.lean.do(ctx, "GET", u, nil, 200)
		}
		return get(ctx, c.ops, u)
	default: // qget, lget
		u := g.keys[w.ep][w.rng.IntN(len(g.keys[w.ep]))] + "?quorum=true"
		if g.workload == workloadLGet {
			u = g.keys[w.ep][w.rng.IntN(len(g.keys[w.ep]))] + "?quorum=false"
		}
		if w.lean != nil {
			return w.lean.do(ctx, "GET", u, nil, 200)
		}
		return get(ctx, c.ops, u)
	}
}

// pacer spaces operations interval apart across all workers; it does not
// catch up after a stall, so a slow server gets no burst afterwards.
type pacer struct {
	mu       sync.Mutex
	next     time.Time
	interval time.Duration
}

func newPacer(perSec float64) *pacer {
	if perSec <= 0 {
		return nil
	}
	return &pacer{interval: time.Duration(float64(time.Second) / perSec)}
}

func (p *pacer) wait(ctx context.Context) {
	if p == nil {
		return
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(p.interval)
	p.mu.Unlock()
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// closedLoop runs cfg.Concurrency workers until the duration has passed or
// the total has been issued, then merges what they measured. The elapsed
// time runs until the last worker's last answer, so ops/s counts in-flight
// operations at the deadline against the time they really took.
func closedLoop(ctx context.Context, cfg Config, c *client, g *opGen) (*Result, error) {
	workers := make([]*worker, cfg.Concurrency)
	for i := range workers {
		workers[i] = &worker{
			id:   i,
			ep:   i % len(g.eps),
			rng:  rand.New(rand.NewPCG(g.seed, uint64(i))),
			errs: map[string]uint64{},
		}
		if cfg.Client != clientNetHTTP && leanSupported(g.eps[workers[i].ep]) {
			workers[i].lean = newLeanConn(g.eps[workers[i].ep], cfg.Access, cfg.Timeout)
		}
	}
	defer func() {
		for _, w := range workers {
			if w.lean != nil {
				w.lean.close()
			}
		}
	}()
	p := newPacer(cfg.RatePerSec)
	var issued atomic.Int64
	var before []memberSample
	if cfg.Members != nil {
		before = sampleMembers(ctx, c.ops, cfg.Members)
	}
	machine0 := readMachine()
	cpu0 := processCPU()
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				if cfg.Total > 0 {
					if issued.Add(1) > int64(cfg.Total) {
						return
					}
				} else if !time.Now().Before(deadline) {
					return
				}
				p.wait(ctx)
				t0 := time.Now()
				class := g.do(ctx, c, w)
				lat := time.Since(t0)
				if class == "" {
					w.hist.Record(lat)
					w.ops++
				} else if ctx.Err() == nil {
					w.errs[class]++
				}
			}
		})
	}
	wg.Wait()
	r := &Result{
		Workload:    cfg.Workload,
		Concurrency: cfg.Concurrency,
		LeaderOnly:  cfg.LeaderOnly,
		Elapsed:     time.Since(start),
		ClientCPU:   processCPU() - cpu0,
		Lat:         &Histogram{},
		Errors:      map[string]uint64{},
	}
	if m1 := readMachine(); machine0.ok && m1.ok && m1.total > machine0.total {
		r.MachineBusy = float64(m1.busy-machine0.busy) / float64(m1.total-machine0.total)
		r.MachineCPU = time.Duration(m1.busy-machine0.busy) * time.Second / clockTicks
	}
	r.LoadAvg = loadAverage()
	if cfg.Members != nil {
		r.Members = usage(cfg.Members, before, sampleMembers(ctx, c.ops, cfg.Members))
	}
	for _, w := range workers {
		r.Ops += w.ops
		r.Lat.Merge(&w.hist)
		for k, n := range w.errs {
			r.Errors[k] += n
		}
	}
	return r, nil
}
