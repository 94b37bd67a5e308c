package server

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// discoveryService is a one-member raftkv cluster serving as the
// discovery service; it returns its client URL.
func discoveryService(t *testing.T) string {
	t.Helper()
	c := startInproc(t, 1)
	c.waitLeader()
	return c.url(c.members[0])
}

// newToken makes a discovery directory on base with _config/size set to
// size (a string: the bad-size test gives a bad one) and returns its URL.
func newToken(t *testing.T, base, token, size string) string {
	t.Helper()
	d := base + "/v2/keys/_etcd/registry/" + token
	if size != "" {
		resp, body := do(t, http.MethodPut, d+"/_config/size", url.Values{"value": {size}})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT %s/_config/size: %s %s", d, resp.Status, body)
		}
	}
	return d
}

// discoveryCfg is the configuration of a new member that finds its
// cluster through the discovery URL d.
func discoveryCfg(t *testing.T, name, d string) MemberConfig {
	pl, cl := listen(t), listen(t)
	return MemberConfig{
		Name: name, DataDir: t.TempDir() + "/" + name,
		AdvertiseClientURLs:      []string{"http://" + cl.Addr().String()},
		InitialAdvertisePeerURLs: []string{"http://" + pl.Addr().String()},
		Discovery:                d,
		HeartbeatInterval:        20 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		Logger:          testLogger(t).With("member", name),
		ClientListeners: []net.Listener{cl}, PeerListener: pl,
	}
}

// startAll starts the members at once (each waits in discovery for the
// others) and stops them at cleanup.
func startAll(t *testing.T, cfgs []MemberConfig) []*Member {
	t.Helper()
	ms := make([]*Member, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms[i], errs[i] = StartMember(cfg)
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, m := range ms {
			if m != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = m.Stop(ctx)
				cancel()
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestDiscoveryBootstrapsCluster forms a 3-member cluster through a
// raftkv discovery service, with the discovery URL as the token, as
// etcd; a 4th member finds the cluster full; a restart skips discovery.
func TestDiscoveryBootstrapsCluster(t *testing.T) {
	base := discoveryService(t)
	d := newToken(t, base, "tok1", "3")
	var cfgs []MemberConfig
	for i := range 3 {
		cfgs = append(cfgs, discoveryCfg(t, fmt.Sprintf("d%d", i+1), d))
	}
	ms := startAll(t, cfgs)
	c := &inproc{t: t, members: ms, cfgs: cfgs}
	lead := c.waitLeader()

	var ids []uint64
	for i, m := range ms {
		want := MemberID(cfgs[i].InitialAdvertisePeerURLs, d, 0)
		if m.ID() != want {
			t.Errorf("%s has id %s, want %s (its peer URL with the discovery URL as token)", cfgs[i].Name, IDString(m.ID()), IDString(want))
		}
		ids = append(ids, want)
	}
	if want := ClusterID(ids, d); lead.ClusterID() != want {
		t.Errorf("cluster id %s, want %s", IDString(lead.ClusterID()), IDString(want))
	}
	if v := lead.view.Load(); len(v.voters) != 3 {
		t.Errorf("voters %v, want the 3 discovered members", v.voters)
	}
	resp, body := do(t, http.MethodPut, c.url(ms[0])+"/v2/keys/x", url.Values{"value": {"1"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT on the discovered cluster: %s %s", resp.Status, body)
	}

	// A 4th member: the directory is full.
	_, err := StartMember(discoveryCfg(t, "d4", d))
	var full *DiscoveryFullError
	if !errors.As(err, &full) || !errors.Is(err, ErrDiscoveryFull) {
		t.Fatalf("4th member: %v, want a DiscoveryFullError", err)
	}
	got := names(full.Members)
	slices.Sort(got)
	if !slices.Equal(got, []string{"d1", "d2", "d3"}) {
		t.Errorf("full cluster's members %v, want d1, d2, d3", got)
	}
	for _, w := range []string{"cluster is full", "--discovery-fallback=proxy", "member add"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("full-cluster message %q does not say %q", err, w)
		}
	}

	// What a proxy given --discovery reads: the same members, no
	// registration.
	ims, err := DiscoveryCluster(context.Background(), d, "", TLSInfo{}, testLogger(t))
	if err != nil || FormatInitialCluster(ims) != FormatInitialCluster(full.Members) {
		t.Errorf("DiscoveryCluster: %v %v, want %s", FormatInitialCluster(ims), err, FormatInitialCluster(full.Members))
	}

	// A restart keeps its data dir and ignores the (now unreachable)
	// discovery URL, with a warning.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ms[2].Stop(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := cfgs[2]
	cfg.Discovery = "http://127.0.0.1:1/v2/keys/_etcd/registry/gone"
	var logs syncBuf
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	cfg.PeerListener, cfg.ClientListeners = listenOn(t, cfg.InitialAdvertisePeerURLs[0]), []net.Listener{listenOn(t, cfg.AdvertiseClientURLs[0])}
	m, err := StartMember(cfg)
	if err != nil {
		t.Fatalf("restart with a data dir: %v", err)
	}
	ms[2] = m
	if m.ID() != ids[2] {
		t.Errorf("restarted with id %s, want %s", IDString(m.ID()), IDString(ids[2]))
	}
	if !strings.Contains(logs.String(), "discovery token ignored") {
		t.Errorf("restart did not warn that discovery is ignored; log:\n%s", logs.String())
	}
}

// listenOn listens again on the address of URL u.
func listenOn(t *testing.T, u string) net.Listener {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pu.Host)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// joinOnce runs the protocol for a member named name with peer URL peer
// against d, with quick retries.
func joinOnce(t *testing.T, d, name, peer string, tune func(*discovery)) ([]InitialMember, error) {
	t.Helper()
	disc, err := newDiscovery(d, "", TLSInfo{}, testLogger(t))
	if err != nil {
		return nil, err
	}
	disc.id = MemberID([]string{peer}, d, 0)
	disc.value = name + "=" + peer
	disc.backoff = time.Millisecond
	if tune != nil {
		tune(disc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return disc.join(ctx)
}

// register puts a registration into d as another member would.
func register(t *testing.T, d, name, peer string) {
	t.Helper()
	key := IDString(MemberID([]string{peer}, d, 0))
	resp, body := do(t, http.MethodPut, d+"/"+key+"?prevExist=false", url.Values{"value": {name + "=" + peer}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("registering %s: %s %s", name, resp.Status, body)
	}
}

// TestDiscoveryErrors checks each error case of the protocol (§6's
// table): the error it wraps and that its message says what to do.
func TestDiscoveryErrors(t *testing.T) {
	base := discoveryService(t)
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><body>It works!</body></html>")
	}))
	defer html.Close()
	dead := listen(t)
	deadURL := "http://" + dead.Addr().String() + "/v2/keys/_etcd/registry/x"
	dead.Close()

	cases := []struct {
		name  string
		setup func() string // returns the discovery URL
		tune  func(*discovery)
		err   error
		say   []string
	}{
		{"size key missing", func() string { return newToken(t, base, "nosize", "") }, nil,
			ErrDiscoverySizeNotFound, []string{"size key not found", "_config/size", "raftkvctl discovery new"}},
		{"bad size", func() string { return newToken(t, base, "badsize", "three") }, nil,
			ErrDiscoveryBadSize, []string{"bad size key", `"three"`}},
		{"cluster full", func() string {
			d := newToken(t, base, "full", "1")
			register(t, d, "other", "http://127.0.0.1:7001")
			return d
		}, nil, ErrDiscoveryFull, []string{"cluster is full", "other"}},
		{"duplicate id", func() string {
			d := newToken(t, base, "dupid", "2")
			register(t, d, "me", "http://127.0.0.1:7002") // same peer URL: same id
			return d
		}, nil, ErrDiscoveryDuplicateID, []string{"duplicate ID", "already registered", "new one"}},
		{"duplicate name", func() string {
			d := newToken(t, base, "dupname", "2")
			register(t, d, "me", "http://127.0.0.1:7003")
			return d
		}, nil, ErrDiscoveryDuplicateName, []string{"duplicate name", "its own --name"}},
		{"invalid URL", func() string { return "127.0.0.1:2379/registry" }, nil,
			ErrDiscoveryInvalidURL, []string{"invalid URL", "http://host:port/v2/keys/"}},
		{"not an etcd server", func() string { return html.URL + "/v2/keys/_etcd/registry/x" }, nil,
			ErrDiscoveryBadEndpoint, []string{"not an etcd v2 key space", "It works!"}},
		{"too many retries", func() string { return deadURL }, func(d *discovery) { d.maxRetries = 3 },
			ErrDiscoveryTooManyRetries, []string{"too many retries", "gave up after 3 failures", dead.Addr().String()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.setup()
			peer := "http://127.0.0.1:7002"
			if tc.err == ErrDiscoveryDuplicateName {
				peer = "http://127.0.0.1:7004" // a second member also called "me"
			}
			_, err := joinOnce(t, d, "me", peer, tc.tune)
			if !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %v", err, tc.err)
			}
			for _, w := range tc.say {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestDiscoveryWaitsForRegistrations: a member that registers first
// waits until the directory fills, and the first size registrations by
// createdIndex make the cluster.
func TestDiscoveryWaitsForRegistrations(t *testing.T) {
	base := discoveryService(t)
	d := newToken(t, base, "wait", "2")
	type result struct {
		ims []InitialMember
		err error
	}
	done := make(chan result, 1)
	go func() {
		ims, err := joinOnce(t, d, "a", "http://127.0.0.1:7101", nil)
		done <- result{ims, err}
	}()
	// Wait, on the discovery service's own watch, until a has registered:
	// the first change in the directory after its size.
	_, body := do(t, http.MethodGet, d+"/_config/size", nil)
	var size struct {
		Node struct{ ModifiedIndex uint64 } `json:"node"`
	}
	if err := json.Unmarshal([]byte(body), &size); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, http.MethodGet, fmt.Sprintf("%s?wait=true&recursive=true&waitIndex=%d", d, size.Node.ModifiedIndex+1), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "a=http://127.0.0.1:7101") {
		t.Fatalf("watching %s for a's registration: %s %s", d, resp.Status, body)
	}
	select {
	case r := <-done:
		t.Fatalf("discovery returned before the directory was full: %v %v", r.ims, r.err)
	default:
	}
	register(t, d, "b", "http://127.0.0.1:7102")
	register(t, d, "c", "http://127.0.0.1:7103") // third of a size-2 cluster: not in it
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := FormatInitialCluster(r.ims); got != "a=http://127.0.0.1:7101,b=http://127.0.0.1:7102" {
		t.Errorf("cluster %s, want a and b (the first 2 by createdIndex)", got)
	}
}

// TestDiscoverySRV forms a 3-member cluster from the SRV records of a
// test resolver (with --discovery-srv-name's suffix), and refuses a
// member the records do not list.
func TestDiscoverySRV(t *testing.T) {
	var pls, cls []net.Listener
	var srvs []*net.SRV
	for range 3 {
		pl, cl := listen(t), listen(t)
		pls, cls = append(pls, pl), append(cls, cl)
		srvs = append(srvs, &net.SRV{Target: "127.0.0.1.", Port: uint16(pl.Addr().(*net.TCPAddr).Port)})
	}
	var mu sync.Mutex
	var asked []string
	lookup := func(service, proto, name string) (string, []*net.SRV, error) {
		mu.Lock()
		asked = append(asked, "_"+service+"._"+proto+"."+name)
		mu.Unlock()
		if service == "etcd-server-blue" && proto == "tcp" && name == "example.test" {
			return "", srvs, nil
		}
		return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	var cfgs []MemberConfig
	for i := range 3 {
		name := fmt.Sprintf("s%d", i+1)
		cfgs = append(cfgs, MemberConfig{
			Name: name, DataDir: t.TempDir() + "/" + name,
			AdvertiseClientURLs:      []string{"http://" + cls[i].Addr().String()},
			InitialAdvertisePeerURLs: []string{"http://" + pls[i].Addr().String()},
			DiscoverySRV:             "example.test", DiscoverySRVName: "blue", LookupSRV: lookup,
			InitialClusterToken: "srv-test",
			HeartbeatInterval:   20 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
			Logger:          testLogger(t).With("member", name),
			ClientListeners: []net.Listener{cls[i]}, PeerListener: pls[i],
		})
	}
	ms := startAll(t, cfgs)
	c := &inproc{t: t, members: ms, cfgs: cfgs}
	lead := c.waitLeader()
	if v := lead.view.Load(); len(v.voters) != 3 {
		t.Errorf("voters %v, want the 3 members of the SRV records", v.voters)
	}
	for i, m := range ms {
		if want := MemberID(cfgs[i].InitialAdvertisePeerURLs, "srv-test", 0); m.ID() != want {
			t.Errorf("%s: id %s, want %s", cfgs[i].Name, IDString(m.ID()), IDString(want))
		}
	}
	mu.Lock()
	if !slices.Contains(asked, "_etcd-server-ssl-blue._tcp.example.test") || !slices.Contains(asked, "_etcd-server-blue._tcp.example.test") {
		t.Errorf("looked up %v, want _etcd-server-ssl-blue._tcp.example.test then _etcd-server-blue._tcp.example.test", asked)
	}
	mu.Unlock()

	// A member the records do not list is refused, before it writes
	// anything.
	cfg := discoveryCfg(t, "s4", "")
	cfg.DiscoverySRV, cfg.DiscoverySRVName, cfg.LookupSRV = "example.test", "blue", lookup
	_, err := StartMember(cfg)
	if !errors.Is(err, ErrDiscoverySRV) || !strings.Contains(err.Error(), "none of the SRV targets") {
		t.Errorf("unlisted member: %v, want an error that it is not among the SRV targets", err)
	}
	// No record at all.
	cfg = discoveryCfg(t, "s5", "")
	cfg.DiscoverySRV, cfg.LookupSRV = "example.test", lookup
	_, err = StartMember(cfg)
	if !errors.Is(err, ErrDiscoverySRV) || !strings.Contains(err.Error(), "no SRV record found") {
		t.Errorf("no records: %v, want an error that names the missing records", err)
	}
}

// TestDiscoveryHTTPS: an https discovery URL is verified against
// --trusted-ca-file; without it, the server's self-signed certificate is
// refused at once, with a hint.
func TestDiscoveryHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Etcd-Index", "7")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"errorCode":100,"message":"Key not found","cause":"/_etcd/registry/t/_config","index":7}`)
	}))
	defer srv.Close()
	caFile := t.TempDir() + "/ca.crt"
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	d := srv.URL + "/v2/keys/_etcd/registry/t"
	disc, err := newDiscovery(d, "", TLSInfo{TrustedCAFile: caFile}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := disc.cluster(context.Background()); !errors.Is(err, ErrDiscoverySizeNotFound) {
		t.Errorf("https with the CA: %v, want the service's answer (size key not found)", err)
	}
	disc, err = newDiscovery(d, "", TLSInfo{}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := disc.cluster(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), "--trusted-ca-file") {
		t.Errorf("https without the CA: %v, want a certificate failure", err)
	}
}

// TestDiscoveryThroughHTTPProxy: --discovery-proxy sends the protocol's
// requests through an HTTP proxy.
func TestDiscoveryThroughHTTPProxy(t *testing.T) {
	base := discoveryService(t)
	d := newToken(t, base, "viaproxy", "1")
	var mu sync.Mutex
	var seen []string
	fwd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A forward proxy gets the absolute URL.
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.String())
		mu.Unlock()
		out := r.Clone(r.Context())
		out.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	defer fwd.Close()
	disc, err := newDiscovery(d, fwd.URL, TLSInfo{}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	disc.id, disc.value = MemberID([]string{"http://127.0.0.1:7201"}, d, 0), "solo=http://127.0.0.1:7201"
	ims, err := disc.join(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatInitialCluster(ims); got != "solo=http://127.0.0.1:7201" {
		t.Errorf("cluster %s, want solo alone", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 4 || !strings.HasPrefix(seen[0], "GET "+d+"/_config/size") {
		t.Errorf("the proxy saw %v, want every request of the protocol, starting with GET %s/_config/size", seen, d)
	}
	if _, err := newDiscovery(d, "not a url", TLSInfo{}, testLogger(t)); err == nil || !strings.Contains(err.Error(), "--discovery-proxy") {
		t.Errorf("a bad --discovery-proxy: %v, want an error naming it", err)
	}
}

// TestDiscoveryRegistrationAnswerLost: when the answer to the
// registration is lost (the PUT was applied, the connection cut), the
// retried PUT finds the member's own key, which is not a duplicate ID.
func TestDiscoveryRegistrationAnswerLost(t *testing.T) {
	base := discoveryService(t)
	d := newToken(t, base, "lost", "1")
	var mu sync.Mutex
	cut := false
	fwd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.Clone(r.Context())
		out.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		mu.Lock()
		drop := r.Method == http.MethodPut && !cut
		cut = cut || drop
		mu.Unlock()
		if drop {
			panic(http.ErrAbortHandler) // applied, but the answer never comes
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	defer fwd.Close()
	disc, err := newDiscovery(d, fwd.URL, TLSInfo{}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	disc.backoff = time.Millisecond
	disc.id, disc.value = MemberID([]string{"http://127.0.0.1:7301"}, d, 0), "once=http://127.0.0.1:7301"
	ims, err := disc.join(context.Background())
	if err != nil {
		t.Fatalf("join after a lost registration answer: %v", err)
	}
	if got := FormatInitialCluster(ims); got != "once=http://127.0.0.1:7301" || !cut {
		t.Errorf("cluster %s (answer cut: %v), want once alone after a cut answer", got, cut)
	}
}
