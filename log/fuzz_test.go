package log

import (
	"bytes"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"

	"github.com/raftkv/raftkv/internal/fuzzcorpus"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/vfs"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the committed fuzz seed corpora in testdata/fuzz")

// seedSegment returns the bytes of a real segment: header, entries, hard
// states and markers.
func seedSegment() []byte {
	e := newEncoder()
	e.header(Header{ClusterID: 0xc1, MemberID: 2, Seq: 0, FirstIndex: 1})
	for i := uint64(1); i <= 4; i++ {
		e.entry(&raft.Entry{Term: 1, Index: i, Data: bytes.Repeat([]byte{byte(i)}, int(i*40))})
	}
	e.hardState(raft.HardState{Term: 1, Vote: 2, Commit: 3})
	e.entry(&raft.Entry{Term: 2, Index: 3})
	e.marker(Marker{Index: 2, Term: 1})
	e.hardState(raft.HardState{Term: 2, Vote: 2, Commit: 3})
	return e.a.B
}

func fuzzSeeds() [][]byte {
	seg := seedSegment()
	torn := bytes.Clone(seg[:len(seg)-11])
	zeroTail := append(bytes.Clone(seg[:520]), make([]byte, 512)...)
	flipped := bytes.Clone(seg)
	flipped[100] ^= 1
	return [][]byte{seg, torn, zeroTail, flipped, seg[:8], {}}
}

func TestUpdateFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		// The committed corpus must decode as the generator would write it.
		if _, err := os.Stat(fuzzcorpus.Path("FuzzScanSegment", 0)); err != nil {
			t.Fatalf("seed corpus missing (regenerate with -update-corpus): %v", err)
		}
		return
	}
	for _, target := range []string{"FuzzDecodeFrame", "FuzzScanSegment"} {
		if err := fuzzcorpus.Write(target, fuzzSeeds()); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzDecodeFrame: decoding arbitrary bytes never panics, and what decodes
// re-encodes to the same bytes.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	d := newDecoder()
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, p, n, err := DecodeFrame(b)
		if err != nil {
			return
		}
		if n > len(b) || n%FrameAlign != 0 || n < FrameHeaderSize+1 {
			t.Fatalf("frame size %d of %d bytes", n, len(b))
		}
		if re := AppendFrame(nil, typ, p); !bytes.Equal(re[:FrameHeaderSize+1+len(p)], b[:FrameHeaderSize+1+len(p)]) {
			t.Fatalf("re-encoding differs")
		}
		switch typ {
		case RecordHeader:
			_, _ = d.header(p)
		case RecordEntry:
			if e, err := d.entry(p); err == nil {
				e2, err := DecodeEntry(appendEntry(e))
				if err != nil || !reflect.DeepEqual(e, e2) {
					t.Fatalf("entry %+v re-decodes as %+v, %v", e, e2, err)
				}
			}
		case RecordHardState:
			_, _ = d.hardState(p)
		case RecordSnapshot:
			_, _ = d.marker(p)
		}
	})
}

func appendEntry(e raft.Entry) []byte {
	enc := newEncoder()
	enc.entry(&e)
	_, p, _, _ := DecodeFrame(enc.a.B)
	return p
}

// FuzzScanSegment: arbitrary bytes as the only segment of a WAL. Open never
// panics; it fails with a CorruptError or MismatchError, or it succeeds, and
// then recovery was complete: a second open finds the same state and no
// torn tail, and scanning as a non-last segment finds no error.
func FuzzScanSegment(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = scanFrames(b, false, func(int, RecordType, []byte) error { return nil })

		m := vfs.NewMem(rand.New(rand.NewPCG(1, 1)))
		_ = m.MkdirAll("/w")
		name := "/w/" + segmentName(0, 1)
		if err := vfs.WriteFile(m, name, b); err != nil {
			t.Fatal(err)
		}
		w, st, err := Open(m, "/w", opts(0))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrClusterMismatch) && !errors.Is(err, ErrMemberMismatch) {
				t.Fatalf("open failed with an unnamed error: %v", err)
			}
			return
		}
		w.Close()
		after, _ := vfs.ReadFile(m, name)
		if !bytes.HasPrefix(b, after) {
			t.Fatal("recovery rewrote data instead of cutting a tail")
		}
		if _, err := scanFrames(after, false, func(int, RecordType, []byte) error { return nil }); err != nil {
			t.Fatalf("recovered segment still bad: %v", err)
		}
		w2, st2, err := Open(m, "/w", opts(0))
		if err != nil {
			t.Fatalf("second open: %v", err)
		}
		w2.Close()
		if !reflect.DeepEqual(st, st2) {
			t.Fatalf("second open differs:\n%+v\n%+v", st, st2)
		}
	})
}
