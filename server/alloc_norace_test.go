//go:build !race

// Allocation bounds hold for the binary as shipped: the race detector's
// build allocates differently (its sync.Pool drops items at random), so
// these tests are left out of -race builds, and `make test` runs them in
// a build without it.

package server

import (
	"bytes"
	"testing"
)

// TestFastPathKeyAllocs bounds the allocations of a key request on the
// fast path and in the client API (the backend's own are not counted: it
// answers at once). Raise a bound only for a reason.
func TestFastPathKeyAllocs(t *testing.T) {
	f := newFastStub(t)
	put := appendPut(nil, "bench/k")
	get := appendGet(nil, "bench/get")
	for _, tc := range []struct {
		name string
		req  []byte
		max  float64
	}{
		// The head's string, the URL, the keyRequest, the key's path,
		// the body's string, its pairs, the value, the raft headers'
		// numbers.
		{"put", put, 8},
		// The head's string, the URL, the keyRequest, the raft headers'
		// numbers, and the store's Get (2).
		{"get", get, 6},
	} {
		if ans := f.do(t, tc.req); !bytes.HasPrefix(ans, []byte("HTTP/1.1 20")) {
			t.Fatalf("%s: %q", tc.name, ans)
		}
		n := testing.AllocsPerRun(200, func() { f.do(t, tc.req) })
		t.Logf("%s: %.1f allocations", tc.name, n)
		if n > tc.max {
			t.Errorf("%s: %.1f allocations per request, want at most %.0f", tc.name, n, tc.max)
		}
	}
}
