package rpc

import (
	"bufio"
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// Config configures a Transport. ID and ClusterID are required.
type Config struct {
	// ID is this member's id; ClusterID the cluster's. Both appear in every
	// stream header and must match the receiver's view.
	ID, ClusterID uint64

	// Listener, if set, is where peers' streams are accepted; otherwise
	// New listens on ListenAddr ("host:port"). If both are empty the
	// transport only sends.
	Listener   net.Listener
	ListenAddr string

	// ServerTLS, if set, is used for accepted streams (set ClientAuth to
	// tls.RequireAndVerifyClientCert for mutual TLS); ClientTLS, if set, for
	// dialled ones. A cluster is all TLS or all plain: ServerTLS needs
	// ClientTLS (or GetClientTLS). ClientTLS alone suits a Listener whose
	// connections are TLS already (the server's peer port does the
	// handshake itself, before it tells raft streams from HTTP).
	ServerTLS, ClientTLS *tls.Config
	// GetClientTLS, if set, is called for every dial and its result used
	// instead of ClientTLS, so that the caller can reload certificates
	// and CAs between dials. It must be safe for concurrent use.
	GetClientTLS func() *tls.Config

	// QueueLen bounds each lane's send queue per peer, in messages
	// (0: 1024). A full queue drops.
	QueueLen int
	// InboundLen is the capacity of the Inbound channel (0: 1024).
	InboundLen int
	// MaxFrameBytes bounds a frame's body (0: 16 MiB). Sender and receiver
	// should agree: a sender drops a message that encodes larger, a
	// receiver closes a stream that announces a larger frame.
	MaxFrameBytes int
	// ChunkBytes is the snapshot data carried per chunk frame (0: 1 MiB,
	// or half of MaxFrameBytes if less);
	// it must leave room for the chunk header below MaxFrameBytes.
	ChunkBytes int
	// MaxSnapshotBytes bounds the snapshot data a receiver reassembles
	// (0: 1 GiB).
	MaxSnapshotBytes uint64

	// DialTimeout bounds a dial plus the header exchange (and TLS
	// handshake), on both sides (0: 2s).
	DialTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed dials: it
	// doubles from MinBackoff to MaxBackoff, each wait drawn uniformly from
	// its upper half (0: 20ms and 1s).
	MinBackoff, MaxBackoff time.Duration
	// Rand jitters the backoff. Nil: a PCG seeded with (ID, ClusterID).
	// The transport serialises its use.
	Rand *rand.Rand

	// Logger receives the transport's logs (nil: slog.Default()).
	Logger *slog.Logger
	// OnApp, if set, receives the application frames (see SendApp) peers
	// send, each with its sender, on the goroutine reading that sender's
	// app stream: frames from one sender arrive in order, and a slow OnApp
	// holds up that stream only. data is the stream's read buffer, valid
	// only until OnApp returns: a callee that keeps it must copy it (one
	// that decodes it at once, as the server does, need not). Without
	// OnApp, app frames are dropped and counted as invalid.
	OnApp func(from uint64, data []byte)
	// OnStream, if set, is called from the transport's goroutines whenever
	// an outbound stream comes up, goes down, or fails to come up. It must
	// not block and must not call back into the Transport.
	OnStream func(StreamEvent)

	// hooks are for tests in this package only.
	hooks testHooks
}

type testHooks struct {
	// snapChunk is called by the reading goroutine after each snapshot
	// chunk is taken in; blocking in it stalls that stream.
	snapChunk func(from uint64, got, total uint64)
}

// StreamEvent reports a change of an outbound stream.
type StreamEvent struct {
	Peer uint64
	Lane Lane
	// Up is true when the stream was established. When false, Err says
	// why the stream went down or could not be established.
	Up  bool
	Err error
}

// Filter is a fault hook on one peer's outbound messages: it is called in
// Send for each message to that peer and may drop it, or delay it (the
// message and those queued behind it on its lane leave no earlier than
// delay after Send). It must be fast and safe for concurrent use.
type Filter func(m raft.Message) (drop bool, delay time.Duration)

// Transport sends raft messages to peers over long-lived TCP streams and
// receives theirs. See the package documentation for the contract.
type Transport struct {
	cfg     Config
	log     *slog.Logger
	ln      net.Listener
	inbound chan raft.Message
	stop    chan struct{}
	wg      sync.WaitGroup

	randMu sync.Mutex
	rand   *rand.Rand

	mu     sync.RWMutex
	closed bool
	peers  map[uint64]*peer
	// conns holds every accepted connection until its goroutine ends.
	conns map[net.Conn]struct{}
	// streams holds the accepted stream per (sender, lane); a newer stream
	// for the same key replaces (closes) the older.
	streams map[streamKey]net.Conn

	refused        atomic.Uint64
	droppedUnknown atomic.Uint64
	droppedInvalid atomic.Uint64
}

type streamKey struct {
	from uint64
	lane Lane
}

// New starts a transport: it listens (if configured) and accepts peers'
// streams. Peers to send to are added with AddPeer.
func New(cfg Config) (*Transport, error) {
	if cfg.ID == 0 {
		return nil, errors.New("rpc: Config.ID must be set")
	}
	if cfg.ServerTLS != nil && cfg.ClientTLS == nil && cfg.GetClientTLS == nil {
		return nil, errors.New("rpc: ServerTLS is set but ClientTLS is not: a member that takes TLS streams must dial with TLS too")
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1024
	}
	if cfg.InboundLen <= 0 {
		cfg.InboundLen = 1024
	}
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = 16 << 20
	}
	if cfg.ChunkBytes <= 0 {
		cfg.ChunkBytes = min(1<<20, cfg.MaxFrameBytes/2)
	}
	if cfg.ChunkBytes > cfg.MaxFrameBytes-64 {
		return nil, fmt.Errorf("rpc: ChunkBytes %d leaves no room for the chunk header below MaxFrameBytes %d", cfg.ChunkBytes, cfg.MaxFrameBytes)
	}
	if cfg.MaxSnapshotBytes == 0 {
		cfg.MaxSnapshotBytes = 1 << 30
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 20 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Second
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Transport{
		cfg:     cfg,
		log:     cfg.Logger.With("member", fmt.Sprintf("%x", cfg.ID)),
		inbound: make(chan raft.Message, cfg.InboundLen),
		stop:    make(chan struct{}),
		rand:    cfg.Rand,
		peers:   make(map[uint64]*peer),
		conns:   make(map[net.Conn]struct{}),
		streams: make(map[streamKey]net.Conn),
	}
	if t.rand == nil {
		t.rand = rand.New(rand.NewPCG(cfg.ID, cfg.ClusterID))
	}
	t.ln = cfg.Listener
	if t.ln == nil && cfg.ListenAddr != "" {
		ln, err := net.Listen("tcp", cfg.ListenAddr)
		if err != nil {
			return nil, fmt.Errorf("rpc: listen for peers on %s: %w", cfg.ListenAddr, err)
		}
		t.ln = ln
	}
	if t.ln != nil {
		t.wg.Add(1)
		go t.acceptLoop()
	}
	return t, nil
}

// Addr returns the address peers' streams are accepted on (nil if none).
func (t *Transport) Addr() net.Addr {
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Inbound delivers the messages received from peers, each checked to be
// from the stream's sender and to this member. It is closed by Close once
// no more messages can arrive. A slow reader applies back-pressure to the
// sending peers (their queues fill and drop), never to Send.
func (t *Transport) Inbound() <-chan raft.Message { return t.inbound }

// Send queues msgs for their recipients (msg.To) and returns without
// blocking. A message to an unknown peer, one a Filter drops, and one that
// finds its lane's queue full are dropped and counted; raft retransmits.
// The transport keeps msgs' entry and snapshot data until written: the
// caller must not modify them.
func (t *Transport) Send(msgs []raft.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return
	}
	for i := range msgs {
		p := t.peers[msgs[i].To]
		if p == nil {
			t.droppedUnknown.Add(1)
			continue
		}
		p.enqueue(msgs[i])
	}
}

// SendApp queues an application frame for peer to, to be handed to its
// Config.OnApp, and returns without blocking. Unlike Send it says whether
// the frame was queued: ErrFrameTooLarge, ErrUnknownPeer, ErrQueueFull or
// ErrClosed mean it certainly was not. A queued frame is still lost if its
// stream fails (counted as failed); nothing is retransmitted, so a
// protocol on top needs its own timeouts. Filters do not apply to app
// frames. The transport keeps data until written: the caller must not
// modify it.
func (t *Transport) SendApp(to uint64, data []byte) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return ErrClosed
	}
	if len(data)+maxAppFrameOverhead > t.cfg.MaxFrameBytes {
		return fmt.Errorf("%w: %d bytes of app data, limit %d", ErrFrameTooLarge, len(data), t.cfg.MaxFrameBytes-maxAppFrameOverhead)
	}
	p := t.peers[to]
	if p == nil {
		t.droppedUnknown.Add(1)
		return fmt.Errorf("%w %x", ErrUnknownPeer, to)
	}
	return p.enqueueApp(data)
}

// AddPeer adds a peer to send to and accept streams from. addr is its
// "host:port".
func (t *Transport) AddPeer(id uint64, addr string) error {
	if id == 0 || id == t.cfg.ID {
		return fmt.Errorf("rpc: cannot add peer %x", id)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if _, ok := t.peers[id]; ok {
		return fmt.Errorf("rpc: peer %x already added", id)
	}
	p := newPeer(t, id, addr)
	t.peers[id] = p
	for _, l := range p.lanes {
		t.wg.Add(1)
		go l.run()
	}
	return nil
}

// UpdatePeer changes a peer's address; its outbound streams reconnect to
// it, keeping queued messages.
func (t *Transport) UpdatePeer(id uint64, addr string) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p := t.peers[id]
	if p == nil {
		return fmt.Errorf("%w %x", ErrUnknownPeer, id)
	}
	p.mu.Lock()
	p.addr = addr
	p.mu.Unlock()
	for _, l := range p.lanes {
		l.closeConn()
	}
	return nil
}

// RemovePeer stops sending to a peer (its queued messages are dropped) and
// closes and refuses its streams.
func (t *Transport) RemovePeer(id uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[id]
	if p == nil {
		return fmt.Errorf("%w %x", ErrUnknownPeer, id)
	}
	delete(t.peers, id)
	p.shutdown()
	for k, c := range t.streams {
		if k.from == id {
			c.Close()
		}
	}
	return nil
}

// SetFilter installs (or, with nil, removes) a fault filter on a peer's
// outbound messages.
func (t *Transport) SetFilter(id uint64, f Filter) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p := t.peers[id]
	if p == nil {
		return fmt.Errorf("%w %x", ErrUnknownPeer, id)
	}
	if f == nil {
		p.filter.Store(nil)
	} else {
		p.filter.Store(&f)
	}
	return nil
}

// Close stops the transport: it stops listening, closes every stream,
// drops queued messages, waits for all its goroutines to end and closes
// Inbound. It is safe to call more than once.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.stop)
	var err error
	if t.ln != nil {
		err = t.ln.Close()
	}
	for _, p := range t.peers {
		p.shutdown()
	}
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	close(t.inbound)
	return err
}

// backoff returns the jittered wait before dial attempt n (from 0).
func (t *Transport) backoff(n int) time.Duration {
	d := t.cfg.MinBackoff
	for i := 0; i < n && d < t.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, t.cfg.MaxBackoff)
	t.randMu.Lock()
	j := time.Duration(t.rand.Int64N(int64(d/2) + 1))
	t.randMu.Unlock()
	return d - d/2 + j
}

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	var failures int
	for {
		c, err := t.ln.Accept()
		if err != nil {
			select {
			case <-t.stop:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				t.log.Error("peer listener closed", "err", err)
				return
			}
			// Out of file descriptors and the like: wait and retry.
			t.log.Warn("accepting peer stream", "err", err)
			tm := time.NewTimer(t.backoff(failures))
			failures++
			select {
			case <-t.stop:
				tm.Stop()
				return
			case <-tm.C:
			}
			continue
		}
		failures = 0
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			c.Close()
			return
		}
		t.conns[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serveConn(c)
	}
}

// judge decides whether to accept a stream with header h.
func (t *Transport) judge(h Header) (Status, *peer) {
	switch {
	case h.Version != Version:
		return StatusBadVersion, nil
	case h.ClusterID != t.cfg.ClusterID:
		return StatusClusterMismatch, nil
	case h.To != t.cfg.ID:
		return StatusWrongReceiver, nil
	case h.Lane != LaneControl && h.Lane != LaneBulk && h.Lane != LaneApp:
		return StatusBadLane, nil
	}
	t.mu.RLock()
	p := t.peers[h.From]
	t.mu.RUnlock()
	if p == nil {
		return StatusUnknownSender, nil
	}
	return StatusOK, p
}

// serveConn runs one accepted connection: handshake, then reading frames.
func (t *Transport) serveConn(raw net.Conn) {
	defer t.wg.Done()
	defer func() {
		raw.Close()
		t.mu.Lock()
		delete(t.conns, raw)
		t.mu.Unlock()
	}()
	log := t.log.With("remote", raw.RemoteAddr().String())
	conn := raw
	_ = raw.SetDeadline(time.Now().Add(t.cfg.DialTimeout))
	if t.cfg.ServerTLS != nil {
		tc := tls.Server(raw, t.cfg.ServerTLS)
		if err := tc.Handshake(); err != nil {
			log.Warn("peer stream refused: TLS handshake failed", "err", err)
			t.refused.Add(1)
			return
		}
		conn = tc
	}
	var hb [HeaderSize]byte
	if _, err := io.ReadFull(conn, hb[:]); err != nil {
		log.Warn("peer stream refused: reading header", "err", err)
		t.refused.Add(1)
		return
	}
	h, err := DecodeHeader(hb[:])
	if err != nil {
		log.Warn("peer stream refused", "err", err)
		t.refused.Add(1)
		return
	}
	status, p := t.judge(h)
	if status != StatusOK {
		// Logged and counted before the reply: once the sender knows,
		// so does this side's log (tests wait on the sender).
		log.Warn("peer stream refused", "reason", status.String(),
			"cluster", fmt.Sprintf("%x", h.ClusterID), "from", fmt.Sprintf("%x", h.From),
			"to", fmt.Sprintf("%x", h.To), "version", h.Version, "lane", h.Lane.String())
		t.refused.Add(1)
		_, _ = conn.Write(appendReply(nil, status)) // why, if it can still hear it
		return
	}
	if _, err := conn.Write(appendReply(nil, status)); err != nil {
		log.Warn("peer stream: writing header reply", "err", err)
		return
	}
	_ = raw.SetDeadline(time.Time{})
	key := streamKey{h.From, h.Lane}
	t.mu.Lock()
	if t.closed || t.peers[h.From] != p {
		t.mu.Unlock()
		return
	}
	if old := t.streams[key]; old != nil {
		old.Close()
	}
	t.streams[key] = raw
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.streams[key] == raw {
			delete(t.streams, key)
		}
		t.mu.Unlock()
	}()
	log = log.With("from", fmt.Sprintf("%x", h.From), "lane", h.Lane.String())
	log.Debug("peer stream accepted")
	if err := t.readStream(conn, h, p); err != nil {
		select {
		case <-t.stop:
			return
		default:
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			log.Debug("peer stream ended", "err", err)
		} else {
			log.Warn("peer stream closed", "err", err)
		}
	}
}

// pendingSnap is a MsgSnap being reassembled.
type pendingSnap struct {
	msg   raft.Message
	total uint64
	data  []byte
}

// readStream reads frames until the stream fails or the transport stops.
func (t *Transport) readStream(conn net.Conn, h Header, p *peer) error {
	br := bufio.NewReaderSize(conn, 64<<10)
	dec := newDecoder()
	var buf []byte
	var snap *pendingSnap
	for {
		body, err := readFrame(br, buf, t.cfg.MaxFrameBytes)
		if err != nil {
			return err
		}
		buf = body
		p.stats.bytesRecv.Add(uint64(FrameLenSize + len(body)))
		f, err := dec.decode(body)
		if err != nil {
			return err
		}
		if (f.typ == FrameApp) != (h.Lane == LaneApp) {
			t.droppedInvalid.Add(1)
			t.log.Warn("dropping peer frame not matching its stream", "frame", f.typ,
				"from", fmt.Sprintf("%x", h.From), "lane", h.Lane.String())
			continue
		}
		if f.typ == FrameApp {
			if t.cfg.OnApp == nil {
				t.droppedInvalid.Add(1)
				continue
			}
			p.stats.msgsRecv.Add(1)
			t.cfg.OnApp(h.From, f.data)
			continue
		}
		deliver, err := t.assemble(&snap, &f, h.From)
		if err != nil {
			return err
		}
		if deliver == nil {
			continue
		}
		if deliver.From != h.From || deliver.To != h.To || LaneOf(deliver.Type) != h.Lane {
			t.droppedInvalid.Add(1)
			t.log.Warn("dropping peer message not matching its stream", "msg", deliver.String(),
				"from", fmt.Sprintf("%x", h.From), "lane", h.Lane.String())
			continue
		}
		p.stats.msgsRecv.Add(1)
		select {
		case t.inbound <- *deliver:
		case <-t.stop:
			return nil
		}
	}
}

// assemble takes a message or snapshot frame from peer from. It returns the
// message to deliver, if the frame completes one: a message frame at once,
// a snapshot once its last chunk has arrived (*snap holds it until then).
// An error means the stream is out of order or over the snapshot limit.
func (t *Transport) assemble(snap **pendingSnap, f *frame, from uint64) (*raft.Message, error) {
	switch f.typ {
	case FrameMsg:
		if *snap != nil {
			return nil, fmt.Errorf("%w: message frame inside a snapshot", ErrBadFrame)
		}
		return &f.msg, nil
	case FrameSnapBegin:
		if *snap != nil {
			return nil, fmt.Errorf("%w: snapshot begins inside a snapshot", ErrBadFrame)
		}
		if f.total > t.cfg.MaxSnapshotBytes {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrSnapshotTooLarge, f.total, t.cfg.MaxSnapshotBytes)
		}
		// Grow with the data actually received, not with the claim.
		s := &pendingSnap{msg: f.msg, total: f.total, data: make([]byte, 0, min(f.total, 4<<20))}
		if f.total == 0 {
			return &s.msg, nil
		}
		*snap = s
	case FrameSnapChunk:
		s := *snap
		if s == nil {
			return nil, fmt.Errorf("%w: snapshot chunk outside a snapshot", ErrBadFrame)
		}
		got := uint64(len(s.data))
		if f.offset != got || uint64(len(f.data)) > s.total-got {
			return nil, fmt.Errorf("%w: chunk at %d+%d, have %d of %d", ErrBadFrame, f.offset, len(f.data), got, s.total)
		}
		s.data = append(s.data, f.data...)
		if hook := t.cfg.hooks.snapChunk; hook != nil {
			hook(from, uint64(len(s.data)), s.total)
		}
		if uint64(len(s.data)) == s.total {
			s.msg.Snapshot.Data = s.data
			*snap = nil
			return &s.msg, nil
		}
	}
	return nil, nil
}

// PeerStats are the counters of one peer.
type PeerStats struct {
	ID   uint64
	Addr string
	// ControlUp, BulkUp and AppUp say whether the outbound streams are
	// connected.
	ControlUp, BulkUp, AppUp bool
	// MsgsSent and BytesSent count messages and frame bytes (length words
	// included) written and flushed to the peer's streams.
	MsgsSent, BytesSent uint64
	// MsgsReceived and BytesReceived count messages delivered to Inbound
	// (and app frames to OnApp) and frame bytes read from the peer's
	// streams.
	MsgsReceived, BytesReceived uint64
	// DroppedQueueFull counts messages Send dropped, and app frames
	// SendApp refused, because a lane's queue was full; DroppedFiltered
	// those a Filter dropped; DroppedFailed those lost to a failed stream,
	// too large to send, or still queued when the peer was removed or the
	// transport closed.
	DroppedQueueFull, DroppedFiltered, DroppedFailed uint64
	// Reconnects counts streams re-established after one was lost.
	Reconnects uint64
	// LastError is the last stream failure, and LastErrorTime its time.
	LastError     string
	LastErrorTime time.Time
}

// Stats are the transport's counters.
type Stats struct {
	Peers []PeerStats // by ID
	// RefusedStreams counts accepted connections refused at the
	// handshake (TLS, header, unknown cluster or member).
	RefusedStreams uint64
	// DroppedUnknownPeer counts messages passed to Send, and app frames
	// to SendApp, for no known peer.
	DroppedUnknownPeer uint64
	// DroppedInvalid counts received messages whose From, To or type did
	// not match their stream, and app frames with no OnApp to take them.
	DroppedInvalid uint64
}

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	t.mu.RLock()
	s := Stats{
		RefusedStreams:     t.refused.Load(),
		DroppedUnknownPeer: t.droppedUnknown.Load(),
		DroppedInvalid:     t.droppedInvalid.Load(),
	}
	for _, p := range t.peers {
		s.Peers = append(s.Peers, p.snapshotStats())
	}
	t.mu.RUnlock()
	slices.SortFunc(s.Peers, func(a, b PeerStats) int { return cmp.Compare(a.ID, b.ID) })
	return s
}

// PeerStats returns one peer's counters.
func (t *Transport) PeerStats(id uint64) (PeerStats, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p := t.peers[id]
	if p == nil {
		return PeerStats{}, false
	}
	return p.snapshotStats(), true
}
