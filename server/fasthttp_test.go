package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// rawExchange sends raw on a fresh connection, half-closes it, and
// returns all the server writes until it closes, with Date blanked and
// X-Via's value (who served it) cut out and returned apart.
func rawExchange(t *testing.T, addr, raw string) (string, []string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return "", nil
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Error(err)
		return "", nil
	}
	_ = c.(*net.TCPConn).CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("%q: %v", short(raw), err)
	}
	out := dateRe.ReplaceAllString(string(b), "Date: D")
	var via []string
	for _, m := range viaRe.FindAllStringSubmatch(out, -1) {
		via = append(via, m[1])
	}
	return viaRe.ReplaceAllString(out, "X-Via: V\r\n"), via
}

var (
	dateRe = regexp.MustCompile(`Date: [^\r\n]*`)
	viaRe  = regexp.MustCompile(`X-Via: ([a-z/]*)\r\n`)
)

// startRef serves h with plain net/http, for comparison.
func startRef(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ref := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ref.Serve(ln) }()
	t.Cleanup(func() { ref.Close() })
	return ln.Addr().String()
}

// TestFastPathParsesNoMoreLooselyThanNetHTTP: heads that net/http reads
// otherwise than a loose parser would (bare LF hiding a header or ending
// the head early, a signed or padded Content-Length, control bytes, a
// header name that is not a token, a strange Host) are net/http's to
// read: the same bytes get the same answers, byte for byte, from both,
// and none from the fast path. (A request smuggled past a proxy that
// agrees with net/http would otherwise reach the store: "victim".)
func TestFastPathParsesNoMoreLooselyThanNetHTTP(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		via := "fast"
		if r.Context().Value(http.ServerContextKey) != nil {
			via = "net/http"
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Via", via)
		fmt.Fprintf(w, "%s %s host=%q x=%q body=%q\n", r.Method, r.URL, r.Host, r.Header.Values("X-A"), b)
	})
	fastAddr, _, _ := startFast(t, h)
	refAddr := startRef(t, h)
	hidden := "DELETE /v2/keys/victim HTTP/1.1\r\nHost: x\r\n\r\n"
	cases := map[string]string{
		"bare LF hides Content-Length": "PUT /v2/keys/s HTTP/1.1\r\nHost: x\r\nX-A: a\nContent-Length: " + fmt.Sprint(len(hidden)) + "\r\n\r\n" + hidden,
		"bare LF hides a request":      "GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-A: a\n\nDELETE /v2/keys/victim HTTP/1.1\r\nHost: x\r\n\r\n",
		"bare LF throughout":           "GET /v2/keys/a HTTP/1.1\nHost: x\n\n",
		"bare CR":                      "GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
		"Content-Length +N":            "PUT /v2/keys/p HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
		"Content-Length with VT":       "PUT /v2/keys/p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\v\r\n\r\nabc",
		"Content-Length with NBSP":     "PUT /v2/keys/p HTTP/1.1\r\nHost: x\r\nContent-Length: \u00a03\r\n\r\nabc",
		"Content-Length list":          "PUT /v2/keys/p HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc",
		"Content-Length twice, differ": "PUT /v2/keys/p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 0\r\n\r\nabc",
		"Content-Length twice, same":   "PUT /v2/keys/p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		"NUL in a header value":        "GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
		"control byte in a value":      "GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
		"DEL in a value":               "GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n",
		"header name not a token":      "GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n",
		"space before the colon":       "GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
		"folded line":                  "GET /v2/keys/a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
		"Host with a space":            "GET /v2/keys/a HTTP/1.1\r\nHost: a b\r\n\r\n",
		"Host with a slash":            "GET /v2/keys/a HTTP/1.1\r\nHost: a/b\r\n\r\n",
		"control byte in the target":   "GET /v2/keys/a\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
	}
	var wg sync.WaitGroup
	for name, raw := range cases {
		wg.Go(func() {
			got, gotVia := rawExchange(t, fastAddr, raw)
			want, _ := rawExchange(t, refAddr, raw)
			if slices.Contains(gotVia, "fast") {
				t.Errorf("%s: served (in part) by the fast path: %q", name, got)
			}
			if got != want {
				t.Errorf("%s: answers differ\n fast path %q\n net/http  %q", name, got, want)
			}
		})
	}
	wg.Wait()
	// Plain requests with tabs and spaces around values stay fast.
	got, via := rawExchange(t, fastAddr, "PUT /v2/keys/p HTTP/1.1\r\nHost: x:1\r\nX-A: \t a b \t\r\nContent-Length:3\r\n\r\nabcGET /v2/keys/q HTTP/1.1\r\nHost: [::1]:2379\r\n\r\n")
	want, _ := rawExchange(t, refAddr, "PUT /v2/keys/p HTTP/1.1\r\nHost: x:1\r\nX-A: \t a b \t\r\nContent-Length:3\r\n\r\nabcGET /v2/keys/q HTTP/1.1\r\nHost: [::1]:2379\r\n\r\n")
	if !slices.Equal(via, []string{"fast", "fast"}) || got != want {
		t.Errorf("plain requests: via %v\n fast path %q\n net/http  %q", via, got, want)
	}
}

// TestFastPathLeavesEscapedWatchesToNetHTTP: a watch whose parameter names
// are escaped (wa%69t is wait, as readForm decodes it) is net/http's, as
// any watch is: the fast path's answer would wait, unflushed, until the
// watch ends, and its watcher would outlive the client.
func TestFastPathLeavesEscapedWatchesToNetHTTP(t *testing.T) {
	addr, _, _ := startFast(t, fastTestHandler(t))
	for _, q := range []string{"wa%69t=true&str%65am=true", "%77ait=true", "w%61it=1", "x=1&stre%61m=true", "a=%zz&wa%6"} {
		conn, br := dial(t, addr)
		a := roundTrip(t, conn, br, "GET /v2/keys/a?"+q+" HTTP/1.1\r\nHost: h\r\n\r\n")
		if via := a.header.Get("X-Via"); via != "net/http" {
			t.Errorf("?%s: served by %q, want net/http", q, via)
		}
	}
	// Escapes elsewhere in the query keep the fast path.
	conn, br := dial(t, addr)
	a := roundTrip(t, conn, br, "GET /v2/keys/a?value=a%20wait&sorted=tru%65&x%2Dy=1 HTTP/1.1\r\nHost: h\r\n\r\n")
	if via := a.header.Get("X-Via"); via != "net/http" {
		// "wait" in a value is refused too (a plain bytes test).
		t.Errorf("a value holding wait: served by %q, want net/http", via)
	}
	conn, br = dial(t, addr) // the last one is net/http's now
	a = roundTrip(t, conn, br, "GET /v2/keys/a?sorted=tru%65&x%2Dy=1 HTTP/1.1\r\nHost: h\r\n\r\n")
	if via := a.header.Get("X-Via"); via != "fast" {
		t.Errorf("escapes but no watch: served by %q, want the fast path", via)
	}
}

// TestWatchRefusesAWriterThatCannotFlush: were a watch to reach the API
// with the fast path's writer, it is refused at once instead of holding a
// watcher until an event that the client would never see in time.
func TestWatchRefusesAWriterThatCannotFlush(t *testing.T) {
	c := startInproc(t, 1)
	m := c.waitLeader()
	for _, target := range []string{"/v2/keys/w?wait=true", "/v2/keys/w?wait=true&stream=true&recursive=true"} {
		req, err := http.NewRequest(http.MethodGet, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := newFastWriter()
		done := make(chan struct{})
		go func() { m.Handler().ServeHTTP(w, req); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: a watch on a writer that cannot flush is still running", target)
		}
		if w.status != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500", target, w.status)
		}
	}
}

// acceptErrListener fails its first n Accepts as a process out of file
// descriptors does.
type acceptErrListener struct {
	net.Listener
	n atomic.Int32
}

func (l *acceptErrListener) Accept() (net.Conn, error) {
	if l.n.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestFastPathRetriesFailedAccepts: EMFILE (and any accept error but a
// closed listener) is waited out, as net/http does, not the end of the
// listener.
func TestFastPathRetriesFailedAccepts(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &acceptErrListener{Listener: inner}
	ln.n.Store(4) // 5+10+20+40 ms of pauses
	h := fastTestHandler(t)
	srv := &http.Server{Handler: h}
	fast := newFastServer(ln, h, slog.New(slog.DiscardHandler))
	go fast.serve()
	go func() { _ = srv.Serve(fast.handoff); _ = fast.handoff.Close() }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()); fast.shutdown(context.Background()) })
	conn, br := dial(t, inner.Addr().String())
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if a := roundTrip(t, conn, br, "GET /v2/keys/a HTTP/1.1\r\nHost: h\r\n\r\n"); a.status != http.StatusCreated || a.header.Get("X-Via") != "fast" {
		t.Fatalf("after failed accepts: %d via %q", a.status, a.header.Get("X-Via"))
	}
	if n := ln.n.Load(); n >= 0 {
		t.Fatalf("%d planted accept errors left", n+1)
	}
}

// TestFastPathHandsOverHalfClosableConnections: net/http half-closes a
// connection before closing it (so that the client's unsent bytes do not
// reset it and lose the last answer); the handed-over connection lets it.
func TestFastPathHandsOverHalfClosableConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fast := newFastServer(ln, fastTestHandler(t), slog.New(slog.DiscardHandler))
	go fast.serve()
	t.Cleanup(func() { _ = fast.handoff.Close(); fast.shutdown(context.Background()) })
	conn, _ := dial(t, ln.Addr().String())
	io.WriteString(conn, "GET /v2/members HTTP/1.1\r\nHost: h\r\n\r\n")
	got, err := fast.handoff.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if _, ok := got.(interface{ CloseWrite() error }); !ok {
		t.Errorf("the handed-over %T hides its TCP connection's CloseWrite", got)
	}
	line, err := bufio.NewReader(got).ReadString('\n')
	if err != nil || line != "GET /v2/members HTTP/1.1\r\n" {
		t.Errorf("the handed-over connection reads %q, %v", line, err)
	}
}

// tlsOnAccept wraps each accepted connection in a TLS server, as a
// caller's crypto/tls listener does.
type tlsOnAccept struct{ net.Listener }

func (l tlsOnAccept) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tls.Server(c, &tls.Config{}), nil
}

// TestFastPathLeavesTLSConnectionsToNetHTTP: a TLS connection goes to
// net/http at once, before any byte is read.
func TestFastPathLeavesTLSConnectionsToNetHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fast := newFastServer(tlsOnAccept{ln}, fastTestHandler(t), slog.New(slog.DiscardHandler))
	go fast.serve()
	t.Cleanup(func() { _ = fast.handoff.Close(); fast.shutdown(context.Background()) })
	dial(t, ln.Addr().String()) // sends nothing: no handshake to wait for
	got := make(chan net.Conn, 1)
	go func() {
		if c, err := fast.handoff.Accept(); err == nil {
			got <- c
		}
	}()
	select {
	case c := <-got:
		defer c.Close()
		if _, ok := c.(*tls.Conn); !ok {
			t.Fatalf("handed over a %T, want the *tls.Conn itself", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a TLS connection was not handed to net/http")
	}
}

// TestFastPathShutdownClosesAfterTheLastAnswer: a request in flight when
// shutdown begins is answered with Connection: close, and its connection
// closed.
func TestFastPathShutdownClosesAfterTheLastAnswer(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		fmt.Fprint(w, "done")
	})
	addr, fast, stop := startFast(t, h)
	conn, br := dial(t, addr)
	io.WriteString(conn, "GET /v2/keys/x HTTP/1.1\r\nHost: h\r\n\r\n")
	<-entered
	stopped := make(chan struct{})
	go func() { stop(context.Background()); close(stopped) }()
	for deadline := time.Now().Add(10 * time.Second); !fast.isClosing(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("shutdown did not begin")
		}
	}
	close(release)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	a := readAnswer(t, br, "in flight")
	if a.body != "done" || !a.close {
		t.Fatalf("the last answer before shutdown: %q, Connection: close %v", a.body, a.close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the last answer the connection must close; read gave %v", err)
	}
	<-stopped
}

// TestFastPathWritesAnswersAsNetHTTPDoes: the same answer is the same
// bytes from both servers (headers sorted, then Date, Content-Length, a
// sniffed Content-Type and Connection), unknown status codes included.
func TestFastPathWritesAnswersAsNetHTTPDoes(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		via := "fast"
		if r.Context().Value(http.ServerContextKey) != nil {
			via = "net/http"
		}
		for _, k := range []string{"Zeta", "Alpha", "X-Etcd-Index", "Mid", "Content-Type", "B"} {
			if k == "Content-Type" && strings.HasSuffix(r.URL.Path, "/sniff") {
				continue
			}
			w.Header().Add(k, " v1 ")
			w.Header().Add(k, "v\r\n2")
		}
		w.Header().Set("X-Via", via)
		w.Header()["Bad Name"] = []string{"dropped"}
		switch {
		case strings.HasSuffix(r.URL.Path, "/599"):
			w.WriteHeader(599)
		case strings.HasSuffix(r.URL.Path, "/204"):
			w.WriteHeader(http.StatusNoContent)
			return
		}
		fmt.Fprint(w, "<html>body</html>")
	})
	fastAddr, _, _ := startFast(t, h)
	refAddr := startRef(t, h)
	for _, p := range []string{"/v2/keys/a", "/v2/keys/599", "/v2/keys/204", "/v2/keys/sniff"} {
		raw := "GET " + p + " HTTP/1.1\r\nHost: h\r\n\r\nGET " + p + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
		got, via := rawExchange(t, fastAddr, raw)
		want, _ := rawExchange(t, refAddr, raw)
		if !slices.Equal(via, []string{"fast", "fast"}) || got != want {
			t.Errorf("%s: via %v\n fast path %q\n net/http  %q", p, via, got, want)
		}
	}
}

func TestMayWatch(t *testing.T) {
	for q, want := range map[string]bool{
		"":                       false,
		"recursive=true":         false,
		"wait=true":              true,
		"stream=true":            true,
		"wa%69t=true":            true,
		"%73tream=1":             true,
		"x=1&W%61it=true":        false, // names are case-sensitive: not a watch
		"bad%zz=1":               true,  // not decodable: net/http's to judge
		"value=a%20b&sorted=tru": false,
	} {
		if got := mayWatch([]byte(q)); got != want {
			t.Errorf("mayWatch(%q) = %v, want %v", q, got, want)
		}
	}
}
