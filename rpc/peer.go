package rpc

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// peer is the sending side towards one member: a lane (queue, stream and
// writer goroutine) per traffic class.
type peer struct {
	t      *Transport
	id     uint64
	lanes  [3]*lane // control, bulk, app
	filter atomic.Pointer[Filter]
	// ctx is cancelled by shutdown; it aborts dials in progress.
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{}
	stats  peerCounters

	mu        sync.Mutex
	addr      string
	lastErr   string
	lastErrAt time.Time
}

type peerCounters struct {
	msgsSent, bytesSent, msgsRecv, bytesRecv atomic.Uint64
	droppedFull, droppedFiltered             atomic.Uint64
	droppedFailed, reconnects                atomic.Uint64
}

// item is a queued raft message and the time it may leave (a Filter's
// delay), or, on the app lane, an application frame's data.
type item struct {
	m         raft.Message
	notBefore time.Time
	app       []byte // LaneApp only
}

func newPeer(t *Transport, id uint64, addr string) *peer {
	p := &peer{t: t, id: id, addr: addr, stop: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for i, kind := range []Lane{LaneControl, LaneBulk, LaneApp} {
		p.lanes[i] = &lane{p: p, kind: kind, q: make(chan item, t.cfg.QueueLen)}
	}
	return p
}

func (p *peer) lane(k Lane) *lane { return p.lanes[k-1] }

// enqueue never blocks.
func (p *peer) enqueue(m raft.Message) {
	it := item{m: m}
	if f := p.filter.Load(); f != nil {
		drop, delay := (*f)(m)
		if drop {
			p.stats.droppedFiltered.Add(1)
			return
		}
		if delay > 0 {
			it.notBefore = time.Now().Add(delay)
		}
	}
	select {
	case p.lane(LaneOf(m.Type)).q <- it:
	default:
		p.stats.droppedFull.Add(1)
	}
}

// enqueueApp queues an application frame; it never blocks.
func (p *peer) enqueueApp(data []byte) error {
	select {
	case p.lane(LaneApp).q <- item{app: data}:
		return nil
	default:
		p.stats.droppedFull.Add(1)
		return ErrQueueFull
	}
}

// shutdown stops the peer's lanes; the caller holds t.mu.
func (p *peer) shutdown() {
	close(p.stop)
	p.cancel()
	for _, l := range p.lanes {
		l.mu.Lock()
		l.stopped = true
		if l.conn != nil {
			l.conn.Close()
		}
		l.mu.Unlock()
	}
}

func (p *peer) address() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

func (p *peer) setErr(err error) {
	p.mu.Lock()
	p.lastErr = err.Error()
	p.lastErrAt = time.Now()
	p.mu.Unlock()
}

func (p *peer) snapshotStats() PeerStats {
	p.mu.Lock()
	s := PeerStats{ID: p.id, Addr: p.addr, LastError: p.lastErr, LastErrorTime: p.lastErrAt}
	p.mu.Unlock()
	s.ControlUp = p.lane(LaneControl).up.Load()
	s.BulkUp = p.lane(LaneBulk).up.Load()
	s.AppUp = p.lane(LaneApp).up.Load()
	s.MsgsSent = p.stats.msgsSent.Load()
	s.BytesSent = p.stats.bytesSent.Load()
	s.MsgsReceived = p.stats.msgsRecv.Load()
	s.BytesReceived = p.stats.bytesRecv.Load()
	s.DroppedQueueFull = p.stats.droppedFull.Load()
	s.DroppedFiltered = p.stats.droppedFiltered.Load()
	s.DroppedFailed = p.stats.droppedFailed.Load()
	s.Reconnects = p.stats.reconnects.Load()
	return s
}

// lane is one outbound stream to a peer and the goroutine that owns it.
type lane struct {
	p    *peer
	kind Lane
	q    chan item
	up   atomic.Bool

	mu      sync.Mutex
	stopped bool
	conn    net.Conn // the raw connection, closed to interrupt the writer
}

var (
	errStopped    = errors.New("rpc: peer stopped")
	errPeerClosed = errors.New("rpc: peer closed the stream")
)

// setConn makes c the connection to interrupt; false if already stopped.
func (l *lane) setConn(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.conn = c
	return true
}

// closeConn interrupts the current stream, if any; the writer reconnects.
func (l *lane) closeConn() {
	l.mu.Lock()
	if l.conn != nil {
		l.conn.Close()
	}
	l.mu.Unlock()
}

func (l *lane) event(up bool, err error) {
	if f := l.p.t.cfg.OnStream; f != nil {
		f(StreamEvent{Peer: l.p.id, Lane: l.kind, Up: up, Err: err})
	}
}

// run owns the lane: dial, write until the stream fails, back off, redial.
func (l *lane) run() {
	t := l.p.t
	defer t.wg.Done()
	defer l.drain()
	log := t.log.With("peer", fmt.Sprintf("%x", l.p.id), "lane", l.kind.String())
	attempt := 0
	everUp := false
	lastLogged := ""
	fail := func(err error) {
		l.p.setErr(err)
		l.event(false, err)
		if msg := err.Error(); msg != lastLogged {
			log.Warn("peer stream down", "addr", l.p.address(), "err", err)
			lastLogged = msg
		}
	}
	for {
		raw, conn, err := l.dial()
		if err == nil {
			if everUp {
				l.p.stats.reconnects.Add(1)
			}
			everUp = true
			lastLogged = ""
			log.Info("peer stream up", "addr", l.p.address())
			l.up.Store(true)
			l.event(true, nil)
			start := time.Now()
			err = l.serve(raw, conn)
			l.up.Store(false)
			if time.Since(start) > t.cfg.MaxBackoff {
				attempt = 0
			}
		}
		select {
		case <-l.p.stop:
			return
		default:
		}
		fail(err)
		tm := time.NewTimer(t.backoff(attempt))
		attempt++
		select {
		case <-l.p.stop:
			tm.Stop()
			return
		case <-tm.C:
		}
	}
}

// drain counts the messages left in the queue as dropped.
func (l *lane) drain() {
	for {
		select {
		case <-l.q:
			l.p.stats.droppedFailed.Add(1)
		default:
			return
		}
	}
}

// dial connects and exchanges the stream header. It returns the raw
// connection (to interrupt) and the one to write to (TLS or raw).
func (l *lane) dial() (net.Conn, net.Conn, error) {
	t := l.p.t
	addr := l.p.address()
	d := net.Dialer{Timeout: t.cfg.DialTimeout}
	raw, err := d.DialContext(l.p.ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if !l.setConn(raw) {
		raw.Close()
		return nil, nil, errStopped
	}
	ok := false
	defer func() {
		if !ok {
			raw.Close()
		}
	}()
	_ = raw.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	conn := raw
	if cfg := t.clientTLS(); cfg != nil {
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, nil, err
			}
			cfg.ServerName = host
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(l.p.ctx); err != nil {
			return nil, nil, fmt.Errorf("rpc: TLS handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	h := Header{Version: Version, Lane: l.kind, ClusterID: t.cfg.ClusterID, From: t.cfg.ID, To: l.p.id}
	if _, err := conn.Write(AppendHeader(nil, h)); err != nil {
		return nil, nil, fmt.Errorf("rpc: writing stream header to %s: %w", addr, err)
	}
	var rb [ReplySize]byte
	if _, err := io.ReadFull(conn, rb[:]); err != nil {
		return nil, nil, fmt.Errorf("rpc: reading header reply from %s: %w", addr, err)
	}
	v, status, err := decodeReply(rb[:])
	if err != nil {
		return nil, nil, err
	}
	if status != StatusOK {
		return nil, nil, fmt.Errorf("%w by %x at %s: %s (it speaks version %d)", ErrRefused, l.p.id, addr, status, v)
	}
	_ = raw.SetDeadline(time.Time{})
	ok = true
	return raw, conn, nil
}

// serve writes queued messages to the stream until it fails, the peer
// closes it, or the lane stops. Messages are written back to back
// (pipelined) and flushed when the queue runs empty.
func (l *lane) serve(raw, conn net.Conn) error {
	// The peer never writes after its reply: a read returning means the
	// stream is gone, which a quiet lane would otherwise notice only when
	// its next message is lost.
	dead := make(chan struct{})
	go func() {
		defer close(dead)
		_, _ = io.Copy(io.Discard, conn)
	}()
	defer func() {
		raw.Close()
		<-dead
	}()
	w := &laneWriter{l: l, bw: bufio.NewWriterSize(conn, 64<<10), enc: newEncoder(), dead: dead}
	for {
		var it item
		select {
		case <-l.p.stop:
			return errStopped
		case <-dead:
			return errPeerClosed
		case it = <-l.q:
		}
		// Write everything queued, then flush once.
		for {
			if err := w.wait(it.notBefore); err != nil {
				return err
			}
			if err := w.write(&it); err != nil {
				return err
			}
			select {
			case it = <-l.q:
				continue
			default:
			}
			break
		}
		if err := w.flush(); err != nil {
			return err
		}
	}
}

// laneWriter writes a lane's items to its stream in batches, one flush per
// batch, and counts them in the peer's stats once the flush says whether
// they left.
type laneWriter struct {
	l    *lane
	bw   *bufio.Writer
	enc  *encoder
	dead <-chan struct{} // closed when the stream is gone
	// batchMsgs and batchBytes are what was written since the last flush.
	batchMsgs, batchBytes uint64
}

// flush sends the batch, counting it as sent or as dropped.
func (w *laneWriter) flush() error {
	stats := &w.l.p.stats
	err := w.bw.Flush()
	if err != nil {
		stats.droppedFailed.Add(w.batchMsgs)
	} else {
		stats.msgsSent.Add(w.batchMsgs)
		stats.bytesSent.Add(w.batchBytes)
	}
	w.batchMsgs, w.batchBytes = 0, 0
	return err
}

// wait holds an item back until notBefore (the transport's delay fault),
// flushing what is already written first. An error drops the item.
func (w *laneWriter) wait(notBefore time.Time) error {
	if notBefore.IsZero() {
		return nil
	}
	d := time.Until(notBefore)
	if d <= 0 {
		return nil
	}
	stats := &w.l.p.stats
	if err := w.flush(); err != nil {
		stats.droppedFailed.Add(1)
		return err
	}
	tm := time.NewTimer(d)
	select {
	case <-w.l.p.stop:
		tm.Stop()
		stats.droppedFailed.Add(1)
		return errStopped
	case <-w.dead:
		tm.Stop()
		stats.droppedFailed.Add(1)
		return errPeerClosed
	case <-tm.C:
		return nil
	}
}

// write adds an item to the batch. A frame too large is dropped alone (the
// stream is intact); any other error ends the stream, and the batch with
// it.
func (w *laneWriter) write(it *item) error {
	l := w.l
	n, err := l.write(w.bw, w.enc, it)
	switch {
	case errors.Is(err, ErrFrameTooLarge):
		l.p.stats.droppedFailed.Add(1)
		what := "app frame"
		if l.kind != LaneApp {
			what = it.m.String()
		}
		l.p.setErr(fmt.Errorf("dropping %s: %w", what, err))
		l.p.t.log.Warn("dropping message to peer", "msg", what, "err", err)
	case err != nil:
		l.p.stats.droppedFailed.Add(w.batchMsgs + 1)
		return err
	default:
		w.batchMsgs++
		w.batchBytes += uint64(n)
	}
	return nil
}

// write writes one item, as one frame or as a snapshot stream, and returns
// the bytes written. ErrFrameTooLarge means nothing was written.
func (l *lane) write(bw *bufio.Writer, enc *encoder, it *item) (int, error) {
	maxFrame := l.p.t.cfg.MaxFrameBytes
	if l.kind == LaneApp {
		b, err := enc.appFramePrefix(len(it.app), maxFrame)
		if err != nil {
			return 0, err
		}
		n, err := bw.Write(b)
		if err != nil {
			return n, err
		}
		k, err := bw.Write(it.app)
		return n + k, err
	}
	m := &it.m
	if m.Type != raft.MsgSnap || m.Snapshot == nil {
		b, err := enc.msgFrame(m, maxFrame)
		if err != nil {
			return 0, err
		}
		return bw.Write(b)
	}
	b, err := enc.snapBeginFrame(m, maxFrame)
	if err != nil {
		return 0, err
	}
	n, err := bw.Write(b)
	if err != nil {
		return n, err
	}
	data := m.Snapshot.Data
	chunk := l.p.t.cfg.ChunkBytes
	for off := 0; off < len(data); off += chunk {
		part := data[off:min(off+chunk, len(data))]
		b, err := enc.snapChunkPrefix(uint64(off), len(part), maxFrame)
		if err != nil {
			// Not ErrFrameTooLarge: the stream is mid-snapshot.
			return n, fmt.Errorf("rpc: snapshot chunk: %v", err)
		}
		k, err := bw.Write(b)
		n += k
		if err != nil {
			return n, err
		}
		k, err = bw.Write(part)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// clientTLS is the TLS configuration for the next dial, or nil for plain
// TCP.
func (t *Transport) clientTLS() *tls.Config {
	if t.cfg.GetClientTLS != nil {
		return t.cfg.GetClientTLS()
	}
	return t.cfg.ClientTLS
}
