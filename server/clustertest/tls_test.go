package clustertest

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/certs"
	"github.com/raftkv/raftkv/internal/testcluster"
)

// newTLSCluster starts an n-member cluster with https client URLs and
// client-certificate auth and peer mutual TLS (testcluster's TLS mode);
// args follow (and may switch parts off again).
func newTLSCluster(t *testing.T, n int, args ...string) (*testcluster.Cluster, *http.Client) {
	t.Helper()
	c := testcluster.NewWith(t, testcluster.Options{Members: n, TLS: true, Args: args})
	hc := c.HTTPClient(5 * time.Second)
	t.Cleanup(hc.CloseIdleConnections)
	return c, hc
}

// tlsClient is an https client trusting ca (curl --cacert), presenting
// cert if given (--cert --key). It presents cert even to a server whose
// CA list does not name its issuer, as curl does (Go's client would
// otherwise quietly send none).
func tlsClient(t *testing.T, ca *certs.CA, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: ca.Pool()}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func mustCA(t *testing.T, c *testcluster.Cluster) *certs.CA {
	t.Helper()
	ca, err := c.TLS.CA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t *testing.T, ca *certs.CA, cn string) *certs.Pair {
	t.Helper()
	p, err := ca.Issue(certs.Options{CommonName: cn})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tlsCertOf(t *testing.T, p *certs.Pair) *tls.Certificate {
	t.Helper()
	c, err := p.TLS()
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// metricSum is the sum of metric's series whose labels contain every one
// of labels, from base's /metrics.
func metricSum(ctx context.Context, hc *http.Client, base, metric string, labels ...string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
lines:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue lines
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, sc.Err()
}

// waitRefusalCounted waits until one of the members counts a refused
// handshake with the reason in metric.
func waitRefusalCounted(t *testing.T, c *testcluster.Cluster, hc *http.Client, metric, reason string) {
	t.Helper()
	eventually(t, 10*time.Second, 20*time.Millisecond, metric+" "+reason, func(ctx context.Context) error {
		total := 0.0
		for _, m := range c.Members {
			v, err := metricSum(ctx, hc, m.ClientURL, metric, `reason="`+reason+`"`)
			if err != nil {
				return err
			}
			total += v
		}
		if total == 0 {
			return fmt.Errorf("no member counts a %q refusal yet", reason)
		}
		return nil
	})
}

// TestTLSClientsAndPeers runs a cluster as the issue's third recipe does
// (https with client-certificate auth, peer mutual TLS) and checks who
// gets in: a client with the CA's certificate does; one without a
// certificate, one with another CA's and a plain-HTTP one do not; a
// plaintext peer and a member with another CA's certificate are refused,
// counted and logged with their address.
func TestTLSClientsAndPeers(t *testing.T) {
	c, hc := newTLSCluster(t, 3)
	ctx := t.Context()
	ca := mustCA(t, c)
	leader := waitLeader(t, c, 10*time.Second)
	follower := c.Members[(leader+1)%3].ClientURL
	if r, err := keys(ctx, hc, http.MethodPut, follower, "/tls", vals("value", "on")); err != nil || r.Status != http.StatusCreated {
		t.Fatalf("PUT through a follower with a client certificate: %v %v", r, err)
	}
	for _, m := range c.Members {
		waitLocalValue(t, hc, m.ClientURL, "/tls", "on", 10*time.Second)
	}

	t.Run("client without a certificate", func(t *testing.T) {
		if _, err := keys(ctx, tlsClient(t, ca, nil), http.MethodGet, follower, "/tls", nil); err == nil {
			t.Fatal("served a client without a certificate")
		}
		waitRefusalCounted(t, c, hc, "raftkv_network_client_handshake_failures_total", "no certificate")
	})
	t.Run("client certificate from another CA", func(t *testing.T) {
		other, err := certs.NewCA("another CA")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys(ctx, tlsClient(t, ca, tlsCertOf(t, issue(t, other, "root"))), http.MethodGet, follower, "/tls", nil); err == nil {
			t.Fatal("served a client with another CA's certificate")
		}
		waitRefusalCounted(t, c, hc, "raftkv_network_client_handshake_failures_total", "unknown authority")
	})
	t.Run("plain http to an https URL", func(t *testing.T) {
		resp, err := newHTTPClient(5 * time.Second).Get(strings.Replace(follower, "https://", "http://", 1) + "/version")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "HTTPS server") {
			t.Fatalf("%s %q, want 400 saying the server speaks HTTPS", resp.Status, b)
		}
	})
	t.Run("plaintext peer", func(t *testing.T) {
		m := c.Members[leader]
		conn, err := net.Dial("tcp", strings.TrimPrefix(m.PeerURL, "https://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// A raft stream header in the clear, as a member without peer TLS
		// sends it.
		if _, err := conn.Write([]byte("RKVP\x01\x01\x00\x00" + strings.Repeat("\x00", 24))); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(conn); err != nil {
			t.Fatalf("the peer listener did not close a plaintext connection: %v", err)
		}
		waitRefusalCounted(t, c, hc, "raftkv_network_peer_handshake_failures_total", "not TLS")
		if log, remote := c.Log(leader), conn.LocalAddr().String(); !strings.Contains(log, "remote="+remote) {
			t.Errorf("%s's log does not name the plaintext peer %s", m.Name, remote)
		}
	})
	t.Run("member with another CA's certificate cannot join", func(t *testing.T) {
		ports, err := testcluster.FreePorts(2)
		if err != nil {
			t.Fatal(err)
		}
		clientURL, peerURL := fmt.Sprintf("https://127.0.0.1:%d", ports[0]), fmt.Sprintf("https://127.0.0.1:%d", ports[1])
		if status, err := membersRequest(ctx, hc, http.MethodPost, follower+"/v2/members", map[string]any{"peerURLs": []string{peerURL}}, nil); err != nil || status != http.StatusCreated {
			t.Fatalf("POST /v2/members: %d %v", status, err)
		}
		other, err := certs.NewCA("another CA")
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		certFile, keyFile := filepath.Join(dir, "m4.crt"), filepath.Join(dir, "m4.key")
		if err := issue(t, other, "m4").Write(certFile, keyFile); err != nil {
			t.Fatal(err)
		}
		var initial []string
		for _, m := range c.Members {
			initial = append(initial, m.Name+"="+m.PeerURL)
		}
		// It trusts the cluster's CA: only its own certificate is wrong.
		p := startProc(t, "m4",
			"--name", "m4", "--data-dir", filepath.Join(dir, "m4.raftkv"),
			"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", strings.Join(append(initial, "m4="+peerURL), ","), "--initial-cluster-state", "existing",
			"--initial-cluster-token", filepath.Base(clusterDir(c)),
			"--cert-file", c.TLS.ServerCert, "--key-file", c.TLS.ServerKey,
			"--peer-cert-file", certFile, "--peer-key-file", keyFile,
			"--peer-client-cert-auth", "--peer-trusted-ca-file", c.TLS.CAFile)
		if code := p.wait(t, 20*time.Second); code == 0 {
			t.Fatalf("a member with another CA's certificate started:\n%s", p.out.String())
		}
		if out := p.out.String(); !strings.Contains(out, "cannot join") {
			t.Errorf("m4's output does not say it cannot join:\n%s", out)
		}
		waitRefusalCounted(t, c, hc, "raftkv_network_peer_handshake_failures_total", "unknown authority")
	})
}

// servedSerial dials addr and returns the serial of the certificate the
// server presents.
func servedSerial(ctx context.Context, addr string, cfg *tls.Config) (*big.Int, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// TestTLSRotation replaces a serving member's peer certificate and its
// client-listener certificate with new files (a new key too) and checks
// that new connections get the new certificates with no restart, and that
// the cluster goes on working through the rotated member.
func TestTLSRotation(t *testing.T) {
	c, hc := newTLSCluster(t, 3)
	ctx := t.Context()
	ca := mustCA(t, c)
	dial := c.ClientTLS()
	m := c.Members[0]
	newPeer := issue(t, ca, m.Name)
	if err := newPeer.Write(c.TLS.PeerCert(m.Name), c.TLS.PeerKey(m.Name)); err != nil {
		t.Fatal(err)
	}
	// The server certificate is shared by every member: rotate it for all.
	newServer := issue(t, ca, "server")
	if err := newServer.Write(c.TLS.ServerCert, c.TLS.ServerKey); err != nil {
		t.Fatal(err)
	}
	// The member looks at its files at most once a second, on a
	// handshake: each poll is a handshake.
	for _, w := range []struct {
		addr   string
		serial *big.Int
	}{
		{strings.TrimPrefix(m.PeerURL, "https://"), newPeer.Cert.SerialNumber},
		{strings.TrimPrefix(m.ClientURL, "https://"), newServer.Cert.SerialNumber},
	} {
		eventually(t, 10*time.Second, 50*time.Millisecond, "the new certificate on "+w.addr, func(ctx context.Context) error {
			got, err := servedSerial(ctx, w.addr, dial)
			if err != nil {
				return err
			}
			if got.Cmp(w.serial) != 0 {
				return fmt.Errorf("serial %x, want %x", got, w.serial)
			}
			return nil
		})
	}
	if !strings.Contains(c.Log(0), "TLS files changed: reloaded") {
		t.Errorf("%s did not log the rotation", m.Name)
	}
	// The member goes on serving, and a write through it reaches every
	// member (over streams opened before the rotation, or redialled with
	// the new certificate).
	if r, err := keys(ctx, hc, http.MethodPut, m.ClientURL, "/rotated", vals("value", "yes")); err != nil || r.Status != http.StatusCreated {
		t.Fatalf("PUT through the rotated member: %v %v", r, err)
	}
	for _, o := range c.Members {
		waitLocalValue(t, hc, o.ClientURL, "/rotated", "yes", 10*time.Second)
	}
	// A restarted peer dials the rotated member afresh: its new peer
	// certificate is accepted and it is accepted by the others.
	c.Kill(1)
	if err := c.Restart(1); err != nil {
		t.Fatal(err)
	}
	if r, err := keys(ctx, hc, http.MethodPut, m.ClientURL, "/after-restart", vals("value", "yes")); err != nil || r.Status != http.StatusCreated {
		t.Fatalf("PUT after the restart: %v %v", r, err)
	}
	waitLocalValue(t, hc, c.Members[1].ClientURL, "/after-restart", "yes", 20*time.Second)
}

// TestTLSServerOnly is the issue's first recipe: https with the server's
// certificate only; a client that has the CA (curl --cacert) is served
// without a certificate of its own.
func TestTLSServerOnly(t *testing.T) {
	c, _ := newTLSCluster(t, 1, "--client-cert-auth=false")
	ctx := t.Context()
	hc := tlsClient(t, mustCA(t, c), nil)
	if r, err := keys(ctx, hc, http.MethodPut, c.Members[0].ClientURL, "/foo", vals("value", "bar")); err != nil || r.Status != http.StatusCreated {
		t.Fatalf("PUT with --cacert only: %v %v", r, err)
	}
	// A client that does not trust the CA refuses the server.
	if _, err := keys(ctx, newHTTPClient(5*time.Second), http.MethodGet, c.Members[0].ClientURL, "/foo", nil); err == nil {
		t.Fatal("a client without the CA accepted the server's certificate")
	}
}

// TestLinearizableUnderFaultsTLS is TestLinearizableUnderFaults with
// client TLS (and client certificates) and peer mutual TLS on.
func TestLinearizableUnderFaultsTLS(t *testing.T) {
	c, _ := newTLSCluster(t, 3)
	linearizableUnderFaults(t, c)
}
