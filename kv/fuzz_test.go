package kv

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// FuzzDecodeCommand: DecodeCommand reads log entries, which may come from a
// damaged or hostile peer. It must never panic, must accept and refuse
// exactly what msgpack's reflection decoder does, with the same errors (as
// must msgpackDecode, the decoder it replaced), and whatever it accepts must
// re-encode, to msgpack.Marshal's bytes, into something that decodes to the
// same command and applies without panicking.
func FuzzDecodeCommand(f *testing.F) {
	for _, c := range []*Command{
		{Method: MethodPut, Path: "/a", Value: "v", TTLSec: Uint64(5), TimeUnixNano: 1},
		{Method: MethodPost, Path: "/q", Dir: true},
		{Method: MethodDelete, Path: "/a", PrevValue: "v", PrevIndex: 3, Recursive: true},
		{Method: MethodPut, Path: "/a", PrevExist: Bool(true), Refresh: true, TTLSec: Uint64(0)},
		{Method: MethodSync, TimeUnixNano: 1 << 60, GraceNs: 1e9},
		{Method: MethodQuorumGet, Path: "/", Recursive: true, Sorted: true},
	} {
		b, err := c.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// The forms reflection accepts that Encode never writes: the array
	// form, nil fields, bin keys, wide and negative integers, repeats.
	for _, b := range [][]byte{
		{0x9d, 0x02, 0xa2, '/', 'a', 0xc0, 0xc3, 0x05, 0xc0, 0xc0, 0xc2, 0xc0, 0xc0, 0xc0, 0xd0, 0xff, 0x00},
		{0x83, 0xc4, 0x01, 'm', 0xcd, 0x01, 0x02, 0xa1, 't', 0xc0, 0xa2, 'p', 'e', 0xc0},
		{0x82, 0xa1, 'v', 0xda, 0x00, 0x01, 'x', 0xa1, 'v', 0xc6, 0x00, 0x00, 0x00, 0x01, 'y'},
		{0xde, 0x00, 0x02, 0xa2, 't', 'm', 0xe0, 0xa2, 'p', 'i', 0xd2, 0xff, 0xff, 0xff, 0xff},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		want, wantErr := reflectDecode(data, "")
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("decode %x: %v; reflection: %v", data, err, wantErr)
		}
		old, oldErr := msgpackDecode(data)
		if (err == nil) != (oldErr == nil) || err != nil && err.Error() != oldErr.Error() {
			t.Fatalf("decode %x: %v; the Decoder-based decoder: %v", data, err, oldErr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(c, want) || !reflect.DeepEqual(c, old) {
			t.Fatalf("decode %x:\n got  %+v\n want %+v", data, *c, *want)
		}
		b, err := c.Encode()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if mb, _ := msgpack.Marshal(c); !bytes.Equal(b, mb) {
			t.Fatalf("re-encode: %x, msgpack.Marshal: %x", b, mb)
		}
		c2, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("decode of re-encoded %x: %v", b, err)
		}
		b2, _ := c2.Encode()
		if !bytes.Equal(b, b2) {
			t.Fatalf("unstable encoding: %x vs %x", b, b2)
		}
		s := New(Options{HistorySize: 4})
		_, _ = s.Apply(c)
		_, _ = s.Apply(c)
	})
}
