package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/server/node"
)

// Version is the raftkv version; /version reports the etcd v2 API level it
// speaks as well.
const (
	Version        = "0.1.0"
	etcdAPIVersion = "2.3.8"
)

func versionBody() map[string]string {
	return map[string]string{"etcdserver": etcdAPIVersion, "etcdcluster": "2.3.0", "raftkv": Version}
}

// serve starts the peer HTTP server, and the client HTTP servers once the
// member has published its client URLs (Published), as etcd starts serving
// clients only after its publish: a client that reaches a member can then
// find it in /v2/members, so cluster-health right after a member answers
// never calls one unpublished. Until then the client listeners accept
// (connections wait in the backlog) but nothing is read. A member that
// cannot publish (no quorum reachable) serves no clients.
func (m *Member) serve() {
	h := m.Handler()
	for _, ln := range m.cfg.ClientListeners {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: clientHeadTimeout}
		m.clientSrvs = append(m.clientSrvs, srv)
		// Plain-HTTP listeners read key requests on the fast path first
		// (fasthttp.go); it hands everything else to srv.
		var fast *fastServer
		if _, isTLS := ln.(*tlsListener); !isTLS {
			fast = newFastServer(ln, h, m.log)
			if ch, ok := h.(*clientHandler); ok {
				fast.keys = ch.keys
			}
			m.fastSrvs = append(m.fastSrvs, fast)
		}
		go func() {
			select {
			case <-m.publishedc:
				m.log.Info("serving clients", "addr", ln.Addr().String())
				if fast == nil {
					_ = srv.Serve(ln)
					return
				}
				go fast.serve()
				_ = srv.Serve(fast.handoff)
				// Serve returns at Shutdown, which closed the listener,
				// or at once if Shutdown came first: close it then.
				_ = fast.handoff.Close()
			case <-m.drainc:
				// Stopped before publishing: Shutdown had nothing to close.
				ln.Close()
			}
		}()
	}
	m.peerSrv = &http.Server{Handler: m.peerHandler(), ReadHeaderTimeout: clientHeadTimeout}
	go func() { _ = m.peerSrv.Serve(m.peerMux.httpListener()) }()
}

// Handler is the member's client API: /v2/keys, /v2/members, /v2/auth,
// /v2/stats, /v2/machines, /version, /health and /metrics. It is built
// once: its auth records' watch and the dashboard's feed are the member's,
// however many servers serve it.
func (m *Member) Handler() http.Handler { return m.handler() }

// newHandler builds the client API (Member.handler, once).
func (m *Member) newHandler() http.Handler {
	a := &api{
		b: m, metrics: m.metrics, auth: newAuthorizer(m.Store()),
		redirect: m.cfg.Redirect, requestTimeout: m.cfg.RequestTimeout,
		cors: m.cfg.CORS, pprof: m.cfg.EnablePprof, bcryptCost: m.cfg.BcryptCost,
	}
	h := a.handler()
	if m.faults != nil {
		h = m.faults.wrap(h) // TEST ONLY: /debug/faults
	}
	return &clientHandler{Handler: h, keys: a.keysHandler()}
}

// clientHandler is the client API, and beside it what the API does with a
// request for /v2/keys or /v2/keys/... whose path is clean and unescaped
// (ServeMux routes such a request to serveKeys, within withCORS): the
// fast path calls keys directly.
type clientHandler struct {
	http.Handler
	keys http.Handler
}

// api is the client API over a Backend. It holds no state of its own but
// its settings and the member's HTTP metrics.
type api struct {
	b       Backend
	metrics *metrics
	// auth is v2 auth (auth.go); nil allows everything.
	auth *authorizer
	// redirect, requestTimeout, cors and pprof are MemberConfig's
	// Redirect, RequestTimeout, CORS and EnablePprof.
	redirect       bool
	requestTimeout time.Duration
	cors           []string
	pprof          bool
	bcryptCost     int // of the passwords it hashes (MemberConfig.BcryptCost)
	// clusterID caches IDString of the last cluster id answered with.
	clusterID atomic.Pointer[idString]
}

type idString struct {
	id uint64
	s  string
}

// clusterIDString is IDString(id), made once for the cluster's id.
func (a *api) clusterIDString(id uint64) string {
	if c := a.clusterID.Load(); c != nil && c.id == id {
		return c.s
	}
	c := &idString{id: id, s: IDString(id)}
	a.clusterID.Store(c)
	return c.s
}

// keysHandler is serveKeys as handler() serves it: within withCORS.
func (a *api) keysHandler() http.Handler {
	return a.withCORS(http.HandlerFunc(a.serveKeys))
}

func (a *api) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/keys", a.serveKeys)
	mux.HandleFunc("/v2/keys/", a.serveKeys)
	mux.HandleFunc("/v2/members", a.serveMembers)
	mux.HandleFunc("/v2/members/", a.serveMembers)
	a.registerAuth(mux)
	mux.HandleFunc("GET /v2/stats/self", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.b.SelfStats())
	})
	mux.HandleFunc("GET /v2/stats/leader", a.serveStatsLeader)
	mux.HandleFunc("GET /v2/stats/store", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.b.Store().Stats())
	})
	mux.HandleFunc("GET /v2/machines", func(w http.ResponseWriter, r *http.Request) {
		var urls []string
		for _, mi := range a.b.Members() {
			urls = append(urls, mi.ClientURLs...)
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, strings.Join(urls, ", "))
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, versionBody())
	})
	mux.HandleFunc("GET /health", a.serveHealth)
	mux.HandleFunc("GET "+pathSnapshot, a.serveSnapshot)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	a.registerDashboard(mux)
	if a.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return a.withCORS(mux)
}

// withCORS applies --cors: allowed origins get the v2 CORS headers, and an
// OPTIONS request is answered at once.
func (a *api) withCORS(h http.Handler) http.Handler {
	if len(a.cors) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if slices.Contains(a.cors, "*") || slices.Contains(a.cors, origin) {
			allow := origin
			if slices.Contains(a.cors, "*") {
				allow = "*"
			}
			w.Header().Set("Access-Control-Allow-Origin", allow)
			w.Header().Set("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE")
			w.Header().Set("Access-Control-Allow-Headers", "accept, content-type, authorization")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// writeError writes a v2 error body with its status and X-Etcd-Index.
func (a *api) writeError(w http.ResponseWriter, e *kv.Error) {
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(e.Index, 10))
	w.Header().Set("X-Etcd-Cluster-Id", IDString(a.b.Status().ClusterID))
	writeJSON(w, e.StatusCode(), e)
}

// internalError is v2's error 300 for a failure inside the cluster: no
// leader, a timeout (outcome unknown), a stopping member. It carries this
// member's current store index (etcd 2 wrote 0 here), so a client that
// retries or starts a watch knows where the key space stood.
func (a *api) internalError(w http.ResponseWriter, err error) {
	a.writeError(w, kv.NewError(kv.EcodeRaftInternal, err.Error(), a.b.Store().Index()))
}

// writeStoreError writes a *kv.Error as itself and anything else as 300.
func (a *api) writeStoreError(w http.ResponseWriter, err error) {
	var ke *kv.Error
	if errors.As(err, &ke) {
		a.writeError(w, ke)
		return
	}
	a.internalError(w, err)
}

func (a *api) setRaftHeaders(w http.ResponseWriter, etcdIndex uint64) {
	a.setRaftHeadersAt(w, etcdIndex, node.Result{})
}

// setRaftHeadersAt is setRaftHeaders for the answer to a write, res: its
// entry's index and term bound X-Raft-Index and X-Raft-Term from below,
// even before the loop has published its view (a leader answers from its
// apply).
func (a *api) setRaftHeadersAt(w http.ResponseWriter, etcdIndex uint64, res node.Result) {
	st := a.b.Status()
	st.Commit = max(st.Commit, res.Index)
	st.Term = max(st.Term, res.Term)
	h := w.Header()
	// Canonical names assigned directly (Header.Set would canonicalize
	// each name again), and the four values made with two allocations:
	// one string holding the three numbers, one array behind the slices.
	var buf [64]byte
	b := strconv.AppendUint(buf[:0], etcdIndex, 10)
	n1 := len(b)
	b = strconv.AppendUint(b, st.Commit, 10)
	n2 := len(b)
	b = strconv.AppendUint(b, st.Term, 10)
	nums := string(b)
	var vals []string
	if l, ok := w.(headerValueLender); ok {
		vals = l.headerValues(4)
	} else {
		vals = make([]string, 4)
	}
	vals[0], vals[1], vals[2], vals[3] = nums[:n1], nums[n1:n2], nums[n2:], a.clusterIDString(st.ClusterID)
	h["X-Etcd-Index"] = vals[0:1:1]
	h["X-Raft-Index"] = vals[1:2:2]
	h["X-Raft-Term"] = vals[2:3:3]
	h["X-Etcd-Cluster-Id"] = vals[3:4:4]
}

// requestContext is context.WithTimeout(r.Context(), a.requestTimeout),
// for a key request: the fast path's writer lends a reusable one.
func (a *api) requestContext(w http.ResponseWriter, r *http.Request) (context.Context, context.CancelFunc) {
	if l, ok := w.(timeoutLender); ok && a.requestTimeout > 0 && r.Context() == context.Background() {
		if ctx, cancel, ok := l.timeoutContext(a.requestTimeout); ok {
			return ctx, cancel
		}
	}
	return context.WithTimeout(r.Context(), a.requestTimeout)
}

// timeoutLender is a ResponseWriter that lends a context with a timeout
// (the fast path's): false if it has none free.
type timeoutLender interface {
	timeoutContext(d time.Duration) (context.Context, context.CancelFunc, bool)
}

// timeoutCtx is context.WithTimeout(context.Background(), d), made to be
// used again once cancelled: a request then costs no context, channel and
// timer of its own. Its user must keep it no longer than until it calls
// cancel (everything the client API hands a request's context to uses it
// only while it runs: Member.propose, readIndex, forward, the waits).
//
// Done closes, and Err turns context.DeadlineExceeded, when the timer
// fires at the deadline, as with WithTimeout. A use that ends before then
// stops the timer and keeps the channel, never closed, for the next; one
// that ends after it takes a fresh channel. A firing that comes too late
// to be stopped finds the context either disarmed or with a later
// deadline, and does nothing.
type timeoutCtx struct {
	timer  *time.Timer // runs fire
	cancel context.CancelFunc
	inUse  bool // between start and cancel (the user's goroutine only)

	mu       sync.Mutex
	deadline time.Time
	done     chan struct{}
	err      error // context.DeadlineExceeded once done is closed
	armed    bool  // in use, and not yet expired
}

func (c *timeoutCtx) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, true
}

func (c *timeoutCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

func (c *timeoutCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *timeoutCtx) Value(any) any { return nil }

// start arms the context for a use of d; false if it is in use.
func (c *timeoutCtx) start(d time.Duration) bool {
	if c.inUse {
		return false
	}
	c.inUse = true
	deadline := time.Now().Add(d)
	c.mu.Lock()
	if c.done == nil || c.err != nil {
		c.done, c.err = make(chan struct{}), nil
	}
	// The timer is set after the deadline is taken, so it fires at or
	// after it: fire's check below then passes.
	c.deadline, c.armed = deadline, true
	c.mu.Unlock()
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.fire)
		c.cancel = c.stop
	} else {
		c.timer.Reset(d)
	}
	return true
}

func (c *timeoutCtx) fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed && !time.Now().Before(c.deadline) {
		c.armed, c.err = false, context.DeadlineExceeded
		close(c.done)
	}
}

// stop ends a use (the CancelFunc).
func (c *timeoutCtx) stop() {
	if !c.inUse {
		return
	}
	c.timer.Stop()
	c.mu.Lock()
	c.armed = false
	c.mu.Unlock()
	c.inUse = false
}

// headerValueLender is a ResponseWriter that lends slices for header
// values, reused once the answer is written (the fast path's): the
// handler must not keep them past its answer.
type headerValueLender interface {
	headerValues(n int) []string
}

// form reads the v2 parameters of a request: only the first value of a
// repeated parameter counts; a parameter given empty counts as present.
// The parameters are in r.Form's order (readForm): the body's, then the
// query's.
type form struct{ pairs []formPair }

type formPair struct{ k, v string }

func (f form) has(k string) bool {
	for _, p := range f.pairs {
		if p.k == k {
			return true
		}
	}
	return false
}

func (f form) get(k string) string {
	for _, p := range f.pairs {
		if p.k == k {
			return p.v
		}
	}
	return ""
}

func (f form) bool(k string) (bool, *kv.Error) {
	if !f.has(k) {
		return false, nil
	}
	b, err := strconv.ParseBool(f.get(k))
	if err != nil {
		return false, kv.NewError(kv.EcodeInvalidField, fmt.Sprintf("invalid value for %q", k), 0)
	}
	return b, nil
}

func (f form) optBool(k string) (*bool, *kv.Error) {
	if !f.has(k) {
		return nil, nil
	}
	b, err := f.bool(k)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

func (f form) index(k string) (uint64, *kv.Error) {
	if !f.has(k) {
		return 0, nil
	}
	i, err := strconv.ParseUint(f.get(k), 10, 64)
	if err != nil {
		return 0, kv.NewError(kv.EcodeIndexNaN, fmt.Sprintf("invalid value for %q", k), 0)
	}
	return i, nil
}

func (f form) ttl() (*uint64, *kv.Error) {
	s := f.get("ttl")
	if s == "" {
		return nil, nil
	}
	t, err := strconv.ParseUint(s, 10, 64)
	if err != nil || t > kv.MaxTTLSec {
		return nil, kv.NewError(kv.EcodeTTLNaN, "invalid value for \"ttl\"", 0)
	}
	return &t, nil
}

// keyRequest is a parsed /v2/keys request.
type keyRequest struct {
	path                     string
	cmd                      kv.Command
	wait, stream, quorum     bool
	noVal, recursive, sorted bool
	// quorumFalse is an explicit quorum=false: a local, possibly stale read.
	quorumFalse bool
	waitIndex   uint64
	firstErr    *kv.Error
}

func (kr *keyRequest) check(e *kv.Error) {
	if e != nil && kr.firstErr == nil {
		kr.firstErr = e
	}
}

// parseKeyRequest turns a /v2/keys request into a command or read. The
// checks and their error codes follow etcd v2's parser.
func parseKeyRequest(r *http.Request) (*keyRequest, *kv.Error) {
	f, err := readForm(r)
	if err != nil {
		return nil, kv.NewError(kv.EcodeInvalidForm, err.Error(), 0)
	}
	kr := &keyRequest{}
	kr.path = cleanKeyPath(strings.TrimPrefix(r.URL.Path, "/v2/keys"))
	var e *kv.Error
	kr.recursive, e = f.bool("recursive")
	kr.check(e)
	kr.sorted, e = f.bool("sorted")
	kr.check(e)
	kr.wait, e = f.bool("wait")
	kr.check(e)
	kr.stream, e = f.bool("stream")
	kr.check(e)
	kr.noVal, e = f.bool("noValueOnSuccess")
	kr.check(e)
	if f.has("quorum") {
		kr.quorum, e = f.bool("quorum")
		kr.check(e)
		kr.quorumFalse = e == nil && !kr.quorum
	}
	dir, e := f.bool("dir")
	kr.check(e)
	refresh, e := f.bool("refresh")
	kr.check(e)
	prevExist, e := f.optBool("prevExist")
	kr.check(e)
	prevIndex, e := f.index("prevIndex")
	kr.check(e)
	kr.waitIndex, e = f.index("waitIndex")
	kr.check(e)
	ttl, e := f.ttl()
	kr.check(e)
	if kr.firstErr != nil {
		return nil, kr.firstErr
	}
	if kr.wait && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return nil, kv.NewError(kv.EcodeInvalidField, `"wait" can only be used with GET requests`, 0)
	}
	if f.has("prevValue") && f.get("prevValue") == "" {
		return nil, kv.NewError(kv.EcodePrevValueReq, `"prevValue" cannot be empty`, 0)
	}
	kr.cmd = kv.Command{
		Path: kr.path, Value: f.get("value"), Dir: dir, TTLSec: ttl,
		PrevValue: f.get("prevValue"), PrevIndex: prevIndex, PrevExist: prevExist,
		Refresh: refresh, Recursive: kr.recursive, Sorted: kr.sorted,
	}
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		kr.cmd.Method = kv.MethodPut
		if r.Method == http.MethodPost {
			kr.cmd.Method = kv.MethodPost
		}
		// The key space keeps the path of a key it creates and the
		// value it is given, and each is a piece of something larger:
		// the path of the whole request head (on the fast path), the
		// value of the body or, from the query, of the head too, with
		// every header in it (Authorization among them). Copies of their
		// own free the rest.
		kr.cmd.Path = strings.Clone(kr.path)
		kr.cmd.Value = strings.Clone(kr.cmd.Value)
	case http.MethodDelete:
		kr.cmd.Method = kv.MethodDelete
	}
	return kr, nil
}

func (a *api) serveKeys(w http.ResponseWriter, r *http.Request) {
	a.metrics.httpRequests.WithLabelValues(r.Method).Inc()
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete:
	default:
		w.Header().Set("Allow", "HEAD,GET,PUT,POST,DELETE")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	kr, kerr := parseKeyRequest(r)
	if kerr != nil {
		a.writeError(w, kerr)
		return
	}
	if isAuthRecord(kr.path) {
		a.writeError(w, kv.NewError(kv.EcodeKeyIsPreserved, kr.path, a.b.Store().Index()))
		return
	}
	// Watches included: permission is checked when they start.
	if !a.auth.allowKey(r, kr.path, kr.recursive) {
		a.writeKeyNoAuth(w, r)
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if kr.wait && !kr.quorum {
			a.serveWatch(w, r, kr)
			return
		}
		a.serveGet(w, r, kr)
		return
	}
	if isReserved(kr.path) {
		a.writeError(w, kv.NewError(kv.EcodeKeyIsPreserved, kr.path, a.b.Store().Index()))
		return
	}
	if e := kr.cmd.Validate(); e != nil {
		a.writeError(w, e)
		return
	}
	if a.redirect && a.maybeRedirect(w, r) {
		return
	}
	ctx, cancel := a.requestContext(w, r)
	defer cancel()
	var res node.Result
	var err error
	for {
		res, err = a.b.Propose(ctx, &kr.cmd)
		if err == nil && errors.Is(res.Err, node.ErrProposalLost) {
			// Certainly not applied: safe to propose again.
			continue
		}
		break
	}
	if err != nil {
		a.internalError(w, err)
		return
	}
	if res.Err != nil {
		a.writeStoreError(w, res.Err)
		return
	}
	ev := res.Event
	a.setRaftHeadersAt(w, ev.Index, res)
	status := http.StatusOK
	if ev.Action == kv.ActionCreate || (ev.Action == kv.ActionSet && ev.PrevNode == nil) {
		status = http.StatusCreated
	}
	if kr.noVal && ev.Action != kv.ActionDelete && ev.Action != kv.ActionCompareAndDelete {
		writeJSON(w, status, map[string]string{"action": ev.Action})
		return
	}
	writeEvent(w, status, ev)
}

// maybeRedirect answers a write on a follower with a 307 to the leader's
// client URL (--redirect), when that URL is known.
func (a *api) maybeRedirect(w http.ResponseWriter, r *http.Request) bool {
	st := a.b.Status()
	if st.Lead == raft.None || st.Lead == st.ID {
		return false
	}
	for _, mi := range a.b.Members() {
		if mi.ID == st.Lead && len(mi.ClientURLs) > 0 {
			http.Redirect(w, r, mi.ClientURLs[0]+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			return true
		}
	}
	return false
}

// serveGet reads a key. Reads are linearizable unless quorum=false: the
// member first gets a read index confirmed by the leader (raft's ReadIndex:
// no log write, one heartbeat round shared by concurrent reads), waits
// until it has applied that far, then reads its own store.
func (a *api) serveGet(w http.ResponseWriter, r *http.Request, kr *keyRequest) {
	if !kr.quorumFalse {
		ctx, cancel := a.requestContext(w, r)
		err := a.b.ReadIndex(ctx)
		cancel()
		if err != nil {
			a.internalError(w, err)
			return
		}
	}
	ev, err := a.b.Store().Get(kr.path, kr.recursive, kr.sorted)
	if err != nil {
		a.writeStoreError(w, err)
		return
	}
	a.setRaftHeaders(w, ev.Index)
	writeEvent(w, http.StatusOK, ev)
}

// serveWatch serves a long-poll (one event) or streaming watch from this
// member's store.
func (a *api) serveWatch(w http.ResponseWriter, r *http.Request, kr *keyRequest) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		// A writer that cannot flush (the fast path's, which hands
		// watches to net/http) would hold the events, and the watcher,
		// until the watch ends: refuse rather than start one.
		http.Error(w, "a watch needs a streaming response", http.StatusInternalServerError)
		return
	}
	wt, err := a.b.Store().Watch(kr.path, kr.recursive, kr.stream, kr.waitIndex)
	if err != nil {
		a.writeStoreError(w, err)
		return
	}
	defer wt.Remove()
	a.setRaftHeaders(w, wt.Index())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case ev, ok := <-wt.Events():
			if !ok {
				// One-shot delivered, or the watcher was dropped (overflow,
				// snapshot restore): ending the response tells the client
				// to resume from its last index.
				return
			}
			if err := enc.Encode(ev); err != nil {
				return
			}
			flusher.Flush()
			if !kr.stream {
				return
			}
		case <-r.Context().Done():
			return
		case <-a.b.Stopping():
			return
		}
	}
}

func (a *api) serveHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if a.b.Status().Lead == raft.None || a.b.ReadIndex(ctx) != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"health": "false"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"health": "true"})
}

func (a *api) serveStatsLeader(w http.ResponseWriter, r *http.Request) {
	ls, ok := a.b.LeaderStats()
	if !ok {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "not current leader"})
		return
	}
	writeJSON(w, http.StatusOK, ls)
}

// serveMembers is /v2/members: list, leader, add, remove, update.
func (a *api) serveMembers(w http.ResponseWriter, r *http.Request) {
	a.metrics.httpRequests.WithLabelValues(r.Method).Inc()
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !a.auth.allowRoot(r) {
		writeNoAuth(w)
		return
	}
	w.Header().Set("X-Etcd-Cluster-Id", IDString(a.b.Status().ClusterID))
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/v2/members"), "/")
	switch {
	case rest == "" && r.Method == http.MethodGet:
		// Linearizable like key reads: a member added or removed through
		// any member is listed (or not) on every member afterwards.
		ctx, cancel := context.WithTimeout(r.Context(), a.requestTimeout)
		err := a.b.ReadIndex(ctx)
		cancel()
		if err != nil {
			message(w, http.StatusInternalServerError, "Internal Server Error: %v", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"members": a.b.Members()})
	case rest == "leader" && r.Method == http.MethodGet:
		lead := a.b.Status().Lead
		for _, mi := range a.b.Members() {
			if lead != raft.None && mi.ID == lead {
				writeJSON(w, http.StatusOK, mi)
				return
			}
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "During election"})
	case rest == "" && r.Method == http.MethodPost:
		a.addMember(w, r)
	case rest != "" && r.Method == http.MethodDelete:
		a.removeMember(w, r, rest)
	case rest != "" && r.Method == http.MethodPut:
		a.updateMember(w, r, rest)
	case rest == "" && r.Method == http.MethodDelete:
		w.Header().Set("Allow", "GET,POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "Method Not Allowed: no member id"})
	default:
		w.Header().Set("Allow", "GET,POST,PUT,DELETE")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "Method Not Allowed"})
	}
}

func message(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"message": fmt.Sprintf(format, args...)})
}

// readPeerURLs reads a {"peerURLs": [...]} body, answering 415 or 400.
func readPeerURLs(w http.ResponseWriter, r *http.Request) ([]string, bool) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		message(w, http.StatusUnsupportedMediaType, "Bad Content-Type %q, accept application/json", r.Header.Get("Content-Type"))
		return nil, false
	}
	var body struct {
		PeerURLs []string `json:"peerURLs"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		message(w, http.StatusBadRequest, "bad JSON body: %v", err)
		return nil, false
	}
	if len(body.PeerURLs) == 0 {
		message(w, http.StatusBadRequest, "peerURLs is empty")
		return nil, false
	}
	for i, u := range body.PeerURLs {
		if err := checkURL(u, false); err != nil {
			message(w, http.StatusBadRequest, "%v", err)
			return nil, false
		}
		body.PeerURLs[i] = strings.TrimSuffix(u, "/")
	}
	return body.PeerURLs, true
}

// urlInUse reports the member (other than except) already using one of urls.
func (a *api) urlInUse(urls []string, except uint64) (uint64, bool) {
	for _, mi := range a.b.Members() {
		if mi.ID == except {
			continue
		}
		for _, u := range urls {
			if slices.Contains(mi.PeerURLs, u) {
				return mi.ID, true
			}
		}
	}
	return 0, false
}

// addMember adds a member as a learner: it receives the log without
// voting, and the leader promotes it once it has caught up (thesis §4.2.1),
// so a slow new member never costs the cluster its quorum.
func (a *api) addMember(w http.ResponseWriter, r *http.Request) {
	urls, ok := readPeerURLs(w, r)
	if !ok {
		return
	}
	if other, used := a.urlInUse(urls, 0); used {
		message(w, http.StatusConflict, "Peer URLs exists: already used by member %s", IDString(other))
		return
	}
	id := MemberID(urls, a.b.Status().Token, time.Now().Unix())
	ctxData, err := node.EncodeConfContext([]*kv.Command{putJSON(raftAttrKey(id), raftAttributes{PeerURLs: urls})})
	if err != nil {
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if !a.confChange(w, r, raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: id, Context: ctxData}) {
		return
	}
	writeJSON(w, http.StatusCreated, MemberInfo{ID: id, PeerURLs: urls, ClientURLs: []string{}})
}

func (a *api) memberID(w http.ResponseWriter, s string) (uint64, bool) {
	id, err := ParseID(s)
	if err != nil {
		message(w, http.StatusNotFound, "No such member: %s", s)
		return 0, false
	}
	if wasRemoved(a.b.Store(), id) {
		message(w, http.StatusGone, "Member permanently removed: %s", s)
		return 0, false
	}
	for _, mi := range a.b.Members() {
		if mi.ID == id {
			return id, true
		}
	}
	message(w, http.StatusNotFound, "No such member: %s", s)
	return 0, false
}

func (a *api) removeMember(w http.ResponseWriter, r *http.Request, s string) {
	id, ok := a.memberID(w, s)
	if !ok {
		return
	}
	ctxData, err := node.EncodeConfContext([]*kv.Command{
		{Method: kv.MethodDelete, Path: membersDir + "/" + IDString(id), Dir: true, Recursive: true},
		{Method: kv.MethodPut, Path: removedKey(id), Value: "removed"},
	})
	if err != nil {
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if !a.confChange(w, r, raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: id, Context: ctxData}) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) updateMember(w http.ResponseWriter, r *http.Request, s string) {
	id, ok := a.memberID(w, s)
	if !ok {
		return
	}
	urls, ok := readPeerURLs(w, r)
	if !ok {
		return
	}
	if other, used := a.urlInUse(urls, id); used {
		message(w, http.StatusConflict, "Peer URLs exists: already used by member %s", IDString(other))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.requestTimeout)
	defer cancel()
	if err := proposeCmd(ctx, a.b, putJSON(raftAttrKey(id), raftAttributes{PeerURLs: urls})); err != nil {
		message(w, http.StatusInternalServerError, "Internal Server Error: %v", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// confChange runs a membership change through the log and writes the
// error answer if it fails.
func (a *api) confChange(w http.ResponseWriter, r *http.Request, cc raft.ConfChange) bool {
	ctx, cancel := context.WithTimeout(r.Context(), a.requestTimeout)
	defer cancel()
	if err := a.b.ChangeMembership(ctx, cc); err != nil {
		message(w, http.StatusInternalServerError, "Internal Server Error: %v", err)
		return false
	}
	return true
}

// decodeBody decodes the JSON body of a request of the members or auth
// API, of at most 1 MiB, into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	return json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v)
}
