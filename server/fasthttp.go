package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The fast path for the client API's hot requests.
//
// On a plain-HTTP client listener, connections are read first by a small
// HTTP/1.1 server of our own: a key request that is not a watch (GET, PUT,
// POST or DELETE on /v2/keys, HTTP/1.1, a Content-Length body if any, no
// Expect, Upgrade or Transfer-Encoding) is parsed here and given to the
// very same handler as net/http would give it, and its answer is written
// with one writev. Anything else — another path, a watch, HEAD, OPTIONS,
// a header too large for the buffer, anything malformed — hands the
// connection, with the bytes already read, to the net/http server for the
// rest of its life. So behaviour is the handler's either way, and only the
// transport differs: no goroutine per request besides the connection's,
// no background read per request (net/http's, for CloseNotify), no header
// clone, one write per answer. Key requests keep net/http's limits: 10 s
// to read a request's head once it has begun, a 1 MiB body at most here
// (larger ones go to net/http).
//
// A request served here has context.Background as its context: a
// client's disconnect does not cancel it (its own timeout still bounds
// it; writes cannot be taken back anyway).
//
// The head is parsed no more loosely than net/http parses it, so that the
// two never see different requests in the same bytes (a proxy in front
// agreeing with one of them): any CR or LF not part of a CRLF, a header
// name that is not a token, a control byte (other than HTAB) in a value,
// a Content-Length that is not plain digits or is given twice, a Host
// outside letters, digits and "-._:[]", any '%' in a parameter's name
// that could spell a watch — each hands the connection to net/http,
// which answers or refuses it as it would anyway. Connections that are
// TLS (a caller's crypto/tls listener) are handed over at once.

// fastServer serves one client listener.
type fastServer struct {
	ln net.Listener
	h  http.Handler
	// keys, if set, is what h does with a key request whose path is
	// clean and unescaped (the client API's /v2/keys handler, with its
	// CORS): the fast path calls it directly, without h's ServeMux,
	// which would route such a request to it anyway.
	keys    http.Handler
	handoff *handoffListener
	log     *slog.Logger

	mu      sync.Mutex
	conns   map[*fastConn]struct{}
	closing bool
	active  sync.WaitGroup // requests being served
}

// fastMaxBody is the largest request body the fast path reads; larger ones
// go to net/http.
const fastMaxBody = 1 << 20

// clientHeadTimeout is how long a client listener waits for a request's
// head: net/http's ReadHeaderTimeout, and the fast path's.
const clientHeadTimeout = 10 * time.Second

// The pause after a failed accept: net/http's.
const (
	fastAcceptMinDelay = 5 * time.Millisecond
	fastAcceptMaxDelay = time.Second
)

func newFastServer(ln net.Listener, h http.Handler, log *slog.Logger) *fastServer {
	return &fastServer{
		ln: ln, h: h, log: log,
		handoff: &handoffListener{chanListener: newChanListener(nil), ln: ln},
		conns:   map[*fastConn]struct{}{},
	}
}

// serve accepts connections until the listener is closed (by the
// net/http server's Shutdown or Close, through the handoff listener).
// Other accept errors (EMFILE, ENFILE, a reset before accept) are logged
// and retried after a pause, 5 ms doubling to 1 s, as net/http's Serve
// does.
func (s *fastServer) serve() {
	var delay time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.isClosing() {
				_ = s.handoff.Close()
				return
			}
			if delay == 0 {
				delay = fastAcceptMinDelay
			} else {
				delay = min(2*delay, fastAcceptMaxDelay)
			}
			s.log.Warn("client listener: accept failed; retrying", "addr", s.ln.Addr().String(), "err", err, "retry-in", delay)
			select {
			case <-time.After(delay):
			case <-s.handoff.closed:
				return
			}
			continue
		}
		delay = 0
		c := &fastConn{s: s, conn: conn}
		if !s.track(c, true) {
			conn.Close()
			continue
		}
		go c.serve()
	}
}

func (s *fastServer) track(c *fastConn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closing {
			return false
		}
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
}

// shutdown stops the fast path (the listener is closed by the net/http
// server's Shutdown): idle connections are closed, and requests in flight
// are waited for (within ctx), their connections closed after the answer.
func (s *fastServer) shutdown(ctx context.Context) {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		if c.idle.Load() {
			c.conn.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.active.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.conn.Close()
	}
	s.mu.Unlock()
}

func (s *fastServer) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// handoffListener gives net/http the connections the fast path hands over
// (offer). Closing it closes the real listener too, so net/http's Shutdown
// and Close stop the accepting as they would have.
type handoffListener struct {
	*chanListener
	ln   net.Listener
	once sync.Once
}

func (l *handoffListener) Close() error {
	var err error
	l.once.Do(func() {
		l.chanListener.Close()
		err = l.ln.Close()
	})
	return err
}

func (l *handoffListener) Addr() net.Addr { return l.ln.Addr() }

// bufferedHalfCloser is a peekedConn over a connection that can close
// its writing half (a TCP connection): net/http does so before closing a
// connection, so that a client's unread request bytes do not turn the
// close into a reset that loses the last answer.
type bufferedHalfCloser struct {
	*peekedConn
	cw interface{ CloseWrite() error }
}

func (c bufferedHalfCloser) CloseWrite() error { return c.cw.CloseWrite() }

// handedConn is conn, with the bytes in br still to be read, as net/http
// is given it.
func handedConn(conn net.Conn, br *bufio.Reader) net.Conn {
	bc := &peekedConn{Conn: conn, r: br}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		return bufferedHalfCloser{bc, cw}
	}
	return bc
}

// fastConn is one connection of the fast path.
type fastConn struct {
	s    *fastServer
	conn net.Conn
	br   *bufio.Reader
	idle atomic.Bool // waiting for a request's first byte
	// remote is conn.RemoteAddr().String(), made once.
	remote string
	// handedOff: net/http owns the connection (and br) now.
	handedOff bool
	// Reused from one request to the next: a connection serves its
	// requests one at a time, and a handler keeps nothing of a request
	// (its header map, value slices, body or *http.Request) past its
	// answer, as with net/http.
	fr   fastRequest
	vals []string
	body fastBody
	req  http.Request
}

var fastReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

func (c *fastConn) serve() {
	if _, isTLS := c.conn.(interface{ ConnectionState() tls.ConnectionState }); isTLS {
		// A TLS connection (a caller's crypto/tls listener): its bytes
		// are records, not requests. net/http serves it whole.
		c.handedOff = c.s.handoff.offer(c.conn)
		if !c.handedOff {
			c.conn.Close()
		}
		c.s.track(c, false)
		return
	}
	c.br = fastReaders.Get().(*bufio.Reader)
	c.br.Reset(c.conn)
	defer func() {
		if !c.handedOff {
			c.conn.Close()
			c.br.Reset(nil)
			fastReaders.Put(c.br)
		}
		c.s.track(c, false)
	}()
	for {
		c.idle.Store(true)
		if c.s.isClosing() {
			return
		}
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		c.idle.Store(false)
		req, headLen, ok := c.readHead()
		if req == nil {
			if !ok {
				return // a read failed or timed out
			}
			// Not for the fast path: net/http takes the connection, with
			// the bytes read so far.
			_ = c.conn.SetReadDeadline(time.Time{})
			c.handBack()
			return
		}
		if !c.serveOne(req, headLen) {
			return
		}
	}
}

// readHead waits for a whole request head in the buffer and parses it. It
// returns the request (nil: hand the connection over; ok false: drop it)
// and the head's length, still unread in br.
func (c *fastConn) readHead() (req *fastRequest, headLen int, ok bool) {
	deadline := false
	defer func() {
		if deadline {
			_ = c.conn.SetReadDeadline(time.Time{})
		}
	}()
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			var ok bool
			if c.vals, ok = parseFastHeadInto(&c.fr, c.vals, buf[:i+4]); !ok {
				return nil, i + 4, true
			}
			return &c.fr, i + 4, true
		}
		if !onlyCRLF(buf) {
			// A bare LF or CR: net/http reads such heads its own way,
			// and it alone must (the fast path would also wait here for
			// a CRLF CRLF that may never come).
			return nil, 0, true
		}
		if len(buf) >= c.br.Size() {
			return nil, 0, true // a head larger than the buffer
		}
		if !deadline {
			deadline = true
			_ = c.conn.SetReadDeadline(time.Now().Add(clientHeadTimeout))
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			return nil, 0, false // closed, reset, or too slow (net/http drops these too)
		}
	}
}

// fastRequest is a parsed request head.
type fastRequest struct {
	method, target, host string
	header               http.Header
	contentLength        int64
	close                bool
}

// parseFastHeadInto parses a request head (ending in CRLF CRLF) for the
// fast path into r, whose header map (cleared) is reused, as is vals's
// array for the header's value slices. It returns the value array to reuse
// next time, and whether the request is one the fast path serves and
// plainly well-formed (if not, net/http reads it, and answers 400 if it is
// malformed).
func parseFastHeadInto(r *fastRequest, vals []string, head []byte) ([]string, bool) {
	if !onlyCRLF(head) {
		return vals, false
	}
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 || string(proto) != "HTTP/1.1" {
		return vals, false
	}
	var m string
	switch string(method) { // no allocation: the constants are used
	case http.MethodGet:
		m = http.MethodGet
	case http.MethodPut:
		m = http.MethodPut
	case http.MethodPost:
		m = http.MethodPost
	case http.MethodDelete:
		m = http.MethodDelete
	default:
		return vals, false
	}
	for _, b := range target {
		if b <= ' ' || b >= 0x7f {
			return vals, false
		}
	}
	path, query, _ := bytes.Cut(target, []byte("?"))
	if !bytes.HasPrefix(path, []byte("/v2/keys")) || (len(path) > 8 && path[8] != '/') {
		return vals, false
	}
	// Watches stay with net/http: they stream, flush, and end when their
	// client goes away.
	if mayWatch(query) {
		return vals, false
	}
	// One string holds the target and every header value, and one array
	// backs the header's value slices: two allocations, not two per header.
	strs := string(head)
	// b is a subslice of head (cut and trimmed, never re-capped), so
	// its offset in head is the capacity it lacks.
	sub := func(b []byte) string {
		if len(b) == 0 {
			return "" // trimming may give nil for blanks
		}
		i := cap(head) - cap(b)
		return strs[i : i+len(b)]
	}
	if n := bytes.Count(rest, []byte("\r\n")); cap(vals) < n {
		vals = make([]string, 0, max(n, 8))
	} else {
		clear(vals[:cap(vals)]) // let the last request's strings go
		vals = vals[:0]
	}
	h := r.header
	if h == nil {
		h = make(http.Header, 6)
	} else {
		clear(h)
	}
	*r = fastRequest{method: m, target: sub(target), header: h}
	clSeen, hostSeen := false, false
	for len(rest) > 0 {
		var hl []byte
		hl, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if len(hl) == 0 {
			break
		}
		// A name is a token: this also refuses obsolete line folding (a
		// line starting with SP or HTAB) and a space before the colon.
		name, value, ok := bytes.Cut(hl, []byte(":"))
		if !ok || !isToken(name) {
			return vals, false
		}
		value = trimOWS(value)
		for _, b := range value {
			if b < ' ' && b != '\t' || b == 0x7f {
				return vals, false
			}
		}
		key := commonHeaderKey(name)
		if key == "" {
			key = textproto.CanonicalMIMEHeaderKey(string(name))
		}
		switch key {
		case "Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer":
			return vals, false
		case "Content-Length":
			// Plain digits only (no sign, no space, no list), and once.
			n, ok := parseDigits(value)
			if clSeen || !ok || n > fastMaxBody {
				return vals, false
			}
			clSeen, r.contentLength = true, n
		case "Connection":
			switch strings.ToLower(string(value)) {
			case "close":
				r.close = true
			case "keep-alive":
			default:
				return vals, false
			}
		case "Host":
			if hostSeen || !plainHost(value) {
				return vals, false
			}
			hostSeen, r.host = true, sub(value)
			continue // net/http keeps it in Request.Host only
		}
		if _, dup := r.header[key]; dup {
			r.header[key] = append(r.header[key], sub(value))
			continue
		}
		vals = append(vals, sub(value))
		r.header[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if r.host == "" {
		return vals, false // HTTP/1.1 requires Host; net/http answers 400
	}
	return vals, true
}

// onlyCRLF reports whether every CR and LF in b is part of a CRLF (a CR
// that ends b may yet be followed by its LF).
func onlyCRLF(b []byte) bool {
	for i, c := range b {
		switch c {
		case '\n':
			if i == 0 || b[i-1] != '\r' {
				return false
			}
		case '\r':
			if i+1 < len(b) && b[i+1] != '\n' {
				return false
			}
		}
	}
	return true
}

// mayWatch reports whether a query may ask for a watch: it names wait or
// stream, raw or once its parameters' names are unescaped as readForm
// unescapes them (wa%69t=true is wait=true).
func mayWatch(query []byte) bool {
	if bytes.Contains(query, []byte("wait")) || bytes.Contains(query, []byte("stream")) {
		return true
	}
	if bytes.IndexByte(query, '%') < 0 {
		return false
	}
	for q := query; len(q) > 0; {
		var kv []byte
		kv, q, _ = bytes.Cut(q, []byte("&"))
		name, _, _ := bytes.Cut(kv, []byte("="))
		if bytes.IndexByte(name, '%') < 0 {
			continue
		}
		n, err := url.QueryUnescape(string(name))
		if err != nil || strings.Contains(n, "wait") || strings.Contains(n, "stream") {
			return true
		}
	}
	return false
}

// tchars marks the bytes of a token (RFC 9110, 5.6.2): letters, digits and
// !#$%&'*+-.^_`|~.
var tchars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken[S []byte | string](b S) bool {
	if len(b) == 0 {
		return false
	}
	for i := range len(b) {
		if !tchars[b[i]] {
			return false
		}
	}
	return true
}

// trimOWS trims SP and HTAB, and only those, from both ends of b.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseDigits parses a non-empty run of ASCII digits (at most 18 of
// them, so that it cannot overflow).
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// plainHost reports whether a Host value is non-empty and made only of
// letters, digits and "-._:[]" (a name, an IPv4 or bracketed IPv6
// address, a port): anything else is left to net/http's judgement.
func plainHost(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// commonHeaderKey is the canonical form of the headers clients send most,
// without an allocation; "" for others.
func commonHeaderKey(name []byte) string {
	for _, k := range [...]string{"Host", "Content-Length", "Content-Type", "User-Agent", "Accept", "Accept-Encoding", "Authorization", "Connection"} {
		if len(name) == len(k) && asciiEqualFold(name, k) {
			return k
		}
	}
	return ""
}

// asciiEqualFold compares an ASCII header name with k, ignoring case.
func asciiEqualFold(b []byte, k string) bool {
	for i := range b {
		c, d := b[i], k[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// serveOne serves the request whose head (headLen bytes) is at the front
// of br. It reports whether the connection can take another request.
func (c *fastConn) serveOne(fr *fastRequest, headLen int) bool {
	s := c.s
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	s.active.Add(1)
	s.mu.Unlock()
	defer s.active.Done()

	u, err := url.ParseRequestURI(fr.target)
	if err != nil {
		// Let net/http answer it (400): hand over before reading on.
		return c.handBack()
	}
	_, _ = c.br.Discard(headLen)
	body := &c.body
	*body = fastBody{r: c.br, n: fr.contentLength}
	req := &c.req
	*req = http.Request{
		Method: fr.method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: fr.header, ContentLength: fr.contentLength, Host: fr.host,
		RemoteAddr: c.remoteAddr(), RequestURI: fr.target, Close: fr.close,
	}
	if fr.contentLength > 0 {
		req.Body = body
	} else {
		req.Body = http.NoBody
	}
	h := s.h
	if s.keys != nil && muxClean(u.Path) && strings.IndexByte(fr.target, '%') < 0 {
		h = s.keys
	}
	defer c.forget()
	w := newFastWriter()
	defer w.release()
	if !c.callHandler(h, w, req) {
		return false
	}
	// Whatever of the body the handler left unread is skipped, as net/http
	// does (it reads up to 256 KiB before giving up on the connection).
	if body.n > 0 {
		if _, err := c.br.Discard(int(body.n)); err != nil {
			return false
		}
	}
	// The last answer before a shutdown says so, as net/http's does.
	closeAfter := fr.close || s.isClosing()
	if err := w.writeTo(c.conn, closeAfter); err != nil {
		return false
	}
	return !closeAfter
}

// forget lets go of the request just served (its head's strings, its
// body's), which the connection keeps to reuse: an idle connection would
// otherwise hold them until its next request.
func (c *fastConn) forget() {
	h := c.fr.header
	clear(h)
	c.fr = fastRequest{header: h}
	clear(c.vals[:cap(c.vals)])
	c.body = fastBody{}
	c.req = http.Request{}
}

func (c *fastConn) remoteAddr() string {
	if c.remote == "" {
		c.remote = c.conn.RemoteAddr().String()
	}
	return c.remote
}

// handBack gives the connection, whose request is still unread, to
// net/http; the caller's loop then ends.
func (c *fastConn) handBack() bool {
	c.handedOff = c.s.handoff.offer(handedConn(c.conn, c.br))
	return false
}

// callHandler runs the handler, recovering a panic as net/http does (the
// connection is dropped and the panic logged).
func (c *fastConn) callHandler(h http.Handler, w *fastWriter, req *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				c.s.log.Error("panic serving a client request", "remote", req.RemoteAddr, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
			ok = false
		}
	}()
	h.ServeHTTP(w, req)
	return true
}

// muxClean reports whether a ServeMux leaves p as it is (its cleanPath),
// rather than redirecting to a cleaned path: path.Clean's form, or that
// with a trailing slash.
func muxClean(p string) bool {
	np := path.Clean(p)
	if np == p {
		return true
	}
	return len(p) > 1 && p[len(p)-1] == '/' && len(np)+1 == len(p) && p[:len(np)] == np
}

// fastBody is a request body of known length read from the connection.
type fastBody struct {
	r *bufio.Reader
	n int64 // bytes left
}

func (b *fastBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *fastBody) Close() error { return nil }

// fastWriter collects an answer and writes it with one writev.
type fastWriter struct {
	h           http.Header
	status      int
	wroteHeader bool
	body        []byte
	head        []byte
	keys        []string // writeTo's, kept for the next answer
	vals        []string // headerValues', kept for the next answer
	// bufs is writeTo's net.Buffers, and its array: a fresh one would
	// escape to the heap at every answer.
	bufs    net.Buffers
	bufsArr [2][]byte
	// timeout is lent to the handler for its request (timeoutContext).
	timeout timeoutCtx
}

// timeoutContext lends the writer's reusable request context: the handler
// cancels it before it returns.
func (w *fastWriter) timeoutContext(d time.Duration) (context.Context, context.CancelFunc, bool) {
	if !w.timeout.start(d) {
		return nil, nil, false
	}
	return &w.timeout, w.timeout.cancel, true
}

// headerValues lends n strings for header values (setRaftHeadersAt's):
// they are the writer's until its next answer.
func (w *fastWriter) headerValues(n int) []string {
	if len(w.vals)+n > cap(w.vals) {
		// A new array: the slices lent before keep the old one.
		w.vals = make([]string, 0, max(8, 2*cap(w.vals), n))
	}
	i := len(w.vals)
	w.vals = w.vals[:i+n]
	return w.vals[i : i+n : i+n]
}

var fastWriters = sync.Pool{New: func() any {
	return &fastWriter{body: make([]byte, 0, 1024), head: make([]byte, 0, 512)}
}}

func newFastWriter() *fastWriter {
	w := fastWriters.Get().(*fastWriter)
	if w.h == nil {
		w.h = make(http.Header, 8)
	} else {
		clear(w.h) // a handler keeps nothing of it past its answer
	}
	w.status, w.wroteHeader = 0, false
	w.body, w.head = w.body[:0], w.head[:0]
	clear(w.vals)
	w.vals = w.vals[:0]
	return w
}

func (w *fastWriter) release() {
	if cap(w.body) > maxPooledJSON || cap(w.head) > maxPooledJSON || w.timeout.inUse {
		// (A handler that did not cancel its context, which the client
		// API always does, leaves the writer to the collector.)
		return
	}
	fastWriters.Put(w)
}

func (w *fastWriter) Header() http.Header { return w.h }

func (w *fastWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader, w.status = true, code
}

func (w *fastWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// writeTo writes the status line, the headers (the handler's sorted by
// name, then Date, Content-Length, a sniffed Content-Type if the handler
// set none, and Connection: close if closeAfter — net/http's order, so
// the same answer is the same bytes) and the body, in one writev.
func (w *fastWriter) writeTo(conn net.Conn, closeAfter bool) error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	b := w.head
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	if text := http.StatusText(w.status); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(w.status), 10)
	}
	b = append(b, "\r\n"...)
	delete(w.h, "Content-Length")
	delete(w.h, "Transfer-Encoding")
	sniffed := ""
	if bodyAllowed(w.status) {
		if _, ok := w.h["Content-Type"]; !ok && len(w.body) > 0 {
			sniffed = http.DetectContentType(w.body)
		}
	}
	keys := w.keys[:0]
	for k := range w.h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !isToken(k) {
			continue // net/http drops such names too
		}
		for _, v := range w.h[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendHeaderValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	clear(keys)
	w.keys = keys[:0]
	b = append(b, "Date: "...)
	b = append(b, httpDate()...)
	b = append(b, "\r\n"...)
	if bodyAllowed(w.status) {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(w.body)), 10)
		b = append(b, "\r\n"...)
	}
	if sniffed != "" {
		b = append(b, "Content-Type: "...)
		b = append(b, sniffed...)
		b = append(b, "\r\n"...)
	}
	if closeAfter {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	w.head = b
	w.bufsArr = [2][]byte{b, w.body}
	w.bufs = w.bufsArr[:]
	_, err := w.bufs.WriteTo(conn)
	w.bufsArr, w.bufs = [2][]byte{}, nil
	return err
}

// appendHeaderValue appends v with CR and LF turned into spaces, and then
// spaces and tabs trimmed from its ends, as net/http writes header values.
func appendHeaderValue(b []byte, v string) []byte {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return append(b, strings.Trim(v, " \t")...)
}

// httpDate is the Date header's value, made once a second.
func httpDate() string {
	now := time.Now()
	sec := now.Unix()
	if d := cachedDate.Load(); d != nil && d.sec == sec {
		return d.s
	}
	d := &dateString{sec: sec, s: now.UTC().Format(http.TimeFormat)}
	cachedDate.Store(d)
	return d.s
}

type dateString struct {
	sec int64
	s   string
}

var cachedDate atomic.Pointer[dateString]
