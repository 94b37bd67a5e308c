package certs

import (
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"
)

func TestIssueLoadRevoke(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ca.Write(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	again, err := LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := again.Issue(Options{CommonName: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := p.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("usage %v: %v", usage, err)
		}
	}
	if p.Cert.VerifyHostname("127.0.0.1") != nil || p.Cert.Subject.CommonName != "m1" {
		t.Errorf("SANs %v %v, CN %q", p.Cert.IPAddresses, p.Cert.DNSNames, p.Cert.Subject.CommonName)
	}
	if _, err := p.TLS(); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "missing.key")); err == nil {
		t.Error("LoadCA without a key succeeded")
	}
	self, err := SelfSigned(Options{DNSNames: []string{"example.test"}, ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if self.Cert.VerifyHostname("example.test") != nil || self.Cert.NotAfter.Sub(self.Cert.NotBefore) != time.Hour {
		t.Errorf("self-signed: %v, %v to %v", self.Cert.DNSNames, self.Cert.NotBefore, self.Cert.NotAfter)
	}
	b, err := ca.CRL(p.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		t.Fatal("empty CRL")
	}
}
