package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftkv/raftkv/internal/certs"
)

// TLSInfo is one side's TLS settings: the client side (--cert-file,
// --key-file, --trusted-ca-file, --client-cert-auth, --client-crl-file,
// --auto-tls) or the peer side (the same flags with --peer-, and
// --peer-cert-allowed-cn). On the peer side the certificate is both the
// peer listener's server certificate and the client certificate this
// member presents when it dials its peers.
type TLSInfo struct {
	CertFile, KeyFile string
	// TrustedCAFile holds the CA certificates that sign the other side's
	// certificates: clients' (with ClientCertAuth), and on the peer side
	// also the peers' server certificates.
	TrustedCAFile string
	// ClientCertAuth requires and verifies a certificate from every
	// connecting client (or peer) against TrustedCAFile.
	ClientCertAuth bool
	// CRLFile is a certificate revocation list (PEM or DER): a connecting
	// client (or peer) presenting a revoked certificate is refused.
	CRLFile string
	// AutoTLS makes a self-signed certificate in the data dir
	// (fixtures/client or fixtures/peer) when CertFile is empty: traffic
	// is encrypted but nobody is authenticated. For development.
	AutoTLS bool
	// AllowedCN, on the peer side, refuses peers whose certificate has
	// another common name.
	AllowedCN string
}

// hasCert says whether the side has a certificate to serve TLS with.
func (i TLSInfo) hasCert() bool { return i.CertFile != "" || i.KeyFile != "" || i.AutoTLS }

// ParseTLSVersion parses --tls-min-version: TLS1.2 or TLS1.3 (etcd's
// spellings; "TLS 1.2" and "1.2" too). Empty is TLS 1.2.
func ParseTLSVersion(s string) (uint16, error) {
	switch strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", "")) {
	case "", "TLS1.2", "1.2":
		return tls.VersionTLS12, nil
	case "TLS1.3", "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("--tls-min-version %q: want TLS1.2 or TLS1.3", s)
}

// ParseCipherSuites parses --cipher-suites: a comma-separated list of
// names as Go's tls.CipherSuiteName spells them (which are the IANA
// names, as etcd takes them). Suites Go considers insecure are refused.
func ParseCipherSuites(s string) ([]uint16, error) {
	known := map[string]uint16{}
	for _, cs := range tls.CipherSuites() {
		known[cs.Name] = cs.ID
	}
	insecure := map[string]bool{}
	for _, cs := range tls.InsecureCipherSuites() {
		insecure[cs.Name] = true
	}
	var out []uint16
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		id, ok := known[name]
		if !ok {
			if insecure[name] {
				return nil, fmt.Errorf("--cipher-suites: %s is insecure; choose among %s", name, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
			}
			return nil, fmt.Errorf("--cipher-suites: unknown cipher suite %q; choose among %s", name, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
		out = append(out, id)
	}
	return out, nil
}

// tlsCheckInterval is how often, at most, a handshake looks at the
// certificate, CA and CRL files for changes.
const tlsCheckInterval = time.Second

// Handshake deadlines: a connection that has not finished its TLS
// handshake by then is dropped (and counted).
const (
	peerHandshakeTimeout   = 5 * time.Second
	clientHandshakeTimeout = 10 * time.Second
)

// tlsSide is one side's TLS at run time: the certificate, CA pool and CRL,
// each re-read when its files change, and the configurations built from
// them.
type tlsSide struct {
	side       string // "client" or "peer"
	info       TLSInfo
	minVersion uint16
	suites     []uint16
	log        *slog.Logger
	// selfSigned: the certificate came from AutoTLS. Peers then encrypt
	// without verifying each other (there is no CA to verify against).
	selfSigned bool
	pair       *watched[*tls.Certificate]
	ca         *watched[*x509.CertPool]    // nil without TrustedCAFile
	crl        *watched[map[string]string] // serial → CRL file; nil without CRLFile
	failures   *prometheus.CounterVec      // by listener and reason
}

// flag is the name of this side's flag for setting name ("cert-file" is
// --cert-file or --peer-cert-file).
func (s *tlsSide) flag(name string) string {
	if s.side == "peer" {
		return "--peer-" + name
	}
	if name == "crl-file" {
		return "--client-crl-file"
	}
	return "--" + name
}

// newTLSSide checks one side's settings and loads its files. hosts are
// the names and addresses a self-signed certificate is made for.
func newTLSSide(side string, info TLSInfo, cfg *MemberConfig, hosts []string, failures *prometheus.CounterVec) (*tlsSide, error) {
	s := &tlsSide{side: side, info: info, minVersion: cfg.TLSMinVersion, suites: cfg.CipherSuites,
		log: cfg.Logger.With("component", "tls", "side", side), failures: failures}
	switch {
	case info.CertFile != "" && info.KeyFile == "":
		return nil, fmt.Errorf("server: %s is set but %s is not; give both (the certificate and its key)", s.flag("cert-file"), s.flag("key-file"))
	case info.CertFile == "" && info.KeyFile != "":
		return nil, fmt.Errorf("server: %s is set but %s is not; give both (the certificate and its key)", s.flag("key-file"), s.flag("cert-file"))
	case info.ClientCertAuth && info.TrustedCAFile == "":
		return nil, fmt.Errorf("server: %s needs %s: the CA certificate that signed the %ss' certificates", s.flag("client-cert-auth"), s.flag("trusted-ca-file"), side)
	}
	if info.AutoTLS && info.CertFile != "" {
		s.log.Warn("ignoring " + s.flag("auto-tls") + ": " + s.flag("cert-file") + " is given")
	}
	if info.AutoTLS && info.CertFile == "" {
		if side == "peer" && info.ClientCertAuth {
			return nil, errors.New("server: --peer-auto-tls makes a self-signed certificate for each member, which no CA vouches for, so --peer-client-cert-auth would refuse every peer; use certificates from a CA (--peer-cert-file, --peer-key-file) or drop --peer-client-cert-auth")
		}
		dir := filepath.Join(cfg.DataDir, "fixtures", side)
		certFile, keyFile, err := autoCert(dir, side, hosts, s.log)
		if err != nil {
			return nil, fmt.Errorf("server: %s: making a self-signed certificate in %s: %v", s.flag("auto-tls"), dir, err)
		}
		s.info.CertFile, s.info.KeyFile, s.selfSigned = certFile, keyFile, true
		s.log.Warn("using a self-signed certificate: traffic is encrypted but nobody is authenticated; for development only",
			"cert-file", certFile)
	}
	certFlag, keyFlag := s.flag("cert-file"), s.flag("key-file")
	var err error
	s.pair, err = watch(s.log, []string{s.info.CertFile, s.info.KeyFile}, func() (*tls.Certificate, error) {
		return loadKeyPair(certFlag, s.info.CertFile, keyFlag, s.info.KeyFile)
	}, describeCert)
	if err != nil {
		return nil, err
	}
	if info.TrustedCAFile != "" {
		caFlag := s.flag("trusted-ca-file")
		if s.ca, err = watch(s.log, []string{info.TrustedCAFile}, func() (*x509.CertPool, error) {
			return loadCAPool(caFlag, info.TrustedCAFile)
		}, nil); err != nil {
			return nil, err
		}
	}
	if info.CRLFile != "" {
		crlFlag := s.flag("crl-file")
		if s.crl, err = watch(s.log, []string{info.CRLFile}, func() (map[string]string, error) {
			return loadCRL(crlFlag, info.CRLFile)
		}, nil); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// serverConfig is the configuration of this side's listener. Each
// handshake gets the current certificate, CA pool and CRL.
func (s *tlsSide) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: s.minVersion, CipherSuites: s.suites,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cfg := &tls.Config{
				MinVersion: s.minVersion, CipherSuites: s.suites,
				Certificates:     []tls.Certificate{*s.pair.get()},
				VerifyConnection: s.verifyIncoming,
			}
			if s.info.ClientCertAuth {
				cfg.ClientAuth = tls.RequireAndVerifyClientCert
				cfg.ClientCAs = s.ca.get()
			}
			return cfg, nil
		},
	}
}

// clientConfig is the configuration for dialling a peer (the peer side
// only): this member's certificate as the client certificate, the trusted
// CA for the peer's server certificate.
func (s *tlsSide) clientConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion: s.minVersion, CipherSuites: s.suites,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return s.pair.get(), nil },
	}
	if s.ca != nil {
		cfg.RootCAs = s.ca.get()
	}
	if s.selfSigned {
		// --peer-auto-tls: every member's certificate is its own, signed by
		// nobody; encryption without authentication, as etcd does.
		cfg.InsecureSkipVerify = true
	}
	return cfg
}

// Errors a verified client certificate can still be refused with.
var (
	errRevoked      = errors.New("certificate revoked")
	errCNNotAllowed = errors.New("certificate common name not allowed")
)

// verifyIncoming checks what the chain verification does not: the CRL and
// --peer-cert-allowed-cn.
func (s *tlsSide) verifyIncoming(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	if s.crl != nil {
		revoked := s.crl.get()
		for _, c := range cs.PeerCertificates {
			if file, ok := revoked[c.SerialNumber.String()]; ok {
				return fmt.Errorf("%w: serial %x (CN %q) is in %s %s", errRevoked, c.SerialNumber, c.Subject.CommonName, s.flag("crl-file"), file)
			}
		}
	}
	if cn := cs.PeerCertificates[0].Subject.CommonName; s.info.AllowedCN != "" && cn != s.info.AllowedCN {
		return fmt.Errorf("%w: CN %q, but --peer-cert-allowed-cn is %q", errCNNotAllowed, cn, s.info.AllowedCN)
	}
	return nil
}

// refused logs and counts a failed handshake on listener.
func (s *tlsSide) refused(listener string, remote net.Addr, err error) {
	reason := handshakeReason(err)
	if s.failures != nil {
		s.failures.WithLabelValues(listener, reason).Inc()
	}
	s.log.Warn("TLS handshake refused", "listener", listener, "remote", remote.String(), "reason", reason, "err", err)
}

// handshakeReason sorts a server-side handshake error into the few kinds
// the failure counter is labelled with.
func handshakeReason(err error) string {
	var rh tls.RecordHeaderError
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	msg := err.Error()
	switch {
	case errors.As(err, &rh):
		return "not TLS"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, errRevoked):
		return "revoked"
	case errors.Is(err, errCNNotAllowed):
		return "CN not allowed"
	case errors.As(err, &unknownCA):
		return "unknown authority"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "expired"
	case errors.As(err, &invalid):
		return "invalid certificate"
	case strings.Contains(msg, "didn't provide a certificate"):
		return "no certificate"
	case strings.Contains(msg, "remote error"):
		return "refused by the remote"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || strings.Contains(msg, "connection reset"):
		return "closed"
	}
	return "other"
}

// serverHandshake runs the server side of a TLS handshake on c, within
// timeout.
func serverHandshake(c net.Conn, cfg *tls.Config, timeout time.Duration) (*tls.Conn, error) {
	tc := tls.Server(c, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = c.SetDeadline(time.Now().Add(timeout))
	err := tc.HandshakeContext(ctx)
	_ = c.SetDeadline(time.Time{})
	return tc, err
}

// tlsListener serves TLS on a client listener. It runs each handshake
// itself, on its own goroutine with a deadline, so that a failure is
// logged and counted and a slow client holds up nobody; Accept returns
// connections whose handshake succeeded, as *tls.Conn, so net/http fills
// in Request.TLS.
type tlsListener struct {
	ln   net.Listener
	cfg  *tls.Config
	side *tlsSide
	name string
	out  *chanListener
}

func newTLSListener(ln net.Listener, side *tlsSide) *tlsListener {
	l := &tlsListener{ln: ln, cfg: side.serverConfig(), side: side, name: ln.Addr().String(), out: newChanListener(ln.Addr())}
	go l.accept()
	return l
}

func (l *tlsListener) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			l.Close()
			return
		}
		go l.handshake(c)
	}
}

func (l *tlsListener) handshake(c net.Conn) {
	tc, err := serverHandshake(c, l.cfg, clientHandshakeTimeout)
	if err != nil {
		// As net/http does: tell a plain-HTTP client (curl http://...) what
		// went wrong instead of just hanging up.
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && rh.Conn != nil && looksLikeHTTP(rh.RecordHeader[:]) {
			_ = rh.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = io.WriteString(rh.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		l.side.refused(l.name, c.RemoteAddr(), err)
		c.Close()
		return
	}
	l.out.put(tc)
}

func looksLikeHTTP(h []byte) bool {
	for _, m := range []string{"GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH"} {
		if bytes.HasPrefix(h, []byte(m)) {
			return true
		}
	}
	return false
}

func (l *tlsListener) Accept() (net.Conn, error) { return l.out.Accept() }
func (l *tlsListener) Addr() net.Addr            { return l.ln.Addr() }
func (l *tlsListener) Close() error {
	err := l.ln.Close()
	l.out.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// setupTLS checks the TLS settings against the URLs and builds the sides
// that are in use: m.clientTLS when a client URL is https (or client
// listeners are handed in with a client certificate configured), m.peerTLS
// likewise for the peer listener. Peer TLS covers every peer path: the
// listener, raft streams and forwarded writes dialled by rpc, and the peer
// HTTP client (membership at join, askRemoved).
func (m *Member) setupTLS() error {
	cfg := &m.cfg
	if cfg.TLSMinVersion == tls.VersionTLS13 && len(cfg.CipherSuites) > 0 {
		return errors.New("server: --cipher-suites cannot be used with --tls-min-version TLS1.3: Go does not let TLS 1.3 suites be chosen; drop one of them")
	}
	// Which URLs want TLS.
	clientHTTPS, err := httpsURLs(cfg.ListenClientURLs, "--listen-client-urls", cfg.ClientTLS, "--cert-file and --key-file (or --auto-tls)")
	if err != nil {
		return err
	}
	if _, err := httpsURLs(cfg.AdvertiseClientURLs, "--advertise-client-urls", cfg.ClientTLS, "--cert-file and --key-file (or --auto-tls)"); err != nil {
		return err
	}
	need := "--peer-cert-file and --peer-key-file (or --peer-auto-tls)"
	peerHTTPS, err := httpsURLs(cfg.ListenPeerURLs, "--listen-peer-urls", cfg.PeerTLS, need)
	if err != nil {
		return err
	}
	if _, err := httpsURLs(cfg.InitialAdvertisePeerURLs, "--initial-advertise-peer-urls", cfg.PeerTLS, need); err != nil {
		return err
	}
	for _, im := range cfg.InitialCluster {
		if _, err := httpsURLs(im.PeerURLs, "--initial-cluster", cfg.PeerTLS, need); err != nil {
			return err
		}
	}
	if cfg.ClientListeners != nil {
		clientHTTPS = cfg.ClientTLS.hasCert()
	}
	if cfg.PeerListener != nil {
		peerHTTPS = cfg.PeerTLS.hasCert()
	}
	if clientHTTPS {
		hosts := urlHosts(cfg.ListenClientURLs, cfg.AdvertiseClientURLs)
		if m.clientTLS, err = newTLSSide("client", cfg.ClientTLS, cfg, hosts, m.metrics.clientHandshakeFailures); err != nil {
			return err
		}
	} else if cfg.ClientTLS.hasCert() {
		m.log.Warn("no client URL is https: ignoring --cert-file, --key-file and --auto-tls")
	}
	if peerHTTPS {
		hosts := urlHosts(cfg.ListenPeerURLs, cfg.InitialAdvertisePeerURLs)
		if m.peerTLS, err = newTLSSide("peer", cfg.PeerTLS, cfg, hosts, m.metrics.peerHandshakeFailures); err != nil {
			return err
		}
		m.httpc = &http.Client{Transport: m.peerTLS.httpTransport()}
	} else if cfg.PeerTLS.hasCert() {
		m.log.Warn("the peer URL is not https: ignoring --peer-cert-file, --peer-key-file and --peer-auto-tls")
	}
	return nil
}

// httpsURLs reports whether any of urls is https, and fails if one is
// while info has no certificate.
func httpsURLs(urls []string, flag string, info TLSInfo, need string) (bool, error) {
	found := false
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" {
			continue
		}
		if !info.hasCert() {
			return false, fmt.Errorf("server: %s %s is https, which needs %s", flag, s, need)
		}
		found = true
	}
	return found, nil
}

// urlHosts are the hosts of the URLs, without duplicates (the names of a
// self-signed certificate).
func urlHosts(lists ...[]string) []string {
	var out []string
	for _, urls := range lists {
		for _, s := range urls {
			if u, err := url.Parse(s); err == nil && u.Hostname() != "" && !slices.Contains(out, u.Hostname()) {
				out = append(out, u.Hostname())
			}
		}
	}
	return out
}

// httpTransport is the peer HTTP client's transport: https peer URLs are
// dialled with the current client configuration (this member's
// certificate, the trusted CA).
func (s *tlsSide) httpTransport() *http.Transport {
	return &http.Transport{
		IdleConnTimeout: time.Minute,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			raw, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cfg := s.clientConfig()
			if host, _, err := net.SplitHostPort(addr); err == nil {
				cfg.ServerName = host
			}
			tc := tls.Client(raw, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, err
			}
			return tc, nil
		},
	}
}

// watched is a value loaded from files and loaded again when they change
// (their modification time or size), checked at most once per
// tlsCheckInterval, on use. A load that fails keeps the old value and
// logs why.
type watched[T any] struct {
	files    []string
	load     func() (T, error)
	describe func(T) []any
	log      *slog.Logger

	mu     sync.Mutex
	value  T
	stamps []fileStamp
	next   time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampFiles(files []string) []fileStamp {
	out := make([]fileStamp, len(files))
	for i, f := range files {
		if fi, err := os.Stat(f); err == nil {
			out[i] = fileStamp{fi.ModTime(), fi.Size()}
		}
	}
	return out
}

// watch loads the value once (a failure is returned: startup stops) and
// returns the watcher.
func watch[T any](log *slog.Logger, files []string, load func() (T, error), describe func(T) []any) (*watched[T], error) {
	w := &watched[T]{files: files, load: load, describe: describe, log: log, stamps: stampFiles(files)}
	v, err := load()
	if err != nil {
		return nil, err
	}
	w.value, w.next = v, time.Now().Add(tlsCheckInterval)
	return w, nil
}

func (w *watched[T]) get() T {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if now.Before(w.next) {
		return w.value
	}
	w.next = now.Add(tlsCheckInterval)
	stamps := stampFiles(w.files)
	if slices.Equal(stamps, w.stamps) {
		return w.value
	}
	w.stamps = stamps
	v, err := w.load()
	if err != nil {
		w.log.Error("TLS files changed but cannot be used; keeping the ones loaded before", "files", w.files, "err", err)
		return w.value
	}
	attrs := []any{"files", w.files}
	if w.describe != nil {
		attrs = append(attrs, w.describe(w.value)...)
		attrs = append(attrs, w.describe(v)...)
	}
	w.log.Info("TLS files changed: reloaded", attrs...)
	w.value = v
	return v
}

func describeCert(c *tls.Certificate) []any {
	return []any{"serial", fmt.Sprintf("%x", c.Leaf.SerialNumber), "not-after", c.Leaf.NotAfter.UTC().Format(time.RFC3339)}
}

// loadKeyPair reads and checks a certificate and its key: readable, an
// unencrypted key that belongs to the certificate, valid now. Errors name
// the flag and file and say what to do.
func loadKeyPair(certFlag, certFile, keyFlag, keyFile string) (*tls.Certificate, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("server: %s %s: cannot read it: %v", certFlag, certFile, err)
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("server: %s %s: cannot read it: %v", keyFlag, keyFile, err)
	}
	if block, _ := pem.Decode(cb); block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("server: %s %s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", certFlag, certFile)
	}
	for rest := kb; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
			return nil, fmt.Errorf("server: %s %s is encrypted, and raftkv cannot ask for a passphrase; decrypt it (openssl pkey -in %s -out plain.key) and give the decrypted key", keyFlag, keyFile, keyFile)
		}
	}
	c, err := tls.X509KeyPair(cb, kb)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, fmt.Errorf("server: %s %s and %s %s do not match: the key is not this certificate's; give the key the certificate was made for", certFlag, certFile, keyFlag, keyFile)
		}
		return nil, fmt.Errorf("server: %s %s and %s %s: %v", certFlag, certFile, keyFlag, keyFile, err)
	}
	now := time.Now()
	switch leaf := c.Leaf; {
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("server: %s %s expired on %s; renew it", certFlag, certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("server: %s %s is not valid before %s; check this machine's clock or the certificate", certFlag, certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &c, nil
}

// loadCAPool reads a file of PEM CA certificates.
func loadCAPool(flag, file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("server: %s %s: cannot read it: %v", flag, file, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("server: %s %s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", flag, file)
	}
	return pool, nil
}

// loadCRL reads a certificate revocation list (PEM or DER) and returns
// its revoked serial numbers (decimal), each mapped to the file.
func loadCRL(flag, file string) (map[string]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("server: %s %s: cannot read it: %v", flag, file, err)
	}
	if block, _ := pem.Decode(b); block != nil {
		b = block.Bytes
	}
	crl, err := x509.ParseRevocationList(b)
	if err != nil {
		return nil, fmt.Errorf("server: %s %s is not a certificate revocation list: %v", flag, file, err)
	}
	out := map[string]string{}
	for _, e := range crl.RevokedCertificateEntries {
		out[e.SerialNumber.String()] = file
	}
	return out, nil
}

// autoCert returns the self-signed certificate of --auto-tls in dir,
// making it if it is missing, expired or unreadable (a certificate that
// lacks one of hosts is made again too).
func autoCert(dir, side string, hosts []string, log *slog.Logger) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if p, err := certs.LoadPair(certFile, keyFile); err == nil && time.Now().Add(time.Hour).Before(p.Cert.NotAfter) && covers(p.Cert, hosts) {
		return certFile, keyFile, nil
	}
	o := certs.Options{CommonName: "raftkv auto-tls " + side}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			o.IPs = append(o.IPs, ip)
		} else {
			o.DNSNames = append(o.DNSNames, h)
		}
	}
	p, err := certs.SelfSigned(o)
	if err != nil {
		return "", "", err
	}
	if err := p.Write(certFile, keyFile); err != nil {
		return "", "", err
	}
	log.Info("made a self-signed certificate", "cert-file", certFile, "hosts", hosts)
	return certFile, keyFile, nil
}

func covers(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}
