package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/raftkv/raftkv/internal/certs"
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
	ca, err := certs.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	srvPair, err := ca.Issue(certs.Options{CommonName: "member"})
	if err != nil {
		t.Fatal(err)
	}
	cliPair, err := ca.Issue(certs.Options{CommonName: "client"})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	if err := ca.WriteCert(caFile); err != nil {
		t.Fatal(err)
	}
	if err := cliPair.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	srvCert, err := srvPair.TLS()
	if err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Etcd-Index", "3")
		fmt.Fprintf(w, `{"action":"get","node":{"key":"/k","value":%q,"modifiedIndex":3,"createdIndex":3}}`+"\n", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{srvCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
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
	// etcdctl's flag names, and raftkvctl's *_FILE variables.
	res = runCtl(t, nil, "", env, "--no-sync", "--ca-file", caFile, "--cert-file", certFile, "--key-file", keyFile, "get", "/k")
	if res.code != 0 || res.stdout != "client\n" {
		t.Errorf("with etcdctl's flags: %+v", res)
	}
	env3 := map[string]string{"RAFTKVCTL_ENDPOINTS": srv.URL, "RAFTKVCTL_CA_FILE": caFile, "RAFTKVCTL_CERT_FILE": certFile, "RAFTKVCTL_KEY_FILE": keyFile}
	res = runCtl(t, nil, "", env3, "--no-sync", "get", "/k")
	if res.code != 0 || res.stdout != "client\n" {
		t.Errorf("from RAFTKVCTL_*_FILE: %+v", res)
	}
	// Without a client certificate the server refuses the handshake.
	res = runCtl(t, nil, "", env, "--no-sync", "--cacert", caFile, "get", "/k")
	if res.code != exitBadConnection || !strings.Contains(res.stderr, "tls: certificate required") {
		t.Errorf("without --cert: %+v", res)
	}
	// Without the CA the server is not trusted: nothing was sent.
	res = runCtl(t, nil, "", env, "--no-sync", "get", "/k")
	if res.code != exitBadConnection || !strings.Contains(res.stderr, "certificate signed by unknown authority") || !strings.Contains(res.stderr, "give that CA with --cacert") {
		t.Errorf("without --cacert: %+v", res)
	}
	res = runCtl(t, nil, "", env, "--no-sync", "--cacert", certFile+".missing", "get", "/k")
	if res.code != exitBadAuth || !strings.HasPrefix(res.stderr, "Error:  client: bad TLS files: CA file: open ") {
		t.Errorf("a missing --cacert: %+v", res)
	}
}
