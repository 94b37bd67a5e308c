package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ErrTLSFiles is matched (with errors.Is) by every error of
// TLSConfigFromFiles: a file that cannot be read or does not hold what it
// should.
var ErrTLSFiles = errors.New("client: bad TLS files")

// TLSConfigFromFiles builds Config.TLS from PEM files, as etcdctl's
// --cert-file, --key-file and --ca-file do. certFile and keyFile are the
// client's certificate and key, presented to members started with
// --client-cert-auth; give both or neither. caFile is the bundle of CA
// certificates that signed the members' certificates; empty means the
// system's roots. All empty gives nil (plain defaults). The result asks
// for TLS 1.2 or later.
func TLSConfigFromFiles(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" && caFile == "" {
		return nil, nil
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("%w: a client certificate needs its key and a key its certificate (cert %q, key %q)", ErrTLSFiles, certFile, keyFile)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %s and key %s: %v", ErrTLSFiles, certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file: %v", ErrTLSFiles, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrTLSFiles, caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
