package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOpsPerSecMath(t *testing.T) {
	r := &Result{Ops: 500, Elapsed: 250 * time.Millisecond, ClientCPU: 125 * time.Millisecond}
	if got := r.OpsPerSec(); got != 2000 {
		t.Errorf("500 ops in 250ms = %v ops/s, want 2000", got)
	}
	if got := r.cores(); got != 0.5 {
		t.Errorf("125ms of CPU in 250ms = %v cores, want 0.5", got)
	}
	if got := (&Result{Ops: 5}).OpsPerSec(); got != 0 {
		t.Errorf("zero elapsed time must give 0 ops/s, got %v", got)
	}
}

func TestPutDistinctKeysCountsEveryOperation(t *testing.T) {
	f := newFake(t)
	cfg := testConfig(workloadPut, f.start())
	cfg.Total = 200
	cfg.Concurrency = 8
	r := mustRun(t, cfg)
	puts, _, _ := f.counts()
	if r.Ops != 200 || puts != 200 || r.ErrorCount() != 0 || r.Lat.Count() != 200 {
		t.Fatalf("ops=%d server puts=%d errors=%v latencies=%d; want 200, 200, none, 200", r.Ops, puts, r.Errors, r.Lat.Count())
	}
	keys := f.keys()
	if len(keys) != 200 {
		t.Fatalf("%d distinct keys written, want 200 (every PUT to a new key)", len(keys))
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "/bench/") {
			t.Fatalf("key %q is outside the prefix", k)
		}
	}
	if want := float64(r.Ops) / r.Elapsed.Seconds(); r.OpsPerSec() != want {
		t.Fatalf("ops/s %v, want ops/elapsed = %v", r.OpsPerSec(), want)
	}
}

func TestPutSharedKeySet(t *testing.T) {
	f := newFake(t)
	cfg := testConfig(workloadPut, f.start())
	cfg.Keys = 5
	r := mustRun(t, cfg)
	if r.Ops != 40 {
		t.Fatalf("ops = %d, want 40", r.Ops)
	}
	keys := f.keys()
	if len(keys) > 5 || len(keys) < 2 {
		t.Fatalf("keys written %v; want at most the 5 of the shared set (and more than one)", keys)
	}
	for _, k := range keys {
		if !regexp.MustCompile(`^/bench/k[0-4]$`).MatchString(k) {
			t.Fatalf("key %q is not in the shared set", k)
		}
	}
}

func TestValueSize(t *testing.T) {
	f := newFake(t)
	cfg := testConfig(workloadPut, f.start())
	cfg.ValueSize = 1000
	cfg.Total = 3
	mustRun(t, cfg)
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, v := range f.data {
		if len(v) != 1000 {
			t.Fatalf("%s holds %d bytes, want 1000", k, len(v))
		}
	}
}

func TestGetPreloadsThenReads(t *testing.T) {
	f := newFake(t)
	cfg := testConfig(workloadGet, f.start())
	cfg.Keys = 10
	r := mustRun(t, cfg)
	puts, gets, qgets := f.counts()
	if puts != 10 || gets != 40 || qgets != 0 || r.Ops != 40 || r.ErrorCount() != 0 {
		t.Fatalf("puts=%d gets=%d qgets=%d ops=%d errors=%v; want 10 preload PUTs, 40 GETs, no errors",
			puts, gets, qgets, r.Ops, r.Errors)
	}
}

func TestQuorumGet(t *testing.T) {
	f := newFake(t)
	cfg := testConfig(workloadQGet, f.start())
	cfg.Keys = 3
	r := mustRun(t, cfg)
	_, gets, qgets := f.counts()
	if qgets != 40 || gets != 0 || r.Ops != 40 {
		t.Fatalf("quorum gets=%d plain gets=%d ops=%d; want every read with quorum=true", qgets, gets, r.Ops)
	}
}

func TestLocalGet(t *testing.T) {
	f := newFake(t)
	cfg := testConfig(workloadLGet, f.start())
	cfg.Keys = 3
	r := mustRun(t, cfg)
	f.mu.Lock()
	lgets, qgets := f.lgets, f.qgets
	f.mu.Unlock()
	if lgets != 40 || qgets != 0 || r.Ops != 40 {
		t.Fatalf("quorum=false gets=%d quorum gets=%d ops=%d; want every read with quorum=false", lgets, qgets, r.Ops)
	}
}

func TestErrorsCountedByErrorCode(t *testing.T) {
	f := newFake(t)
	f.failEvery = 4
	cfg := testConfig(workloadPut, f.start())
	cfg.Total = 100
	r := mustRun(t, cfg)
	const class = "errorCode=300 status=500 (Raft Internal Error)"
	if r.Ops != 75 || r.Errors[class] != 25 || len(r.Errors) != 1 {
		t.Fatalf("ops=%d errors=%v; want 75 and 25 of %q", r.Ops, r.Errors, class)
	}
	if r.Lat.Count() != 75 {
		t.Fatalf("%d latencies recorded; failures must stay out of the histogram", r.Lat.Count())
	}
	if s := r.Summary(); !strings.Contains(s, " ops=75 ") || !strings.Contains(s, " errors=25 ") {
		t.Fatalf("summary %q does not show 75 ops and 25 errors", s)
	}

	// Reads of keys nobody wrote: every one a 100.
	g := newFake(t)
	cfg = testConfig(workloadGet, g.start())
	cfg.Preload = false
	r, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops != 0 || r.Errors["errorCode=100 status=404 (Key not found)"] != 40 {
		t.Fatalf("ops=%d errors=%v; want 40 key-not-found", r.Ops, r.Errors)
	}
}

func TestErrorsWithoutV2BodyAndWithoutServer(t *testing.T) {
	f := newFake(t)
	f.plain503 = true
	cfg := testConfig(workloadPut, f.start())
	cfg.Total = 10
	r := mustRun(t, cfg)
	if r.Errors["status=503"] != 10 {
		t.Fatalf("errors %v; want 10 of status=503", r.Errors)
	}

	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg = testConfig(workloadPut, "http://"+addr)
	cfg.Total = 5
	r = mustRun(t, cfg)
	if r.Errors["transport: connection refused"] != 5 {
		t.Fatalf("errors %v; want 5 of connection refused", r.Errors)
	}
}

func TestTimeoutIsAnError(t *testing.T) {
	f := newFake(t)
	f.delay = 200 * time.Millisecond
	cfg := testConfig(workloadPut, f.start())
	cfg.Total = 2
	cfg.Timeout = 20 * time.Millisecond
	r := mustRun(t, cfg)
	if r.Errors["transport: timeout"] != 2 {
		t.Fatalf("errors %v; want 2 timeouts", r.Errors)
	}
}

func TestLatencyReflectsServerDelay(t *testing.T) {
	f := newFake(t)
	f.delay = 3 * time.Millisecond
	cfg := testConfig(workloadPut, f.start())
	cfg.Total = 12
	r := mustRun(t, cfg)
	if p50 := r.Lat.Quantile(0.5); p50 < 3*time.Millisecond || p50 > time.Second {
		t.Fatalf("p50 %v, want at least the server's 3ms", p50)
	}
	if r.Lat.Min() < 3*time.Millisecond {
		t.Fatalf("min %v is below the server's delay", r.Lat.Min())
	}
}

func TestDurationBoundsTheRun(t *testing.T) {
	f := newFake(t)
	f.delay = time.Millisecond
	cfg := testConfig(workloadPut, f.start())
	cfg.Total = 0
	cfg.Duration = 100 * time.Millisecond
	r := mustRun(t, cfg)
	if r.Elapsed < 100*time.Millisecond || r.Elapsed > 2*time.Second {
		t.Fatalf("elapsed %v for a 100ms run", r.Elapsed)
	}
	// Four clients, each at most one op per ms.
	if r.Ops < 4 || r.Ops > 4*uint64(r.Elapsed/time.Millisecond) {
		t.Fatalf("%d ops in %v from 4 clients of a 1ms server", r.Ops, r.Elapsed)
	}
	if got, want := r.OpsPerSec(), float64(r.Ops)/r.Elapsed.Seconds(); got != want {
		t.Fatalf("ops/s %v, want %v", got, want)
	}
}

func TestRateCapsThroughput(t *testing.T) {
	f := newFake(t)
	cfg := testConfig(workloadPut, f.start())
	cfg.Total = 11
	cfg.RatePerSec = 200 // 5ms apart: 11 ops take at least 50ms
	r := mustRun(t, cfg)
	if r.Elapsed < 50*time.Millisecond {
		t.Fatalf("11 ops at 200/s took %v, want at least 50ms", r.Elapsed)
	}
}

func TestWarmupIsNotMeasured(t *testing.T) {
	f := newFake(t)
	cfg := testConfig(workloadPut, f.start())
	cfg.Total = 10
	cfg.Warmup = 30 * time.Millisecond
	r := mustRun(t, cfg)
	puts, _, _ := f.counts()
	if r.Ops != 10 || puts <= 10 {
		t.Fatalf("ops=%d server puts=%d; want 10 measured after a warm-up that also wrote", r.Ops, puts)
	}
}

func TestClientsSpreadOverEndpoints(t *testing.T) {
	var fakes []*fakeV2
	var urls []string
	for range 3 {
		f := newFake(t)
		f.delay = time.Millisecond
		fakes = append(fakes, f)
		urls = append(urls, f.start())
	}
	cfg := testConfig(workloadPut, urls...)
	cfg.Concurrency = 3
	cfg.Total = 0
	cfg.Duration = 30 * time.Millisecond
	mustRun(t, cfg)
	for i, f := range fakes {
		if puts, _, _ := f.counts(); puts == 0 {
			t.Fatalf("endpoint %d got no requests", i)
		}
	}
}

func TestLeaderOnly(t *testing.T) {
	follower, leader := newFake(t), newFake(t)
	leader.leader = true
	fu, lu := follower.start(), leader.start()
	cfg := testConfig(workloadPut, fu, lu)
	cfg.LeaderOnly = true
	mustRun(t, cfg)
	if fp, _, _ := follower.counts(); fp != 0 {
		t.Fatalf("follower got %d PUTs with --leader-only", fp)
	}
	if lp, _, _ := leader.counts(); lp != 40 {
		t.Fatalf("leader got %d PUTs, want 40", lp)
	}

	// A server without /v2/stats/self states: /v2/members/leader names it.
	a, b := newFake(t), newFake(t)
	au, bu := a.start(), b.start()
	a.leaderURL = bu + "/"
	cfg = testConfig(workloadPut, au, bu)
	cfg.LeaderOnly = true
	mustRun(t, cfg)
	if bp, _, _ := b.counts(); bp != 40 {
		t.Fatalf("leader named by /v2/members/leader got %d PUTs, want 40", bp)
	}
}

func TestWatchFanOut(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run("stream="+strconv.FormatBool(stream), func(t *testing.T) {
			f := newFake(t)
			cfg := testConfig(workloadWatch, f.start())
			cfg.Concurrency = 3
			cfg.Total = 20
			cfg.Keys = 4
			cfg.Stream = stream
			r := mustRun(t, cfg)
			if r.Writes != 20 || r.Ops != 60 || r.Missed != 0 || r.ErrorCount() != 0 {
				t.Fatalf("writes=%d events=%d missed=%d errors=%v; want 20 writes reaching 3 watchers each",
					r.Writes, r.Ops, r.Missed, r.Errors)
			}
			if r.Lat.Count() != 60 || r.Lat.Max() > 5*time.Second {
				t.Fatalf("%d delivery latencies, max %v", r.Lat.Count(), r.Lat.Max())
			}
			if s := r.Summary(); !strings.Contains(s, "writes=20 missed=0") {
				t.Fatalf("summary %q lacks the watch counts", s)
			}
		})
	}
}

func TestWatchValueRoundTrip(t *testing.T) {
	v := watchValue(42, 123456789, 64)
	if len(v) != 64 {
		t.Fatalf("value of %d bytes, want 64", len(v))
	}
	seq, ns, ok := parseWatchValue(v)
	if !ok || seq != 42 || ns != 123456789 {
		t.Fatalf("parse(%q) = %d, %d, %v", v, seq, ns, ok)
	}
	if _, _, ok := parseWatchValue("abcdefgh"); ok {
		t.Fatal("a foreign value parsed as ours")
	}
}

func TestCommandMatrixPrintsReportsAndTable(t *testing.T) {
	f := newFake(t)
	f.unhealthyN = 2
	f.leader = true
	u := f.start()
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{
		"--endpoints", u, "--matrix", "put:1,put:4,get:2,qget:2,put:2:leader", "--total", "20",
		"--keys", "5", "--value-size", "8", "--wait-healthy", "5s",
	}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	text := out.String()
	summaries := regexp.MustCompile(`(?m)^summary workload=(\w+) conc=(\d+) ops=20 secs=[0-9.]+ ops/s=[0-9.]+ p50=[0-9.]+ms p90=[0-9.]+ms p99=[0-9.]+ms p999=[0-9.]+ms max=[0-9.]+ms errors=0 client-cpu=[0-9.]+( cluster-cpu-us=.* peak-rss-mb=[0-9.-]+)?$`).FindAllStringSubmatch(text, -1)
	if len(summaries) != 4 {
		t.Fatalf("want 4 well-formed summary lines, got %d in:\n%s", len(summaries), text)
	}
	if !regexp.MustCompile(`(?m)^summary workload=put conc=2 ops=20 .* to=leader$`).MatchString(text) {
		t.Fatalf("no leader-only summary line in:\n%s", text)
	}
	if !regexp.MustCompile(`(?m)^\s*put@leader\s+2\s+20\s`).MatchString(text) {
		t.Fatalf("no put@leader row in the table:\n%s", text)
	}
	if !regexp.MustCompile(`(?m)^\s*workload\s+conc\s+ops\s+ops/s\s+p50 ms`).MatchString(text) {
		t.Fatalf("no table header in:\n%s", text)
	}
	if !regexp.MustCompile(`(?m)^\s*qget\s+2\s+20\s`).MatchString(text) {
		t.Fatalf("no qget row in the table:\n%s", text)
	}
	if !strings.Contains(text, "histogram (ms)") {
		t.Fatalf("no histogram in:\n%s", text)
	}
}

func TestCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--workload", "delete"},
		{"--concurrency", "0"},
		{"--matrix", "put"},
		{"--matrix", "put:x"},
		{"--matrix", "put:1:follower"},
		{"--prefix", "nope"},
		{"--endpoints", "ftp://x"},
		{"--endpoints", ""},
		{"--duration", "0"},
		{"stray"},
	} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, &out, &errOut); err == nil {
			t.Errorf("run(%q) succeeded; want an error", args)
		}
		if out.Len() != 0 {
			t.Errorf("run(%q) printed a report for bad flags", args)
		}
	}
}

func TestCommandFailsWhenNothingSucceeds(t *testing.T) {
	f := newFake(t)
	f.plain503 = true
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"--endpoints", f.start(), "--total", "3"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "no operation succeeded") {
		t.Fatalf("err = %v; want no operation succeeded", err)
	}
	if !strings.Contains(out.String(), "status=503") {
		t.Fatalf("the report must still show the errors:\n%s", out.String())
	}
}

func TestWaitHealthyTimesOut(t *testing.T) {
	f := newFake(t)
	f.unhealthyN = 1 << 30
	c := newClient(1, time.Second, Access{})
	defer c.close()
	err := waitHealthy(t.Context(), c.ops, []string{f.start()}, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not healthy") {
		t.Fatalf("err = %v; want not healthy", err)
	}
}

func TestNormalizeEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:2379":          "http://127.0.0.1:2379",
		"http://127.0.0.1:2379/":  "http://127.0.0.1:2379",
		" https://h:1 ":           "https://h:1",
		"http://h:2379/base/path": "http://h:2379/base/path",
	} {
		if got, err := normalizeEndpoint(in); err != nil || got != want {
			t.Errorf("normalizeEndpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	eps, err := parseEndpoints("a:1, b:2,,c:3")
	if err != nil || len(eps) != 3 {
		t.Fatalf("parseEndpoints = %v, %v", eps, err)
	}
}

func TestKeyURLEscapes(t *testing.T) {
	if got := keyURL("http://h", "/a b/c?d"); got != "http://h/v2/keys/a%20b/c%3Fd" {
		t.Fatalf("keyURL = %q", got)
	}
}

func TestCPUProfileIsWritten(t *testing.T) {
	f := newFake(t)
	u := f.start()
	prof := filepath.Join(t.TempDir(), "bench.pprof")
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"--endpoints", u, "--total", "20", "--cpuprofile", prof}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	// A CPU profile is a gzipped protocol buffer, even when it holds no
	// samples.
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("profile is not gzip data: % x", b[:min(len(b), 8)])
	}

	err = run(t.Context(), []string{"--endpoints", u, "--total", "1", "--cpuprofile", filepath.Join(t.TempDir(), "no", "such", "dir")}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--cpuprofile") {
		t.Fatalf("err = %v; want one naming --cpuprofile", err)
	}
}

// TestAccessSendsCredentials: --user puts Basic credentials on every request,
// and a malformed --user or a lone --cert is refused with the flag named.
func TestAccessSendsCredentials(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		got <- fmt.Sprintf("%s:%s:%v", u, p, ok)
	}))
	defer srv.Close()
	a, err := newAccess("alice:s3cret", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(1, time.Second, a)
	defer c.close()
	resp, err := c.ops.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if g := <-got; g != "alice:s3cret:true" {
		t.Errorf("server saw credentials %q", g)
	}
	for _, bad := range []struct{ user, cert, want string }{
		{"alice", "", "--user"},
		{"", "c.pem", "--cert and --key"},
	} {
		if _, err := newAccess(bad.user, "", bad.cert, ""); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("newAccess(%q, cert %q) = %v, want an error naming %s", bad.user, bad.cert, err, bad.want)
		}
	}
}
