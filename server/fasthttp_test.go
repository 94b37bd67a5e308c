package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fastTestHandler answers in the ways the client API does, and says in
// X-Via whether net/http (which puts its server in the context) or the
// fast path served the request.
func fastTestHandler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		via := "fast"
		if r.Context().Value(http.ServerContextKey) != nil {
			via = "net/http"
		}
		w.Header().Set("X-Via", via)
		switch {
		case strings.HasSuffix(r.URL.Path, "/panic"):
			panic("planted")
		case strings.HasSuffix(r.URL.Path, "/slow"):
			time.Sleep(200 * time.Millisecond)
			fmt.Fprint(w, "slow done")
		case strings.HasSuffix(r.URL.Path, "/missing"):
			http.Error(w, "not here", http.StatusNotFound)
		case strings.HasSuffix(r.URL.Path, "/empty"):
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(r.URL.Path, "/ignore-body"):
			fmt.Fprint(w, "<html>ignored</html>")
		default:
			f, err := readForm(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header()["X-Etcd-Index"] = []string{"7"}
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, "%s %s host=%s x=%q len=%d value=%q remote=%v\n", r.Method, r.URL.String(), r.Host,
				r.Header.Get("X-Test"), r.ContentLength, f.get("value"), r.RemoteAddr != "")
		}
	})
}

// startFast serves h on a loopback listener as Member.serve does: the fast
// path first, net/http for what it hands over. It returns the address and
// a function that shuts both down as Member.stop does.
func startFast(t *testing.T, h http.Handler) (string, *fastServer, func(context.Context)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fast := newFastServer(ln, h, slog.New(slog.DiscardHandler))
	go fast.serve()
	go func() { _ = srv.Serve(fast.handoff); _ = fast.handoff.Close() }()
	stop := func(ctx context.Context) {
		_ = srv.Shutdown(ctx)
		fast.shutdown(ctx)
	}
	t.Cleanup(func() { stop(context.Background()) })
	return ln.Addr().String(), fast, stop
}

// answer is a response without its Date.
type answer struct {
	status int
	header http.Header
	body   string
	close  bool // Connection: close
}

func roundTrip(t *testing.T, conn net.Conn, br *bufio.Reader, raw string) answer {
	t.Helper()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	return readAnswer(t, br, raw)
}

func readAnswer(t *testing.T, br *bufio.Reader, what string) answer {
	t.Helper()
	var req *http.Request
	if strings.HasPrefix(what, "HEAD ") {
		req = &http.Request{Method: http.MethodHead}
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("%q: %v", what, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%q: body: %v", what, err)
	}
	resp.Body.Close()
	if resp.Header.Get("Date") == "" && resp.Header.Get("X-Via") != "" {
		t.Errorf("%q: no Date header", what) // net/http's own 400s have none
	}
	resp.Header.Del("Date")
	return answer{resp.StatusCode, resp.Header, string(b), resp.Close}
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, bufio.NewReader(conn)
}

// TestFastPathAnswersAsNetHTTPDoes sends the same requests, on one
// keep-alive connection each, to the fast path and to plain net/http, and
// compares the answers (all but X-Via, which says who served them).
func TestFastPathAnswersAsNetHTTPDoes(t *testing.T) {
	h := fastTestHandler(t)
	fastAddr, _, _ := startFast(t, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ref := &http.Server{Handler: h}
	go func() { _ = ref.Serve(ln) }()
	t.Cleanup(func() { ref.Close() })

	body := "value=" + strings.Repeat("v", 300) + "%21"
	reqs := []string{
		"PUT /v2/keys/a?ttl=5 HTTP/1.1\r\nHost: h\r\nX-Test: one\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body,
		"GET /v2/keys/a?quorum=true HTTP/1.1\r\nHost: h:2379\r\n\r\n",
		"GET /v2/keys/dir/missing HTTP/1.1\r\nHost: h\r\n\r\n",
		"DELETE /v2/keys/empty HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /v2/keys/ignore-body HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
		"GET /v2/keys HTTP/1.1\r\nhost: h\r\nx-test:  spaced  \r\n\r\n",
		"GET /v2/keys/e HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Blank:   \r\nX-Test: a\r\nX-Test: b\r\n\r\n",
		"PUT /v2/keys/b HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\nvalue=%",
	}
	fc, fbr := dial(t, fastAddr)
	rc, rbr := dial(t, ln.Addr().String())
	for _, raw := range reqs {
		got := roundTrip(t, fc, fbr, raw)
		want := roundTrip(t, rc, rbr, raw)
		if via := got.header.Get("X-Via"); via != "fast" {
			t.Errorf("%q: served by %s, want the fast path", short(raw), via)
		}
		got.header.Del("X-Via")
		want.header.Del("X-Via")
		if got.status != want.status || got.body != want.body || !headersEqual(got.header, want.header) {
			t.Errorf("%q:\n fast     %d %v %q\n net/http %d %v %q", short(raw), got.status, got.header, got.body, want.status, want.header, want.body)
		}
	}
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestFastPathHandsOverWhatItDoesNotServe: watches, other paths, HEAD,
// Expect, chunked bodies and HTTP/1.0 go to net/http, with the bytes
// already read, and the connection stays net/http's.
func TestFastPathHandsOverWhatItDoesNotServe(t *testing.T) {
	addr, _, _ := startFast(t, fastTestHandler(t))
	for _, raw := range []string{
		"GET /v2/keys/a?wait=true&waitIndex=1 HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /v2/members HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /v2/keysX HTTP/1.1\r\nHost: h\r\n\r\n",
		"HEAD /v2/keys/a HTTP/1.1\r\nHost: h\r\n\r\n",
		"PUT /v2/keys/a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 7\r\n\r\nvalue=x",
		"PUT /v2/keys/a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n7\r\nvalue=x\r\n0\r\n\r\n",
		"GET /v2/keys/a HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
		"GET /v2/keys/a HTTP/1.1\r\nHost: h\r\nX-Long: " + strings.Repeat("x", 5000) + "\r\n\r\n",
	} {
		conn, br := dial(t, addr)
		a := roundTrip(t, conn, br, raw)
		if via := a.header.Get("X-Via"); via != "net/http" {
			t.Errorf("%q: served by %q, want net/http", short(raw), via)
		}
		// The next request on the same connection, fast-eligible or not,
		// is net/http's too. (net/http closes an HTTP/1.0 connection, and
		// one whose client sent the body before its 100 Continue.)
		if strings.Contains(raw, "HTTP/1.0") || strings.Contains(raw, "Expect") {
			continue
		}
		a = roundTrip(t, conn, br, "GET /v2/keys/b HTTP/1.1\r\nHost: h\r\n\r\n")
		if via := a.header.Get("X-Via"); via != "net/http" || a.status != http.StatusCreated {
			t.Errorf("after %q: %d served by %q, want 201 from net/http", short(raw), a.status, via)
		}
	}
	// A malformed request gets net/http's 400.
	conn, br := dial(t, addr)
	if a := roundTrip(t, conn, br, "GET /v2/keys/a HTTP/1.1\r\n\r\n"); a.status != http.StatusBadRequest {
		t.Errorf("no Host: %d, want 400", a.status)
	}
}

func TestFastPathPipeliningSplitHeadsAndClose(t *testing.T) {
	addr, _, _ := startFast(t, fastTestHandler(t))
	conn, br := dial(t, addr)
	// Two requests in one write, then one whose head arrives in pieces.
	io.WriteString(conn, "GET /v2/keys/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /v2/keys/2 HTTP/1.1\r\nHost: h\r\n\r\n")
	for _, want := range []string{"GET /v2/keys/1 ", "GET /v2/keys/2 "} {
		if a := readAnswer(t, br, want); !strings.HasPrefix(a.body, want) || a.header.Get("X-Via") != "fast" {
			t.Fatalf("pipelined: %d %q via %s, want %q from the fast path", a.status, a.body, a.header.Get("X-Via"), want)
		}
	}
	for _, piece := range []string{"GET /v2/ke", "ys/3 HTTP/1.1\r\nHo", "st: h\r\n", "Connection: close\r\n\r\n"} {
		io.WriteString(conn, piece)
		time.Sleep(10 * time.Millisecond) // let each piece arrive alone
	}
	a := readAnswer(t, br, "split")
	if !strings.HasPrefix(a.body, "GET /v2/keys/3 ") || !a.close {
		t.Fatalf("split head: %d %q %v", a.status, a.body, a.header)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after Connection: close the server must close; read gave %v", err)
	}
}

func TestFastPathPanicDropsOnlyItsConnection(t *testing.T) {
	addr, _, _ := startFast(t, fastTestHandler(t))
	conn, br := dial(t, addr)
	io.WriteString(conn, "GET /v2/keys/panic HTTP/1.1\r\nHost: h\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Fatal("a panicking handler's connection must be dropped without an answer")
	}
	conn2, br2 := dial(t, addr)
	if a := roundTrip(t, conn2, br2, "GET /v2/keys/ok HTTP/1.1\r\nHost: h\r\n\r\n"); a.status != http.StatusCreated {
		t.Fatalf("after a panic elsewhere: %d", a.status)
	}
}

// TestFastPathShutdownFinishesRequestsInFlight: Shutdown closes idle
// connections, lets a request in flight finish and answer, and accepts no
// more connections.
func TestFastPathShutdownFinishesRequestsInFlight(t *testing.T) {
	addr, _, stop := startFast(t, fastTestHandler(t))
	idle, idleBr := dial(t, addr)
	roundTrip(t, idle, idleBr, "GET /v2/keys/x HTTP/1.1\r\nHost: h\r\n\r\n")
	busy, busyBr := dial(t, addr)
	io.WriteString(busy, "GET /v2/keys/slow HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(50 * time.Millisecond) // the slow request is in its handler
	stopped := make(chan struct{})
	go func() { stop(context.Background()); close(stopped) }()
	busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	a := readAnswer(t, busyBr, "slow")
	if a.body != "slow done" {
		t.Fatalf("request in flight at shutdown: %d %q", a.status, a.body)
	}
	<-stopped
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idleBr.ReadByte(); err == nil {
		t.Fatal("an idle connection must be closed by shutdown")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the listener must be closed by shutdown")
	}
}

func BenchmarkFastPathVsNetHTTP(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, _ := readForm(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"action":"set","node":{"key":"%s","value":"%s"}}`, r.URL.Path, f.get("value"))
	})
	body := "value=" + strings.Repeat("a", 256)
	raw := "PUT /v2/keys/bench/k HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
	run := func(b *testing.B, addr string) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		b.ReportAllocs()
		cpu0 := processCPUTime()
		defer func() { b.ReportMetric(float64(processCPUTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			io.WriteString(conn, raw)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	b.Run("fast", func(b *testing.B) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		fast := newFastServer(ln, h, slog.New(slog.DiscardHandler))
		srv := &http.Server{Handler: h}
		go fast.serve()
		go srv.Serve(fast.handoff)
		defer func() { srv.Close(); fast.shutdown(context.Background()) }()
		run(b, ln.Addr().String())
	})
	b.Run("net/http", func(b *testing.B) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		srv := &http.Server{Handler: h}
		go srv.Serve(ln)
		defer srv.Close()
		run(b, ln.Addr().String())
	})
}

// short is the start of a raw request, for messages.
func short(raw string) string {
	line, _, _ := strings.Cut(raw, "\r\n")
	return line
}

// processCPUTime is this process's user plus system CPU time: the client
// side of the benchmark is the same in both runs, so the difference is the
// servers'.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
