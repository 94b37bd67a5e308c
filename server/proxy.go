package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"time"
)

// The proxy (--proxy on|readonly, and what --discovery-fallback=proxy
// starts) is etcd 2's proxy mode: a process without a member that serves
// the client API on its client URLs by forwarding every request to a
// member's client URL, as an HTTP reverse proxy with endpoint failover.
// Members forward writes to their leader themselves, so the proxy follows
// leader changes by doing nothing; it follows membership changes by
// reading the member list again every RefreshInterval. A request that
// certainly did not reach a member (no connection, no TLS session) is
// tried on the next member, and the first is left alone for FailureWait;
// any other failure is answered 502, since the member may have acted on
// it. Answers are streamed and flushed as they come, so watches (long
// polls and streams) pass through.

// ProxyConfig configures a proxy.
type ProxyConfig struct {
	// ListenClientURLs are the URLs to serve on (http only), unless
	// ClientListeners are handed in.
	ListenClientURLs []string
	ClientListeners  []net.Listener
	// PeerURLs are the members' peer URLs (--initial-cluster, or the
	// discovery registrations): the proxy asks their peer port for the
	// members' client URLs (GET /raftkv/members) until a member answers.
	PeerURLs []string
	// ReadOnly refuses every request but GET with 501, as etcd's
	// readonly proxy.
	ReadOnly bool
	// RefreshInterval is how often the member list is read again
	// (--proxy-refresh-interval; 0: 30 s). FailureWait is how long a
	// member that could not be reached is skipped
	// (--proxy-failure-wait; 0: 5 s). DialTimeout bounds a connection
	// attempt (--proxy-dial-timeout; 0: 1 s).
	RefreshInterval, FailureWait, DialTimeout time.Duration
	// ClientTLS, for members with https client URLs: the CA
	// (TrustedCAFile) and the client certificate (CertFile, KeyFile).
	// The files are read once.
	ClientTLS TLSInfo
	// PeerTLS, for https peer URLs: the CA and the peer certificate the
	// proxy presents to the peer port when it reads the membership there.
	PeerTLS TLSInfo
	Logger  *slog.Logger
}

// Errors of a proxy request, as the answer's message.
var (
	ErrProxyNoMembers   = errors.New("proxy: no member's client URL is known yet")
	ErrProxyUnreachable = errors.New("proxy: no member could be reached")
)

// Proxy is a running proxy.
type Proxy struct {
	cfg ProxyConfig
	log *slog.Logger
	tr  *http.Transport
	// peerTr reads the membership from the peer ports.
	peerTr *http.Transport
	srvs   []*http.Server

	mu sync.Mutex
	// eps are the members' client URLs; pin is the one that answered last.
	eps    []string
	pin    string
	failed map[string]time.Time
	// peers are the peer URLs to ask for the membership when no client
	// URL answers: the configured ones and those of the last list.
	peers []string

	kick chan struct{} // a request found no member: refresh now
	// knownc is closed once the first member list with client URLs is in.
	knownc    chan struct{}
	knownOnce sync.Once
	stopc     chan struct{}
	bg        sync.WaitGroup
	once      sync.Once
}

// StartProxy listens and starts serving; the member list is fetched in
// the background (until it is known, requests get 503).
func StartProxy(cfg ProxyConfig) (*Proxy, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 30 * time.Second
	}
	if cfg.FailureWait <= 0 {
		cfg.FailureWait = 5 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = time.Second
	}
	if len(cfg.PeerURLs) == 0 {
		return nil, errors.New("proxy: no member peer URL to start from; give --initial-cluster or --discovery")
	}
	p := &Proxy{
		cfg: cfg, log: cfg.Logger.With("component", "proxy"), failed: map[string]time.Time{},
		peers: slices.Clone(cfg.PeerURLs), kick: make(chan struct{}, 1), stopc: make(chan struct{}), knownc: make(chan struct{}),
	}
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	p.tr = &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	if cfg.ClientTLS.TrustedCAFile != "" || cfg.ClientTLS.CertFile != "" {
		tc, err := discoveryTLS(cfg.ClientTLS)
		if err != nil {
			return nil, fmt.Errorf("proxy: %v", err)
		}
		p.tr.TLSClientConfig = tc
	}
	p.peerTr = &http.Transport{DialContext: d.DialContext, IdleConnTimeout: time.Minute}
	if cfg.PeerTLS.TrustedCAFile != "" || cfg.PeerTLS.CertFile != "" {
		tc, err := discoveryTLS(cfg.PeerTLS)
		if err != nil {
			return nil, fmt.Errorf("proxy: peer TLS: %v", err)
		}
		p.peerTr.TLSClientConfig = tc
	}
	lns := cfg.ClientListeners
	if lns == nil {
		for _, u := range cfg.ListenClientURLs {
			if isHTTPS(u) {
				closeAll(lns)
				return nil, fmt.Errorf("proxy: --listen-client-urls %s: the proxy serves plain http only", u)
			}
			ln, err := listenURL("listen-client-urls", u)
			if err != nil {
				closeAll(lns)
				return nil, err
			}
			lns = append(lns, ln)
		}
	}
	if len(lns) == 0 {
		return nil, errors.New("proxy: --listen-client-urls is empty")
	}
	h := p.handler()
	for _, ln := range lns {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelWarn)}
		p.srvs = append(p.srvs, srv)
		go func() { _ = srv.Serve(ln) }()
	}
	p.bg.Add(1)
	go p.refreshLoop()
	p.log.Info("proxy started", "listen", cfg.ListenClientURLs, "peers", cfg.PeerURLs, "readonly", cfg.ReadOnly)
	return p, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

// Stop stops serving (open watches are cut) and the refresher.
func (p *Proxy) Stop(ctx context.Context) error {
	var err error
	p.once.Do(func() {
		close(p.stopc)
		for _, srv := range p.srvs {
			// Watches never end on their own: close rather than wait.
			if e := srv.Close(); e != nil && err == nil {
				err = e
			}
		}
		done := make(chan struct{})
		go func() { p.bg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		p.tr.CloseIdleConnections()
		p.peerTr.CloseIdleConnections()
	})
	return err
}

// Endpoints are the members' client URLs the proxy forwards to.
func (p *Proxy) Endpoints() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.eps)
}

// Known is closed once the proxy knows a member's client URL (before,
// requests get 503).
func (p *Proxy) Known() <-chan struct{} { return p.knownc }

// refreshLoop reads the member list at start, every RefreshInterval, and
// when a request found no member (at most once a second).
func (p *Proxy) refreshLoop() {
	defer p.bg.Done()
	for {
		complete := p.refresh()
		wait := p.cfg.RefreshInterval
		if !complete {
			// No member known, or one that has not published its client
			// URLs yet (a cluster starting): look again soon.
			wait = min(wait, time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-p.stopc:
			t.Stop()
			return
		case <-t.C:
		case <-p.kick:
			t.Stop()
			select {
			case <-p.stopc:
				return
			case <-time.After(time.Second):
				// A request found nobody: refresh, but not more than once
				// a second however many requests fail.
			}
		}
	}
}

// refresh reads the membership from a member's client URL (/v2/members)
// or, failing that, a peer URL (/raftkv/members), and reports whether it
// read a list in which every member has published its client URLs.
func (p *Proxy) refresh() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		select {
		case <-p.stopc:
			cancel()
		case <-ctx.Done():
		}
	}()
	p.mu.Lock()
	eps, peers := slices.Clone(p.eps), slices.Clone(p.peers)
	p.mu.Unlock()
	var errs []error
	for _, src := range []struct {
		urls []string
		path string
		tr   *http.Transport
	}{{eps, "/v2/members", p.tr}, {peers, peerPathMembers, p.peerTr}} {
		for _, u := range src.urls {
			ms, err := p.fetchMembers(ctx, src.tr, u+src.path)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if known, complete := p.adopt(ms); known {
				return complete
			}
		}
	}
	p.log.Warn("cannot read the member list; will try again", "err", errors.Join(errs...))
	return false
}

func (p *Proxy) fetchMembers(ctx context.Context, tr *http.Transport, u string) ([]MemberInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var body struct {
		Members []MemberInfo `json:"members"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("GET %s: %v", u, err)
	}
	return body.Members, nil
}

// adopt takes a member list: the published client URLs become the
// endpoints (if there are any), the peer URLs the fall-back sources. It
// reports whether it took the list, and whether every member in it had
// published its client URLs.
func (p *Proxy) adopt(ms []MemberInfo) (known, complete bool) {
	var eps, peers []string
	complete = true
	for _, mi := range ms {
		eps = append(eps, mi.ClientURLs...)
		peers = append(peers, mi.PeerURLs...)
		complete = complete && len(mi.ClientURLs) > 0
	}
	if len(eps) == 0 {
		return false, false
	}
	slices.Sort(eps)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Equal(eps, p.eps) {
		p.log.Info("members' client URLs", "endpoints", eps)
	}
	p.eps = eps
	for ep := range p.failed {
		if !slices.Contains(eps, ep) {
			delete(p.failed, ep)
		}
	}
	for _, u := range p.cfg.PeerURLs {
		if !slices.Contains(peers, u) {
			peers = append(peers, u)
		}
	}
	p.peers = peers
	p.knownOnce.Do(func() { close(p.knownc) })
	return true, complete
}

// candidates are the endpoints to try, the pinned one first, those that
// failed within FailureWait left out (unless every one did).
func (p *Proxy) candidates() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ok, bad []string
	now := time.Now()
	for _, ep := range p.eps {
		if t, f := p.failed[ep]; f && now.Sub(t) < p.cfg.FailureWait {
			bad = append(bad, ep)
		} else {
			ok = append(ok, ep)
		}
	}
	if i := slices.Index(ok, p.pin); i > 0 {
		ok[0], ok[i] = ok[i], ok[0]
	}
	return append(ok, bad...)
}

func (p *Proxy) mark(ep string, good bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if good {
		p.pin = ep
		delete(p.failed, ep)
		return
	}
	p.failed[ep] = time.Now()
}

func (p *Proxy) handler() http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			// The host is chosen per attempt by RoundTrip.
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "member"
		},
		Transport:     proxyTransport{p},
		FlushInterval: -1, // watches: every write goes out at once
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status := http.StatusBadGateway
			if errors.Is(err, ErrProxyNoMembers) || errors.Is(err, ErrProxyUnreachable) {
				status = http.StatusServiceUnavailable
			}
			if r.Context().Err() != nil {
				return // the client went away
			}
			p.log.Warn("proxy request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			http.Error(w, err.Error(), status)
		},
		ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.cfg.ReadOnly && r.Method != http.MethodGet {
			http.Error(w, "proxy: read-only proxy (--proxy readonly) refuses "+r.Method+"; send writes to a member or a read-write proxy", http.StatusNotImplemented)
			return
		}
		rp.ServeHTTP(w, r)
	})
}

// maxProxyBody bounds a request body, which the proxy holds in memory.
const maxProxyBody = 64 << 20

// proxyTransport sends a request to one member after another until one
// is reached.
type proxyTransport struct{ p *Proxy }

func (t proxyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := t.p
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		// Read once, so that it can be sent again to another member.
		body, err = io.ReadAll(io.LimitReader(req.Body, maxProxyBody+1))
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("proxy: reading the request body: %v", err)
		}
		if len(body) > maxProxyBody {
			return nil, fmt.Errorf("proxy: request body over %d MiB", maxProxyBody>>20)
		}
	}
	eps := p.candidates()
	if len(eps) == 0 {
		select {
		case p.kick <- struct{}{}:
		default:
		}
		return nil, ErrProxyNoMembers
	}
	var errs []error
	for _, ep := range eps {
		u, err := url.Parse(ep)
		if err != nil {
			continue
		}
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host, out.Host = u.Scheme, u.Host, ""
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
			out.ContentLength = int64(len(body))
		}
		resp, err := p.tr.RoundTrip(out)
		if err == nil {
			p.mark(ep, true)
			return resp, nil
		}
		if req.Context().Err() != nil || !notSent(err) {
			// It may have reached the member: sending it again could do
			// a write twice.
			return nil, fmt.Errorf("proxy: %s: %w", ep, err)
		}
		p.mark(ep, false)
		errs = append(errs, fmt.Errorf("%s: %w", ep, err))
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return nil, fmt.Errorf("%w (%v)", ErrProxyUnreachable, errors.Join(errs...))
}

// notSent reports whether err happened before the request could reach a
// member: no connection or no TLS session (client.unsent's rule).
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "remote error") {
		return true
	}
	var dns *net.DNSError
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &dns) || errors.As(err, &rh) || errors.As(err, &cv)
}
