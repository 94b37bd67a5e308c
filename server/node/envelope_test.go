package node

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

var envelopeSizes = []int{-1, 0, 1, 31, 255, 256, 300, 65535, 65536}

var envelopeIDs = [][2]uint64{{0, 0}, {1, 127}, {0x9c4e1b2a7d3f5e61, ^uint64(0)}}

// encodeEnvelope writes msgpack.Marshal's bytes into a buffer of their
// size, and decodeEnvelope reads them back as msgpack.Unmarshal does.
func TestEnvelopeAsMsgpack(t *testing.T) {
	for _, n := range envelopeSizes {
		for _, ids := range envelopeIDs {
			e := &envelope{From: ids[0], Seq: ids[1]}
			if n >= 0 {
				e.Cmd = bytes.Repeat([]byte{'c'}, n)
			}
			want, err := msgpack.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			got := encodeEnvelope(e)
			if !bytes.Equal(got, want) {
				t.Fatalf("cmd of %d bytes, %x: % x…, not Marshal's % x…", n, ids, got[:min(len(got), 24)], want[:min(len(want), 24)])
			}
			if cap(got) != len(got) {
				t.Errorf("cmd of %d bytes, %x: capacity %d for %d bytes", n, ids, cap(got), len(got))
			}
			if _, ok, _ := decodeEnvelopeFast(got); !ok {
				t.Errorf("cmd of %d bytes, %x: the hand-written reader does not take what encodeEnvelope wrote", n, ids)
			}
			checkDecodeEnvelope(t, got)
		}
	}
}

// checkDecodeEnvelope fails unless decodeEnvelope(data) gives what
// msgpack.Unmarshal gives: the same envelope, or an error when it errs.
func checkDecodeEnvelope(t *testing.T, data []byte) {
	t.Helper()
	var want envelope
	wantErr := msgpack.Unmarshal(data, &want)
	got, err := decodeEnvelope(data)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("% x: error %v, msgpack.Unmarshal's %v", data, err, wantErr)
	}
	if err == nil && (got.From != want.From || got.Seq != want.Seq || !bytes.Equal(got.Cmd, want.Cmd) || (got.Cmd == nil) != (want.Cmd == nil)) {
		t.Fatalf("% x: %d %d %q, msgpack.Unmarshal's %d %d %q", data, got.From, got.Seq, got.Cmd, want.From, want.Seq, want.Cmd)
	}
}

// Other encodings of the same envelope, and broken ones, decode as
// msgpack.Unmarshal decodes them.
func TestDecodeEnvelopeOtherForms(t *testing.T) {
	good := encodeEnvelope(&envelope{From: 3, Seq: 9, Cmd: []byte("cmd")})
	cases := [][]byte{
		nil,
		{},
		{0x93, 0x03, 0x09, 0xc4, 0x03, 'c', 'm', 'd'}, // compact ints
		{0x93, 0x03, 0x09, 0xa3, 'c', 'm', 'd'},       // str, not bin
		{0x92, 0x03, 0x09},                            // two fields
		{0x94, 0x03, 0x09, 0xc4, 0x01, 'c', 0x01},     // four
		append(append([]byte{}, good...), 0x00),       // trailing byte
		good[:len(good)-1],                            // cut short
		{0xc0},                                        // nil
		{0x83, 0xa4, 'F', 'r', 'o', 'm', 0x01, 0xa3, 'S', 'e', 'q', 0x02, 0xa3, 'C', 'm', 'd', 0xc0}, // a map
	}
	for _, c := range cases {
		checkDecodeEnvelope(t, c)
	}
	for cut := range len(good) {
		checkDecodeEnvelope(t, good[:cut])
	}
	// A bin header claiming more or fewer bytes than follow.
	for _, head := range [][]byte{{0xc4, 0x05}, {0xc5, 0x00, 0x02}, {0xc6, 0, 0, 0, 4}} {
		b := append(append([]byte{}, good[:19]...), head...)
		checkDecodeEnvelope(t, append(b, 'c', 'm', 'd'))
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, n := range envelopeSizes[:7] {
		for _, ids := range envelopeIDs {
			e := &envelope{From: ids[0], Seq: ids[1]}
			if n >= 0 {
				e.Cmd = bytes.Repeat([]byte{'c'}, n)
			}
			f.Add(encodeEnvelope(e))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeEnvelope(t, data)
	})
}

func BenchmarkEnvelope(b *testing.B) {
	e := &envelope{From: 0x9c4e1b2a7d3f5e61, Seq: 123456, Cmd: bytes.Repeat([]byte{'c'}, 300)}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			encodeEnvelope(e)
		}
	})
	data := encodeEnvelope(e)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := decodeEnvelope(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
