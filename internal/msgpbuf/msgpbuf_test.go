package msgpbuf_test

import (
	"bytes"
	"testing"

	"github.com/raftkv/raftkv/internal/msgpbuf"
	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"
)

// value is one thing an encoder in log or kv writes, with the Encoder
// primitive that writes it.
type value struct {
	kind string
	u    uint64
	i    int64
	b    bool
	s    string
	bs   []byte
	n    int
}

func (v value) encode(enc *msgpack.Encoder) error {
	switch v.kind {
	case "uint":
		return enc.EncodeUint(v.u)
	case "uint8":
		return enc.EncodeUint8(uint8(v.u))
	case "uint64":
		return enc.EncodeUint64(v.u)
	case "int64":
		return enc.EncodeInt64(v.i)
	case "bool":
		return enc.EncodeBool(v.b)
	case "string":
		return enc.EncodeString(v.s)
	case "bytes":
		return enc.EncodeBytes(v.bs)
	case "array":
		return enc.EncodeArrayLen(v.n)
	case "map":
		return enc.EncodeMapLen(v.n)
	}
	panic("unknown kind " + v.kind)
}

// check decodes the next value with dec and compares it with v.
func (v value) check(t *rapid.T, dec *msgpack.Decoder) {
	var err error
	var ok bool
	switch v.kind {
	case "uint", "uint64":
		var got uint64
		got, err = dec.DecodeUint64()
		ok = got == v.u
	case "uint8":
		var got uint8
		got, err = dec.DecodeUint8()
		ok = got == uint8(v.u)
	case "int64":
		var got int64
		got, err = dec.DecodeInt64()
		ok = got == v.i
	case "bool":
		var got bool
		got, err = dec.DecodeBool()
		ok = got == v.b
	case "string":
		var got string
		got, err = dec.DecodeString()
		ok = got == v.s
	case "bytes":
		var got []byte
		got, err = dec.DecodeBytes()
		// EncodeBytes(nil) is msgpack's nil, which decodes as nil.
		ok = bytes.Equal(got, v.bs) && (got == nil) == (v.bs == nil)
	case "array":
		var got int
		got, err = dec.DecodeArrayLen()
		ok = got == v.n
	case "map":
		var got int
		got, err = dec.DecodeMapLen()
		ok = got == v.n
	}
	if err != nil || !ok {
		t.Fatalf("%s %+v decoded wrongly (err %v)", v.kind, v, err)
	}
}

func drawValue(t *rapid.T, label string) value {
	v := value{kind: rapid.SampledFrom([]string{"uint", "uint8", "uint64", "int64", "bool", "string", "bytes", "array", "map"}).Draw(t, label+"kind")}
	switch v.kind {
	case "uint", "uint8", "uint64":
		v.u = rapid.Uint64().Draw(t, label+"u")
	case "int64":
		v.i = rapid.Int64().Draw(t, label+"i")
	case "bool":
		v.b = rapid.Bool().Draw(t, label+"b")
	case "string":
		// Lengths across fixstr, str8 and str16.
		v.s = rapid.StringN(0, 70000, -1).Draw(t, label+"s")
	case "bytes":
		if !rapid.Bool().Draw(t, label+"nil") {
			v.bs = rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, label+"bs")
		}
	case "array", "map":
		v.n = rapid.IntRange(0, 1<<17).Draw(t, label+"n")
	}
	return v
}

// TestWriterHoldsTheEncodersBytes: values encoded into a Writer after
// whatever it already holds are the prefix followed by the bytes the same
// Encoder primitives write to a bytes.Buffer, and vmihailenco/msgpack's
// Decoder reads them back as the same values.
func TestWriterHoldsTheEncodersBytes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		prefix := rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(t, "prefix")
		vals := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) value { return drawValue(t, "") }), 1, 20).Draw(t, "values")

		w := &msgpbuf.Writer{B: append([]byte(nil), prefix...)}
		enc := msgpack.NewEncoder(w)
		var want bytes.Buffer
		ref := msgpack.NewEncoder(&want)
		for _, v := range vals {
			if err := v.encode(enc); err != nil {
				t.Fatalf("encoding %+v into a Writer: %v", v, err)
			}
			_ = v.encode(ref)
		}
		if !bytes.Equal(w.B[:len(prefix)], prefix) {
			t.Fatalf("the prefix changed: %x, want %x", w.B[:len(prefix)], prefix)
		}
		if got := w.B[len(prefix):]; !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("Writer holds %x, a bytes.Buffer %x", got, want.Bytes())
		}
		r := bytes.NewReader(w.B[len(prefix):])
		dec := msgpack.NewDecoder(r)
		for _, v := range vals {
			v.check(t, dec)
		}
		if r.Len() != 0 {
			t.Fatalf("%d bytes left after the values", r.Len())
		}
	})
}

// TestWriterTable pins the encodings log and kv rely on, byte for byte.
func TestWriterTable(t *testing.T) {
	for _, tc := range []struct {
		v    value
		want []byte
	}{
		{value{kind: "uint", u: 5}, []byte{0x05}},
		{value{kind: "uint", u: 300}, []byte{0xcd, 0x01, 0x2c}},
		{value{kind: "uint8", u: 2}, []byte{0xcc, 0x02}},
		{value{kind: "uint64", u: 1}, []byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 1}},
		{value{kind: "int64", i: -1}, []byte{0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{value{kind: "bool", b: true}, []byte{0xc3}},
		{value{kind: "string", s: "pv"}, []byte{0xa2, 'p', 'v'}},
		{value{kind: "string", s: string(make([]byte, 40))}, append([]byte{0xd9, 40}, make([]byte, 40)...)},
		{value{kind: "string", s: string(make([]byte, 300))}, append([]byte{0xda, 0x01, 0x2c}, make([]byte, 300)...)},
		{value{kind: "bytes"}, []byte{0xc0}},
		{value{kind: "bytes", bs: []byte{}}, []byte{0xc4, 0x00}},
		{value{kind: "bytes", bs: []byte{7}}, []byte{0xc4, 0x01, 0x07}},
		{value{kind: "array", n: 4}, []byte{0x94}},
		{value{kind: "map", n: 0}, []byte{0x80}},
	} {
		var w msgpbuf.Writer
		if err := tc.v.encode(msgpack.NewEncoder(&w)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w.B, tc.want) {
			t.Errorf("%s %+v: %x, want %x", tc.v.kind, tc.v, w.B, tc.want)
		}
	}
}

// TestWriteByteDoesNotAllocate: the reason Writer has a WriteByte.
func TestWriteByteDoesNotAllocate(t *testing.T) {
	w := &msgpbuf.Writer{B: make([]byte, 0, 64)}
	enc := msgpack.NewEncoder(w)
	allocs := testing.AllocsPerRun(100, func() {
		w.B = w.B[:0]
		_ = enc.EncodeArrayLen(3)
		_ = enc.EncodeUint(7)
		_ = enc.EncodeBool(true)
		_ = enc.EncodeUint8(1)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per encoding into a Writer; want 0", allocs)
	}
}
