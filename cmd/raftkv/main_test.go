package main

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestTLSFlags(t *testing.T) {
	var o options
	fs := newFlagSet(&o, io.Discard)
	if err := fs.Parse([]string{
		"--cert-file", "s.crt", "--key-file", "s.key", "--client-crl-file", "c.crl", "--auto-tls",
		"--peer-cert-file", "p.crt", "--peer-key-file", "p.key", "--peer-cert-allowed-cn", "member",
		"--peer-crl-file", "p.crl", "--peer-auto-tls",
		"--ca-file", "ca.crt", "--tls-min-version", "TLS1.3",
	}); err != nil {
		t.Fatal(err)
	}
	// The environment works for the new flags as for the others.
	if err := applyEnv(fs, []string{"RAFTKV_PEER_CA_FILE=peer-ca.crt"}, func(string) {}, func(string) {}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg, err := memberConfig(&o, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c, p := cfg.ClientTLS, cfg.PeerTLS
	if c.CertFile != "s.crt" || c.KeyFile != "s.key" || c.CRLFile != "c.crl" || !c.AutoTLS ||
		c.TrustedCAFile != "ca.crt" || !c.ClientCertAuth {
		t.Errorf("client side %+v", c)
	}
	if p.CertFile != "p.crt" || p.KeyFile != "p.key" || p.CRLFile != "p.crl" || !p.AutoTLS || p.AllowedCN != "member" ||
		p.TrustedCAFile != "peer-ca.crt" || !p.ClientCertAuth {
		t.Errorf("peer side %+v", p)
	}
	if cfg.TLSMinVersion != tls.VersionTLS13 {
		t.Errorf("min version %x", cfg.TLSMinVersion)
	}
	for _, w := range []string{"--ca-file is deprecated", "--peer-ca-file is deprecated"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("no warning %q in %s", w, logs.String())
		}
	}
}

func TestTLSFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cipher-suites", "TLS_BOGUS"}, `unknown cipher suite "TLS_BOGUS"`},
		{[]string{"--tls-min-version", "TLS1.0"}, "want TLS1.2 or TLS1.3"},
		{[]string{"--ca-file", "a.crt", "--trusted-ca-file", "b.crt"}, "disagree"},
		{[]string{"--bcrypt-cost", "3"}, "--bcrypt-cost must be from 4 to 31, not 3"},
		{[]string{"--bcrypt-cost", "32"}, "--bcrypt-cost must be from 4 to 31, not 32"},
	} {
		var stderr bytes.Buffer
		if code := run(tc.args, nil, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("raftkv %v: exit %d, %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
