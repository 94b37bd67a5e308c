package rpc

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"reflect"
	"testing"

	"github.com/raftkv/raftkv/internal/fuzzcorpus"
	"github.com/raftkv/raftkv/raft"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpora in testdata/fuzz")

const fuzzMaxFrame = 1 << 16

func sampleApp() raft.Message {
	return raft.Message{Type: raft.MsgApp, From: 1, To: 2, Term: 3, LogTerm: 2, Index: 7, Commit: 6,
		Entries: []raft.Entry{{Term: 3, Index: 8, Data: []byte("put /a 1")}, {Term: 3, Index: 9, Type: raft.EntryConfChange, Data: []byte{1, 2}}}}
}

func sampleSnap(n int) raft.Message {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 7)
	}
	return raft.Message{Type: raft.MsgSnap, From: 1, To: 2, Term: 4,
		Snapshot: &raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 20, Term: 3, ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}}}, Data: data}}
}

// encodeStream returns the frames the sender writes for msgs.
func encodeStream(t testing.TB, chunk int, msgs ...raft.Message) []byte {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	l := &lane{p: &peer{t: &Transport{cfg: Config{MaxFrameBytes: fuzzMaxFrame, ChunkBytes: chunk}}}}
	enc := newEncoder()
	for i := range msgs {
		if _, err := l.write(bw, enc, &item{m: msgs[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// decodeStream decodes frames until the input ends or is malformed,
// reassembling snapshots as a receiver does.
func decodeStream(b []byte, maxFrame int) ([]raft.Message, error) {
	r := bytes.NewReader(b)
	d := newDecoder()
	var out []raft.Message
	var snap *pendingSnap
	for {
		body, err := readFrame(r, nil, maxFrame)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		f, err := d.decode(body)
		if err != nil {
			return out, err
		}
		switch f.typ {
		case FrameMsg:
			out = append(out, f.msg)
		case FrameSnapBegin:
			if f.total > 1<<20 {
				return out, ErrSnapshotTooLarge
			}
			snap = &pendingSnap{msg: f.msg, total: f.total}
			if f.total == 0 {
				out = append(out, snap.msg)
				snap = nil
			}
		case FrameSnapChunk:
			if snap == nil || f.offset != uint64(len(snap.data)) || uint64(len(f.data)) > snap.total-f.offset {
				return out, ErrBadFrame
			}
			snap.data = append(snap.data, f.data...)
			if uint64(len(snap.data)) == snap.total {
				snap.msg.Snapshot.Data = snap.data
				out = append(out, snap.msg)
				snap = nil
			}
		}
	}
}

func TestFramesRoundTrip(t *testing.T) {
	msgs := []raft.Message{
		sampleApp(),
		{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 3, Commit: 5},
		sampleSnap(1000), // 4 chunks of 300 bytes
		{Type: raft.MsgSnap, From: 1, To: 2, Term: 4, Snapshot: &raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 1, Term: 1}}},
		{Type: raft.MsgVoteResp, From: 1, To: 2, Term: 9, Reject: true},
		// The ReadIndex messages and the snapshot chunk acknowledgement:
		// every raft message type must cross the wire.
		{Type: raft.MsgReadIndex, From: 2, To: 1, Term: 9, Context: []byte("read-1")},
		{Type: raft.MsgReadIndexResp, From: 1, To: 2, Term: 9, Index: 42, Context: []byte("read-1")},
		{Type: raft.MsgSnapResp, From: 2, To: 1, Term: 9, Index: 7},
	}
	b := encodeStream(t, 300, msgs...)
	got, err := decodeStream(b, fuzzMaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	// An empty snapshot's data decodes as nil.
	msgs[3].Snapshot.Data = nil
	if !reflect.DeepEqual(got, msgs) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, msgs)
	}
}

func TestAppFrameRoundTrip(t *testing.T) {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	l := &lane{p: &peer{t: &Transport{cfg: Config{MaxFrameBytes: 64}}}, kind: LaneApp}
	enc := newEncoder()
	for _, data := range [][]byte{[]byte("forward 1"), {}, bytes.Repeat([]byte{9}, 40)} {
		if _, err := l.write(bw, enc, &item{app: data}); err != nil {
			t.Fatal(err)
		}
	}
	// A frame body over MaxFrameBytes is refused before anything is written.
	if _, err := l.write(bw, enc, &item{app: make([]byte, 64)}); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversize app frame: %v", err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(out.Bytes())
	d := newDecoder()
	var got [][]byte
	for r.Len() > 0 {
		body, err := readFrame(r, nil, 64)
		if err != nil {
			t.Fatal(err)
		}
		f, err := d.decode(body)
		if err != nil || f.typ != FrameApp {
			t.Fatalf("frame %v: %v", f.typ, err)
		}
		got = append(got, f.data)
	}
	if len(got) != 3 || string(got[0]) != "forward 1" || len(got[1]) != 0 || !bytes.Equal(got[2], bytes.Repeat([]byte{9}, 40)) {
		t.Fatalf("decoded %q", got)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := Header{Version: Version, Lane: LaneBulk, ClusterID: 0xdeadbeef, From: 1, To: 0xffffffffffffffff}
	b := AppendHeader(nil, h)
	if len(b) != HeaderSize {
		t.Fatalf("header is %d bytes", len(b))
	}
	got, err := DecodeHeader(b)
	if err != nil || got != h {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := DecodeHeader(append([]byte("HTTP"), b[4:]...)); !errors.Is(err, ErrBadMagic) {
		t.Fatalf("bad magic: %v", err)
	}
	if _, err := DecodeHeader(b[:31]); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("short header: %v", err)
	}
}

func TestFrameErrors(t *testing.T) {
	good := encodeStream(t, 1024, raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2})
	frame := func(body []byte) []byte {
		return append([]byte{0, 0, 0, byte(len(body))}, body...)
	}
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"zero length", []byte{0, 0, 0, 0}, ErrBadFrame},
		{"length over limit", []byte{0, 1, 0, 1}, ErrFrameTooLarge},
		{"short body", good[:len(good)-1], io.ErrUnexpectedEOF},
		{"trailing bytes", frame(append(bytes.Clone(good[4:]), 0xc0)), ErrBadFrame},
		{"unknown frame type", frame([]byte{0x92, 9, 0x80}), ErrBadFrame},
		{"missing message", frame([]byte{0x91, 1}), ErrBadFrame},
		{"unknown message type", frame([]byte{0x92, 1, 0x81, 0xa1, 'y', 42}), ErrBadFrame},
		{"begin without snapshot", frame([]byte{0x93, 2, 0x81, 0xa1, 'y', 9, 5}), ErrBadFrame},
		{"chunk past frame", frame([]byte{0x93, 3, 0, 0xc4, 9, 1}), ErrBadFrame},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeStream(c.in, fuzzMaxFrame)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// Extra trailing array elements are skipped: a later version may add
	// some.
	ext := frame([]byte{0x93, 1, 0x83, 0xa1, 'y', 7, 0xa2, 't', 'o', 2, 0xa2, 'f', 'r', 1, 0xa3, 'n', 'e', 'w'})
	got, err := decodeStream(ext, fuzzMaxFrame)
	if err != nil || len(got) != 1 || got[0].Type != raft.MsgHeartbeat || got[0].To != 2 {
		t.Fatalf("extended frame: %+v, %v", got, err)
	}
}

func frameSeeds(t testing.TB) [][]byte {
	stream := encodeStream(t, 100, sampleApp(), sampleSnap(250), raft.Message{Type: raft.MsgVote, From: 1, To: 2, Term: 2, Index: 4, LogTerm: 1})
	return [][]byte{
		stream,
		stream[:len(stream)-3],
		encodeStream(t, 64, sampleSnap(0)),
		{0, 0, 0, 3, 0x92, 9, 0x80},
		{0xff, 0xff, 0xff, 0xff},
		{},
	}
}

func headerSeeds() [][]byte {
	h := AppendHeader(nil, Header{Version: Version, Lane: LaneControl, ClusterID: 0xc1, From: 1, To: 2})
	v2 := bytes.Clone(h)
	v2[4] = 2
	return [][]byte{h, v2, h[:20], []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n1234")}
}

func TestFuzzCorpus(t *testing.T) {
	sets := map[string][][]byte{"FuzzDecodeFrames": frameSeeds(t), "FuzzDecodeHeader": headerSeeds(), "FuzzDecodeMessage": messageSeeds(t)}
	for name, seeds := range sets {
		if *updateCorpus {
			if err := fuzzcorpus.Write(name, seeds); err != nil {
				t.Fatal(err)
			}
			continue
		}
		// The committed corpus must be what the generator writes.
		for i, s := range seeds {
			b, err := os.ReadFile(fuzzcorpus.Path(name, i))
			if err != nil {
				t.Fatalf("seed corpus missing (regenerate with -update-corpus): %v", err)
			}
			if string(b) != fuzzcorpus.Encode(s) {
				t.Fatalf("%s/seed%d is stale (regenerate with -update-corpus)", name, i)
			}
		}
	}
}

// FuzzDecodeFrames: decoding an arbitrary byte stream never panics and
// stops with a named error or at the end; every message it yields
// re-encodes to a stream that decodes to the same message.
func FuzzDecodeFrames(f *testing.F) {
	for _, s := range frameSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := decodeStream(b, fuzzMaxFrame)
		if err != nil && !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrFrameTooLarge) &&
			!errors.Is(err, ErrSnapshotTooLarge) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("unnamed error: %v", err)
		}
		for _, m := range msgs {
			if m.Type == raft.MsgSnap && m.Snapshot != nil && len(m.Snapshot.Data) > fuzzMaxFrame {
				continue
			}
			re, err := decodeStream(encodeStream(t, 512, m), fuzzMaxFrame)
			if err != nil || len(re) != 1 {
				t.Fatalf("%v re-decodes as %v, %v", m, re, err)
			}
			if !reflect.DeepEqual(normalise(re[0]), normalise(m)) {
				t.Fatalf("%+v re-decodes as %+v", m, re[0])
			}
		}
	})
}

// normalise maps empty and nil byte slices alike (msgpack omits both).
func normalise(m raft.Message) raft.Message {
	if len(m.Context) == 0 {
		m.Context = nil
	}
	if len(m.Entries) == 0 {
		m.Entries = nil
	}
	for i := range m.Entries {
		if len(m.Entries[i].Data) == 0 {
			m.Entries[i].Data = nil
		}
	}
	if m.Snapshot != nil {
		s := *m.Snapshot
		if len(s.Data) == 0 {
			s.Data = nil
		}
		if len(s.Metadata.ConfState.Voters) == 0 {
			s.Metadata.ConfState.Voters = nil
		}
		if len(s.Metadata.ConfState.Learners) == 0 {
			s.Metadata.ConfState.Learners = nil
		}
		m.Snapshot = &s
	}
	return m
}

// FuzzDecodeHeader: arbitrary bytes never panic the header decoder, and a
// decoded header re-encodes to the same bytes but the reserved ones.
func FuzzDecodeHeader(f *testing.F) {
	for _, s := range headerSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			if !errors.Is(err, ErrBadMagic) && !errors.Is(err, ErrBadFrame) {
				t.Fatalf("unnamed error: %v", err)
			}
			return
		}
		re := AppendHeader(nil, h)
		want := bytes.Clone(b[:HeaderSize])
		want[6], want[7] = 0, 0
		if !bytes.Equal(re, want) {
			t.Fatalf("%+v re-encodes as %x, want %x", h, re, want)
		}
	})
}
