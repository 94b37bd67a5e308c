package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/raftkv/raftkv/kv"
)

// jsonText draws strings that exercise every escaping rule: quotes,
// backslashes, control characters, HTML characters, U+2028/U+2029,
// multi-byte runes and invalid UTF-8.
func jsonText() *rapid.Generator[string] {
	pieces := []string{"a", "key", "/dir/k", `"`, `\`, "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f",
		"<", ">", "&", "\u2028", "\u2029", "é", "日本", "😀", "\xff", "\xe2\x80", " ", "="}
	return rapid.Custom(func(t *rapid.T) string {
		var b bytes.Buffer
		for range rapid.IntRange(0, 8).Draw(t, "n") {
			b.WriteString(rapid.SampledFrom(pieces).Draw(t, "piece"))
		}
		return b.String()
	})
}

func drawNode(t *rapid.T, depth int) *kv.Node {
	if depth > 0 && rapid.IntRange(0, 9).Draw(t, "nilChild") == 0 {
		return nil
	}
	n := &kv.Node{
		Key:           rapid.SampledFrom([]string{"", "/k"}).Draw(t, "keyKind") + jsonText().Draw(t, "key"),
		Dir:           rapid.Bool().Draw(t, "dir"),
		TTL:           rapid.SampledFrom([]int64{0, 0, 1, 30, -1, 1 << 40}).Draw(t, "ttl"),
		ModifiedIndex: rapid.SampledFrom([]uint64{0, 1, 7, 1 << 63}).Draw(t, "modified"),
		CreatedIndex:  rapid.SampledFrom([]uint64{0, 1, 7, 1<<64 - 1}).Draw(t, "created"),
	}
	if rapid.Bool().Draw(t, "hasValue") {
		v := jsonText().Draw(t, "value")
		n.Value = &v
	}
	if rapid.Bool().Draw(t, "hasExpiration") {
		e := time.Unix(rapid.Int64Range(0, 4e9).Draw(t, "sec"), rapid.Int64Range(0, 999999999).Draw(t, "nsec")).UTC()
		n.Expiration = &e
	}
	if depth < 2 {
		for range rapid.IntRange(0, 3).Draw(t, "children") {
			n.Nodes = append(n.Nodes, drawNode(t, depth+1))
		}
	}
	return n
}

// TestEventJSONMatchesEncodingJSON checks the hand-written encoder against
// encoding/json (the naive model) on random events.
func TestEventJSONMatchesEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ev := &kv.Event{Action: rapid.SampledFrom([]string{"set", "get", "create", "compareAndSwap", "<&>"}).Draw(t, "action")}
		if rapid.Bool().Draw(t, "hasNode") {
			ev.Node = drawNode(t, 0)
			if ev.Node == nil {
				ev.Node = &kv.Node{}
			}
		}
		if rapid.Bool().Draw(t, "hasPrev") {
			ev.PrevNode = drawNode(t, 1)
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(ev); err != nil {
			t.Fatal(err)
		}
		if got := appendEventJSON(nil, ev); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("appendEventJSON:\n got %s\nwant %s", got, want.Bytes())
		}
	})
}

func TestWriteEventAnswersLikeWriteJSON(t *testing.T) {
	v := "<value>"
	ev := &kv.Event{Action: "set", Node: &kv.Node{Key: "/a", Value: &v, ModifiedIndex: 5, CreatedIndex: 5}}
	a, b := httptest.NewRecorder(), httptest.NewRecorder()
	writeJSON(a, 201, ev)
	for range 3 { // the second and third reuse a pooled buffer
		b = httptest.NewRecorder()
		writeEvent(b, 201, ev)
	}
	if a.Code != b.Code || a.Body.String() != b.Body.String() || a.Header().Get("Content-Type") != b.Header().Get("Content-Type") {
		t.Fatalf("writeEvent: %d %q %q; writeJSON: %d %q %q", b.Code, b.Header(), b.Body, a.Code, a.Header(), a.Body)
	}
}

func BenchmarkWriteEvent(b *testing.B) {
	v := string(bytes.Repeat([]byte("a"), 256))
	ev := &kv.Event{Action: "set", Node: &kv.Node{Key: "/raftkv-bench/k123", Value: &v, ModifiedIndex: 123456, CreatedIndex: 123456}}
	b.Run("encode/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			_ = json.NewEncoder(&buf).Encode(ev)
		}
	})
	b.Run("encode/appendEventJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendEventJSON(buf[:0], ev)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			writeJSON(discardWriter{http.Header{}}, 200, ev)
		}
	})
	b.Run("writeEvent", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			writeEvent(discardWriter{http.Header{}}, 200, ev)
		}
	})
}

// discardWriter is a ResponseWriter that keeps only its headers.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header { return d.h }

func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func (d discardWriter) WriteHeader(int) {}
