package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/raftkv/raftkv/internal/msgpbuf"
	"github.com/raftkv/raftkv/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// RecordType is the type byte of a frame.
type RecordType uint8

// Record types. Values are part of the on-disk format: never renumber.
const (
	RecordHeader    RecordType = 1 // segment header, first record of every segment
	RecordEntry     RecordType = 2 // a raft log entry
	RecordHardState RecordType = 3 // raft's HardState
	RecordSnapshot  RecordType = 4 // snapshot marker
	// RecordSnapshotFile is not used in WAL segments; package storage frames
	// snapshot files with it.
	RecordSnapshotFile RecordType = 5
)

func (t RecordType) String() string {
	switch t {
	case RecordHeader:
		return "header"
	case RecordEntry:
		return "entry"
	case RecordHardState:
		return "hardstate"
	case RecordSnapshot:
		return "snapshot"
	case RecordSnapshotFile:
		return "snapshotfile"
	}
	return fmt.Sprintf("RecordType(%d)", uint8(t))
}

func (t RecordType) valid() bool { return t >= RecordHeader && t <= RecordSnapshotFile }

const (
	// FrameHeaderSize is the size of a frame's length and CRC words.
	FrameHeaderSize = 8
	// FrameAlign is the alignment of every frame's start offset.
	FrameAlign = 8
	// MaxRecordLen bounds a frame's length word (type byte plus payload).
	MaxRecordLen = 1 << 28
	// headerMagic opens every segment header's payload.
	headerMagic = "raftkv-wal"
	// FormatVersion is the segment format version written in headers.
	FormatVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Frame decoding failures. DecodeFrame returns them wrapped with detail.
var (
	// ErrShortFrame: the bytes end before the frame does (a torn write if at
	// the end of the last segment).
	ErrShortFrame = errors.New("wal: frame extends past end of data")
	// ErrZeroLength: the length word is zero (no record starts here).
	ErrZeroLength = errors.New("wal: zero length word")
	// ErrBadLength: the length word exceeds MaxRecordLen.
	ErrBadLength = errors.New("wal: length word out of range")
	// ErrBadCRC: the CRC does not match the type byte and payload.
	ErrBadCRC = errors.New("wal: CRC mismatch")
	// ErrBadType: the CRC matched but the type byte is unknown.
	ErrBadType = errors.New("wal: unknown record type")
)

// FrameSize is the number of bytes a frame with an l-byte body occupies,
// padding included.
func FrameSize(l int) int {
	return (FrameHeaderSize + l + FrameAlign - 1) / FrameAlign * FrameAlign
}

// AppendFrame appends a frame holding typ and payload to dst. len(dst) must
// be a multiple of FrameAlign for the result to be a valid segment tail.
func AppendFrame(dst []byte, typ RecordType, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, FrameHeaderSize)...)
	dst = append(dst, byte(typ))
	dst = append(dst, payload...)
	return sealFrame(dst, start)
}

// AppendFrameParts is AppendFrame of the concatenation of parts, without
// joining them first: dst grows once to the frame's size and each part is
// copied once, which for a large record (a snapshot file) is the whole
// difference in memory.
func AppendFrameParts(dst []byte, typ RecordType, parts ...[]byte) []byte {
	start := len(dst)
	n := 1 // the type byte
	for _, p := range parts {
		n += len(p)
	}
	dst = slices.Grow(dst, FrameSize(n))
	dst = append(dst, make([]byte, FrameHeaderSize)...)
	dst = append(dst, byte(typ))
	for _, p := range parts {
		dst = append(dst, p...)
	}
	return sealFrame(dst, start)
}

// FrameParts is AppendFrameParts for a writer: the frame's head (length
// and CRC words, type byte) and its zero padding, such that head, the
// parts and pad written in turn are the bytes AppendFrameParts appends to
// an aligned dst, without the parts being copied.
func FrameParts(typ RecordType, parts ...[]byte) (head, pad []byte) {
	n := 1 // the type byte
	crc := crc32.Update(0, castagnoli, []byte{byte(typ)})
	for _, p := range parts {
		n += len(p)
		crc = crc32.Update(crc, castagnoli, p)
	}
	head = make([]byte, FrameHeaderSize+1)
	binary.LittleEndian.PutUint32(head, uint32(n))
	binary.LittleEndian.PutUint32(head[4:], crc)
	head[FrameHeaderSize] = byte(typ)
	return head, make([]byte, FrameSize(n)-FrameHeaderSize-n)
}

// sealFrame fills in the header of the frame that starts at dst[start] and
// whose type byte and payload run to the end of dst, then pads it.
func sealFrame(dst []byte, start int) []byte {
	body := dst[start+FrameHeaderSize:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	for pad := FrameSize(len(body)) - FrameHeaderSize - len(body); pad > 0; pad-- {
		dst = append(dst, 0)
	}
	return dst
}

// DecodeFrame decodes the frame at the start of b. It returns the record
// type, the payload (aliasing b) and the number of bytes the frame occupies,
// padding included. A frame whose padding is missing is short.
func DecodeFrame(b []byte) (RecordType, []byte, int, error) {
	if len(b) < FrameHeaderSize {
		return 0, nil, 0, fmt.Errorf("%w: %d header bytes of %d", ErrShortFrame, len(b), FrameHeaderSize)
	}
	l := binary.LittleEndian.Uint32(b)
	switch {
	case l == 0:
		return 0, nil, 0, ErrZeroLength
	case l > MaxRecordLen:
		return 0, nil, 0, fmt.Errorf("%w: %d", ErrBadLength, l)
	case FrameSize(int(l)) > len(b):
		return 0, nil, 0, fmt.Errorf("%w: frame of %d bytes, %d left", ErrShortFrame, FrameSize(int(l)), len(b))
	}
	body := b[FrameHeaderSize : FrameHeaderSize+int(l)]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[4:]); got != want {
		return 0, nil, 0, fmt.Errorf("%w: computed %08x, stored %08x", ErrBadCRC, got, want)
	}
	typ := RecordType(body[0])
	if !typ.valid() {
		return 0, nil, 0, fmt.Errorf("%w: %d", ErrBadType, body[0])
	}
	return typ, body[1:], FrameSize(int(l)), nil
}

// Header is the payload of a segment header record.
type Header struct {
	ClusterID  uint64
	MemberID   uint64
	Seq        uint64 // position of the segment in the WAL, from 0
	FirstIndex uint64 // the WAL's last index + 1 when the segment was created
}

// Marker is the payload of a snapshot marker record: a snapshot at
// (Index, Term) was saved. DiscardLog records whether the log after Index
// was dropped (the snapshot did not match the log, thesis §5.4 / Figure 13
// step 7) or kept (it did, step 6).
type Marker struct {
	Index      uint64
	Term       uint64
	DiscardLog bool
}

// encoder builds frames into a reusable buffer, a.B: the frame header and
// type byte by hand, the payload with enc, which writes into a.
type encoder struct {
	a   msgpbuf.Writer
	enc *msgpack.Encoder
}

func newEncoder() *encoder {
	e := &encoder{}
	e.enc = msgpack.NewEncoder(&e.a)
	return e
}

// begin starts a frame of type typ; the payload is then encoded with e.enc
// and the frame closed with end.
func (e *encoder) begin(typ RecordType) int {
	start := len(e.a.B)
	e.a.B = append(e.a.B, 0, 0, 0, 0, 0, 0, 0, 0, byte(typ))
	return start
}

func (e *encoder) end(start int) { e.a.B = sealFrame(e.a.B, start) }

// Encoding into a msgpbuf.Writer cannot fail, so encoder methods ignore
// the msgpack errors, which can only come from the writer.

func (e *encoder) header(h Header) {
	s := e.begin(RecordHeader)
	_ = e.enc.EncodeArrayLen(6)
	_ = e.enc.EncodeString(headerMagic)
	_ = e.enc.EncodeUint(FormatVersion)
	_ = e.enc.EncodeUint(h.ClusterID)
	_ = e.enc.EncodeUint(h.MemberID)
	_ = e.enc.EncodeUint(h.Seq)
	_ = e.enc.EncodeUint(h.FirstIndex)
	e.end(s)
}

func (e *encoder) entry(ent *raft.Entry) {
	s := e.begin(RecordEntry)
	_ = e.enc.EncodeArrayLen(4)
	_ = e.enc.EncodeUint(ent.Term)
	_ = e.enc.EncodeUint(ent.Index)
	_ = e.enc.EncodeUint(uint64(ent.Type))
	_ = e.enc.EncodeBytes(ent.Data)
	e.end(s)
}

func (e *encoder) hardState(hs raft.HardState) {
	s := e.begin(RecordHardState)
	_ = e.enc.EncodeArrayLen(3)
	_ = e.enc.EncodeUint(hs.Term)
	_ = e.enc.EncodeUint(hs.Vote)
	_ = e.enc.EncodeUint(hs.Commit)
	e.end(s)
}

func (e *encoder) marker(m Marker) {
	s := e.begin(RecordSnapshot)
	_ = e.enc.EncodeArrayLen(3)
	_ = e.enc.EncodeUint(m.Index)
	_ = e.enc.EncodeUint(m.Term)
	_ = e.enc.EncodeBool(m.DiscardLog)
	e.end(s)
}

// decoder decodes record payloads.
type decoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

func newDecoder() *decoder {
	d := &decoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}

// array starts decoding payload p as an array of at least n elements and
// returns the number of extra trailing elements (added by a later format
// version) to skip.
func (d *decoder) array(p []byte, n int) (int, error) {
	d.r.Reset(p)
	d.dec.Reset(&d.r)
	l, err := d.dec.DecodeArrayLen()
	if err != nil {
		return 0, err
	}
	if l < n {
		return 0, fmt.Errorf("array of %d elements, want at least %d", l, n)
	}
	return l - n, nil
}

// finish skips extra elements and checks nothing follows the array.
func (d *decoder) finish(extra int) error {
	for ; extra > 0; extra-- {
		if err := d.dec.Skip(); err != nil {
			return err
		}
	}
	if d.r.Len() != 0 {
		return fmt.Errorf("%d bytes after the payload", d.r.Len())
	}
	return nil
}

func (d *decoder) uints(dst ...*uint64) error {
	for _, p := range dst {
		v, err := d.dec.DecodeUint64()
		if err != nil {
			return err
		}
		*p = v
	}
	return nil
}

// DecodeHeader decodes a segment header payload.
func DecodeHeader(p []byte) (Header, error) { return newDecoder().header(p) }

func (d *decoder) header(p []byte) (Header, error) {
	var h Header
	extra, err := d.array(p, 6)
	if err != nil {
		return h, err
	}
	magic, err := d.dec.DecodeString()
	if err != nil {
		return h, err
	}
	if magic != headerMagic {
		return h, fmt.Errorf("bad magic %q", magic)
	}
	var version uint64
	if err := d.uints(&version); err != nil {
		return h, err
	}
	if version != FormatVersion {
		return h, fmt.Errorf("unsupported format version %d", version)
	}
	if err := d.uints(&h.ClusterID, &h.MemberID, &h.Seq, &h.FirstIndex); err != nil {
		return h, err
	}
	return h, d.finish(extra)
}

// DecodeEntry decodes an entry payload.
func DecodeEntry(p []byte) (raft.Entry, error) { return newDecoder().entry(p) }

func (d *decoder) entry(p []byte) (raft.Entry, error) {
	var e raft.Entry
	extra, err := d.array(p, 4)
	if err != nil {
		return e, err
	}
	var typ uint64
	if err := d.uints(&e.Term, &e.Index, &typ); err != nil {
		return e, err
	}
	if typ > 255 {
		return e, fmt.Errorf("entry type %d out of range", typ)
	}
	e.Type = raft.EntryType(typ)
	if e.Data, err = d.dec.DecodeBytes(); err != nil {
		return e, err
	}
	if len(e.Data) == 0 {
		e.Data = nil
	}
	return e, d.finish(extra)
}

// DecodeHardState decodes a hard state payload.
func DecodeHardState(p []byte) (raft.HardState, error) { return newDecoder().hardState(p) }

func (d *decoder) hardState(p []byte) (raft.HardState, error) {
	var hs raft.HardState
	extra, err := d.array(p, 3)
	if err != nil {
		return hs, err
	}
	if err := d.uints(&hs.Term, &hs.Vote, &hs.Commit); err != nil {
		return hs, err
	}
	return hs, d.finish(extra)
}

// DecodeMarker decodes a snapshot marker payload.
func DecodeMarker(p []byte) (Marker, error) { return newDecoder().marker(p) }

func (d *decoder) marker(p []byte) (Marker, error) {
	var m Marker
	extra, err := d.array(p, 3)
	if err != nil {
		return m, err
	}
	if err := d.uints(&m.Index, &m.Term); err != nil {
		return m, err
	}
	if m.DiscardLog, err = d.dec.DecodeBool(); err != nil {
		return m, err
	}
	return m, d.finish(extra)
}
