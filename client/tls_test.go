package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/internal/certs"
)

// pki is a CA made for one test (internal/certs: ECDSA P-256, serverAuth
// and clientAuth, IP SAN 127.0.0.1), with a server and a client
// certificate it signed, all written as PEM files in a temporary directory.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	pool                                                 *x509.CertPool // the CA
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := certs.NewCA("raftkv test CA")
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{
		caFile:     filepath.Join(dir, "ca.crt"),
		serverCert: filepath.Join(dir, "server.crt"),
		serverKey:  filepath.Join(dir, "server.key"),
		clientCert: filepath.Join(dir, "client.crt"),
		clientKey:  filepath.Join(dir, "client.key"),
		pool:       ca.Pool(),
	}
	if err := ca.WriteCert(p.caFile); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ cn, cert, key string }{{"member", p.serverCert, p.serverKey}, {"alice", p.clientCert, p.clientKey}} {
		pair, err := ca.Issue(certs.Options{CommonName: c.cn, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := pair.Write(c.cert, c.key); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// tlsServer serves HTTPS with p's server certificate; with clientAuth it
// requires a client certificate signed by p's CA. The handler answers a
// get whose value is the client certificate's CN ("" without one).
func tlsServer(t *testing.T, p *pki, clientAuth bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var served atomic.Int32
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		cn := ""
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		okEvent(w, "get", "/k", cn, 3)
	}))
	pair, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	s.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	if clientAuth {
		s.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		s.TLS.ClientCAs = p.pool
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s, &served
}

// TestTLSClientCertificate: with the files of TLSConfigFromFiles the
// client checks the member's certificate against the CA and presents its
// own, which a member with client-cert auth requires.
func TestTLSClientCertificate(t *testing.T) {
	p := newPKI(t)
	s, served := tlsServer(t, p, true)
	ctx := context.Background()

	cfg, err := client.TLSConfigFromFiles(p.clientCert, p.clientKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, client.Config{Endpoints: []string{s.URL}, TLS: cfg})
	resp, err := c.Get(ctx, "/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Node.Value != "alice" {
		t.Errorf("the server saw client certificate %q, want alice", resp.Node.Value)
	}

	// Without the client certificate the member refuses the handshake,
	// and the request was never read: even a write is not "unknown".
	cfg, err = client.TLSConfigFromFiles("", "", p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	before := served.Load()
	c = newClient(t, client.Config{Endpoints: []string{s.URL}, TLS: cfg})
	_, err = c.Get(ctx, "/k", nil)
	if err == nil || !errors.Is(err, client.ErrClusterUnavailable) {
		t.Errorf("without a client certificate: err = %v, want a cluster error", err)
	}
	_, err = c.Set(ctx, "/k", "v", nil)
	if err == nil || errors.Is(err, client.ErrUnknownOutcome) {
		t.Errorf("a write without a client certificate: err = %v, want a refusal that is not ErrUnknownOutcome", err)
	}
	if n := served.Load() - before; n != 0 {
		t.Errorf("the handler ran %d times for a client without a certificate", n)
	}
}

// TestTLSVerifiesServer: without the CA the member's certificate is not
// trusted (a self-made CA is not among the system's roots), and nothing is
// sent.
func TestTLSVerifiesServer(t *testing.T) {
	p := newPKI(t)
	s, served := tlsServer(t, p, false)
	ctx := context.Background()

	cfg, err := client.TLSConfigFromFiles("", "", p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, client.Config{Endpoints: []string{s.URL}, TLS: cfg})
	if resp, err := c.Get(ctx, "/k", nil); err != nil || resp.Node.Value != "" {
		t.Fatalf("with the CA: %v, %v", resp, err)
	}

	c = newClient(t, client.Config{Endpoints: []string{s.URL}})
	before := served.Load()
	_, err = c.Get(ctx, "/k", nil)
	var uae x509.UnknownAuthorityError
	if !errors.As(err, &uae) {
		t.Errorf("without the CA: err = %v, want x509.UnknownAuthorityError", err)
	}
	if _, err := c.Set(ctx, "/k", "v", nil); err == nil || errors.Is(err, client.ErrUnknownOutcome) {
		t.Errorf("a write without the CA: err = %v, want a failure that is not ErrUnknownOutcome", err)
	}
	if n := served.Load() - before; n != 0 {
		t.Errorf("the handler ran %d times for a client that does not trust the server", n)
	}

	// Another CA is no better than none.
	other := newPKI(t)
	cfg, err = client.TLSConfigFromFiles("", "", other.caFile)
	if err != nil {
		t.Fatal(err)
	}
	c = newClient(t, client.Config{Endpoints: []string{s.URL}, TLS: cfg})
	if _, err := c.Get(ctx, "/k", nil); !errors.As(err, &uae) {
		t.Errorf("with another CA: err = %v, want x509.UnknownAuthorityError", err)
	}
}

// TestTLSFailsOver: a member whose certificate is not trusted is passed
// over for the next endpoint, as a refused connection would be.
func TestTLSFailsOver(t *testing.T) {
	p := newPKI(t)
	good, _ := tlsServer(t, p, true)
	bad, badServed := tlsServer(t, newPKI(t), true) // another CA's certificate
	cfg, err := client.TLSConfigFromFiles(p.clientCert, p.clientKey, p.caFile)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, client.Config{Endpoints: []string{bad.URL, good.URL}, TLS: cfg})
	if _, err := c.Set(context.Background(), "/k", "v", nil); err != nil {
		t.Fatalf("write: %v", err)
	}
	if badServed.Load() != 0 {
		t.Error("the untrusted member was sent the request")
	}
}

func TestTLSConfigFromFilesErrors(t *testing.T) {
	p := newPKI(t)
	if cfg, err := client.TLSConfigFromFiles("", "", ""); cfg != nil || err != nil {
		t.Errorf("no files: %v, %v; want nil, nil", cfg, err)
	}
	cfg, err := client.TLSConfigFromFiles(p.clientCert, p.clientKey, p.caFile)
	if err != nil || cfg.MinVersion != tls.VersionTLS12 || len(cfg.Certificates) != 1 || cfg.RootCAs == nil {
		t.Errorf("all files: %+v, %v", cfg, err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		name          string
		cert, key, ca string
		wantInMessage string
	}{
		{"cert without key", p.clientCert, "", "", "needs its key"},
		{"key without cert", "", p.clientKey, "", "needs its key"},
		{"missing cert", missing, p.clientKey, "", missing},
		{"mismatched pair", p.clientCert, p.serverKey, "", "private key does not match"},
		{"missing CA", "", "", missing, missing},
		{"CA not PEM", "", "", writeFile(t, "not a certificate"), "holds no PEM certificate"},
	} {
		_, err := client.TLSConfigFromFiles(tc.cert, tc.key, tc.ca)
		if !errors.Is(err, client.ErrTLSFiles) || !strings.Contains(err.Error(), tc.wantInMessage) {
			t.Errorf("%s: err = %v, want ErrTLSFiles naming %q", tc.name, err, tc.wantInMessage)
		}
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), fmt.Sprintf("f%d", time.Now().UnixNano()))
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
