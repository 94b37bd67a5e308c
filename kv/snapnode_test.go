package kv

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"
)

// saveReference is Frozen.Save as it was written before its nodes were
// appended by hand: every field through the Encoder. Save must write the
// same bytes.
func (f *Frozen) saveReference(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := msgpack.NewEncoder(bw)
	if err := enc.Encode(&f.hdr); err != nil {
		return err
	}
	var err error
	f.tree.Ascend(func(n node) bool {
		err = encodeSnapNodeReference(enc, &n)
		return err == nil
	})
	if err != nil {
		return err
	}
	for _, ev := range f.events {
		se := snapEvent{Action: ev.Action, Node: toSnapNode(ev.Node), PrevNode: toSnapNode(ev.PrevNode),
			Index: ev.Index, Refresh: ev.Refresh}
		if err := enc.Encode(&se); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func encodeSnapNodeReference(enc *msgpack.Encoder, n *node) error {
	var flags uint8
	if n.dir {
		flags |= flagDir
	}
	if n.hasTTL {
		flags |= flagTTL
	}
	for _, f := range []func() error{
		func() error { return enc.EncodeArrayLen(6) },
		func() error { return enc.EncodeString(n.path) },
		func() error { return enc.EncodeString(n.value) },
		func() error { return enc.EncodeUint8(flags) },
		func() error { return enc.EncodeUint(n.created) },
		func() error { return enc.EncodeUint(n.modified) },
		func() error { return enc.EncodeInt(n.expireNs) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// appendSnapNode writes the Encoder's bytes for every kind of node: strings
// at every header size, integers at every width and sign.
func TestAppendSnapNodeAsEncoder(t *testing.T) {
	lengths := []int{0, 1, 31, 32, 255, 256, 65535, 65536}
	ints := []uint64{0, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64}
	signed := []int64{0, 1, 127, 128, 1 << 40, -1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64, math.MaxInt64}
	rapid.Check(t, func(t *rapid.T) {
		str := func(label string) string {
			if rapid.Bool().Draw(t, label+"Fixed") {
				return strings.Repeat("x", rapid.SampledFrom(lengths).Draw(t, label+"Len"))
			}
			return rapid.String().Draw(t, label)
		}
		n := node{path: str("path"), value: str("value"), dir: rapid.Bool().Draw(t, "dir"), hasTTL: rapid.Bool().Draw(t, "ttl")}
		for _, u := range []*uint64{&n.created, &n.modified} {
			if rapid.Bool().Draw(t, "edge") {
				*u = rapid.SampledFrom(ints).Draw(t, "uint")
			} else {
				*u = rapid.Uint64().Draw(t, "uint")
			}
		}
		if rapid.Bool().Draw(t, "edge") {
			n.expireNs = rapid.SampledFrom(signed).Draw(t, "int")
		} else {
			n.expireNs = rapid.Int64().Draw(t, "int")
		}
		var want bytes.Buffer
		if err := encodeSnapNodeReference(msgpack.NewEncoder(&want), &n); err != nil {
			t.Fatal(err)
		}
		if got := appendSnapNode(nil, &n); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("% x\nnot the Encoder's\n% x", got, want.Bytes())
		}
	})
}

// Save writes saveReference's bytes, across the chunks it writes in.
func TestSaveAsReference(t *testing.T) {
	s := New(Options{HistorySize: 10})
	ttl := uint64(60)
	for i := range 3000 {
		c := put("/dir"+string(rune('a'+i%7))+"/key"+strings.Repeat("k", i%40)+string(rune('0'+i%10))+"-"+strings.Repeat("v", i%3), strings.Repeat("value", i%70))
		if i%5 == 0 {
			c.TTLSec = &ttl
		}
		c.TimeUnixNano = 1_700_000_000_000_000_000
		mustApply(t, s, c)
	}
	f := s.Freeze()
	var got, want bytes.Buffer
	if err := f.Save(&got); err != nil {
		t.Fatal(err)
	}
	if err := f.saveReference(&want); err != nil {
		t.Fatal(err)
	}
	if got.Len() < 64<<10 || !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("Save wrote %d bytes, saveReference %d, equal %v", got.Len(), want.Len(), bytes.Equal(got.Bytes(), want.Bytes()))
	}
}
