package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for a v2 server binary: run with
// RAFTKV_BENCH_FAKE_MEMBER=1 and etcd's flags, it serves a fakeV2 on
// --listen-client-urls until killed (member m0 says it leads). The
// --server and --compare tests start clusters of it.
func TestMain(m *testing.M) {
	if os.Getenv("RAFTKV_BENCH_FAKE_MEMBER") == "1" {
		fakeMember(os.Args[1:])
		return
	}
	os.Exit(m.Run())
}

func fakeMember(args []string) {
	var name, listen string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--name":
			name = args[i+1]
		case "--listen-client-urls":
			listen = args[i+1]
		}
	}
	if os.Getenv("ETCD_ENABLE_V2") != "true" {
		fmt.Fprintln(os.Stderr, "fake member: ETCD_ENABLE_V2 is not true")
		os.Exit(3)
	}
	f := &fakeV2{index: 7, data: map[string]string{}, changed: make(chan struct{}), leader: name == "m0"}
	l, err := net.Listen("tcp", strings.TrimPrefix(listen, "http://"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake member:", err)
		os.Exit(3)
	}
	_ = http.Serve(l, f)
}

func TestLeanAndNetHTTPClientsAgree(t *testing.T) {
	for _, client := range []string{clientLean, clientNetHTTP} {
		f := newFake(t)
		f.failEvery = 4
		cfg := testConfig(workloadPut, f.start())
		cfg.Client = client
		cfg.Total = 40
		r := mustRun(t, cfg)
		puts, _, _ := f.counts()
		if puts != 40 || r.Ops != 30 || r.Errors["errorCode=300 status=500 (Raft Internal Error)"] != 10 {
			t.Errorf("%s: server saw %d PUTs, %d ok, errors %v; want 40, 30, 10 of errorCode=300", client, puts, r.Ops, r.Errors)
		}
	}
	if err := (&Config{Workload: workloadPut, Client: "curl"}).validate(); err == nil || !strings.Contains(err.Error(), "unknown client") {
		t.Errorf("client curl: err %v, want unknown client", err)
	}
}

// TestLeanClientReadsEveryBodyFraming answers in each framing a v2 server
// may use (Content-Length, chunked, to the close) and checks that the lean
// client reads each answer whole: the next request on the connection
// would otherwise read the rest of the last body as its status line.
func TestLeanClientReadsEveryBodyFraming(t *testing.T) {
	var conns int
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("mode") {
		case "chunked":
			w.WriteHeader(http.StatusCreated)
			for range 3 {
				w.Write(bytes.Repeat([]byte("x"), 5000))
				w.(http.Flusher).Flush()
			}
		case "close":
			w.Header().Set("Connection", "close")
			w.Write([]byte(`{"action":"get"}`))
		case "error":
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"errorCode":100,"message":"Key not found","cause":"/x","index":3}`))
		default:
			w.Write([]byte(`{"action":"get"}`))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns++
		}
	}
	srv.Start()
	defer srv.Close()
	c := newLeanConn(srv.URL, Access{}, 5*time.Second)
	defer c.close()
	for i, step := range []struct {
		mode, want string
	}{
		{"plain", ""}, {"chunked", ""}, {"plain", ""}, {"error", "errorCode=100 status=404 (Key not found)"},
		{"plain", ""}, {"close", ""}, {"plain", ""}, {"chunked", ""},
	} {
		if got := c.do(t.Context(), "GET", srv.URL+"/v2/keys/x?mode="+step.mode, nil, 200, 201); got != step.want {
			t.Fatalf("request %d (%s): %q, want %q", i, step.mode, got, step.want)
		}
	}
	if conns != 2 {
		t.Errorf("%d connections; want 2 (one closed by Connection: close)", conns)
	}
}

func TestLeanClientRedialsAfterTheServerClosesAnIdleConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	c := newLeanConn(srv.URL, Access{}, 5*time.Second)
	defer c.close()
	if got := c.do(t.Context(), "PUT", srv.URL+"/v2/keys/a", []byte("value=1"), 200); got != "" {
		t.Fatal(got)
	}
	srv.CloseClientConnections()
	if got := c.do(t.Context(), "PUT", srv.URL+"/v2/keys/a", []byte("value=1"), 200); got != "" {
		t.Fatalf("after the server closed the idle connection: %q, want a retry on a new one", got)
	}
}

func TestParseMetricsSumsLabelsAndIgnoresLongerNames(t *testing.T) {
	in := `# HELP etcd_disk_wal_fsync_duration_seconds x
# TYPE etcd_disk_wal_fsync_duration_seconds histogram
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 5
etcd_disk_wal_fsync_duration_seconds_sum 0.25
etcd_disk_wal_fsync_duration_seconds_count 12
etcd_network_peer_sent_bytes_total{To="8e9e05c52164694d"} 1.5e+06
etcd_network_peer_sent_bytes_total{To="91bc3c398fb3c146"} 500000
raftkv_network_peer_sent_messages_total_extra 99
raftkv_network_peer_sent_messages_total{To="a b}"} 7
`
	got := parseMetrics(strings.NewReader(in))
	want := map[string]float64{metricWALFsync: 12, metricPeerBytes: 2e6, metricPeerMsgs: 7}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestRunReportsMembersPerOperation(t *testing.T) {
	f := newFake(t)
	f.leader = true
	u := f.start()
	cfg := testConfig(workloadPut, u)
	cfg.Total = 50
	cfg.Members = []Member{{Endpoint: u, PID: os.Getpid()}}
	r := mustRun(t, cfg)
	if len(r.Members) != 1 || !r.Members[0].Leader || !r.Members[0].ProcOK {
		t.Fatalf("members %+v; want one leader with /proc figures", r.Members)
	}
	if v, ok := r.fsyncsPerOp(); !ok || v != 1 {
		t.Errorf("fsyncs/op %v (%v), want 1", v, ok)
	}
	if v, ok := r.peerMsgsPerOp(); !ok || v != 2 {
		t.Errorf("peer messages/op %v (%v), want 2", v, ok)
	}
	if v, ok := r.peerBytesPerOp(); !ok || v != 200 {
		t.Errorf("peer bytes/op %v (%v), want 200", v, ok)
	}
	var out bytes.Buffer
	r.WriteReport(&out)
	for _, re := range []string{
		`(?m)^  cpu +cluster [0-9.]+ µs/op \(leader [0-9.]+, follower 0\.0\); generator [0-9.]+ µs/op$`,
		`(?m)^  cluster +fsyncs 1\.000/op, peer messages 2\.00/op, peer bytes 200/op, read\+write syscalls [0-9.]+/op$`,
		`(?m) fsyncs/op=1\.000 peer-msgs/op=2\.00 syscalls/op=[0-9.]+ peak-rss-mb=[0-9.]+$`,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("report lacks %s:\n%s", re, out.String())
		}
	}
}

// TestCompareStartsBothClustersAndAlternates runs --server and --compare
// with this test binary as both servers (TestMain's fake member).
func TestCompareStartsBothClustersAndAlternates(t *testing.T) {
	t.Setenv("RAFTKV_BENCH_FAKE_MEMBER", "1")
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = run(t.Context(), []string{"--server", bin, "--compare", bin, "--runs", "2",
		"--matrix", "put:2,get:2:leader", "--total", "20", "--keys", "4"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	if n := strings.Count(text, "started a 3-member"); n != 2 {
		t.Fatalf("%d clusters started; want 2:\n%s", n, text)
	}
	// Alternation: A B for the first run, B A for the second.
	order := regexp.MustCompile(`(?m)^== ([AB]):`).FindAllStringSubmatch(text, -1)
	var got []string
	for _, m := range order {
		got = append(got, m[1])
	}
	if want := "A B B A A B B A"; strings.Join(got, " ") != want {
		t.Errorf("run order %v; want %s", got, want)
	}
	for _, re := range []string{
		`(?m)^medians of 2 run\(s\) each, alternating A:raftkv-bench\.test and B:raftkv-bench\.test:$`,
		`(?m)^\s+put\s+2\s+A:raftkv-bench\.test\s+2\s+[0-9]+\s`,
		`(?m)^\s+get@leader\s+2\s+B:raftkv-bench\.test\s+2\s+[0-9]+\s`,
		`(?m)^\s+put\s+2\s+A:raftkv-bench\.test/B:raftkv-bench\.test\s+[0-9.]+x\s`,
		// fsyncs/op and msgs/op of both are 1 and 2 (the fake's /metrics),
		// so their ratio is 1.
		`(?m)^\s+put\s+2\s+A:raftkv-bench\.test/B:raftkv-bench\.test\s.*\s1\.00x\s+1\.00x\s+1\.00x\s`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("output lacks %s:\n%s", re, text)
		}
	}
}

func TestCompareReportsAMemberThatDoesNotStart(t *testing.T) {
	// false(1) exits at once, as a server refusing its flags would.
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"--server", "false", "--total", "1"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("err = %v; want a member that exited", err)
	}
	m := regexp.MustCompile(`kept the false cluster's data and logs in (\S+)`).FindStringSubmatch(errOut.String())
	if m == nil {
		t.Fatalf("stderr does not say where the logs are:\n%s", errOut.String())
	}
	if _, err := os.Stat(m[1] + "/m0.log"); err != nil {
		t.Errorf("the kept directory has no member log: %v", err)
	}
	os.RemoveAll(m[1])
}
