package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Client. Only Endpoints is required.
type Config struct {
	// Endpoints are client URLs of members, such as
	// "http://127.0.0.1:2379". A URL without a scheme gets http://.
	Endpoints []string

	// Transport sends the requests. Nil means a clone of
	// http.DefaultTransport using TLS.
	Transport http.RoundTripper

	// TLS is used for https endpoints when Transport is nil. Nil means the
	// system roots and no client certificate.
	TLS *tls.Config

	// HeaderTimeoutPerRequest bounds the wait for one endpoint's response
	// headers; when it passes, a read moves on to the next endpoint. Zero
	// means no bound other than the request's context. For a read it also
	// bounds the body; for a watch only the headers (which a v2 server sends
	// at once). A write that times out is not resent (ErrUnknownOutcome), so
	// keep this above the server's proposal timeout if writes may be slow.
	HeaderTimeoutPerRequest time.Duration

	// Username and Password, when Username is not empty, are sent with
	// every request as HTTP Basic authentication.
	Username string
	Password string
}

// Client talks to a raftkv (or etcd v2) cluster through the v2 HTTP API.
// It is safe for concurrent use.
//
// Every request goes first to the endpoint that last answered, and moves to
// the next endpoint when the connection fails. Reads (GET, watches) also
// move on after a timeout or a 5xx answer; writes move on only when the
// connection was refused, because a write the member may have received is
// never sent twice (see ErrUnknownOutcome). Redirects (307/308, as a member
// in redirect mode answers writes) are followed up to 10 times with the
// method and body kept.
type Client struct {
	hc   *http.Client
	cfg  Config
	mu   sync.Mutex
	eps  []string // invariant: not empty, normalised, no duplicates
	pin  int      // index into eps of the endpoint tried first
	lock bool     // true for a client from ForEndpoint: Sync changes nothing
}

// New returns a client for cfg. It makes no request.
func New(cfg Config) (*Client, error) {
	eps, err := normaliseEndpoints(cfg.Endpoints)
	if err != nil {
		return nil, err
	}
	tr := cfg.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = cfg.TLS
		// Concurrent callers share one client; keep their connections.
		t.MaxIdleConnsPerHost = 64
		tr = t
	}
	c := &Client{cfg: cfg, eps: eps}
	c.hc = &http.Client{Transport: tr, CheckRedirect: checkRedirect}
	return c, nil
}

// checkRedirect follows at most 10 redirects and refuses one that would
// turn a write into a GET (Go does that for 301, 302 and 303), which would
// report a read as the write's success.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return ErrTooManyRedirects
	}
	if orig := via[0].Method; req.Method != orig {
		return fmt.Errorf("client: refusing a redirect that turns %s into %s (status %d from %s)",
			orig, req.Method, req.Response.StatusCode, via[len(via)-1].URL.Host)
	}
	return nil
}

func normaliseEndpoints(in []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, e := range in {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.Contains(e, "://") {
			e = "http://" + e
		}
		u, err := url.Parse(e)
		if err != nil {
			return nil, fmt.Errorf("client: bad endpoint %q: %w", e, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("client: bad endpoint %q: scheme must be http or https", e)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("client: bad endpoint %q: no host", e)
		}
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawQuery, u.Fragment = "", ""
		s := u.String()
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, ErrNoEndpoints
	}
	return out, nil
}

// Endpoints returns the endpoints in the order they are tried, starting with
// the one that answered last.
func (c *Client) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.eps))
	for i := range c.eps {
		out = append(out, c.eps[(c.pin+i)%len(c.eps)])
	}
	return out
}

// SetEndpoints replaces the endpoints.
func (c *Client) SetEndpoints(eps ...string) error {
	n, err := normaliseEndpoints(eps)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.eps, c.pin = n, 0
	return nil
}

// ForEndpoint returns a client that sends every request to ep only, with no
// failover, sharing c's connections and settings: use it to ask one member
// for its own view (Status, SelfStats, Health).
func (c *Client) ForEndpoint(ep string) (*Client, error) {
	eps, err := normaliseEndpoints([]string{ep})
	if err != nil {
		return nil, err
	}
	return &Client{hc: c.hc, cfg: c.cfg, eps: eps, lock: true}, nil
}

// Sync replaces the endpoints with the client URLs the members publish in
// /v2/members, the leader's first (so writes need no forwarding), and keeps
// the current endpoints if the list cannot be read. Do not use it when the
// members advertise URLs this program cannot reach (behind a load balancer,
// in containers); the given endpoints are then the only usable ones.
func (c *Client) Sync(ctx context.Context) error {
	if c.lock {
		return nil
	}
	ms, err := c.Members(ctx)
	if err != nil {
		return err
	}
	var eps []string
	if l, err := c.Leader(ctx); err == nil {
		eps = append(eps, l.ClientURLs...)
	}
	for _, m := range ms {
		eps = append(eps, m.ClientURLs...)
	}
	return c.SetEndpoints(eps...)
}

// AutoSync calls Sync every interval until ctx is done, and returns ctx's
// error. Failed syncs are retried at the next tick.
func (c *Client) AutoSync(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			_ = c.Sync(ctx)
		}
	}
}

// request is one logical API call, sent to one endpoint after another.
type request struct {
	method string
	path   string // URL path below the endpoint, e.g. "/v2/keys/foo"
	// rawPath, when set, is the path already escaped and takes path's
	// place: for names that may hold a "/" that is not a separator.
	rawPath string
	query   url.Values // sent in the URL
	form    url.Values // for PUT and POST: the form-encoded body
	json    []byte     // or a JSON body
	// watch: the response body may take forever; the header timeout covers
	// only the headers, and the caller reads and closes the body.
	watch bool
	// retry5xx: a 5xx answer moves on to the next endpoint (for reads).
	retry5xx bool
}

func (r *request) idempotent() bool { return r.method == http.MethodGet || r.method == http.MethodHead }

func (r *request) build(ctx context.Context, ep string, cfg *Config) (*http.Request, error) {
	u, err := url.Parse(ep)
	if err != nil {
		return nil, err
	}
	if r.rawPath != "" {
		p, err := url.PathUnescape(r.rawPath)
		if err != nil {
			return nil, err
		}
		u.RawPath = u.EscapedPath() + r.rawPath
		u.Path += p
	} else {
		u.Path += r.path
	}
	u.RawQuery = r.query.Encode()
	var body io.Reader
	var ctype string
	switch {
	case r.form != nil:
		body, ctype = strings.NewReader(r.form.Encode()), "application/x-www-form-urlencoded"
	case r.json != nil:
		body, ctype = bytes.NewReader(r.json), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("User-Agent", "raftkv-client")
	if cfg.Username != "" {
		req.SetBasicAuth(cfg.Username, cfg.Password)
	}
	return req, nil
}

// reply is an answer from one endpoint.
type reply struct {
	endpoint string
	status   int
	header   http.Header
	body     []byte        // read fully unless the request was a watch
	stream   io.ReadCloser // a watch's body; closing it ends the request
	latency  time.Duration // until the headers arrived
}

// send runs r against the endpoints, from the pinned one on, and returns
// the first answer that ends the search (see Client for which do not).
func (c *Client) send(ctx context.Context, r *request) (*reply, error) {
	eps := c.Endpoints()
	var failed []*EndpointError
	for _, ep := range eps {
		rep, err := c.sendTo(ctx, r, ep)
		if ctx.Err() != nil {
			if rep != nil && rep.stream != nil {
				rep.stream.Close()
			}
			return nil, ctx.Err()
		}
		if err != nil {
			ee := err.(*EndpointError)
			if ee.Sent && !r.idempotent() {
				return nil, ee
			}
			failed = append(failed, ee)
			c.unpin(ep)
			continue
		}
		if rep.status >= 500 && r.retry5xx {
			failed = append(failed, &EndpointError{Endpoint: ep, Err: decodeError(rep), Sent: true})
			if rep.stream != nil {
				rep.stream.Close()
			}
			c.unpin(ep)
			continue
		}
		c.pinTo(ep)
		return rep, nil
	}
	// When every member answered a v2 error (none has a leader), that
	// error says more than a cluster error would.
	allV2 := true
	for _, f := range failed {
		if _, ok := f.Err.(*Error); !ok {
			allV2 = false
		}
	}
	if allV2 {
		return nil, failed[len(failed)-1].Err
	}
	return nil, &ClusterError{Errors: failed}
}

// sendTo makes one attempt at one endpoint. Its error is an *EndpointError.
func (c *Client) sendTo(ctx context.Context, r *request, ep string) (*reply, error) {
	actx, cancel := context.WithCancel(ctx)
	var timedOut atomic.Bool
	var timer *time.Timer
	if d := c.cfg.HeaderTimeoutPerRequest; d > 0 {
		timer = time.AfterFunc(d, func() { timedOut.Store(true); cancel() })
	}
	fail := func(err error, sent bool) (*reply, error) {
		if timer != nil {
			timer.Stop()
		}
		cancel()
		if timedOut.Load() {
			err = fmt.Errorf("no response within %v", c.cfg.HeaderTimeoutPerRequest)
		}
		return nil, &EndpointError{Endpoint: ep, Err: err, Sent: sent, write: !r.idempotent()}
	}
	req, err := r.build(actx, ep, &c.cfg)
	if err != nil {
		return fail(err, false)
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return fail(unwrapURLError(err), !unsent(err))
	}
	rep := &reply{endpoint: ep, status: resp.StatusCode, header: resp.Header, latency: time.Since(start)}
	if r.watch {
		if timer != nil && !timer.Stop() {
			resp.Body.Close()
			return fail(context.DeadlineExceeded, true)
		}
		rep.stream = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
		return rep, nil
	}
	rep.body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fail(err, true)
	}
	if timer != nil {
		timer.Stop()
	}
	cancel()
	return rep, nil
}

// cancelOnClose releases a watch's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the
// method and URL, so error lines stay short; the endpoint is named anyway.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// unsent reports whether err happened before any byte of the request could
// reach a member: no connection, no name, no TLS session. A TLS alert from
// the member counts too: with TLS 1.3 a client finishes its handshake
// before the member has checked the client's certificate, so a refused
// certificate (or none, against --client-cert-auth) comes back as an alert
// in place of the answer, and the member never read the request.
func unsent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "remote error") {
		return true
	}
	var dns *net.DNSError
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &dns) || errors.As(err, &rh) || errors.As(err, &cv) ||
		errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

func (c *Client) pinTo(ep string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.eps {
		if e == ep {
			c.pin = i
			return
		}
	}
}

// unpin moves the first choice past ep after ep failed.
func (c *Client) unpin(ep string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eps[c.pin] == ep {
		c.pin = (c.pin + 1) % len(c.eps)
	}
}

// decodeError turns an unsuccessful answer into an *Error (a v2 error body)
// or a *StatusError.
func decodeError(rep *reply) error {
	var body struct {
		Error
		Code *int `json:"errorCode"`
	}
	if rep.stream != nil {
		b, _ := io.ReadAll(io.LimitReader(rep.stream, 64<<10))
		rep.body = b
	}
	if err := json.Unmarshal(rep.body, &body); err == nil {
		if body.Code != nil {
			e := body.Error
			e.Code = *body.Code
			return &e
		}
		if body.Message != "" {
			return &StatusError{StatusCode: rep.status, Message: body.Message}
		}
	}
	msg, _, _ := strings.Cut(strings.TrimSpace(string(rep.body)), "\n")
	if msg == "" {
		msg = http.StatusText(rep.status)
	}
	return &StatusError{StatusCode: rep.status, Message: fmt.Sprintf("%d %s", rep.status, msg)}
}

// sendOK is send for a call that succeeds with any 2xx answer: another
// answer becomes its decoded error.
func (c *Client) sendOK(ctx context.Context, r *request) (*reply, error) {
	rep, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	if rep.status/100 != 2 {
		return nil, decodeError(rep)
	}
	return rep, nil
}

// getJSON runs a GET of path and decodes a 200 answer as a T.
func getJSON[T any](ctx context.Context, c *Client, path string) (*T, error) {
	rep, err := c.send(ctx, &request{method: http.MethodGet, path: path, retry5xx: true})
	if err != nil {
		return nil, err
	}
	if rep.status != http.StatusOK {
		return nil, decodeError(rep)
	}
	out := new(T)
	if err := json.Unmarshal(rep.body, out); err != nil {
		return nil, fmt.Errorf("client: %s%s: bad JSON: %w", rep.endpoint, path, err)
	}
	return out, nil
}

func headerUint(h http.Header, name string) uint64 {
	v, _ := strconv.ParseUint(h.Get(name), 10, 64)
	return v
}
