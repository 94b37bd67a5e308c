package rpc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// waitTimeout is generous: it only bounds a test that has already failed.
const waitTimeout = 20 * time.Second

// syncBuffer is a log sink safe for the transport's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// node is a transport under test with its log and stream events.
type node struct {
	*Transport
	logs   *syncBuffer
	events chan StreamEvent
}

// checkNoLeak registers, as the test's last cleanup, a check that no
// goroutine of this package outlives the test's transports.
func checkNoLeak(t *testing.T) {
	t.Cleanup(func() {
		deadline := time.Now().Add(waitTimeout)
		for {
			// A goroutine that has signalled the WaitGroup may still be
			// returning; let it.
			runtime.Gosched()
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			var leaked []string
			for _, g := range strings.Split(string(buf), "\n\n") {
				if strings.Contains(g, "raftkv/rpc.") && !strings.Contains(g, "testing.tRunner") {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("goroutines left after Close:\n%s", strings.Join(leaked, "\n\n"))
			}
		}
	})
}

func newNode(t *testing.T, id, cluster uint64, edit func(*Config)) *node {
	t.Helper()
	n := &node{logs: &syncBuffer{}, events: make(chan StreamEvent, 1<<14)}
	cfg := Config{
		ID: id, ClusterID: cluster, ListenAddr: "127.0.0.1:0",
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnStream: func(e StreamEvent) {
			select {
			case n.events <- e:
			default:
			}
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Transport = tr
	t.Cleanup(func() {
		if err := tr.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("log of member %x:\n%s", id, n.logs.String())
		}
	})
	return n
}

// connect makes a and b peers of each other.
func connect(t *testing.T, a, b *node) {
	t.Helper()
	if err := a.AddPeer(b.cfg.ID, b.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPeer(a.cfg.ID, a.Addr().String()); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, n *node) raft.Message {
	t.Helper()
	select {
	case m, ok := <-n.Inbound():
		if !ok {
			t.Fatal("inbound closed")
		}
		return m
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for a message")
	}
	panic("unreachable")
}

// waitEvent returns the first stream event that matches.
func waitEvent(t *testing.T, n *node, match func(StreamEvent) bool) StreamEvent {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case e := <-n.events:
			if match(e) {
				return e
			}
		case <-timeout:
			t.Fatal("timed out waiting for a stream event")
		}
	}
}

// waitFor waits for a condition on counters that no event announces,
// yielding between checks.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for a condition")
		}
		runtime.Gosched()
	}
}

func heartbeat(from, to, commit uint64) raft.Message {
	return raft.Message{Type: raft.MsgHeartbeat, From: from, To: to, Term: 1, Commit: commit}
}

func app(from, to, index uint64, entries, size int) raft.Message {
	m := raft.Message{Type: raft.MsgApp, From: from, To: to, Term: 1, Index: index, LogTerm: 1, Commit: index}
	for i := range entries {
		m.Entries = append(m.Entries, raft.Entry{Term: 1, Index: index + 1 + uint64(i), Data: bytes.Repeat([]byte{byte(i)}, size)})
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	checkNoLeak(t)
	a, b := newNode(t, 1, 7, nil), newNode(t, 2, 7, nil)
	connect(t, a, b)
	sent := []raft.Message{
		app(1, 2, 5, 3, 10),
		heartbeat(1, 2, 5),
		{Type: raft.MsgVote, From: 1, To: 2, Term: 2, Index: 8, LogTerm: 1},
		{Type: raft.MsgTimeoutNow, From: 1, To: 2, Term: 2, Context: []byte("transfer")},
	}
	a.Send(sent)
	got := map[raft.MessageType]raft.Message{}
	for range sent {
		m := recv(t, b)
		got[m.Type] = m
	}
	for _, m := range sent {
		if !reflect.DeepEqual(got[m.Type], m) {
			t.Fatalf("received %+v, sent %+v", got[m.Type], m)
		}
	}
	b.Send([]raft.Message{{Type: raft.MsgAppResp, From: 2, To: 1, Term: 1, Index: 8}})
	if m := recv(t, a); m.Type != raft.MsgAppResp || m.Index != 8 {
		t.Fatalf("reply %v", m)
	}
	// Once both are closed every counter is final: what a wrote, b read.
	a.Close()
	b.Close()
	as, _ := a.PeerStats(2)
	bs, _ := b.PeerStats(1)
	if as.MsgsSent != 4 || bs.MsgsReceived != 4 || as.MsgsReceived != 1 || bs.MsgsSent != 1 {
		t.Fatalf("message counts: a %+v b %+v", as, bs)
	}
	if as.BytesSent == 0 || as.BytesSent != bs.BytesReceived || bs.BytesSent != as.BytesReceived {
		t.Fatalf("byte counts: a %+v b %+v", as, bs)
	}
	if _, ok := <-a.Inbound(); ok {
		t.Fatal("Inbound not closed by Close")
	}
}

func TestAppFrames(t *testing.T) {
	checkNoLeak(t)
	got := make(chan string, 100)
	onApp := func(c *Config) {
		c.OnApp = func(from uint64, data []byte) { got <- fmt.Sprintf("%d:%s", from, data) }
	}
	a, b := newNode(t, 1, 7, onApp), newNode(t, 2, 7, onApp)
	connect(t, a, b)
	// App frames keep their order, and do not depend on raft traffic.
	for i := range 50 {
		if err := a.SendApp(2, []byte(fmt.Sprintf("req %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		if s, want := recvApp(t, got), fmt.Sprintf("1:req %d", i); s != want {
			t.Fatalf("frame %d: got %q, want %q", i, s, want)
		}
	}
	if err := b.SendApp(1, []byte("answer")); err != nil {
		t.Fatal(err)
	}
	if s := recvApp(t, got); s != "2:answer" {
		t.Fatalf("got %q", s)
	}
	// Unlike Send, SendApp says when a frame cannot be queued.
	if err := a.SendApp(9, []byte("x")); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("to an unknown peer: %v", err)
	}
	if err := a.SendApp(2, make([]byte, a.cfg.MaxFrameBytes)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
	// Empty data, nil included, is a frame like any other.
	if err := a.SendApp(2, nil); err != nil {
		t.Fatal(err)
	}
	if s := recvApp(t, got); s != "1:" {
		t.Fatalf("got %q for empty data", s)
	}
	a.Close()
	if err := a.SendApp(2, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if bs, _ := b.PeerStats(1); bs.MsgsReceived != 51 {
		t.Fatalf("b received %d frames from a, want 51", bs.MsgsReceived)
	}
}

// recvApp returns the next app frame that OnApp reported on got.
func recvApp(t *testing.T, got <-chan string) string {
	t.Helper()
	select {
	case s := <-got:
		return s
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for an app frame")
	}
	panic("unreachable")
}

func TestAppQueueFull(t *testing.T) {
	checkNoLeak(t)
	// A peer that never answers the handshake: the app lane never comes
	// up, so its queue fills.
	a := newNode(t, 1, 7, func(c *Config) { c.QueueLen = 4; c.DialTimeout = time.Hour })
	if err := a.AddPeer(2, silentListener(t)); err != nil {
		t.Fatal(err)
	}
	var full int
	for range 10 {
		if err := a.SendApp(2, []byte("x")); errors.Is(err, ErrQueueFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	// The lane's writer may hold one frame while it dials.
	if full < 5 {
		t.Fatalf("%d of 10 frames refused with a queue of 4, want at least 5", full)
	}
}

func TestOrderPerLane(t *testing.T) {
	checkNoLeak(t)
	const n = 2000
	a := newNode(t, 1, 7, func(c *Config) { c.QueueLen = n })
	b := newNode(t, 2, 7, nil)
	connect(t, a, b)
	for i := uint64(1); i <= n; i++ {
		a.Send([]raft.Message{app(1, 2, i, 1, 16), heartbeat(1, 2, i)})
	}
	var apps, beats uint64
	for range 2 * n {
		m := recv(t, b)
		switch m.Type {
		case raft.MsgApp:
			apps++
			if m.Index != apps {
				t.Fatalf("append %d arrived as number %d", m.Index, apps)
			}
		case raft.MsgHeartbeat:
			beats++
			if m.Commit != beats {
				t.Fatalf("heartbeat %d arrived as number %d", m.Commit, beats)
			}
		}
	}
	if s, _ := a.PeerStats(2); s.DroppedQueueFull+s.DroppedFailed != 0 {
		t.Fatalf("drops: %+v", s)
	}
}

// silentListener accepts connections and never answers, so a dialer
// stays in its handshake.
func silentListener(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	checkNoLeak(t)
	const queue, sent = 8, 100
	a := newNode(t, 1, 7, func(c *Config) { c.QueueLen = queue; c.DialTimeout = time.Hour })
	if err := a.AddPeer(2, silentListener(t)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint64(1); i <= sent; i++ {
			a.Send([]raft.Message{heartbeat(1, 2, i), app(1, 2, i, 1, 8)})
		}
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Send blocked")
	}
	// The lanes are stuck in the handshake, so nothing leaves the queues.
	if s, _ := a.PeerStats(2); s.DroppedQueueFull != 2*(sent-queue) || s.MsgsSent != 0 {
		t.Fatalf("stats %+v, want %d queue-full drops", s, 2*(sent-queue))
	}
	a.Send([]raft.Message{heartbeat(1, 9, 1)})
	// Close interrupts the handshakes and counts what was still queued.
	a.Close()
	s, _ := a.PeerStats(2)
	if s.DroppedFailed != 2*queue {
		t.Fatalf("stats after close %+v, want %d failed", s, 2*queue)
	}
	if st := a.Stats(); st.DroppedUnknownPeer != 1 {
		t.Fatalf("unknown-peer drops %d", st.DroppedUnknownPeer)
	}
}

// TestReconnectAfterPeerRestart: a message sent while the peer is down
// waits in the queue and goes out on the stream to the restarted peer.
//
// "While the peer is down" must mean after a's writer has seen the old
// stream go: a message written before that goes into a connection the peer
// has already closed and is lost (counted as sent; the stream has no
// acknowledgements). So the test waits for the down event of the stream
// that carried the first heartbeat, not for any control-lane down event:
// a's events also hold refusals from before b knew a, which here happen on
// every run (a adds b first) rather than only when connect loses a race.
func TestReconnectAfterPeerRestart(t *testing.T) {
	checkNoLeak(t)
	var refused atomic.Bool // a control-lane refusal is in a's events
	a := newNode(t, 1, 7, func(c *Config) {
		queue := c.OnStream
		c.OnStream = func(e StreamEvent) {
			queue(e)
			if e.Lane == LaneControl && errors.Is(e.Err, ErrRefused) {
				refused.Store(true)
			}
		}
	})
	b := newNode(t, 2, 7, nil)
	if err := a.AddPeer(2, b.Addr().String()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, refused.Load)
	if err := b.AddPeer(1, a.Addr().String()); err != nil {
		t.Fatal(err)
	}
	addr := b.Addr().String()
	a.Send([]raft.Message{heartbeat(1, 2, 1)})
	if m := recv(t, b); m.Commit != 1 {
		t.Fatalf("got %v", m)
	}
	// The Up event of the stream that carried heartbeat 1 was sent before
	// the heartbeat was written; skip the refusals before it.
	waitEvent(t, a, func(e StreamEvent) bool { return e.Lane == LaneControl && e.Up })
	b.Close()
	// The next control-lane event is that stream going down.
	e := waitEvent(t, a, func(e StreamEvent) bool { return e.Lane == LaneControl })
	if e.Up || !errors.Is(e.Err, errPeerClosed) {
		t.Fatalf("event %+v after the peer closed, want the stream down with %q", e, errPeerClosed)
	}

	b2 := newNode(t, 2, 7, func(c *Config) { c.ListenAddr = addr })
	if err := b2.AddPeer(1, a.Addr().String()); err != nil {
		t.Fatal(err)
	}
	// Sent while the stream is down: queued until it is back.
	a.Send([]raft.Message{heartbeat(1, 2, 2)})
	if m := recv(t, b2); m.Commit != 2 {
		t.Fatalf("got %v", m)
	}
	// MsgsSent counts a batch once its flush has returned, which may be
	// after b2 has read it.
	waitFor(t, func() bool { s, _ := a.PeerStats(2); return s.MsgsSent == 2 })
	s, _ := a.PeerStats(2)
	if s.Reconnects == 0 || s.LastError == "" || s.DroppedFailed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRefusedStreams(t *testing.T) {
	checkNoLeak(t)
	cases := []struct {
		name      string
		id, clust uint64
		want      Status
	}{
		{"wrong cluster", 3, 8, StatusClusterMismatch},
		{"unknown member", 4, 7, StatusUnknownSender},
	}
	a := newNode(t, 1, 7, nil)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := newNode(t, c.id, c.clust, nil)
			if c.want != StatusUnknownSender {
				if err := a.AddPeer(c.id, x.Addr().String()); err != nil {
					t.Fatal(err)
				}
			}
			if err := x.AddPeer(1, a.Addr().String()); err != nil {
				t.Fatal(err)
			}
			x.Send([]raft.Message{heartbeat(c.id, 1, 1)})
			e := waitEvent(t, x, func(e StreamEvent) bool { return !e.Up })
			if !errors.Is(e.Err, ErrRefused) || !strings.Contains(e.Err.Error(), c.want.String()) {
				t.Fatalf("event %+v, want refusal %q", e, c.want)
			}
			// The receiver logs the refusal before it replies.
			if !strings.Contains(a.logs.String(), "reason=\""+c.want.String()) {
				t.Fatalf("refusal not logged:\n%s", a.logs.String())
			}
		})
	}
	if n := a.Stats().RefusedStreams; n < 2 {
		t.Fatalf("refused %d streams", n)
	}
	select {
	case m := <-a.Inbound():
		t.Fatalf("refused peer's message delivered: %v", m)
	default:
	}
}

func TestOversizeFrames(t *testing.T) {
	checkNoLeak(t)
	const limit = 64 << 10
	a := newNode(t, 1, 7, func(c *Config) { c.MaxFrameBytes = limit; c.ChunkBytes = limit / 2 })
	b := newNode(t, 2, 7, func(c *Config) { c.MaxFrameBytes = limit; c.ChunkBytes = limit / 2 })
	connect(t, a, b)

	// The sender drops a message too large for a frame and keeps the
	// stream: the next message on the lane arrives.
	a.Send([]raft.Message{app(1, 2, 1, 1, limit), app(1, 2, 2, 1, 10)})
	if m := recv(t, b); m.Index != 2 {
		t.Fatalf("got %v, want the small append", m)
	}
	s, _ := a.PeerStats(2)
	if s.DroppedFailed != 1 || !strings.Contains(s.LastError, "frame too large") {
		t.Fatalf("stats %+v", s)
	}

	// The receiver closes a stream announcing a frame over its limit. (The
	// stream claims to come from member 3, so that a's streams, which
	// would replace it, stay out of the way.)
	if err := b.AddPeer(3, silentListener(t)); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Write(AppendHeader(nil, Header{Version: Version, Lane: LaneBulk, ClusterID: 7, From: 3, To: 2})); err != nil {
		t.Fatal(err)
	}
	var reply [ReplySize]byte
	if _, err := io.ReadFull(c, reply[:]); err != nil {
		t.Fatal(err)
	}
	if _, st, _ := decodeReply(reply[:]); st != StatusOK {
		t.Fatalf("handshake: %v", st)
	}
	if _, err := c.Write([]byte{0, 1, 0, 1}); err != nil { // limit+1
		t.Fatal(err)
	}
	if n, err := c.Read(reply[:]); err == nil {
		t.Fatalf("stream still open: read %d bytes", n)
	}
	if !strings.Contains(b.logs.String(), "frame too large") {
		t.Fatalf("oversize frame not logged:\n%s", b.logs.String())
	}
}

// TestHeartbeatNotBehindSnapshot stalls the receiver in the middle of a
// multi-MiB snapshot and requires a heartbeat sent after it to arrive
// meanwhile: heartbeats do not queue behind bulk traffic.
func TestHeartbeatNotBehindSnapshot(t *testing.T) {
	checkNoLeak(t)
	const size, chunk = 8 << 20, 256 << 10
	stalled := make(chan uint64, 1)
	release := make(chan struct{})
	var once sync.Once
	first := true
	a := newNode(t, 1, 7, func(c *Config) { c.ChunkBytes = chunk; c.MaxFrameBytes = 2 * chunk })
	b := newNode(t, 2, 7, func(c *Config) {
		c.MaxFrameBytes = 2 * chunk
		c.hooks.snapChunk = func(from, got, total uint64) {
			if first {
				first = false
				stalled <- got
				<-release
			}
		}
	})
	// Registered after the nodes, so it runs before their Close.
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	connect(t, a, b)
	snap := sampleSnap(size)
	snap.From, snap.To = 1, 2
	a.Send([]raft.Message{snap, app(1, 2, 20, 1, 8), heartbeat(1, 2, 20)})

	select {
	case got := <-stalled:
		if got != chunk {
			t.Fatalf("first chunk brought %d bytes, want %d", got, chunk)
		}
	case <-time.After(waitTimeout):
		t.Fatal("snapshot never started")
	}
	if m := recv(t, b); m.Type != raft.MsgHeartbeat {
		t.Fatalf("got %v while the snapshot was stalled, want the heartbeat", m)
	}
	once.Do(func() { close(release) })
	m := recv(t, b)
	if m.Type != raft.MsgSnap || !bytes.Equal(m.Snapshot.Data, snap.Snapshot.Data) ||
		!reflect.DeepEqual(m.Snapshot.Metadata, snap.Snapshot.Metadata) {
		t.Fatalf("got %v (%d bytes), want the snapshot", m, len(m.Snapshot.Data))
	}
	if m := recv(t, b); m.Type != raft.MsgApp || m.Index != 20 {
		t.Fatalf("got %v, want the append that followed the snapshot", m)
	}
}

func TestPeerUpdateAndRemove(t *testing.T) {
	checkNoLeak(t)
	a, b := newNode(t, 1, 7, nil), newNode(t, 2, 7, nil)
	if err := a.AddPeer(2, silentListener(t)); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPeer(1, a.Addr().String()); err != nil {
		t.Fatal(err)
	}
	a.Send([]raft.Message{heartbeat(1, 2, 1)})
	if err := a.UpdatePeer(2, b.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, b); m.Commit != 1 {
		t.Fatalf("got %v", m)
	}
	// b forgets a: a's streams are closed and refused from then on.
	if err := b.RemovePeer(1); err != nil {
		t.Fatal(err)
	}
	e := waitEvent(t, a, func(e StreamEvent) bool { return !e.Up && errors.Is(e.Err, ErrRefused) })
	if !strings.Contains(e.Err.Error(), StatusUnknownSender.String()) {
		t.Fatalf("event %+v", e)
	}
	if err := a.RemovePeer(2); err != nil {
		t.Fatal(err)
	}
	if err := a.RemovePeer(2); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("second remove: %v", err)
	}
	if len(a.Stats().Peers) != 0 {
		t.Fatal("removed peer still in stats")
	}
}

func TestFilter(t *testing.T) {
	checkNoLeak(t)
	a, b := newNode(t, 1, 7, nil), newNode(t, 2, 7, nil)
	connect(t, a, b)
	const delay = 30 * time.Millisecond
	err := a.SetFilter(2, func(m raft.Message) (bool, time.Duration) {
		if m.Type == raft.MsgVote {
			return true, 0
		}
		if m.Type == raft.MsgApp {
			return false, delay
		}
		return false, 0
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a.Send([]raft.Message{{Type: raft.MsgVote, From: 1, To: 2, Term: 2}, app(1, 2, 1, 1, 8), heartbeat(1, 2, 1)})
	if m := recv(t, b); m.Type != raft.MsgHeartbeat {
		t.Fatalf("got %v first", m)
	}
	if m := recv(t, b); m.Type != raft.MsgApp {
		t.Fatalf("got %v", m)
	} else if d := time.Since(start); d < delay {
		t.Fatalf("delayed append arrived after %v", d)
	}
	if err := a.SetFilter(2, nil); err != nil {
		t.Fatal(err)
	}
	a.Send([]raft.Message{{Type: raft.MsgVote, From: 1, To: 2, Term: 3}})
	if m := recv(t, b); m.Type != raft.MsgVote || m.Term != 3 {
		t.Fatalf("got %v", m)
	}
	if s, _ := a.PeerStats(2); s.DroppedFiltered != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestCloseWhileDeliveryBlocked: Close returns although nobody drains
// Inbound and a reader is blocked handing over a message.
func TestCloseWhileDeliveryBlocked(t *testing.T) {
	checkNoLeak(t)
	a := newNode(t, 1, 7, nil)
	b := newNode(t, 2, 7, func(c *Config) { c.InboundLen = 1 })
	connect(t, a, b)
	a.Send([]raft.Message{heartbeat(1, 2, 1), heartbeat(1, 2, 2), heartbeat(1, 2, 3)})
	// Wait until the reader has taken in all three: the first was
	// received here, the second fills Inbound, the third blocks.
	if m := recv(t, b); m.Commit != 1 {
		t.Fatalf("got %v", m)
	}
	waitFor(t, func() bool { s, _ := b.PeerStats(1); return s.MsgsReceived == 3 })
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Close()
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Close blocked")
	}
}
