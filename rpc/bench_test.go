package rpc

import (
	"bytes"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// BenchmarkMsgApp streams MsgApps of 100 entries of 256 bytes from one
// transport to another over loopback, pipelined with at most window
// messages in flight (below the queue length, so none is dropped).
// Reports messages/s and, through SetBytes, MB/s of frame bytes.
func BenchmarkMsgApp(b *testing.B) {
	const window = 512
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	mk := func(id uint64) *Transport {
		tr, err := New(Config{ID: id, ClusterID: 7, ListenAddr: "127.0.0.1:0", Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		return tr
	}
	a, c := mk(1), mk(2)
	defer a.Close()
	defer c.Close()
	if err := a.AddPeer(2, c.Addr().String()); err != nil {
		b.Fatal(err)
	}
	if err := c.AddPeer(1, a.Addr().String()); err != nil {
		b.Fatal(err)
	}
	msg := app(1, 2, 1, 100, 256)
	frame, err := newEncoder().msgFrame(&msg, 16<<20)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	got := 0
	next := func() {
		select {
		case m := <-c.Inbound():
			if m.Type != raft.MsgApp || len(m.Entries) != 100 {
				b.Fatalf("got %v", m)
			}
			got++
		case <-time.After(10 * time.Second):
			b.Fatalf("stalled at %d of %d (stats %+v)", got, b.N, a.Stats())
		}
	}
	batch := []raft.Message{msg}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for i-got >= window {
			next()
		}
		batch[0].Index = uint64(i)
		a.Send(batch)
	}
	for got < b.N {
		next()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	if s, _ := a.PeerStats(2); s.DroppedQueueFull+s.DroppedFailed != 0 {
		b.Fatalf("drops: %+v", s)
	}
}

// wireBenchMsgs are the messages the encode and decode benchmarks use: a
// MsgApp as a follower receives under a write load, and a heartbeat.
func wireBenchMsgs() []struct {
	name string
	m    raft.Message
} {
	return []struct {
		name string
		m    raft.Message
	}{
		{"MsgApp16x300", app(1, 2, 1000, 16, 300)},
		{"MsgHeartbeat", heartbeat(1, 2, 1000)},
	}
}

// BenchmarkEncodeFrame encodes a message frame with a reused encoder, as a
// lane's writer does.
func BenchmarkEncodeFrame(b *testing.B) {
	for _, c := range wireBenchMsgs() {
		b.Run(c.name, func(b *testing.B) {
			enc := newEncoder()
			frame, err := enc.msgFrame(&c.m, 16<<20)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc.msgFrame(&c.m, 16<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeFrame decodes a message frame body with a reused decoder,
// as a stream's reader does.
func BenchmarkDecodeFrame(b *testing.B) {
	for _, c := range wireBenchMsgs() {
		b.Run(c.name, func(b *testing.B) {
			frame, err := newEncoder().msgFrame(&c.m, 16<<20)
			if err != nil {
				b.Fatal(err)
			}
			body := bytes.Clone(frame[FrameLenSize:])
			dec := newDecoder()
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				f, err := dec.decode(body)
				if err != nil || len(f.msg.Entries) != len(c.m.Entries) {
					b.Fatalf("decoded %v, %v", f.msg, err)
				}
			}
		})
	}
}
