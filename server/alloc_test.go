package server

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/server/node"
	"github.com/raftkv/raftkv/vfs"
)

// The cost of a key request on the fast path, in allocations: the
// benchmarks drive a real one-member cluster over loopback TCP (the
// leader's whole path: fast path, client API, proposal, raft, WAL on an
// in-memory disk, apply), and TestFastPathKeyAllocs bounds the part that
// is this package's own (fast path and client API over a backend that
// answers at once), driven on the test's goroutine so that nothing else
// is counted.

// benchPutBody is the body of the benchmarks' PUT: a 256-byte value, as
// raftkv-bench's put:64 sends.
var benchPutBody = "value=" + string(bytes.Repeat([]byte("v"), 256))

// appendPut appends a PUT of key with benchPutBody.
func appendPut(b []byte, key string) []byte {
	b = append(b, "PUT /v2/keys/"...)
	b = append(b, key...)
	b = append(b, " HTTP/1.1\r\nHost: 127.0.0.1:2379\r\nUser-Agent: Go-http-client/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(benchPutBody)), 10)
	b = append(b, "\r\nAccept-Encoding: gzip\r\n\r\n"...)
	return append(b, benchPutBody...)
}

func appendGet(b []byte, key string) []byte {
	b = append(b, "GET /v2/keys/"...)
	b = append(b, key...)
	return append(b, " HTTP/1.1\r\nHost: 127.0.0.1:2379\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n"...)
}

// rawClient exchanges requests and answers on one keep-alive connection
// without allocating: it reads an answer's head up to CRLF CRLF and then
// Content-Length bytes.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	body []byte
}

func (c *rawClient) do(tb testing.TB, req []byte) (status int) {
	if _, err := c.conn.Write(req); err != nil {
		tb.Fatal(err)
	}
	n := 0
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			tb.Fatal(err)
		}
		if status == 0 {
			status, _ = strconv.Atoi(string(line[9:12]))
			continue
		}
		if len(line) == 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(": ")); ok && string(k) == "Content-Length" {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	c.body = c.body[:0]
	for range n {
		b, err := c.br.ReadByte()
		if err != nil {
			tb.Fatal(err)
		}
		c.body = append(c.body, b)
	}
	return status
}

// startBenchMember starts a one-member cluster on an in-memory disk,
// serving clients on loopback, and returns a client connected to it.
func startBenchMember(tb testing.TB) *rawClient {
	tb.Helper()
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	peerURL := "http://" + peer.Addr().String()
	m, err := StartMember(MemberConfig{
		Name: "bench", DataDir: "/bench", FS: vfs.NewMem(rand.New(rand.NewPCG(1, 2))),
		AdvertiseClientURLs:      []string{"http://" + cl.Addr().String()},
		InitialAdvertisePeerURLs: []string{peerURL},
		InitialCluster:           []InitialMember{{Name: "bench", PeerURLs: []string{peerURL}}},
		InitialClusterToken:      "bench",
		HeartbeatInterval:        10 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
		Logger:          slog.New(slog.DiscardHandler),
		ClientListeners: []net.Listener{cl}, PeerListener: peer,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = m.Stop(context.Background()) })
	select {
	case <-m.Published():
	case <-time.After(10 * time.Second):
		tb.Fatal("not published within 10s")
	}
	conn, err := net.Dial("tcp", cl.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return &rawClient{conn: conn, br: bufio.NewReaderSize(conn, 4096)}
}

// BenchmarkFastPathKeys is a leader's cost per key request on the fast
// path: a PUT of a new key with a 256-byte value, and a (linearizable)
// GET of a key.
func BenchmarkFastPathKeys(b *testing.B) {
	c := startBenchMember(b)
	if st := c.do(b, appendPut(nil, "bench/get")); st != http.StatusCreated {
		b.Fatalf("PUT: %d %s", st, c.body)
	}
	i := 0 // across runs: every PUT makes a new key
	b.Run("put-new", func(b *testing.B) {
		var req, key []byte
		b.ReportAllocs()
		for b.Loop() {
			i++
			key = strconv.AppendInt(append(key[:0], "bench/k"...), int64(i), 10)
			req = appendPut(req[:0], string(key)) // no allocation: appendPut's argument does not escape
			if st := c.do(b, req); st != http.StatusCreated {
				b.Fatalf("PUT: %d %s", st, c.body)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		req := appendGet(nil, "bench/get")
		b.ReportAllocs()
		for b.Loop() {
			if st := c.do(b, req); st != http.StatusOK {
				b.Fatalf("GET: %d %s", st, c.body)
			}
		}
	})
}

// pipeConn is a connection whose reads come from in and whose writes go to
// out, for driving a fastConn on the caller's goroutine.
type pipeConn struct {
	net.Conn
	in  bytes.Reader
	out bytes.Buffer
}

func (c *pipeConn) Read(p []byte) (int, error)      { return c.in.Read(p) }
func (c *pipeConn) Write(p []byte) (int, error)     { return c.out.Write(p) }
func (c *pipeConn) SetReadDeadline(time.Time) error { return nil }
func (c *pipeConn) RemoteAddr() net.Addr            { return pipeAddr{} }
func (c *pipeConn) Close() error                    { return nil }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "tcp" }
func (pipeAddr) String() string  { return "127.0.0.1:1234" }

// fastStub serves the client API over a backend that answers at once, on
// a fastConn driven by the caller.
type fastStub struct {
	c    *fastConn
	conn *pipeConn
}

func newFastStub(tb testing.TB) *fastStub {
	a := newStubAPI(tb, nil)
	ln := &acceptErrListener{}
	s := newFastServer(ln, a.handler(), slog.New(slog.DiscardHandler))
	s.keys = a.keysHandler() // as Member.serve sets it
	conn := &pipeConn{}
	c := &fastConn{s: s, conn: conn, br: bufio.NewReaderSize(conn, 4096)}
	return &fastStub{c: c, conn: conn}
}

// newStubAPI is the client API over a backend that answers at once: every
// write with the same event, reads from a store holding /bench/get.
func newStubAPI(tb testing.TB, cors []string) *api {
	v := "v"
	store := kv.New(kv.Options{})
	if _, err := store.Apply(&kv.Command{Method: kv.MethodPut, Path: "/bench/get", Value: "v"}); err != nil {
		tb.Fatal(err)
	}
	res := node.Result{Index: 9, Term: 3, Event: &kv.Event{Action: kv.ActionSet, Index: 7,
		Node: &kv.Node{Key: "/bench/k", Value: &v, ModifiedIndex: 7, CreatedIndex: 7}}}
	be := &stubBackend{resultBackend: resultBackend{st: Status{ID: 1, ClusterID: 0x2a, Term: 3, Commit: 9, Lead: 1}, res: res}, store: store}
	return &api{b: be, metrics: newMetrics(), requestTimeout: 5 * time.Second, cors: cors}
}

// do serves one request and returns the answer's bytes.
func (f *fastStub) do(tb testing.TB, req []byte) []byte {
	f.conn.in.Reset(req)
	f.conn.out.Reset()
	f.c.br.Reset(f.conn)
	fr, headLen, ok := f.c.readHead()
	if fr == nil || !ok {
		tb.Fatalf("not for the fast path: %q", req)
	}
	if !f.c.serveOne(fr, headLen) {
		tb.Fatalf("connection ended: %q", f.conn.out.Bytes())
	}
	return f.conn.out.Bytes()
}

type stubBackend struct {
	resultBackend
	store *kv.Store
}

func (b *stubBackend) ReadIndex(context.Context) error { return nil }
func (b *stubBackend) Store() *kv.Store                { return b.store }

// BenchmarkFastPathKeysStub is the fast path's and the client API's own
// cost per key request (the backend answers at once).
func BenchmarkFastPathKeysStub(b *testing.B) {
	f := newFastStub(b)
	for _, tc := range []struct {
		name string
		req  []byte
	}{
		{"put", appendPut(nil, "bench/k")},
		{"get", appendGet(nil, "bench/get")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f.do(b, tc.req)
			}
		})
	}
}

// TestFastPathKeysRouteAsServeMux: a key request the fast path gives the
// client API's key handler directly (a clean, unescaped path) gets the
// answer net/http's ServeMux routing gives it, byte for byte, CORS
// included; one the mux would redirect (an unclean path) still goes
// through the mux.
func TestFastPathKeysRouteAsServeMux(t *testing.T) {
	for _, cors := range [][]string{nil, {"http://o"}} {
		a := newStubAPI(t, cors)
		h := a.handler()
		addr, fast, _ := startFast(t, h)
		var direct atomic.Int32
		keys := a.keysHandler()
		fast.keys = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			direct.Add(1)
			keys.ServeHTTP(w, r)
		})
		refAddr := startRef(t, h)
		for _, tc := range []struct {
			target string
			direct bool
		}{
			{"/v2/keys/bench/get", true},
			{"/v2/keys/bench/", true},
			{"/v2/keys", true},
			{"/v2/keys/", true},
			{"/v2/keys/bench/get?quorum=false&sorted=true", true},
			{"/v2/keys/bench/../bench/get", false},
			{"/v2/keys//bench/get", false},
			{"/v2/keys/bench/./get?x=1", false},
			{"/v2/keys/bench/get/.", false},
			{"/v2/keys/bench//", false},
			{"/v2/keys/b%65nch/get", false},
		} {
			for _, method := range []string{"GET", "PUT", "DELETE"} {
				for _, origin := range []string{"", "Origin: http://o\r\n"} {
					raw := method + " " + tc.target + " HTTP/1.1\r\nHost: h\r\n" + origin + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\nvalue=x" +
						"GET /v2/keys/bench/get HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
					n := direct.Load()
					got, _ := rawExchange(t, addr, raw)
					want, _ := rawExchange(t, refAddr, raw)
					if got != want {
						t.Errorf("cors %v: %s %s %q:\n fast path %q\n net/http  %q", cors, method, tc.target, origin, got, want)
					}
					if d := direct.Load() - n; (d == 2) != tc.direct || d < 1 {
						t.Errorf("cors %v: %s %s: %d of 2 requests served directly, want the first %v", cors, method, tc.target, d, tc.direct)
					}
				}
			}
		}
	}
}

// TestTimeoutCtxActsAsWithTimeout: the fast path's reusable request
// context expires as context.WithTimeout's does, and a use ended in time
// leaves it, and its next use, unexpired; so does a firing that comes
// late.
func TestTimeoutCtxActsAsWithTimeout(t *testing.T) {
	var c timeoutCtx
	for i := range 3 {
		// Expires: Done closes, Err is DeadlineExceeded, the deadline is
		// the start plus d.
		t0 := time.Now()
		if !c.start(20 * time.Millisecond) {
			t.Fatal("start refused")
		}
		if c.start(time.Second) {
			t.Fatal("a context in use was lent again")
		}
		if d, ok := c.Deadline(); !ok || d.Sub(t0) < 20*time.Millisecond || d.Sub(t0) > time.Second {
			t.Fatalf("deadline %v after the start", d.Sub(t0))
		}
		if c.Err() != nil {
			t.Fatalf("use %d: Err %v before the deadline", i, c.Err())
		}
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("use %d: not done 5s past its deadline", i)
		}
		if time.Since(t0) < 20*time.Millisecond || c.Err() != context.DeadlineExceeded {
			t.Fatalf("use %d: done after %v, Err %v", i, time.Since(t0), c.Err())
		}
		c.cancel()
		// Ended in time: never done, and the next use starts afresh.
		if !c.start(time.Hour) {
			t.Fatal("start refused")
		}
		done := c.Done()
		if c.Err() != nil {
			t.Fatalf("use %d: a new use starts expired: %v", i, c.Err())
		}
		c.cancel()
		// A firing that comes after the use ended (its Stop lost the
		// race), or during a later use, does nothing.
		c.fire()
		if !c.start(time.Hour) {
			t.Fatal("start refused")
		}
		c.fire()
		select {
		case <-done:
			t.Fatalf("use %d: a late firing closed a later use's channel", i)
		default:
		}
		if c.Err() != nil || c.Done() != done {
			t.Fatalf("use %d: Err %v after a late firing", i, c.Err())
		}
		c.cancel()
	}
}

// TestFastPathRequestTimeout: a write that times out on the fast path
// gets error 300 as on net/http, and the connection's next request its
// own full timeout.
func TestFastPathRequestTimeout(t *testing.T) {
	a := newStubAPI(t, nil)
	a.requestTimeout = 300 * time.Millisecond
	slow := &slowBackend{stubBackend: a.b.(*stubBackend)}
	a.b = slow
	h := a.handler()
	addr, fast, _ := startFast(t, h)
	fast.keys = a.keysHandler()
	refAddr := startRef(t, h)
	// One keep-alive connection each (net/http cancels a request whose
	// client half-closes; the fast path does not).
	fc, fbr := dial(t, addr)
	rc, rbr := dial(t, refAddr)
	raw := string(appendPut(nil, "bench/k"))
	for _, delay := range []time.Duration{time.Hour, 5 * time.Millisecond, time.Hour, 0} {
		slow.delay.Store(int64(delay))
		got := roundTrip(t, fc, fbr, raw)
		want := roundTrip(t, rc, rbr, raw)
		if got.status != want.status || got.body != want.body || !headersEqual(got.header, want.header) {
			t.Errorf("delay %v:\n fast     %d %v %q\n net/http %d %v %q", delay, got.status, got.header, got.body, want.status, want.header, want.body)
		}
		if wantTimeout := delay > a.requestTimeout; strings.Contains(got.body, "timed out") != wantTimeout {
			t.Errorf("delay %v: %q, want a timeout %v", delay, got.body, wantTimeout)
		}
	}
}

// slowBackend answers a proposal after delay, or its context's end.
type slowBackend struct {
	*stubBackend
	delay atomic.Int64
}

func (b *slowBackend) Propose(ctx context.Context, cmd *kv.Command) (node.Result, error) {
	select {
	case <-time.After(time.Duration(b.delay.Load())):
		return b.stubBackend.Propose(ctx, cmd)
	case <-ctx.Done():
		if ctx.Err() != context.DeadlineExceeded {
			return node.Result{}, ctx.Err()
		}
		return node.Result{}, errTimeout
	}
}
