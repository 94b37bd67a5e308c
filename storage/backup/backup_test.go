package backup

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	h := Header{ClusterID: "c0ffee", Index: 42, Term: 3, StoreIndex: 17, Member: "a1",
		Members: []Member{{ID: "a1", Name: "n1", PeerURLs: []string{"http://127.0.0.1:2380"}, ClientURLs: []string{"http://127.0.0.1:2379"}}}}
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	// The data in pieces, as a streamed key space arrives.
	for _, p := range []string{"key space ", "in ", "pieces"} {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	b := sample(t)
	s, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data) != "key space in pieces" || s.Header.Index != 42 || s.Header.Term != 3 ||
		s.Header.ClusterID != "c0ffee" || len(s.Header.Members) != 1 || s.Header.Members[0].Name != "n1" {
		t.Fatalf("decoded %+v", s)
	}
	if s.Size != int64(len(b)) || len(s.SHA256) != 64 {
		t.Fatalf("size %d sha %q", s.Size, s.SHA256)
	}
}

// TestTruncatedAnywhere cuts the file at every length: each is refused,
// as truncated or incomplete.
func TestTruncatedAnywhere(t *testing.T) {
	b := sample(t)
	for n := 0; n < len(b); n++ {
		_, err := Decode(b[:n])
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d of %d: err %v, want ErrCorrupt", n, len(b), err)
		}
		if n >= 8 && !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("cut at %d: %v does not say truncated", n, err)
		}
	}
}

// TestBitFlipsAnywhere flips every bit of the file in turn: each damaged
// copy is refused.
func TestBitFlipsAnywhere(t *testing.T) {
	b := sample(t)
	for i := range b {
		for bit := range 8 {
			c := bytes.Clone(b)
			c[i] ^= 1 << bit
			if _, err := Decode(c); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("bit %d of byte %d flipped: err %v, want ErrCorrupt", bit, i, err)
			}
		}
	}
}

func TestDataFlipIsChecksumMismatch(t *testing.T) {
	b := sample(t)
	i := bytes.Index(b, []byte("pieces"))
	b[i] ^= 0x20
	_, err := Decode(b)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("err %v, want a checksum mismatch", err)
	}
}

func TestNotASnapshot(t *testing.T) {
	_, err := Decode([]byte(`{"action":"get","node":{"key":"/x"}} and more text after it`))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "does not start with") {
		t.Fatalf("err %v", err)
	}
}

func TestReadFileNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.db")
	b := sample(t)
	if err := os.WriteFile(path, b[:len(b)-1], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": ") {
		t.Fatalf("err %v does not start with the path", err)
	}
}

func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Header{Index: 1})
	_, _ = w.Write([]byte("x"))
	_ = w.Close()
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err == nil && int64(len(b)) != s.Size {
			t.Fatalf("size %d for %d bytes", s.Size, len(b))
		}
	})
}
