package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeV2 is a small in-memory etcd v2 server: enough of /v2/keys (PUT, GET,
// quorum GET, long-poll and streaming recursive watches), /health,
// /v2/stats/self and /v2/members/leader for the benchmark to run against,
// with knobs to inject latency and failures.
type fakeV2 struct {
	t *testing.T

	// Knobs, set before the server takes requests.
	delay      time.Duration // added to every /v2/keys request but watches
	failEvery  int           // every failEvery-th PUT answers error 300
	plain503   bool          // PUTs answer a bare 503 with no v2 body
	leader     bool          // what /v2/stats/self reports
	leaderURL  string        // what /v2/members/leader reports
	unhealthyN int           // the first unhealthyN /health calls answer 503

	mu      sync.Mutex
	index   uint64
	data    map[string]string
	history []fakeEvent
	changed chan struct{} // closed and replaced on every write
	puts    int
	gets    int
	qgets   int
	lgets   int // GETs with an explicit quorum=false
	health  int
}

type fakeEvent struct {
	index uint64
	key   string
	value string
}

func newFake(t *testing.T) *fakeV2 {
	return &fakeV2{t: t, index: 7, data: map[string]string{}, changed: make(chan struct{})}
}

// start serves f on a loopback listener until the test ends.
func (f *fakeV2) start() string {
	s := httptest.NewServer(f)
	f.t.Cleanup(s.Close)
	return s.URL
}

func (f *fakeV2) counts() (puts, gets, qgets int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts, f.gets, f.qgets
}

func (f *fakeV2) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.data {
		out = append(out, k)
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, index uint64, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(index, 10))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func v2err(w http.ResponseWriter, status, code int, msg string, index uint64) {
	writeJSON(w, status, index, map[string]any{"errorCode": code, "message": msg, "index": index})
}

func (f *fakeV2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/health":
		f.mu.Lock()
		f.health++
		sick := f.health <= f.unhealthyN
		f.mu.Unlock()
		if sick {
			writeJSON(w, 503, 0, map[string]string{"health": "false"})
			return
		}
		writeJSON(w, 200, 0, map[string]string{"health": "true"})
	case r.URL.Path == "/v2/stats/self":
		state := "StateFollower"
		if f.leader {
			state = "StateLeader"
		}
		writeJSON(w, 200, 0, map[string]string{"state": state})
	case r.URL.Path == "/v2/members/leader":
		if f.leaderURL == "" {
			writeJSON(w, 503, 0, map[string]string{"message": "During election"})
			return
		}
		writeJSON(w, 200, 0, map[string]any{"clientURLs": []string{f.leaderURL}})
	case strings.HasPrefix(r.URL.Path, "/v2/keys/"):
		f.keysHandler(w, r, strings.TrimPrefix(r.URL.Path, "/v2/keys"))
	case r.URL.Path == "/metrics":
		// What raftkv serves, scaled so that every PUT costs one fsync
		// and two peer messages of 100 bytes.
		puts, _, _ := f.counts()
		fmt.Fprintf(w, "# HELP etcd_disk_wal_fsync_duration_seconds fsyncs\n"+
			"etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.001\"} %d\n"+
			"etcd_disk_wal_fsync_duration_seconds_count %d\n"+
			"etcd_network_peer_sent_bytes_total{To=\"a\"} %d\n"+
			"etcd_network_peer_sent_bytes_total{To=\"b\"} %d\n"+
			"raftkv_network_peer_sent_messages_total{To=\"a\"} %d\n"+
			"raftkv_network_peer_sent_messages_total{To=\"b\"} %d\n"+
			"raftkv_network_peer_sent_messages_total_other 1e9\n",
			puts, puts, 100*puts, 100*puts, puts, puts)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeV2) keysHandler(w http.ResponseWriter, r *http.Request, key string) {
	if err := r.ParseForm(); err != nil {
		v2err(w, 400, 210, "Invalid POST form", 0)
		return
	}
	if r.Method == http.MethodGet && r.Form.Get("wait") == "true" {
		f.watch(w, r, key)
		return
	}
	time.Sleep(f.delay)
	f.mu.Lock()
	switch r.Method {
	case http.MethodPut:
		f.puts++
		if f.plain503 {
			f.mu.Unlock()
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		if f.failEvery > 0 && f.puts%f.failEvery == 0 {
			idx := f.index
			f.mu.Unlock()
			v2err(w, 500, 300, "Raft Internal Error", idx)
			return
		}
		_, existed := f.data[key]
		f.index++
		idx := f.index
		v := r.Form.Get("value")
		f.data[key] = v
		f.history = append(f.history, fakeEvent{idx, key, v})
		close(f.changed)
		f.changed = make(chan struct{})
		f.mu.Unlock()
		status := 201
		if existed {
			status = 200
		}
		writeJSON(w, status, idx, map[string]any{"action": "set",
			"node": map[string]any{"key": key, "value": v, "modifiedIndex": idx, "createdIndex": idx}})
	case http.MethodGet:
		if r.Form.Get("quorum") == "false" {
			f.lgets++
		}
		if r.Form.Get("quorum") == "true" {
			f.qgets++
		} else {
			f.gets++
		}
		v, ok := f.data[key]
		idx := f.index
		f.mu.Unlock()
		if !ok {
			v2err(w, 404, 100, "Key not found", idx)
			return
		}
		writeJSON(w, 200, idx, map[string]any{"action": "get", "node": map[string]any{"key": key, "value": v}})
	default:
		f.mu.Unlock()
		w.WriteHeader(405)
	}
}

// watch serves a recursive watch of dir from waitIndex: headers at once (as
// etcd does on registration), then the first matching event, or every one
// with stream=true.
func (f *fakeV2) watch(w http.ResponseWriter, r *http.Request, dir string) {
	next, _ := strconv.ParseUint(r.Form.Get("waitIndex"), 10, 64)
	stream := r.Form.Get("stream") == "true"
	f.mu.Lock()
	idx := f.index
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(idx, 10))
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
	enc := json.NewEncoder(w)
	for {
		f.mu.Lock()
		var ev *fakeEvent
		for i := range f.history {
			e := &f.history[i]
			if e.index >= next && strings.HasPrefix(e.key, dir+"/") {
				ev = e
				break
			}
		}
		changed := f.changed
		f.mu.Unlock()
		if ev != nil {
			_ = enc.Encode(map[string]any{"action": "set",
				"node": map[string]any{"key": ev.key, "value": ev.value, "modifiedIndex": ev.index}})
			if !stream {
				return
			}
			w.(http.Flusher).Flush()
			next = ev.index + 1
			continue
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

// testConfig is a small, fast run against endpoints.
func testConfig(workload string, endpoints ...string) Config {
	return Config{
		Endpoints:   endpoints,
		Workload:    workload,
		Concurrency: 4,
		Total:       40,
		ValueSize:   16,
		Prefix:      "/bench",
		Timeout:     5 * time.Second,
		Preload:     true,
		Seed:        1,
	}
}

func mustRun(t *testing.T, cfg Config) *Result {
	t.Helper()
	r, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Run(%+v): %v", cfg, err)
	}
	return r
}
