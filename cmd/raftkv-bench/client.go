package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	v2client "github.com/raftkv/raftkv/client"
)

// client holds the HTTP plumbing every workload shares: one Transport whose
// idle pool is large enough that no worker ever waits for, or re-dials, a
// connection, a client with a per-request timeout for ordinary operations,
// and one without for watches, which may block for as long as the run lasts.
type client struct {
	transport *http.Transport
	ops       *http.Client
	watch     *http.Client
}

func newClient(conns int, timeout time.Duration, access Access) *client {
	t := &http.Transport{
		TLSClientConfig: access.TLS,
		// No proxy: benchmarks talk to the cluster directly, whatever the
		// environment says.
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        0, // no global limit; the per-host one governs
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	var rt http.RoundTripper = t
	if access.User != "" {
		rt = basicAuth{user: access.User, password: access.Password, next: t}
	}
	return &client{
		transport: t,
		ops:       &http.Client{Transport: rt, Timeout: timeout},
		watch:     &http.Client{Transport: rt},
	}
}

// Access is how the generator authenticates to the cluster.
type Access struct {
	// User and Password are v2 auth's Basic credentials ("": none).
	User, Password string
	// TLS configures https endpoints (nil: Go's defaults).
	TLS *tls.Config
}

// newAccess builds Access from the command line: user is "name:password";
// the files are PEM.
func newAccess(user, caFile, certFile, keyFile string) (Access, error) {
	var a Access
	if user != "" {
		name, password, ok := strings.Cut(user, ":")
		if !ok || name == "" {
			return Access{}, fmt.Errorf("--user %q: want name:password", user)
		}
		a.User, a.Password = name, password
	}
	if (certFile == "") != (keyFile == "") {
		return Access{}, errors.New("--cert and --key go together")
	}
	tlsCfg, err := v2client.TLSConfigFromFiles(certFile, keyFile, caFile)
	if err != nil {
		return Access{}, err
	}
	a.TLS = tlsCfg
	return a, nil
}

// basicAuth adds Basic credentials to every request.
type basicAuth struct {
	user, password string
	next           http.RoundTripper
}

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.password)
	return b.next.RoundTrip(r)
}

func (c *client) close() { c.transport.CloseIdleConnections() }

// normalizeEndpoint turns "127.0.0.1:2379" or "http://h:2379/" into a base
// URL without a trailing slash.
func normalizeEndpoint(e string) (string, error) {
	e = strings.TrimSpace(e)
	if e == "" {
		return "", errors.New("empty endpoint")
	}
	if !strings.Contains(e, "://") {
		e = "http://" + e
	}
	u, err := url.Parse(e)
	if err != nil {
		return "", fmt.Errorf("endpoint %q: %v", e, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("endpoint %q: scheme must be http or https", e)
	}
	if u.Host == "" {
		return "", fmt.Errorf("endpoint %q: no host", e)
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/"), nil
}

func parseEndpoints(list string) ([]string, error) {
	var out []string
	for e := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(e) == "" {
			continue
		}
		n, err := normalizeEndpoint(e)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no endpoints")
	}
	return out, nil
}

// keyURL is the /v2/keys URL of key (which starts with "/") on endpoint.
func keyURL(endpoint, key string) string {
	return endpoint + "/v2/keys" + (&url.URL{Path: key}).EscapedPath()
}

// v2Error is the v2 error envelope; only the fields the report uses.
type v2Error struct {
	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
	Index     uint64 `json:"index"`
}

// classifyStatus names a failed HTTP answer for the error table: the v2
// errorCode when the body carries one, otherwise the status alone.
func classifyStatus(status int, body []byte) string {
	var e v2Error
	if json.Unmarshal(body, &e) == nil && e.ErrorCode != 0 {
		if e.Message != "" {
			return fmt.Sprintf("errorCode=%d status=%d (%s)", e.ErrorCode, status, e.Message)
		}
		return fmt.Sprintf("errorCode=%d status=%d", e.ErrorCode, status)
	}
	return fmt.Sprintf("status=%d", status)
}

// classifyTransport names a request that got no HTTP answer. The classes are
// coarse on purpose: the table should have a handful of rows, not one per
// port number.
func classifyTransport(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "transport: timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "transport: connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "transport: connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "transport: connection closed (EOF)"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return "transport: " + err.Error()
}

// maxErrorBody bounds how much of a failed answer is read to classify it.
const maxErrorBody = 64 << 10

// finish drains and closes a response so its connection goes back to the
// pool, and returns "" if the status is one of ok, else the error class.
func finish(resp *http.Response, ok ...int) string {
	defer resp.Body.Close()
	for _, s := range ok {
		if resp.StatusCode == s {
			_, _ = io.Copy(io.Discard, resp.Body)
			return ""
		}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, resp.Body)
	return classifyStatus(resp.StatusCode, body)
}

// findLeader returns the endpoint that is the cluster's leader: first by
// asking each endpoint's /v2/stats/self for its state, then by asking
// /v2/members/leader (etcd 2.2+) for the leader's client URL.
func findLeader(ctx context.Context, c *http.Client, endpoints []string) (string, error) {
	for _, e := range endpoints {
		var self struct {
			State string `json:"state"`
		}
		if getJSON(ctx, c, e+"/v2/stats/self", &self) == nil &&
			(self.State == "StateLeader" || self.State == "leader") {
			return e, nil
		}
	}
	var lastErr error
	for _, e := range endpoints {
		var m struct {
			ClientURLs []string `json:"clientURLs"`
		}
		if err := getJSON(ctx, c, e+"/v2/members/leader", &m); err != nil {
			lastErr = err
			continue
		}
		if len(m.ClientURLs) > 0 {
			return normalizeEndpoint(m.ClientURLs[0])
		}
	}
	if lastErr == nil {
		lastErr = errors.New("no member reports itself as leader")
	}
	return "", fmt.Errorf("finding the leader: %w", lastErr)
}

func getJSON(ctx context.Context, c *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, classifyStatus(resp.StatusCode, body))
	}
	return json.Unmarshal(body, v)
}

// healthy reports whether endpoint's /health answers 200 with health "true"
// (a string in etcd 2.x, accepted as a JSON boolean too).
func healthy(ctx context.Context, c *http.Client, endpoint string) error {
	var h struct {
		Health json.RawMessage `json:"health"`
	}
	if err := getJSON(ctx, c, endpoint+"/health", &h); err != nil {
		return err
	}
	s := strings.Trim(string(h.Health), `"`)
	if ok, _ := strconv.ParseBool(s); !ok {
		return fmt.Errorf("%s/health: health=%s", endpoint, h.Health)
	}
	return nil
}

// waitHealthy polls every endpoint's /health until all answer healthy or
// the timeout passes; it returns the last complaint on timeout.
func waitHealthy(ctx context.Context, c *http.Client, endpoints []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var err error
		for _, e := range endpoints {
			rctx, rcancel := context.WithTimeout(ctx, time.Second)
			err = healthy(rctx, c, e)
			rcancel()
			if err != nil {
				break
			}
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not healthy after %v: %v", timeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
