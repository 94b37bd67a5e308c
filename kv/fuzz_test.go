package kv

import (
	"bytes"
	"testing"
)

// FuzzDecodeCommand: DecodeCommand reads log entries, which may come from a
// damaged or hostile peer. It must never panic, and whatever it accepts must
// re-encode to something that decodes to the same command and applies
// without panicking.
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
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil {
			return
		}
		b, err := c.Encode()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
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
