package server

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/certs"
)

// tlsFixture is a CA made for one test, another CA nobody trusts, and
// certificate files in a temporary directory.
type tlsFixture struct {
	t            *testing.T
	dir          string
	ca, other    *certs.CA
	caFile       string
	otherCAFile  string
	clientCert   tls.Certificate // signed by ca, CN "root"
	intruderCert tls.Certificate // signed by other
}

func newTLSFixture(t *testing.T) *tlsFixture {
	t.Helper()
	f := &tlsFixture{t: t, dir: t.TempDir()}
	var err error
	if f.ca, err = certs.NewCA("raftkv test CA"); err != nil {
		t.Fatal(err)
	}
	if f.other, err = certs.NewCA("someone else's CA"); err != nil {
		t.Fatal(err)
	}
	f.caFile, f.otherCAFile = filepath.Join(f.dir, "ca.crt"), filepath.Join(f.dir, "other-ca.crt")
	if err := f.ca.WriteCert(f.caFile); err != nil {
		t.Fatal(err)
	}
	if err := f.other.WriteCert(f.otherCAFile); err != nil {
		t.Fatal(err)
	}
	f.clientCert = f.tlsCert(f.issue(f.ca, certs.Options{CommonName: "root"}))
	f.intruderCert = f.tlsCert(f.issue(f.other, certs.Options{CommonName: "intruder"}))
	return f
}

func (f *tlsFixture) issue(ca *certs.CA, o certs.Options) *certs.Pair {
	f.t.Helper()
	p, err := ca.Issue(o)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *tlsFixture) tlsCert(p *certs.Pair) tls.Certificate {
	f.t.Helper()
	c, err := p.TLS()
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// write writes p as name.crt and name.key and returns the file names.
func (f *tlsFixture) write(p *certs.Pair, name string) (certFile, keyFile string) {
	f.t.Helper()
	certFile, keyFile = filepath.Join(f.dir, name+".crt"), filepath.Join(f.dir, name+".key")
	if err := p.Write(certFile, keyFile); err != nil {
		f.t.Fatal(err)
	}
	return certFile, keyFile
}

// client is an https client trusting the fixture's CA, presenting cert
// (if any): what curl --cacert [--cert --key] is.
func (f *tlsFixture) client(cert ...tls.Certificate) *http.Client {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: f.ca.Pool(), Certificates: cert},
	}}
	f.t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// mutualTLS configures a member of startInproc for https clients with
// client-certificate auth and peer mutual TLS, each member with its own
// certificates (CN its name), and https URLs everywhere.
func (f *tlsFixture) mutualTLS(cfg *MemberConfig) {
	server, member := f.issue(f.ca, certs.Options{CommonName: cfg.Name}), f.issue(f.ca, certs.Options{CommonName: cfg.Name})
	cfg.ClientTLS.CertFile, cfg.ClientTLS.KeyFile = f.write(server, cfg.Name+"-server")
	cfg.ClientTLS.TrustedCAFile, cfg.ClientTLS.ClientCertAuth = f.caFile, true
	cfg.PeerTLS.CertFile, cfg.PeerTLS.KeyFile = f.write(member, cfg.Name+"-peer")
	cfg.PeerTLS.TrustedCAFile, cfg.PeerTLS.ClientCertAuth = f.caFile, true
	httpsEverywhere(cfg)
}

// httpsEverywhere turns startInproc's http URLs into https ones (every
// member does the same, so the ids derived from them still agree).
func httpsEverywhere(cfg *MemberConfig) {
	s := func(urls []string) []string {
		var out []string
		for _, u := range urls {
			out = append(out, strings.Replace(u, "http://", "https://", 1))
		}
		return out
	}
	cfg.AdvertiseClientURLs = s(cfg.AdvertiseClientURLs)
	cfg.InitialAdvertisePeerURLs = s(cfg.InitialAdvertisePeerURLs)
	var ic []InitialMember
	for _, im := range cfg.InitialCluster {
		ic = append(ic, InitialMember{Name: im.Name, PeerURLs: s(im.PeerURLs)})
	}
	cfg.InitialCluster = ic
}

// handshakeFailures reads a failure counter from m's /metrics: the sum
// over listeners for the reason.
func handshakeFailures(t *testing.T, hc *http.Client, m *Member, metric, reason string) float64 {
	t.Helper()
	resp, err := hc.Get(m.cfg.AdvertiseClientURLs[0] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") || !strings.Contains(line, `reason="`+reason+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		sum += v
	}
	return sum
}

// waitCounted waits until m counts a refused handshake of the reason (the
// server counts after the client has seen its alert, so possibly later).
func waitCounted(t *testing.T, hc *http.Client, m *Member, metric, reason string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for handshakeFailures(t, hc, m, metric, reason) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s{reason=%q} still 0 after 5s", metric, reason)
		}
		// Polling the server's counter: it offers no event to wait on.
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTLSMutualCluster(t *testing.T) {
	f := newTLSFixture(t)
	c := startInproc(t, 3, f.mutualTLS)
	lead := c.waitLeader()
	follower := c.follower(lead)
	hc := f.client(f.clientCert)

	// A write on a follower is forwarded to the leader on the app lane,
	// over peer TLS.
	resp, err := hc.PostForm(c.url(follower)+"/v2/keys/queue", url.Values{"value": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST on a follower: %s", resp.Status)
	}
	for _, m := range c.members {
		resp, err := hc.Get(c.url(m) + "/v2/keys/queue?recursive=true")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET on %s: %s", m.cfg.Name, resp.Status)
		}
	}

	t.Run("client without a certificate", func(t *testing.T) {
		_, err := f.client().Get(c.url(lead) + "/version")
		if err == nil {
			t.Fatal("a client without a certificate was served")
		}
		waitCounted(t, hc, lead, "raftkv_network_client_handshake_failures_total", "no certificate")
	})
	t.Run("client certificate from another CA", func(t *testing.T) {
		// Go's client sends no certificate the server's CA list does not
		// name; curl would, and so does this one.
		intruder := f.client()
		intruder.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &f.intruderCert, nil
		}
		_, err := intruder.Get(c.url(lead) + "/version")
		if err == nil {
			t.Fatal("a client with another CA's certificate was served")
		}
		waitCounted(t, hc, lead, "raftkv_network_client_handshake_failures_total", "unknown authority")
	})
	t.Run("plain http to the https port", func(t *testing.T) {
		u := strings.Replace(c.url(lead), "https://", "http://", 1)
		resp, err := http.Get(u + "/version")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "HTTPS server") {
			t.Fatalf("got %s %q, want 400 saying the server speaks HTTPS", resp.Status, b)
		}
	})
	t.Run("plaintext peer", func(t *testing.T) {
		peerAddr := strings.TrimPrefix(lead.cfg.InitialAdvertisePeerURLs[0], "https://")
		conn, err := net.Dial("tcp", peerAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// A raft stream header in the clear, as a member without peer TLS
		// would send.
		if _, err := conn.Write([]byte("RKVP\x01\x01\x00\x00" + strings.Repeat("\x00", 24))); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(conn); err != nil {
			t.Fatalf("the peer listener did not close a plaintext connection: %v", err)
		}
		waitCounted(t, hc, lead, "raftkv_network_peer_handshake_failures_total", "not TLS")
	})
	t.Run("member with another CA's certificate cannot join", func(t *testing.T) {
		pl, cl := listen(t), listen(t)
		peerURL := "https://" + pl.Addr().String()
		resp, err := hc.Post(c.url(lead)+"/v2/members", "application/json", strings.NewReader(`{"peerURLs":["`+peerURL+`"]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("member add: %s", resp.Status)
		}
		cfg := c.cfgs[0]
		cfg.Name, cfg.DataDir = "m4", t.TempDir()
		cfg.InitialAdvertisePeerURLs, cfg.AdvertiseClientURLs = []string{peerURL}, []string{"https://" + cl.Addr().String()}
		cfg.InitialCluster = append(cfg.InitialCluster[:3:3], InitialMember{Name: "m4", PeerURLs: []string{peerURL}})
		cfg.InitialClusterState = "existing"
		cfg.PeerListener, cfg.ClientListeners = pl, []net.Listener{cl}
		// It trusts the cluster's CA, but its own certificate is another's.
		cfg.PeerTLS.CertFile, cfg.PeerTLS.KeyFile = f.write(f.issue(f.other, certs.Options{CommonName: "m4"}), "m4-peer")
		m, err := StartMember(cfg)
		if err == nil {
			stopMember(t, m)
			t.Fatal("a member with another CA's certificate joined")
		}
		if !errors.Is(err, ErrJoin) {
			t.Fatalf("err = %v, want ErrJoin", err)
		}
		total := 0.0
		for _, m := range c.members {
			total += handshakeFailures(t, hc, m, "raftkv_network_peer_handshake_failures_total", "unknown authority")
		}
		if total == 0 {
			t.Error("no member counted the intruder's handshake")
		}
	})
}

// logWatch is a slog handler that records messages and wakes waiters.
type logWatch struct {
	mu   sync.Mutex
	msgs []string
	ch   chan struct{}
}

func newLogWatch() *logWatch { return &logWatch{ch: make(chan struct{})} }

func (w *logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (w *logWatch) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *logWatch) WithGroup(string) slog.Handler            { return w }
func (w *logWatch) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	w.mu.Lock()
	w.msgs = append(w.msgs, b.String())
	close(w.ch)
	w.ch = make(chan struct{})
	w.mu.Unlock()
	return nil
}

// wait waits until a logged message contains s (checking from the
// start), calling poke (which makes the member look at its files) each
// time nothing matched yet.
func (w *logWatch) wait(t *testing.T, s string, poke func()) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		for _, m := range w.msgs {
			if strings.Contains(m, s) {
				w.mu.Unlock()
				return m
			}
		}
		ch := w.ch
		w.mu.Unlock()
		poke()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no log message containing %q within 10s", s)
		case <-time.After(100 * time.Millisecond):
			// The member checks its files at most once a second, on a
			// handshake: poke again.
		}
	}
}

// servedSerial dials addr and returns the serial of the certificate the
// server presents.
func servedSerial(t *testing.T, addr string, cfg *tls.Config) *big.Int {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// waitServed polls handshakes with addr until the server presents the
// certificate with serial want (the member reloads on a handshake, at most
// once a second).
func waitServed(t *testing.T, addr string, cfg *tls.Config, want *big.Int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := servedSerial(t, addr, cfg)
		if got.Cmp(want) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still presents serial %x, want %x", addr, got, want)
		}
		time.Sleep(50 * time.Millisecond) // the next handshake is the event
	}
}

func TestTLSCertificateRotation(t *testing.T) {
	f := newTLSFixture(t)
	lw := newLogWatch()
	c := startInproc(t, 1, f.mutualTLS, func(cfg *MemberConfig) { cfg.Logger = slog.New(lw) })
	m := c.waitLeader()
	addr := strings.TrimPrefix(c.url(m), "https://")
	peerAddr := strings.TrimPrefix(m.cfg.InitialAdvertisePeerURLs[0], "https://")
	dial := &tls.Config{RootCAs: f.ca.Pool(), Certificates: []tls.Certificate{f.clientCert}}
	old := servedSerial(t, addr, dial)

	// A bad pair (the new certificate with a key that is not its) keeps
	// the old certificate, and the member says why.
	next, stray := f.issue(f.ca, certs.Options{CommonName: "m1"}), f.issue(f.ca, certs.Options{CommonName: "m1"})
	if err := next.WriteCert(m.cfg.ClientTLS.CertFile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.cfg.ClientTLS.KeyFile, stray.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	msg := lw.wait(t, "cannot be used", func() { servedSerial(t, addr, dial) })
	if !strings.Contains(msg, "do not match") {
		t.Errorf("the log does not say the pair does not match: %s", msg)
	}
	if got := servedSerial(t, addr, dial); got.Cmp(old) != 0 {
		t.Fatalf("after a bad pair the member presents serial %x, want the old %x", got, old)
	}

	// The right key: new connections get the new certificate.
	if err := os.WriteFile(m.cfg.ClientTLS.KeyFile, next.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	waitServed(t, addr, dial, next.Cert.SerialNumber)
	lw.wait(t, "reloaded", func() {})

	// The peer certificate too: the peer listener's and the one the
	// member dials with.
	peerNext := f.issue(f.ca, certs.Options{CommonName: "m1"})
	if err := peerNext.Write(m.cfg.PeerTLS.CertFile, m.cfg.PeerTLS.KeyFile); err != nil {
		t.Fatal(err)
	}
	waitServed(t, peerAddr, dial, peerNext.Cert.SerialNumber)

	// The member still serves writes through it all.
	resp, err := f.client(f.clientCert).PostForm(c.url(m)+"/v2/keys/after", url.Values{"value": {"rotation"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("write after rotation: %s", resp.Status)
	}
}

func TestTLSRevocationAndAllowedCN(t *testing.T) {
	f := newTLSFixture(t)
	revoked := f.issue(f.ca, certs.Options{CommonName: "revoked"})
	crl, err := f.ca.CRL(revoked.Cert)
	if err != nil {
		t.Fatal(err)
	}
	crlFile := filepath.Join(f.dir, "ca.crl")
	if err := os.WriteFile(crlFile, crl, 0o644); err != nil {
		t.Fatal(err)
	}
	c := startInproc(t, 1, f.mutualTLS, func(cfg *MemberConfig) {
		cfg.ClientTLS.CRLFile = crlFile
		cfg.PeerTLS.AllowedCN = "m1"
	})
	m := c.waitLeader()
	hc := f.client(f.clientCert)
	if _, err := f.client(f.tlsCert(revoked)).Get(c.url(m) + "/version"); err == nil {
		t.Error("a revoked certificate was served")
	}
	waitCounted(t, hc, m, "raftkv_network_client_handshake_failures_total", "revoked")

	peer := "https://" + strings.TrimPrefix(m.cfg.InitialAdvertisePeerURLs[0], "https://") + "/version"
	other := f.tlsCert(f.issue(f.ca, certs.Options{CommonName: "m2"}))
	if _, err := f.client(other).Get(peer); err == nil {
		t.Error("a peer with CN m2 was served despite --peer-cert-allowed-cn m1")
	}
	waitCounted(t, hc, m, "raftkv_network_peer_handshake_failures_total", "CN not allowed")
	self := f.tlsCert(f.issue(f.ca, certs.Options{CommonName: "m1"}))
	resp, err := f.client(self).Get(peer)
	if err != nil {
		t.Fatalf("a peer with the allowed CN was refused: %v", err)
	}
	resp.Body.Close()
}

func TestTLSAutoTLS(t *testing.T) {
	c := startInproc(t, 3, func(cfg *MemberConfig) {
		cfg.ClientTLS.AutoTLS, cfg.PeerTLS.AutoTLS = true, true
		httpsEverywhere(cfg)
	})
	lead := c.waitLeader()
	for _, side := range []string{"client", "peer"} {
		if _, err := os.Stat(filepath.Join(lead.cfg.DataDir, "fixtures", side, "cert.pem")); err != nil {
			t.Errorf("no self-signed %s certificate in the data dir: %v", side, err)
		}
	}
	// Self-signed: a client can only encrypt, not verify (curl -k).
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.PostForm(c.url(c.follower(lead))+"/v2/keys/auto", url.Values{"value": {"tls"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("write through a follower: %s", resp.Status)
	}
	st := resp.TLS
	if st == nil || len(st.PeerCertificates) == 0 || st.PeerCertificates[0].VerifyHostname("127.0.0.1") != nil {
		t.Errorf("the self-signed certificate does not name 127.0.0.1")
	}
}

// TestTLSMixedClientURLs: http and https client URLs on one member.
func TestTLSMixedClientURLs(t *testing.T) {
	f := newTLSFixture(t)
	certFile, keyFile := f.write(f.issue(f.ca, certs.Options{CommonName: "m1"}), "m1")
	peer := "http://127.0.0.1:1" // one member: nobody dials it
	m, err := StartMember(MemberConfig{
		Name: "m1", DataDir: filepath.Join(t.TempDir(), "m1"),
		ListenClientURLs: []string{"https://127.0.0.1:0", "http://127.0.0.1:0"}, AdvertiseClientURLs: []string{"https://127.0.0.1:2379"},
		ListenPeerURLs: []string{"http://127.0.0.1:0"}, InitialAdvertisePeerURLs: []string{peer},
		InitialCluster: []InitialMember{{Name: "m1", PeerURLs: []string{peer}}},
		ClientTLS:      TLSInfo{CertFile: certFile, KeyFile: keyFile},
		Logger:         testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stopMember(t, m)
	secure, plain := m.cfg.ClientListeners[0].Addr().String(), m.cfg.ClientListeners[1].Addr().String()
	for _, u := range []string{"https://" + secure, "http://" + plain} {
		resp, err := f.client().Get(u + "/version")
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || (resp.TLS != nil) != strings.HasPrefix(u, "https") {
			t.Errorf("%s: %s, TLS %v", u, resp.Status, resp.TLS != nil)
		}
	}
}

// TestTLSConfigErrors checks that each bad setting stops StartMember with
// a message that names the flag and file and what is wrong.
func TestTLSConfigErrors(t *testing.T) {
	f := newTLSFixture(t)
	good := f.issue(f.ca, certs.Options{CommonName: "m1"})
	certFile, keyFile := f.write(good, "good")
	_, otherKey := f.write(f.issue(f.ca, certs.Options{CommonName: "m1"}), "other")
	expiredCert, expiredKey := f.write(f.issue(f.ca, certs.Options{CommonName: "m1",
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}), "expired")
	legacyEncrypted := filepath.Join(f.dir, "legacy-encrypted.key")
	writePEM(t, legacyEncrypted, &pem.Block{Type: "EC PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"}, Bytes: randomBytes(t, 128)})
	pkcs8Encrypted := filepath.Join(f.dir, "pkcs8-encrypted.key")
	writePEM(t, pkcs8Encrypted, &pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: randomBytes(t, 128)})
	notPEM := filepath.Join(f.dir, "not-pem.crt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(f.dir, "missing.crt")

	client := func(info TLSInfo) func(*MemberConfig) {
		return func(cfg *MemberConfig) {
			cfg.ListenClientURLs, cfg.AdvertiseClientURLs = []string{"https://127.0.0.1:0"}, []string{"https://127.0.0.1:2379"}
			cfg.ClientTLS = info
		}
	}
	peer := func(info TLSInfo) func(*MemberConfig) {
		return func(cfg *MemberConfig) {
			cfg.ListenPeerURLs = []string{"https://127.0.0.1:0"}
			cfg.PeerTLS = info
		}
	}
	cases := []struct {
		name string
		set  func(*MemberConfig)
		want []string
	}{
		{"unreadable certificate", client(TLSInfo{CertFile: missing, KeyFile: keyFile}), []string{"--cert-file " + missing, "cannot read it"}},
		{"unreadable key", client(TLSInfo{CertFile: certFile, KeyFile: missing}), []string{"--key-file " + missing, "cannot read it"}},
		{"certificate not PEM", client(TLSInfo{CertFile: notPEM, KeyFile: keyFile}), []string{"--cert-file " + notPEM, "no PEM certificate"}},
		{"mismatched pair", client(TLSInfo{CertFile: certFile, KeyFile: otherKey}), []string{"--cert-file " + certFile, "--key-file " + otherKey, "do not match"}},
		{"encrypted key (legacy PEM)", client(TLSInfo{CertFile: certFile, KeyFile: legacyEncrypted}), []string{"--key-file " + legacyEncrypted, "is encrypted", "decrypt it"}},
		{"encrypted key (PKCS #8)", peer(TLSInfo{CertFile: certFile, KeyFile: pkcs8Encrypted}), []string{"--peer-key-file " + pkcs8Encrypted, "is encrypted"}},
		{"expired certificate", client(TLSInfo{CertFile: expiredCert, KeyFile: expiredKey}), []string{"--cert-file " + expiredCert, "expired on", "renew it"}},
		{"https client URL without a certificate", client(TLSInfo{}), []string{"--listen-client-urls https://127.0.0.1:0", "--cert-file and --key-file (or --auto-tls)"}},
		{"https peer URL without a certificate", peer(TLSInfo{}), []string{"--listen-peer-urls https://127.0.0.1:0", "--peer-cert-file"}},
		{"https advertised client URL without a certificate", func(cfg *MemberConfig) {
			cfg.AdvertiseClientURLs = []string{"https://127.0.0.1:2379"}
		}, []string{"--advertise-client-urls https://127.0.0.1:2379", "--cert-file"}},
		{"client-cert-auth without a CA", client(TLSInfo{CertFile: certFile, KeyFile: keyFile, ClientCertAuth: true}), []string{"--client-cert-auth needs --trusted-ca-file"}},
		{"peer-client-cert-auth without a CA", peer(TLSInfo{CertFile: certFile, KeyFile: keyFile, ClientCertAuth: true}), []string{"--peer-client-cert-auth needs --peer-trusted-ca-file"}},
		{"unreadable CA", client(TLSInfo{CertFile: certFile, KeyFile: keyFile, ClientCertAuth: true, TrustedCAFile: missing}), []string{"--trusted-ca-file " + missing, "cannot read it"}},
		{"CA not PEM", peer(TLSInfo{CertFile: certFile, KeyFile: keyFile, ClientCertAuth: true, TrustedCAFile: notPEM}), []string{"--peer-trusted-ca-file " + notPEM, "no PEM certificate"}},
		{"CRL not a CRL", client(TLSInfo{CertFile: certFile, KeyFile: keyFile, CRLFile: notPEM}), []string{"--client-crl-file " + notPEM, "not a certificate revocation list"}},
		{"certificate without key", client(TLSInfo{CertFile: certFile}), []string{"--cert-file is set but --key-file is not"}},
		{"peer auto TLS with client-cert-auth", peer(TLSInfo{AutoTLS: true, ClientCertAuth: true, TrustedCAFile: f.caFile}), []string{"--peer-auto-tls", "--peer-client-cert-auth"}},
		{"cipher suites with TLS 1.3", func(cfg *MemberConfig) {
			client(TLSInfo{CertFile: certFile, KeyFile: keyFile})(cfg)
			cfg.TLSMinVersion, cfg.CipherSuites = tls.VersionTLS13, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
		}, []string{"--cipher-suites", "--tls-min-version TLS1.3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m1")
			cfg := MemberConfig{
				Name: "m1", DataDir: dir,
				ListenClientURLs: []string{"http://127.0.0.1:0"}, AdvertiseClientURLs: []string{"http://127.0.0.1:2379"},
				ListenPeerURLs: []string{"http://127.0.0.1:0"}, InitialAdvertisePeerURLs: []string{"http://127.0.0.1:2380"},
				InitialCluster: []InitialMember{{Name: "m1", PeerURLs: []string{"http://127.0.0.1:2380"}}},
				Logger:         testLogger(t),
			}
			tc.set(&cfg)
			m, err := StartMember(cfg)
			if err == nil {
				stopMember(t, m)
				t.Fatal("StartMember succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused start left the data dir behind (stat: %v)", err)
			}
		})
	}
}

func TestParseTLSFlags(t *testing.T) {
	for in, want := range map[string]uint16{"": tls.VersionTLS12, "TLS1.2": tls.VersionTLS12, "TLS1.3": tls.VersionTLS13, "tls 1.3": tls.VersionTLS13} {
		if got, err := ParseTLSVersion(in); err != nil || got != want {
			t.Errorf("ParseTLSVersion(%q) = %x, %v; want %x", in, got, err, want)
		}
	}
	if _, err := ParseTLSVersion("TLS1.1"); err == nil || !strings.Contains(err.Error(), "want TLS1.2 or TLS1.3") {
		t.Errorf("ParseTLSVersion(TLS1.1): %v", err)
	}
	got, err := ParseCipherSuites("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")
	if err != nil || len(got) != 2 || got[0] != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 {
		t.Errorf("ParseCipherSuites: %v, %v", got, err)
	}
	if _, err := ParseCipherSuites("TLS_NO_SUCH_SUITE"); err == nil || !strings.Contains(err.Error(), `unknown cipher suite "TLS_NO_SUCH_SUITE"`) {
		t.Errorf("unknown suite: %v", err)
	}
	if _, err := ParseCipherSuites("TLS_RSA_WITH_RC4_128_SHA"); err == nil || !strings.Contains(err.Error(), "insecure") {
		t.Errorf("insecure suite: %v", err)
	}
}

func writePEM(t *testing.T, path string, b *pem.Block) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
