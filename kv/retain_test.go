package kv

import (
	"runtime"
	"strings"
	"testing"
)

// retained applies, for each of n keys, a set with a big value and then a
// compareAndSwap (or update) with a tiny one, all decoded with dec, lets
// the history roll over, and returns the live heap.
func retained(t *testing.T, dec func([]byte) (*Command, error), method string) uint64 {
	s := New(Options{HistorySize: 4})
	big := strings.Repeat("x", 256<<10)
	apply := func(c *Command) {
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		d, err := dec(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(d); err != nil {
			t.Fatal(err)
		}
	}
	const n = 64
	for i := range n {
		p := "/dir/key" + strings.Repeat("0", 3) + string(rune('A'+i%26)) + string(rune('a'+i/26))
		apply(&Command{Method: MethodPut, Path: p, Value: big})
		switch method {
		case "cas":
			apply(&Command{Method: MethodPut, Path: p, Value: "small", PrevValue: big})
		case "update":
			apply(&Command{Method: MethodPut, Path: p, Value: "small", PrevExist: Bool(true)})
		}
	}
	// Roll the history over.
	for range 10 {
		apply(&Command{Method: MethodPut, Path: "/other", Value: "v"})
	}
	big = ""
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(s)
	return ms.HeapAlloc
}

// TestDecodedStringsKeepNoOldValue: a key set to a big value and then
// changed by compare-and-swap or update keeps only its new value alive.
// (Path and Value once shared one block, and the node's old path kept the
// old value with it.)
func TestDecodedStringsKeepNoOldValue(t *testing.T) {
	for _, m := range []string{"cas", "update"} {
		old := retained(t, msgpackDecode, m)
		now := retained(t, DecodeCommand, m)
		t.Logf("%s: live heap with old decoder %d KiB, with new %d KiB", m, old>>10, now>>10)
		if now > old+8<<20 {
			t.Errorf("%s: new DecodeCommand keeps %d MiB more alive (64 keys x 256 KiB old values)", m, (now-old)>>20)
		}
	}
}
