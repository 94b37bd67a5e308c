package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/raftkv/raftkv/kv"
)

// The answers to key requests (an event: a write's outcome or a read) are
// written by hand rather than by encoding/json: the bytes are the same
// (TestEventJSONMatchesEncodingJSON checks them against encoding/json on
// random events), but without reflection, and into a pooled buffer, so a
// request costs no more than a few small allocations of its own.

// jsonBufs holds the buffers answers are encoded into.
var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledJSON bounds the buffers kept for reuse: a recursive GET of a
// large directory should not pin its answer's memory in the pool.
const maxPooledJSON = 64 << 10

// jsonContentType is the Content-Type of every event answer, shared: a
// header's values are only read once set (net/http clones them).
var jsonContentType = []string{"application/json"}

// writeEvent writes ev as the JSON answer with status, as
// writeJSON(w, status, ev) would.
func writeEvent(w http.ResponseWriter, status int, ev *kv.Event) {
	bp := jsonBufs.Get().(*[]byte)
	b := appendEventJSON((*bp)[:0], ev)
	h := w.Header()
	h["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(b)
	if cap(b) <= maxPooledJSON {
		*bp = b
		jsonBufs.Put(bp)
	}
}

// appendEventJSON appends ev as json.NewEncoder(w).Encode(ev) writes it,
// the newline included.
func appendEventJSON(b []byte, ev *kv.Event) []byte {
	b = append(b, `{"action":`...)
	b = appendJSONString(b, ev.Action)
	if ev.Node != nil {
		b = append(b, `,"node":`...)
		b = appendNodeJSON(b, ev.Node)
	}
	if ev.PrevNode != nil {
		b = append(b, `,"prevNode":`...)
		b = appendNodeJSON(b, ev.PrevNode)
	}
	return append(b, "}\n"...)
}

// appendNodeJSON appends n as encoding/json marshals a *kv.Node (fields in
// declaration order, each omitted when empty).
func appendNodeJSON(b []byte, n *kv.Node) []byte {
	if n == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	first := true
	field := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `":`...)
	}
	if n.Key != "" {
		field("key")
		b = appendJSONString(b, n.Key)
	}
	if n.Value != nil {
		field("value")
		b = appendJSONString(b, *n.Value)
	}
	if n.Dir {
		field("dir")
		b = append(b, "true"...)
	}
	if n.Expiration != nil {
		field("expiration")
		b = append(b, '"')
		b = n.Expiration.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if n.TTL != 0 {
		field("ttl")
		b = strconv.AppendInt(b, n.TTL, 10)
	}
	if len(n.Nodes) > 0 {
		field("nodes")
		b = append(b, '[')
		for i, c := range n.Nodes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendNodeJSON(b, c)
		}
		b = append(b, ']')
	}
	if n.ModifiedIndex != 0 {
		field("modifiedIndex")
		b = strconv.AppendUint(b, n.ModifiedIndex, 10)
	}
	if n.CreatedIndex != 0 {
		field("createdIndex")
		b = strconv.AppendUint(b, n.CreatedIndex, 10)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// jsonSafe says which ASCII bytes appendJSONString copies as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString appends s quoted as encoding/json does by default:
// HTML-safe (<, >, & escaped), U+2028 and U+2029 escaped, invalid UTF-8
// replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
