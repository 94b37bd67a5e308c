package server

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Discovery (--discovery): the etcd 2.x discovery protocol against any v2
// key space, raftkv's or etcd's (see ../shared/reference/server-config.md
// §6). A new member reads the expected size from D/_config/size,
// registers itself as D/<id hex> with prevExist=false (value
// name=peerURL[,name=peerURL…]), and waits on D until size members have
// registered; the first size by createdIndex are the cluster, which then
// boots exactly as from --initial-cluster with state new and D as the
// cluster token. A member that is not among them finds the cluster full.

// Discovery errors: the cases of §6's table. Each error returned wraps
// one of these, with a message that says what to do.
var (
	ErrDiscoveryInvalidURL     = errors.New("discovery: invalid URL")
	ErrDiscoverySizeNotFound   = errors.New("discovery: size key not found")
	ErrDiscoveryBadSize        = errors.New("discovery: bad size key")
	ErrDiscoveryTokenNotFound  = errors.New("discovery: token not found")
	ErrDiscoveryFull           = errors.New("discovery: cluster is full")
	ErrDiscoveryDuplicateID    = errors.New("discovery: duplicate ID")
	ErrDiscoveryDuplicateName  = errors.New("discovery: duplicate name")
	ErrDiscoveryBadEndpoint    = errors.New("discovery: not an etcd v2 key space")
	ErrDiscoveryTooManyRetries = errors.New("discovery: too many retries")
)

// DiscoveryFullError says the discovery directory already holds its size
// of members and this member is not one of them. Members are the
// registered ones (the first size by createdIndex): what a proxy started
// by --discovery-fallback=proxy forwards to.
type DiscoveryFullError struct {
	URL     string
	Size    int
	Members []InitialMember
}

func (e *DiscoveryFullError) Error() string {
	return fmt.Sprintf("%v: %s already has its %d members (%s) and this member is not one of them; "+
		"run it as a proxy (--discovery-fallback=proxy), add it to the running cluster with `raftkvctl member add`, "+
		"or bootstrap a new cluster with a new discovery token", ErrDiscoveryFull, e.URL, e.Size, strings.Join(names(e.Members), ", "))
}

func (e *DiscoveryFullError) Unwrap() error { return ErrDiscoveryFull }

// errRetry marks a failure worth retrying: no connection, or a 5xx answer
// (the discovery cluster has no leader for now).
type errRetry struct{ err error }

func (e *errRetry) Error() string { return e.err.Error() }
func (e *errRetry) Unwrap() error { return e.err }

// discovery is one member's run of the protocol against one directory.
type discovery struct {
	durl string // D, as given: also the cluster token
	base *url.URL
	hc   *http.Client
	log  *slog.Logger
	// id and value are this member's registration (id 0: only reading,
	// for a proxy).
	id    uint64
	value string

	// reqTimeout bounds each request but the waits.
	reqTimeout time.Duration
	// backoff is the pause after the first failure in a row; it doubles
	// up to backoff<<8, as etcd's.
	backoff time.Duration
	// maxRetries, if above 0, gives up after that many failures (etcd,
	// and raftkv by default, retry without limit).
	maxRetries int
	retries    int
}

func newDiscovery(durl, proxy string, tlsInfo TLSInfo, log *slog.Logger) (*discovery, error) {
	u, err := url.Parse(durl)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.Contains(u.Path, "/v2/keys/") {
		why := "it must look like http://host:port/v2/keys/_etcd/registry/<token>"
		if err != nil {
			why = err.Error() + "; " + why
		}
		return nil, fmt.Errorf("%w %q: %s (get one with `raftkvctl discovery new --size 3`)", ErrDiscoveryInvalidURL, durl, why)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, IdleConnTimeout: time.Minute}
	if proxy != "" {
		pu, err := url.Parse(proxy)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return nil, fmt.Errorf("discovery: --discovery-proxy %q is not an http(s)://host:port URL", proxy)
		}
		tr.Proxy = http.ProxyURL(pu)
	}
	if u.Scheme == "https" {
		if tr.TLSClientConfig, err = discoveryTLS(tlsInfo); err != nil {
			return nil, err
		}
	}
	return &discovery{
		durl: durl, base: u, hc: &http.Client{Transport: tr}, log: log.With("component", "discovery"),
		reqTimeout: 10 * time.Second, backoff: time.Second,
	}, nil
}

// discoveryTLS is the TLS client configuration for an https discovery
// URL: the system's CAs, or --trusted-ca-file's, and --cert-file as the
// client certificate if given (the files are read once).
func discoveryTLS(info TLSInfo) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if info.TrustedCAFile != "" {
		b, err := os.ReadFile(info.TrustedCAFile)
		if err != nil {
			return nil, fmt.Errorf("discovery: reading --trusted-ca-file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("discovery: --trusted-ca-file %s holds no PEM certificate", info.TrustedCAFile)
		}
		cfg.RootCAs = pool
	}
	if info.CertFile != "" && info.KeyFile != "" {
		pair, err := tls.LoadX509KeyPair(info.CertFile, info.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("discovery: loading --cert-file and --key-file: %v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// dNode is a node of a v2 answer.
type dNode struct {
	Key           string   `json:"key"`
	Value         string   `json:"value"`
	Dir           bool     `json:"dir"`
	Nodes         []*dNode `json:"nodes"`
	CreatedIndex  uint64   `json:"createdIndex"`
	ModifiedIndex uint64   `json:"modifiedIndex"`
}

// dAnswer is a v2 answer: an event or an error, with X-Etcd-Index.
type dAnswer struct {
	status    int
	index     uint64
	Action    string `json:"action"`
	Node      *dNode `json:"node"`
	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
	Cause     string `json:"cause"`
}

// v2 error codes the protocol acts on.
const (
	v2KeyNotFound       = 100
	v2NodeExist         = 105
	v2EventIndexCleared = 401
)

// do sends one request to D plus sub (a key below D, or ""). A failure
// to connect, or a 5xx, is an *errRetry.
func (d *discovery) do(ctx context.Context, method, sub string, q, form url.Values, wait bool) (*dAnswer, error) {
	if !wait {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.reqTimeout)
		defer cancel()
	}
	u := *d.base
	if sub != "" {
		u.Path += "/" + sub
	}
	u.RawQuery = q.Encode()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		var cv *tls.CertificateVerificationError
		if errors.As(err, &cv) {
			// Retrying cannot help: the certificate is not trusted.
			return nil, fmt.Errorf("discovery: %s: %v; give the CA that signed the discovery service's certificate as --trusted-ca-file", u.Redacted(), cv)
		}
		if ctx.Err() != nil && !wait {
			return nil, &errRetry{fmt.Errorf("%s %s: no answer within %v", method, u.Redacted(), d.reqTimeout)}
		}
		return nil, &errRetry{err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, &errRetry{fmt.Errorf("%s %s: reading the answer: %v", method, u.Redacted(), err)}
	}
	a := &dAnswer{status: resp.StatusCode}
	a.index, _ = strconv.ParseUint(resp.Header.Get("X-Etcd-Index"), 10, 64)
	if len(bytes.TrimSpace(b)) == 0 && wait && resp.StatusCode == http.StatusOK {
		// A watch the server ended without an event (it is stopping).
		return nil, &errRetry{fmt.Errorf("%s %s: the watch ended without an event", method, u.Redacted())}
	}
	if err := json.Unmarshal(b, a); err != nil || (a.Node == nil && a.ErrorCode == 0) {
		if resp.StatusCode >= 500 {
			return nil, &errRetry{fmt.Errorf("%s %s: %s", method, u.Redacted(), resp.Status)}
		}
		return nil, fmt.Errorf("%w: %s %s answered %s with %q, which is not a v2 key-space answer; "+
			"--discovery must be a key directory on an etcd v2 API (http://host:port/v2/keys/...)",
			ErrDiscoveryBadEndpoint, method, u.Redacted(), resp.Status, snippet(b))
	}
	if resp.StatusCode >= 500 {
		return nil, &errRetry{fmt.Errorf("%s %s: %s: %s", method, u.Redacted(), resp.Status, a.Message)}
	}
	return a, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// doRetry is do, retried as retry retries.
func (d *discovery) doRetry(ctx context.Context, what, method, sub string, q, form url.Values, wait bool) (*dAnswer, error) {
	var a *dAnswer
	err := d.retry(ctx, what, func() error {
		var err error
		a, err = d.do(ctx, method, sub, q, form, wait)
		return err
	})
	return a, err
}

// retry runs f until it succeeds or fails with something other than an
// *errRetry, pausing between attempts with exponential backoff.
func (d *discovery) retry(ctx context.Context, what string, f func() error) error {
	for {
		err := f()
		var re *errRetry
		if !errors.As(err, &re) {
			return err
		}
		d.retries++
		if d.maxRetries > 0 && d.retries > d.maxRetries {
			return fmt.Errorf("%w: gave up after %d failures (last: %v); check that the discovery service %s runs and is reachable",
				ErrDiscoveryTooManyRetries, d.retries-1, re.err, d.base.Host)
		}
		pause := d.backoff << min(d.retries-1, 8)
		d.log.Warn("discovery service unreachable; retrying", "while", what, "err", re.err, "retry-in", pause)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// join runs the protocol for this member and returns the cluster.
func (d *discovery) join(ctx context.Context) ([]InitialMember, error) {
	// Fast path: a full directory needs no registration.
	if _, _, _, err := d.checkCluster(ctx); err != nil {
		return nil, err
	}
	if err := d.register(ctx); err != nil {
		return nil, err
	}
	nodes, size, index, err := d.checkCluster(ctx)
	if err != nil {
		return nil, err
	}
	all, err := d.waitNodes(ctx, nodes, size, index)
	if err != nil {
		return nil, err
	}
	return d.toCluster(all, size)
}

// cluster returns the registered members without registering, waiting
// for the directory to fill (a proxy given --discovery).
func (d *discovery) cluster(ctx context.Context) ([]InitialMember, error) {
	nodes, size, index, err := d.checkCluster(ctx)
	var full *DiscoveryFullError
	if errors.As(err, &full) {
		return full.Members, nil
	}
	if err != nil {
		return nil, err
	}
	all, err := d.waitNodes(ctx, nodes, size, index)
	if err != nil {
		return nil, err
	}
	return d.toCluster(all, size)
}

// checkCluster reads the size and the registrations (sorted by
// createdIndex, at most size of them) and the index they were read at.
// A full directory without this member is a *DiscoveryFullError.
func (d *discovery) checkCluster(ctx context.Context) (nodes []*dNode, size int, index uint64, err error) {
	sa, err := d.doRetry(ctx, "reading the size", http.MethodGet, "_config/size", nil, nil, false)
	if err != nil {
		return nil, 0, 0, err
	}
	if sa.ErrorCode == v2KeyNotFound {
		return nil, 0, 0, fmt.Errorf("%w: %s/_config/size does not exist; create the token with `raftkvctl discovery new --size N` "+
			"(or curl -X PUT %s/_config/size -d value=N), or check the URL", ErrDiscoverySizeNotFound, d.durl, d.durl)
	}
	if sa.ErrorCode != 0 {
		return nil, 0, 0, fmt.Errorf("discovery: reading %s/_config/size: error %d: %s", d.durl, sa.ErrorCode, sa.Message)
	}
	size, perr := strconv.Atoi(strings.TrimSpace(sa.Node.Value))
	if perr != nil || size < 1 {
		return nil, 0, 0, fmt.Errorf("%w: %s/_config/size is %q, not a positive whole number of members; set it again (curl -X PUT %s/_config/size -d value=3) or use a new token",
			ErrDiscoveryBadSize, d.durl, sa.Node.Value, d.durl)
	}
	la, err := d.doRetry(ctx, "listing the registrations", http.MethodGet, "", nil, nil, false)
	if err != nil {
		return nil, 0, 0, err
	}
	if la.ErrorCode == v2KeyNotFound {
		return nil, 0, 0, fmt.Errorf("%w: %s does not exist; create it with `raftkvctl discovery new --size N`", ErrDiscoveryTokenNotFound, d.durl)
	}
	if la.ErrorCode != 0 {
		return nil, 0, 0, fmt.Errorf("discovery: listing %s: error %d: %s", d.durl, la.ErrorCode, la.Message)
	}
	for _, n := range la.Node.Nodes {
		if path.Base(n.Key) != "_config" {
			nodes = append(nodes, n)
		}
	}
	slices.SortFunc(nodes, func(a, b *dNode) int { return cmp.Compare(a.CreatedIndex, b.CreatedIndex) })
	if len(nodes) >= size {
		nodes = nodes[:size]
		for _, n := range nodes {
			if d.id != 0 && path.Base(n.Key) == IDString(d.id) {
				return nodes, size, la.index, nil
			}
		}
		members, err := d.toCluster(nodes, size)
		if err != nil {
			return nil, 0, 0, err
		}
		return nil, 0, 0, &DiscoveryFullError{URL: d.durl, Size: size, Members: members}
	}
	return nodes, size, la.index, nil
}

// register writes this member's key with prevExist=false, then waits for
// it on the member it talks to (so a later read there sees it).
func (d *discovery) register(ctx context.Context) error {
	key := IDString(d.id)
	var a *dAnswer
	attempts := 0
	err := d.retry(ctx, "registering", func() error {
		var err error
		attempts++
		a, err = d.do(ctx, http.MethodPut, key, url.Values{"prevExist": {"false"}}, url.Values{"value": {d.value}}, false)
		return err
	})
	if err != nil {
		return err
	}
	if a.ErrorCode == v2NodeExist && attempts > 1 {
		// An earlier attempt that got no answer may have registered us:
		// the key holding our own value is our registration.
		g, err := d.doRetry(ctx, "reading the registration", http.MethodGet, key, nil, nil, false)
		if err != nil {
			return err
		}
		if g.ErrorCode == 0 && g.Node.Value == d.value {
			a = g
		}
	}
	switch {
	case a.ErrorCode == v2NodeExist:
		return fmt.Errorf("%w: %s/%s is already registered: a member with the same peer URLs registered with this token before "+
			"(a failed start that is now retried, or two members given the same --initial-advertise-peer-urls); "+
			"a discovery token is used once: make a new one with `raftkvctl discovery new`", ErrDiscoveryDuplicateID, d.durl, key)
	case a.ErrorCode != 0:
		return fmt.Errorf("discovery: registering as %s/%s: error %d: %s (%s)", d.durl, key, a.ErrorCode, a.Message, a.Cause)
	}
	created := a.Node.CreatedIndex
	d.log.Info("registered", "key", key, "value", d.value)
	return d.retry(ctx, "confirming the registration", func() error {
		_, err := d.do(ctx, http.MethodGet, key, url.Values{"wait": {"true"}, "waitIndex": {strconv.FormatUint(created, 10)}}, nil, true)
		return err
	})
}

// waitNodes watches D until size members have registered.
func (d *discovery) waitNodes(ctx context.Context, nodes []*dNode, size int, index uint64) ([]*dNode, error) {
	all := slices.Clone(nodes)
	seen := map[string]bool{}
	for _, n := range all {
		seen[path.Base(n.Key)] = true
	}
	for len(all) < size {
		d.log.Info("waiting for the other members to register", "registered", len(all), "size", size)
		q := url.Values{"wait": {"true"}, "recursive": {"true"}, "waitIndex": {strconv.FormatUint(index+1, 10)}}
		a, err := d.doRetry(ctx, "waiting for registrations", http.MethodGet, "", q, nil, true)
		if err != nil {
			return nil, err
		}
		if a.ErrorCode == v2EventIndexCleared {
			// Too many changes went by: read the directory again.
			var err error
			if all, size, index, err = d.checkCluster(ctx); err != nil {
				return nil, err
			}
			clear(seen)
			for _, n := range all {
				seen[path.Base(n.Key)] = true
			}
			continue
		}
		if a.ErrorCode != 0 {
			return nil, fmt.Errorf("discovery: watching %s: error %d: %s", d.durl, a.ErrorCode, a.Message)
		}
		n := a.Node
		index = max(index+1, n.ModifiedIndex)
		name := path.Base(n.Key)
		if path.Dir(n.Key) != path.Clean(nodeKeyPrefix(d.base.Path)) || name == "_config" || seen[name] || n.Dir ||
			(a.Action != "create" && a.Action != "set" && a.Action != "compareAndSwap") {
			continue
		}
		seen[name] = true
		all = append(all, n)
	}
	return all, nil
}

// nodeKeyPrefix is the key of D in the key space: its URL path after
// /v2/keys.
func nodeKeyPrefix(p string) string {
	_, after, _ := strings.Cut(p, "/v2/keys")
	if after == "" {
		return "/"
	}
	return after
}

// toCluster turns the registrations into the initial cluster: size
// members with distinct names.
func (d *discovery) toCluster(nodes []*dNode, size int) ([]InitialMember, error) {
	var vals []string
	for _, n := range nodes {
		vals = append(vals, n.Value)
	}
	ims, err := ParseInitialCluster(strings.Join(vals, ","))
	if err != nil {
		return nil, fmt.Errorf("%w: the registrations in %s (%s) do not make a cluster: %v; every member needs its own --name and peer URLs; start again with a new discovery token",
			ErrDiscoveryDuplicateName, d.durl, strings.Join(vals, ","), err)
	}
	if len(ims) != size {
		return nil, fmt.Errorf("%w: the %d registrations in %s (%s) name only %d distinct members; give every member its own --name and start again with a new discovery token",
			ErrDiscoveryDuplicateName, len(nodes), d.durl, strings.Join(vals, ","), len(ims))
	}
	return ims, nil
}

// discover fills in the initial cluster of a member with an empty data
// dir from --discovery or --discovery-srv: afterwards the member boots as
// from --initial-cluster with state new (and, for --discovery, D as the
// token).
func (m *Member) discover() error {
	cfg := &m.cfg
	switch {
	case cfg.Discovery != "" && cfg.DiscoverySRV != "":
		return errors.New("server: give --discovery or --discovery-srv, not both")
	case cfg.Discovery == "" && cfg.DiscoverySRV == "":
		return nil
	case cfg.InitialClusterState == "existing":
		return errors.New("server: discovery bootstraps a new cluster, but --initial-cluster-state is existing; to join a running cluster use `raftkvctl member add` and --initial-cluster instead of discovery")
	}
	if cfg.DiscoverySRV != "" {
		ims, err := srvCluster(cfg)
		if err != nil {
			return err
		}
		cfg.InitialCluster = ims
		m.log.Info("discovered the cluster through DNS SRV", "domain", cfg.DiscoverySRV, "initial-cluster", FormatInitialCluster(ims))
		return nil
	}
	d, err := newDiscovery(cfg.Discovery, cfg.DiscoveryProxy, cfg.ClientTLS, m.log)
	if err != nil {
		return err
	}
	d.id = MemberID(cfg.InitialAdvertisePeerURLs, cfg.Discovery, 0)
	d.value = FormatInitialCluster([]InitialMember{{Name: cfg.Name, PeerURLs: cfg.InitialAdvertisePeerURLs}})
	ims, err := d.join(context.Background())
	if err != nil {
		return err
	}
	cfg.InitialCluster, cfg.InitialClusterToken, cfg.InitialClusterState = ims, cfg.Discovery, "new"
	m.log.Info("discovered the cluster", "discovery", cfg.Discovery, "initial-cluster", FormatInitialCluster(ims))
	return nil
}

// DiscoveryCluster reads the members registered at the discovery URL
// durl (through the HTTP proxy proxy, if not empty), waiting until the
// directory is full, without registering: what a proxy started with
// --discovery forwards to.
func DiscoveryCluster(ctx context.Context, durl, proxy string, tlsInfo TLSInfo, log *slog.Logger) ([]InitialMember, error) {
	if log == nil {
		log = slog.Default()
	}
	d, err := newDiscovery(durl, proxy, tlsInfo, log)
	if err != nil {
		return nil, err
	}
	return d.cluster(ctx)
}

// FormatInitialCluster writes ims as --initial-cluster does.
func FormatInitialCluster(ims []InitialMember) string {
	var parts []string
	for _, im := range ims {
		for _, u := range im.PeerURLs {
			parts = append(parts, im.Name+"="+u)
		}
	}
	return strings.Join(parts, ",")
}

// PeerURLsOf lists every peer URL of ims.
func PeerURLsOf(ims []InitialMember) []string {
	var out []string
	for _, im := range ims {
		out = append(out, im.PeerURLs...)
	}
	return out
}
