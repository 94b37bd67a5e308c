package rpc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// testCA is a certificate authority made up for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue makes a member certificate for 127.0.0.1, usable by both ends.
func (ca *testCA) issue(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// mutualTLS configures c for mutual TLS: own certificate cert, trusting
// peers signed by trust.
func mutualTLS(cert tls.Certificate, trust *testCA) func(*Config) {
	return func(c *Config) {
		c.ServerTLS = &tls.Config{
			Certificates: []tls.Certificate{cert}, ClientCAs: trust.pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13,
		}
		c.ClientTLS = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: trust.pool, MinVersion: tls.VersionTLS13}
	}
}

func TestMutualTLS(t *testing.T) {
	checkNoLeak(t)
	ca, other := newCA(t, "raftkv test CA"), newCA(t, "someone else's CA")
	a := newNode(t, 1, 7, mutualTLS(ca.issue(t, "a"), ca))
	b := newNode(t, 2, 7, mutualTLS(ca.issue(t, "b"), ca))
	connect(t, a, b)
	a.Send([]raft.Message{heartbeat(1, 2, 1), app(1, 2, 1, 2, 100)})
	got := map[raft.MessageType]bool{}
	got[recv(t, b).Type] = true
	got[recv(t, b).Type] = true
	if !got[raft.MsgHeartbeat] || !got[raft.MsgApp] {
		t.Fatalf("received %v", got)
	}
	b.Send([]raft.Message{heartbeat(2, 1, 1)})
	if m := recv(t, a); m.Type != raft.MsgHeartbeat {
		t.Fatalf("got %v", m)
	}

	t.Run("client certificate from an untrusted CA", func(t *testing.T) {
		// c trusts a, but a does not trust c's certificate.
		c := newNode(t, 3, 7, mutualTLS(other.issue(t, "c"), ca))
		if err := a.AddPeer(3, c.Addr().String()); err != nil {
			t.Fatal(err)
		}
		if err := c.AddPeer(1, a.Addr().String()); err != nil {
			t.Fatal(err)
		}
		c.Send([]raft.Message{heartbeat(3, 1, 1)})
		e := waitEvent(t, c, func(e StreamEvent) bool { return e.Lane == LaneControl })
		if e.Up || !strings.Contains(e.Err.Error(), "tls") {
			t.Fatalf("event %+v, want a TLS failure", e)
		}
	})

	t.Run("server certificate from an untrusted CA", func(t *testing.T) {
		// d presents a's CA-signed certificate but trusts only other.
		d := newNode(t, 4, 7, mutualTLS(ca.issue(t, "d"), other))
		if err := a.AddPeer(4, d.Addr().String()); err != nil {
			t.Fatal(err)
		}
		if err := d.AddPeer(1, a.Addr().String()); err != nil {
			t.Fatal(err)
		}
		d.Send([]raft.Message{heartbeat(4, 1, 1)})
		e := waitEvent(t, d, func(e StreamEvent) bool { return e.Lane == LaneControl })
		var verr *tls.CertificateVerificationError
		if e.Up || !errors.As(e.Err, &verr) {
			t.Fatalf("event %+v, want a certificate verification failure", e)
		}
	})

	select {
	case m := <-a.Inbound():
		t.Fatalf("message over a failed handshake delivered: %v", m)
	default:
	}
	// a counts its failed handshakes after sending its alert, so possibly
	// after the dialer has seen it.
	waitFor(t, func() bool { return a.Stats().RefusedStreams > 0 })
}

// TestTLSFromTheListener: a transport whose Listener hands it connections
// that are TLS already (as the server's peer port does) takes ClientTLS or
// GetClientTLS alone, and GetClientTLS is asked afresh for every dial.
func TestTLSFromTheListener(t *testing.T) {
	checkNoLeak(t)
	ca := newCA(t, "raftkv test CA")
	certA, certB := ca.issue(t, "a"), ca.issue(t, "b")
	var dials atomic.Int64
	clientOf := func(cert tls.Certificate) func() *tls.Config {
		return func() *tls.Config {
			dials.Add(1)
			return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.pool}
		}
	}
	terminating := func(cert tls.Certificate) func(*Config) {
		return func(c *Config) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			c.ListenAddr, c.Listener = "", tls.NewListener(ln, &tls.Config{
				Certificates: []tls.Certificate{cert}, ClientCAs: ca.pool, ClientAuth: tls.RequireAndVerifyClientCert,
			})
			c.GetClientTLS = clientOf(cert)
		}
	}
	a, b := newNode(t, 1, 7, terminating(certA)), newNode(t, 2, 7, terminating(certB))
	connect(t, a, b)
	a.Send([]raft.Message{heartbeat(1, 2, 1)})
	if m := recv(t, b); m.Type != raft.MsgHeartbeat {
		t.Fatalf("got %v", m)
	}
	if dials.Load() == 0 {
		t.Error("GetClientTLS was never called")
	}

	if _, err := New(Config{ID: 3, ServerTLS: &tls.Config{}}); err == nil || !strings.Contains(err.Error(), "must dial with TLS too") {
		t.Errorf("New with ServerTLS alone: %v", err)
	}
}
