// Package certs makes X.509 certificates with Go's crypto/x509: a
// certificate authority, and certificates it signs for members, servers
// and clients, or self-signed ones. raftkv-local --tls, the tests, and
// the server's --auto-tls use it, so that nobody needs openssl.
//
// Keys are ECDSA P-256, written as unencrypted PKCS #8 PEM ("PRIVATE
// KEY") with mode 0600; certificates are PEM ("CERTIFICATE"). Serial
// numbers are random 128-bit numbers.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Options describe a certificate to make.
type Options struct {
	// CommonName is the subject's CN (with v2 auth and client-certificate
	// auth, a client certificate's CN is the user name).
	CommonName string
	// IPs and DNSNames are the subject alternative names. If both are
	// empty: 127.0.0.1 and localhost.
	IPs      []net.IP
	DNSNames []string
	// NotBefore and NotAfter bound the validity. Zero: an hour ago, and
	// NotBefore plus ValidFor.
	NotBefore, NotAfter time.Time
	// ValidFor is the lifetime when NotAfter is zero (0: one year).
	ValidFor time.Duration
}

// Pair is a certificate and its private key.
type Pair struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
	key     *ecdsa.PrivateKey
}

// CA is a certificate authority: a self-signed CA certificate and its key.
type CA struct {
	Pair
}

// NewCA makes a certificate authority named cn, valid for ten years.
func NewCA(cn string) (*CA, error) {
	p, err := makePair(Options{CommonName: cn, ValidFor: 10 * 365 * 24 * time.Hour}, nil, true)
	if err != nil {
		return nil, err
	}
	return &CA{*p}, nil
}

// LoadCA reads a CA's certificate and key from files written by
// CA.Write (or any PEM certificate and unencrypted ECDSA key).
func LoadCA(certFile, keyFile string) (*CA, error) {
	p, err := LoadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if !p.Cert.IsCA {
		return nil, fmt.Errorf("certs: %s is not a CA certificate", certFile)
	}
	return &CA{*p}, nil
}

// Issue makes a certificate signed by the CA, usable both as a server and
// as a client certificate (the serverAuth and clientAuth extended key
// usages): a member's peer certificate is both.
func (ca *CA) Issue(o Options) (*Pair, error) { return makePair(o, &ca.Pair, false) }

// SelfSigned makes a self-signed certificate (what --auto-tls uses).
func SelfSigned(o Options) (*Pair, error) { return makePair(o, nil, false) }

// Pool is a certificate pool holding just this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// TLS is the pair as a tls.Certificate.
func (p *Pair) TLS() (tls.Certificate, error) { return tls.X509KeyPair(p.CertPEM, p.KeyPEM) }

// Write writes the certificate to certFile and the key to keyFile (mode
// 0600), creating their directories. Each file is written to a temporary
// name and renamed, so a reader never sees half a file.
func (p *Pair) Write(certFile, keyFile string) error {
	if err := writeFile(certFile, p.CertPEM, 0o644); err != nil {
		return err
	}
	return writeFile(keyFile, p.KeyPEM, 0o600)
}

// WriteCert writes only the certificate (a CA file for the other side).
func (p *Pair) WriteCert(certFile string) error { return writeFile(certFile, p.CertPEM, 0o644) }

// LoadPair reads a certificate and unencrypted ECDSA key written by
// Write.
func LoadPair(certFile, keyFile string) (*Pair, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cblock, _ := pem.Decode(cb)
	kblock, _ := pem.Decode(kb)
	if cblock == nil || kblock == nil {
		return nil, fmt.Errorf("certs: %s or %s is not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %v", certFile, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kblock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %v", keyFile, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("certs: %s is not an ECDSA key", keyFile)
	}
	return &Pair{Cert: cert, CertPEM: cb, KeyPEM: kb, key: key}, nil
}

func makePair(o Options, parent *Pair, isCA bool) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	notBefore, notAfter := o.NotBefore, o.NotAfter
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Hour)
	}
	if notAfter.IsZero() {
		d := o.ValidFor
		if d <= 0 {
			d = 365 * 24 * time.Hour
		}
		notAfter = notBefore.Add(d)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.CommonName, Organization: []string{"raftkv"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
	}
	if isCA {
		tmpl.IsCA = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses, tmpl.DNSNames = o.IPs, o.DNSNames
		if len(o.IPs) == 0 && len(o.DNSNames) == 0 {
			tmpl.IPAddresses, tmpl.DNSNames = []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"}
		}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		if parent.key == nil {
			return nil, errors.New("certs: the CA has no private key")
		}
		signer, signerKey = parent.Cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Pair{
		Cert:    cert,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		key:     key,
	}, nil
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// CRL makes a PEM certificate revocation list, signed by the CA, that
// revokes the given certificates.
func (ca *CA) CRL(revoked ...*x509.Certificate) ([]byte, error) {
	var entries []x509.RevocationListEntry
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(time.Now().UnixNano()),
		ThisUpdate:                time.Now().Add(-time.Minute),
		NextUpdate:                time.Now().Add(24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), nil
}
