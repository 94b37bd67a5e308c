package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Clients of the put, get and qget workloads (--client).
const (
	clientLean    = "lean"
	clientNetHTTP = "net/http"
)

// leanConn is one worker's hand-written HTTP/1.1 client: a single
// keep-alive connection to one endpoint, a request built into a reused
// buffer and written with one write, and an answer parsed just far enough
// to find its status and skip its body. On loopback next to the cluster it
// measures, Go's net/http client costs about three times the CPU per
// request (its own goroutines, header maps, pools); this one leaves that
// CPU to the servers. It speaks only what v2 servers answer with:
// Content-Length or chunked bodies, or a body that runs to the close.
//
// A leanConn belongs to one goroutine.
type leanConn struct {
	addr    string // host:port to dial
	host    string // the Host header
	auth    string // "Basic …" or ""
	timeout time.Duration

	conn net.Conn
	br   *bufio.Reader
	wbuf []byte
	body []byte // the failed answer's body, for classifyStatus
	used bool   // a request has been answered on conn
	stop func() bool
}

// leanSupported reports whether the lean client can talk to endpoint: plain
// http only (TLS goes through net/http).
func leanSupported(endpoint string) bool { return strings.HasPrefix(endpoint, "http://") }

// newLeanConn returns a client of endpoint (a normalized http:// URL); it
// dials on its first request.
func newLeanConn(endpoint string, access Access, timeout time.Duration) *leanConn {
	hostPath := strings.TrimPrefix(endpoint, "http://")
	host, _, _ := strings.Cut(hostPath, "/")
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		addr = net.JoinHostPort(host, "80")
	}
	c := &leanConn{addr: addr, host: host, timeout: timeout}
	if access.User != "" {
		c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(access.User+":"+access.Password))
	}
	return c
}

// close drops the connection.
func (c *leanConn) close() {
	if c.stop != nil {
		c.stop()
		c.stop = nil
	}
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.used = nil, false
	}
}

// do sends one request for target (an endpoint URL, as keyURL builds them)
// and returns "" if the answer's status is one of ok, else its error class.
func (c *leanConn) do(ctx context.Context, method, target string, body []byte, ok ...int) string {
	path := c.pathOf(target)
	for attempt := 0; ; attempt++ {
		reused := c.used
		status, err := c.roundTrip(ctx, method, path, body)
		if err != nil {
			c.close()
			// A keep-alive connection the server closed while idle fails
			// before any answer; net/http retries then too.
			if reused && attempt == 0 && errors.Is(err, errNoAnswer) && ctx.Err() == nil {
				continue
			}
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return classifyTransport(err)
		}
		for _, s := range ok {
			if status == s {
				return ""
			}
		}
		return classifyStatus(status, c.body)
	}
}

// pathOf is the request target of a URL on this client's endpoint.
func (c *leanConn) pathOf(target string) string {
	rest := strings.TrimPrefix(target, "http://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

// errNoAnswer: the connection ended before the first byte of an answer.
var errNoAnswer = errors.New("connection closed before an answer")

func (c *leanConn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	c.conn = conn
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, 16<<10)
	} else {
		c.br.Reset(conn)
	}
	// Cancelling ctx unblocks a request in flight.
	c.stop = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return nil
}

func (c *leanConn) roundTrip(ctx context.Context, method, path string, body []byte) (int, error) {
	if c.conn == nil {
		if err := c.dial(ctx); err != nil {
			return 0, err
		}
	}
	if c.timeout > 0 {
		if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
			return 0, err
		}
	}
	b := c.wbuf[:0]
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.host...)
	if c.auth != "" {
		b = append(b, "\r\nAuthorization: "...)
		b = append(b, c.auth...)
	}
	if body != nil {
		b = append(b, "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
	}
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	c.wbuf = b
	if _, err := c.conn.Write(b); err != nil {
		if c.used && isReset(err) {
			return 0, errNoAnswer
		}
		return 0, err
	}
	return c.readAnswer()
}

// readAnswer parses the status line and headers, then reads the body:
// discarded on success, kept (up to maxErrorBody) otherwise.
func (c *leanConn) readAnswer() (int, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if len(line) == 0 && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)) {
			return 0, errNoAnswer
		}
		return 0, noEOF(err)
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, fmt.Errorf("malformed status line %q", bytes.TrimSpace(line))
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("malformed status line %q", bytes.TrimSpace(line))
	}
	length, chunked, closeAfter := int64(-1), false, line[7] == '0'
	for {
		h, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, noEOF(err)
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "content-length"):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return 0, fmt.Errorf("bad Content-Length %q", value)
			}
		case asciiEqualFold(name, "transfer-encoding"):
			chunked = asciiEqualFold(value, "chunked")
		case asciiEqualFold(name, "connection"):
			closeAfter = asciiEqualFold(value, "close")
		}
	}
	keep := status < 200 || status > 299
	c.body = c.body[:0]
	switch {
	case status == 204 || status == 304 || status < 200:
	case chunked:
		err = c.readChunked(keep)
	case length >= 0:
		err = c.readN(length, keep)
	default:
		// The body runs to the end of the connection.
		err = c.readN(-1, keep)
		closeAfter = true
	}
	if err != nil {
		return 0, err
	}
	c.used = true
	if closeAfter {
		c.close()
	}
	return status, nil
}

// readN reads n bytes of body (n < 0: to EOF), keeping up to maxErrorBody
// of them in c.body if keep.
func (c *leanConn) readN(n int64, keep bool) error {
	for n != 0 {
		want := c.br.Buffered()
		if want == 0 {
			if _, err := c.br.Peek(1); err != nil {
				if n < 0 && errors.Is(err, io.EOF) {
					return nil
				}
				return noEOF(err)
			}
			want = c.br.Buffered()
		}
		if n > 0 && int64(want) > n {
			want = int(n)
		}
		p, _ := c.br.Peek(want)
		if keep && len(c.body) < maxErrorBody {
			c.body = append(c.body, p[:min(len(p), maxErrorBody-len(c.body))]...)
		}
		_, _ = c.br.Discard(want)
		if n > 0 {
			n -= int64(want)
		}
	}
	return nil
}

// readChunked reads a chunked body and its trailer.
func (c *leanConn) readChunked(keep bool) error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return noEOF(err)
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad chunk size %q", size)
		}
		if n == 0 {
			for { // trailer, up to the blank line
				t, err := c.br.ReadSlice('\n')
				if err != nil {
					return noEOF(err)
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if err := c.readN(n, keep); err != nil {
			return err
		}
		if _, err := c.br.Discard(2); err != nil { // CRLF after the chunk
			return noEOF(err)
		}
	}
}

// noEOF turns an EOF in the middle of an answer into ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// asciiEqualFold compares a header name or token with lower-case s.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
