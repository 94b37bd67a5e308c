package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// runCtl runs raftkvctl in this process and returns its output.
func runCtl(t *testing.T, ctx context.Context, stdin string, env map[string]string, args ...string) result {
	t.Helper()
	r := &runner{env: env}
	p := r.start(t, args, stdin, nil)
	if ctx != nil {
		go func() { <-ctx.Done(); p.stop() }()
	}
	return p.wait(t)
}

// TestWatchForeverRecoversFrom401 checks that watch --forever, having
// fallen out of the history between two polls, says so on stderr, reads
// the current index and goes on from there.
func TestWatchForeverRecoversFrom401(t *testing.T) {
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.RequestURI())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		q := r.URL.Query()
		switch {
		case q.Get("wait") == "" && r.Method == http.MethodGet:
			w.Header().Set("X-Etcd-Index", "1500")
			fmt.Fprintln(w, `{"action":"get","node":{"key":"/k","value":"v","modifiedIndex":1400,"createdIndex":1400}}`)
		case q.Get("waitIndex") == "":
			w.Header().Set("X-Etcd-Index", "4")
			fmt.Fprintln(w, `{"action":"set","node":{"key":"/k","value":"a","modifiedIndex":5,"createdIndex":5}}`)
		case q.Get("waitIndex") == "6":
			w.Header().Set("X-Etcd-Index", "1500")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintln(w, `{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [501/6]","index":1500}`)
		case q.Get("waitIndex") == "1501":
			w.Header().Set("X-Etcd-Index", "1500")
			fmt.Fprintln(w, `{"action":"set","node":{"key":"/k","value":"b","modifiedIndex":1501,"createdIndex":1501}}`)
		default:
			close(done)
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-done; cancel() }()
	res := runCtl(t, ctx, "", map[string]string{"RAFTKVCTL_ENDPOINTS": srv.URL}, "--no-sync", "watch", "--forever", "/k")
	if res.code != 0 || res.stdout != "a\nb\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	want := "Warning: changes of /k after index 5 are no longer in the history and were missed; watching from index 1500\n"
	if res.stderr != want {
		t.Errorf("stderr = %q, want %q", res.stderr, want)
	}
	mu.Lock()
	defer mu.Unlock()
	wantReqs := []string{
		"GET /v2/keys/k?wait=true",
		"GET /v2/keys/k?wait=true&waitIndex=6",
		"GET /v2/keys/k",
		"GET /v2/keys/k?wait=true&waitIndex=1501",
		"GET /v2/keys/k?wait=true&waitIndex=1502",
	}
	if strings.Join(got, "\n") != strings.Join(wantReqs, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantReqs, "\n"))
	}
}

// TestUsernamePrompt checks --username without a password: it is read
// from stdin when stdin is not a terminal.
func TestUsernamePrompt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "root" || p != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, `{"errorCode":110,"message":"The request requires user authentication","cause":"Insufficient credentials","index":0}`)
			return
		}
		w.Header().Set("X-Etcd-Index", "3")
		fmt.Fprintln(w, `{"action":"get","node":{"key":"/k","value":"v","modifiedIndex":3,"createdIndex":3}}`)
	}))
	defer srv.Close()
	env := map[string]string{"RAFTKVCTL_ENDPOINTS": srv.URL}
	res := runCtl(t, nil, "s3cret\n", env, "--no-sync", "-u", "root", "get", "/k")
	if res.code != 0 || res.stdout != "v\n" || res.stderr != "Password: " {
		t.Errorf("prompted: %+v", res)
	}
	res = runCtl(t, nil, "", env, "--no-sync", "--username", "root:s3cret", "get", "/k")
	if res.code != 0 || res.stdout != "v\n" {
		t.Errorf("user:password: %+v", res)
	}
	res = runCtl(t, nil, "", env, "--no-sync", "get", "/k")
	if res.code != exitServerError || res.stderr != "Error:  110: The request requires user authentication (Insufficient credentials) [0]\n" {
		t.Errorf("no credentials: %+v", res)
	}
}

// TestDebugPrintsCurl checks --debug: the sync steps and a curl command
// per request, on stderr.
func TestDebugPrintsCurl(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Etcd-Index", "3")
		fmt.Fprintln(w, `{"action":"set","node":{"key":"/k","value":"a b","modifiedIndex":3,"createdIndex":3}}`)
	}))
	defer srv.Close()
	res := runCtl(t, nil, "", map[string]string{"RAFTKVCTL_ENDPOINTS": srv.URL}, "--no-sync", "--debug", "set", "/k", "a b", "--ttl", "5")
	want := "Cluster-Endpoints: " + srv.URL + "\n" + `curl -X PUT "` + srv.URL + `/v2/keys/k" -d "ttl=5&value=a+b"` + "\n"
	if res.code != 0 || res.stderr != want {
		t.Errorf("stderr = %q, want %q", res.stderr, want)
	}
}

// TestTLSFlags runs against a TLS server that requires a client
// certificate: --cacert verifies it, --cert and --key identify the client.
func TestTLSFlags(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "test CA", true)
	srvCert, srvKey := newCert(t, ca, caKey, "127.0.0.1", false)
	cliCert, cliKey := newCert(t, ca, caKey, "client", false)
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", certBlock(ca))
	certFile := write("client.pem", certBlock(cliCert))
	keyFile := write("client-key.pem", keyBlock(t, cliKey))

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Etcd-Index", "3")
		fmt.Fprintf(w, `{"action":"get","node":{"key":"/k","value":%q,"modifiedIndex":3,"createdIndex":3}}`+"\n", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	srv.StartTLS()
	defer srv.Close()
	env := map[string]string{"RAFTKVCTL_ENDPOINTS": srv.URL}

	res := runCtl(t, nil, "", env, "--no-sync", "--cacert", caFile, "--cert", certFile, "--key", keyFile, "get", "/k")
	if res.code != 0 || res.stdout != "client\n" {
		t.Errorf("with the flags: %+v", res)
	}
	// The same from the environment, with etcdctl's names.
	env2 := map[string]string{"RAFTKVCTL_ENDPOINTS": srv.URL, "ETCDCTL_CA_FILE": caFile, "RAFTKVCTL_CERT": certFile, "ETCDCTL_KEY_FILE": keyFile}
	res = runCtl(t, nil, "", env2, "--no-sync", "get", "/k")
	if res.code != 0 || res.stdout != "client\n" {
		t.Errorf("from the environment: %+v", res)
	}
	// Without the CA the server is not trusted: nothing was sent.
	res = runCtl(t, nil, "", env, "--no-sync", "get", "/k")
	if res.code != exitBadConnection || !strings.Contains(res.stderr, "certificate signed by unknown authority") {
		t.Errorf("without --cacert: %+v", res)
	}
	res = runCtl(t, nil, "", env, "--no-sync", "--cacert", certFile+".missing", "get", "/k")
	if res.code != exitBadAuth || !strings.HasPrefix(res.stderr, "Error:  reading --cacert: ") {
		t.Errorf("a missing --cacert: %+v", res)
	}
}

func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:         isCA,
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	if isCA {
		tmpl.BasicConstraintsValid = true
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func certBlock(c *x509.Certificate) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw} }

func keyBlock(t *testing.T, k *ecdsa.PrivateKey) *pem.Block {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "EC PRIVATE KEY", Bytes: b}
}
