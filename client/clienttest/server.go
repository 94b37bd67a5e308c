// Package clienttest runs a real raftkv member inside a test's process, in
// the way net/http/httptest serves tests of HTTP clients: one member of a
// one-member cluster, on the in-memory disk (package vfs), serving the v2
// client API on a loopback port. No processes, no files, no cluster to set
// up, and the real semantics: TTLs expire, hidden keys are hidden, watches
// see the member's event history and get error 401 beyond it, errors carry
// the real codes and indexes.
//
// The member is raftkv's own (server.StartMember), so a program tested here
// meets what it will meet in production, except that there is one member:
// nothing is forwarded, no leader is ever lost. For failover, test against
// a real cluster (internal/testcluster does that for raftkv's own tests).
//
// NewServer returns once the member leads and has published its member
// records, so the store index does not move afterwards except through the
// test's own requests (and TTL expirations). Requests records what the
// server was sent, for tests that check what a program asked.
package clienttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/vfs"
	"golang.org/x/crypto/bcrypt"
)

// MemberID is the hex id of the server's one member: etcd's default member
// (name "default", peer URL http://localhost:2380, token "etcd-cluster").
const MemberID = "8e9e05c52164694d"

// Server is a running one-member raftkv cluster.
type Server struct {
	// URL is the base URL, e.g. "http://127.0.0.1:41231".
	URL string

	member *server.Member
	api    http.Handler
	srv    *http.Server

	mu       sync.Mutex
	requests []string
	watchers int           // watches waiting now
	wchanged chan struct{} // closed and replaced when watchers changes
}

// NewServer starts a member with an event history of 1000 events (v2's).
// Close it when done. It panics if the member cannot start, as httptest
// does when it cannot listen.
func NewServer() *Server { return NewServerHistory(1000) }

// NewServerHistory is NewServer with an event history of n events, so tests
// can reach error 401 quickly.
func NewServerHistory(n int) *Server {
	s, err := start(n)
	if err != nil {
		panic("clienttest: " + err.Error())
	}
	return s
}

func start(history int) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	peerLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &Server{URL: "http://" + ln.Addr().String(), wchanged: make(chan struct{})}
	// The peer URL is advertised, not listened on: a one-member cluster
	// never dials it, and etcd's default gives etcd's default member id.
	const peerURL = "http://localhost:2380"
	m, err := server.StartMember(server.MemberConfig{
		Name:                     "default",
		DataDir:                  "/clienttest",
		FS:                       vfs.NewMem(rand.New(rand.NewPCG(1, 2))),
		AdvertiseClientURLs:      []string{s.URL},
		InitialAdvertisePeerURLs: []string{peerURL},
		InitialCluster:           []server.InitialMember{{Name: "default", PeerURLs: []string{peerURL}}},
		InitialClusterToken:      "etcd-cluster",
		HeartbeatInterval:        10 * time.Millisecond,
		ElectionTimeout:          50 * time.Millisecond,
		EventHistory:             history,
		// The cheapest cost: a test's password checks must not take
		// seconds under the race detector.
		BcryptCost: bcrypt.MinCost,
		// Small WAL segments: a preallocated 64 MiB segment is held twice
		// by the in-memory disk (written and synced contents).
		WALSegmentSize:  1 << 20,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		ClientListeners: []net.Listener{},
		PeerListener:    peerLn,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.member, s.api = m, m.Handler()
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	select {
	case <-m.Published():
		return s, nil
	case <-m.Done():
		err = fmt.Errorf("member stopped while starting: %v", m.Err())
	case <-ctx.Done():
		err = fmt.Errorf("member did not publish its attributes within a minute")
	}
	s.Close()
	return nil, err
}

// Close stops the member, which ends open watches, then the server.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.member.Stop(ctx)
	_ = s.srv.Shutdown(ctx)
}

// Member is the running member (its Store, Status, ...).
func (s *Server) Member() *server.Member { return s.member }

// Index is the current store index.
func (s *Server) Index() uint64 { return s.member.Store().Index() }

// AwaitWatchers blocks until at least n watches are waiting for an event,
// or ctx is done: a test then knows a write will be seen live.
func (s *Server) AwaitWatchers(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		have, ch := s.watchers, s.wchanged
		s.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// addWatchers changes the count of waiting watches.
func (s *Server) addWatchers(d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers += d
	close(s.wchanged)
	s.wchanged = make(chan struct{})
}

// Requests returns the requests served so far, one string each: method,
// path and the parameters (query and form, sorted), e.g.
// "PUT /v2/keys/foo prevExist=false&value=bar".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// serve records the request and hands it to the member's handler.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	line := r.Method + " " + r.URL.Path
	if params, ok := peekForm(r); ok && params.Encode() != "" {
		line += " " + params.Encode()
	}
	s.mu.Lock()
	s.requests = append(s.requests, line)
	s.mu.Unlock()
	if isWatch(r) {
		// The member registers a watch before it writes the header: the
		// first write or flush says the watch is waiting.
		ww := &watchWriter{ResponseWriter: w, s: s}
		defer ww.done()
		w = ww
	}
	s.api.ServeHTTP(w, r)
}

// peekForm reads a request's parameters (query and form) for the log
// without consuming them: the member parses the request itself, and must
// see a malformed form as malformed (error 210), which it would not if the
// form had been parsed here first.
func peekForm(r *http.Request) (url.Values, bool) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, false
		}
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	peek := r.Clone(r.Context())
	peek.Body = io.NopCloser(bytes.NewReader(body))
	if err := peek.ParseForm(); err != nil {
		return nil, false
	}
	return peek.Form, true
}

// isWatch reports whether the member will serve r as a watch: a GET or
// HEAD with wait true and quorum not true, parsed as the member parses them.
func isWatch(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	q := r.URL.Query()
	wait, _ := strconv.ParseBool(q.Get("wait"))
	quorum, _ := strconv.ParseBool(q.Get("quorum"))
	return wait && !quorum
}

// watchWriter counts a watch as waiting from its first header until its
// handler returns.
type watchWriter struct {
	http.ResponseWriter
	s       *Server
	counted bool
}

func (w *watchWriter) count() {
	if !w.counted {
		w.counted = true
		w.s.addWatchers(1)
	}
}

func (w *watchWriter) WriteHeader(code int) {
	if code == http.StatusOK {
		w.count()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *watchWriter) Write(b []byte) (int, error) { return w.ResponseWriter.Write(b) }

func (w *watchWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *watchWriter) done() {
	if w.counted {
		w.s.addWatchers(-1)
	}
}
