package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/raftkv/raftkv/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// Wire constants. Values are part of the wire format: never renumber.
const (
	// Magic opens every stream header and every header reply.
	Magic = "RKVP"
	// Version is the stream format version this package speaks.
	Version = 1
	// HeaderSize is the size of a stream header.
	HeaderSize = 32
	// ReplySize is the size of the receiver's reply to a stream header.
	ReplySize = 8
	// FrameLenSize is the size of a frame's length word.
	FrameLenSize = 4
)

// Lane says which of a peer's two outbound streams a connection is.
type Lane uint8

// Lanes. Values are part of the wire format.
const (
	// LaneControl carries everything except appends and snapshots: votes,
	// heartbeats, responses, timeout-now. Its messages are small, so they
	// never wait behind bulk data.
	LaneControl Lane = 1
	// LaneBulk carries MsgApp and MsgSnap, in the order they were sent.
	LaneBulk Lane = 2
	// LaneApp carries application frames (FrameApp): what the members
	// exchange beside raft, such as client requests a follower forwards to
	// the leader and their answers. Its own stream keeps them from waiting
	// behind appends, and heartbeats from waiting behind them.
	LaneApp Lane = 3
)

func (l Lane) String() string {
	switch l {
	case LaneControl:
		return "control"
	case LaneBulk:
		return "bulk"
	case LaneApp:
		return "app"
	}
	return fmt.Sprintf("Lane(%d)", uint8(l))
}

// LaneOf returns the lane a message of type t travels on.
func LaneOf(t raft.MessageType) Lane {
	if t == raft.MsgApp || t == raft.MsgSnap {
		return LaneBulk
	}
	return LaneControl
}

// Status is the receiver's verdict on a stream header.
type Status uint8

// Statuses. Values are part of the wire format.
const (
	StatusOK              Status = 0
	StatusBadVersion      Status = 1
	StatusClusterMismatch Status = 2
	StatusUnknownSender   Status = 3
	StatusWrongReceiver   Status = 4
	StatusBadLane         Status = 5
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "accepted"
	case StatusBadVersion:
		return "unsupported version"
	case StatusClusterMismatch:
		return "cluster id mismatch"
	case StatusUnknownSender:
		return "unknown sender"
	case StatusWrongReceiver:
		return "wrong receiver"
	case StatusBadLane:
		return "unknown lane"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// FrameType is the first element of every frame body.
type FrameType uint8

// Frame types. Values are part of the wire format.
const (
	// FrameMsg: [1, message]. One whole raft message.
	FrameMsg FrameType = 1
	// FrameSnapBegin: [2, message, total]. A MsgSnap whose Snapshot.Data
	// (total bytes) follows in FrameSnapChunk frames.
	FrameSnapBegin FrameType = 2
	// FrameSnapChunk: [3, offset, data]. The next piece of the snapshot
	// data announced by the last FrameSnapBegin.
	FrameSnapChunk FrameType = 3
	// FrameApp: [4, data]. An application frame: opaque bytes for
	// Config.OnApp, on LaneApp only.
	FrameApp FrameType = 4
)

// Errors. Decoders return them wrapped with detail; test with errors.Is.
var (
	// ErrBadMagic: the bytes are not a raftkv peer stream.
	ErrBadMagic = errors.New("rpc: bad magic")
	// ErrRefused: the receiver refused our stream header.
	ErrRefused = errors.New("rpc: stream refused")
	// ErrFrameTooLarge: a frame's length word exceeds the maximum frame
	// size, or a message encodes to more than it.
	ErrFrameTooLarge = errors.New("rpc: frame too large")
	// ErrSnapshotTooLarge: a snapshot's data exceeds the receiver's limit.
	ErrSnapshotTooLarge = errors.New("rpc: snapshot too large")
	// ErrBadFrame: a frame body is not valid for the protocol.
	ErrBadFrame = errors.New("rpc: malformed frame")
	// ErrClosed: the transport is closed.
	ErrClosed = errors.New("rpc: transport closed")
	// ErrUnknownPeer: no peer with that id.
	ErrUnknownPeer = errors.New("rpc: unknown peer")
	// ErrQueueFull: the peer's queue for the lane is full.
	ErrQueueFull = errors.New("rpc: send queue full")
)

// Header is the first thing a dialer writes on a stream.
type Header struct {
	Version   uint8
	Lane      Lane
	ClusterID uint64
	From, To  uint64
}

// AppendHeader appends the 32-byte encoding of h to dst.
func AppendHeader(dst []byte, h Header) []byte {
	dst = append(dst, Magic...)
	dst = append(dst, h.Version, byte(h.Lane), 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, h.ClusterID)
	dst = binary.BigEndian.AppendUint64(dst, h.From)
	dst = binary.BigEndian.AppendUint64(dst, h.To)
	return dst
}

// DecodeHeader decodes a stream header. It checks only the magic and the
// length; the receiver judges the fields (see Status).
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: header is %d bytes, want %d", ErrBadFrame, len(b), HeaderSize)
	}
	if string(b[:4]) != Magic {
		return Header{}, fmt.Errorf("%w: %q", ErrBadMagic, b[:4])
	}
	return Header{
		Version:   b[4],
		Lane:      Lane(b[5]),
		ClusterID: binary.BigEndian.Uint64(b[8:]),
		From:      binary.BigEndian.Uint64(b[16:]),
		To:        binary.BigEndian.Uint64(b[24:]),
	}, nil
}

func appendReply(dst []byte, s Status) []byte {
	dst = append(dst, Magic...)
	return append(dst, Version, byte(s), 0, 0)
}

// decodeReply returns the receiver's version and verdict.
func decodeReply(b []byte) (uint8, Status, error) {
	if len(b) < ReplySize || string(b[:4]) != Magic {
		return 0, 0, fmt.Errorf("%w in header reply", ErrBadMagic)
	}
	return b[4], Status(b[5]), nil
}

// readFrame reads one frame and returns its body, reusing buf when it is
// large enough. A length word of zero or above maxFrame is an error, and
// nothing beyond the length word is read in that case.
func readFrame(r io.Reader, buf []byte, maxFrame int) ([]byte, error) {
	var lw [FrameLenSize]byte
	if _, err := io.ReadFull(r, lw[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(lw[:])
	if n == 0 {
		return nil, fmt.Errorf("%w: zero length word", ErrBadFrame)
	}
	if uint64(n) > uint64(maxFrame) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, maxFrame)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// frame is one decoded frame body.
type frame struct {
	typ    FrameType
	msg    raft.Message // FrameMsg, FrameSnapBegin (Snapshot.Data empty)
	total  uint64       // FrameSnapBegin
	offset uint64       // FrameSnapChunk
	data   []byte       // FrameSnapChunk, FrameApp; aliases the body
}

// decoder decodes frame bodies; it is reused across frames of a stream.
type decoder struct {
	r    bytes.Reader
	dec  *msgpack.Decoder // reads from r
	body []byte           // the frame body r reads
}

func newDecoder() *decoder {
	d := &decoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}

// decode decodes a frame body. Extra trailing array elements are skipped
// (a later version may append some); trailing bytes after the array are
// an error.
func (d *decoder) decode(body []byte) (frame, error) {
	var f frame
	end, err := checkShape(body, 0, 0)
	if err != nil {
		return f, err
	}
	if end != len(body) {
		return f, fmt.Errorf("%w: %d trailing bytes", ErrBadFrame, len(body)-end)
	}
	d.reset(body)
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return f, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if n < 1 {
		return f, fmt.Errorf("%w: empty array", ErrBadFrame)
	}
	t, err := d.dec.DecodeUint64()
	if err != nil {
		return f, fmt.Errorf("%w: frame type: %v", ErrBadFrame, err)
	}
	f.typ = FrameType(t)
	var want int
	switch f.typ {
	case FrameMsg, FrameApp:
		want = 2
	case FrameSnapBegin, FrameSnapChunk:
		want = 3
	default:
		return f, fmt.Errorf("%w: unknown frame type %d", ErrBadFrame, t)
	}
	if n < want {
		return f, fmt.Errorf("%w: %d elements in %d frame, want %d", ErrBadFrame, n, t, want)
	}
	switch f.typ {
	case FrameMsg, FrameSnapBegin:
		if err := d.message(&f.msg); err != nil {
			return f, fmt.Errorf("%w: message: %v", ErrBadFrame, err)
		}
		if f.msg.Type < raft.MsgApp || f.msg.Type > raft.MsgSnapResp {
			return f, fmt.Errorf("%w: unknown message type %d", ErrBadFrame, f.msg.Type)
		}
		if f.typ == FrameSnapBegin {
			if f.msg.Type != raft.MsgSnap || f.msg.Snapshot == nil || len(f.msg.Snapshot.Data) != 0 {
				return f, fmt.Errorf("%w: snapshot begin must carry a MsgSnap with empty data", ErrBadFrame)
			}
			if f.total, err = d.dec.DecodeUint64(); err != nil {
				return f, fmt.Errorf("%w: snapshot size: %v", ErrBadFrame, err)
			}
		}
	case FrameSnapChunk:
		if f.offset, err = d.dec.DecodeUint64(); err != nil {
			return f, fmt.Errorf("%w: chunk offset: %v", ErrBadFrame, err)
		}
		if f.data, err = d.bytesInBody(); err != nil {
			return f, fmt.Errorf("%w: chunk data: %v", ErrBadFrame, err)
		}
	case FrameApp:
		if f.data, err = d.bytesInBody(); err != nil {
			return f, fmt.Errorf("%w: app data: %v", ErrBadFrame, err)
		}
	}
	for i := want; i < n; i++ {
		if err := d.dec.Skip(); err != nil {
			return f, fmt.Errorf("%w: extra element: %v", ErrBadFrame, err)
		}
	}
	if d.r.Len() != 0 {
		return f, fmt.Errorf("%w: %d trailing bytes", ErrBadFrame, d.r.Len())
	}
	return f, nil
}

// reset points the decoder at the start of body.
func (d *decoder) reset(body []byte) {
	d.body = body
	d.r.Reset(body)
	d.dec.Reset(&d.r)
}

// bytesInBody decodes a binary value as a slice of the body, not a copy.
func (d *decoder) bytesInBody() ([]byte, error) {
	l, err := d.dec.DecodeBytesLen()
	if err != nil {
		return nil, err
	}
	return d.span(max(l, 0)) // nil: no data
}

// span consumes the next l bytes of the body and returns them, not a copy.
func (d *decoder) span(l int) ([]byte, error) {
	if l > d.r.Len() {
		return nil, fmt.Errorf("%d bytes past end of frame", l)
	}
	start := len(d.body) - d.r.Len()
	if _, err := d.r.Seek(int64(l), io.SeekCurrent); err != nil {
		return nil, err
	}
	return d.body[start : start+l : start+l], nil
}

// encoder builds frames into one reusable buffer.
type encoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

func newEncoder() *encoder {
	e := &encoder{}
	e.enc = msgpack.NewEncoder(&e.buf)
	e.enc.UseCompactInts(true)
	return e
}

// begin starts a frame: a placeholder length word and the body's array
// header and frame type.
func (e *encoder) begin(t FrameType, elems int) {
	e.buf.Reset()
	e.buf.Write(make([]byte, FrameLenSize))
	// Writes to a bytes.Buffer cannot fail.
	_ = e.enc.EncodeArrayLen(elems)
	_ = e.enc.EncodeUint(uint64(t))
}

// finish patches the length word, counting extra body bytes that the
// caller writes after the buffer, and returns the buffer.
func (e *encoder) finish(extra, maxFrame int) ([]byte, error) {
	b := e.buf.Bytes()
	n := len(b) - FrameLenSize + extra
	if n > maxFrame {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, maxFrame)
	}
	binary.BigEndian.PutUint32(b, uint32(n))
	return b, nil
}

// msgFrame encodes a whole message as one frame.
func (e *encoder) msgFrame(m *raft.Message, maxFrame int) ([]byte, error) {
	e.begin(FrameMsg, 2)
	e.message(m, true)
	return e.finish(0, maxFrame)
}

// snapBeginFrame encodes the head of a streamed MsgSnap: m without its
// snapshot data, and the data's length.
func (e *encoder) snapBeginFrame(m *raft.Message, maxFrame int) ([]byte, error) {
	e.begin(FrameSnapBegin, 3)
	e.message(m, false)
	_ = e.enc.EncodeUint(uint64(len(m.Snapshot.Data)))
	return e.finish(0, maxFrame)
}

// snapChunkPrefix encodes everything of a chunk frame but the data, which
// the caller writes right after the returned bytes (no copy of the data).
func (e *encoder) snapChunkPrefix(offset uint64, dataLen, maxFrame int) ([]byte, error) {
	e.begin(FrameSnapChunk, 3)
	_ = e.enc.EncodeUint(offset)
	_ = e.enc.EncodeBytesLen(dataLen)
	return e.finish(dataLen, maxFrame)
}

// maxAppFrameOverhead bounds the body bytes of an app frame besides its
// data: [4, bin] is an array header, the type and a bin header of at most
// 5 bytes.
const maxAppFrameOverhead = 1 + 1 + 5

// appFramePrefix encodes everything of an app frame but the data, which
// the caller writes right after the returned bytes.
func (e *encoder) appFramePrefix(dataLen, maxFrame int) ([]byte, error) {
	e.begin(FrameApp, 2)
	_ = e.enc.EncodeBytesLen(dataLen)
	return e.finish(dataLen, maxFrame)
}

// maxDepth bounds the nesting of a frame body (a message nests four deep).
const maxDepth = 16

// checkShape walks the MessagePack value at b[i:] and returns the offset
// after it. It fails if a declared length (string, binary, array or map)
// claims more than the bytes left, so that decoding never allocates for
// claims the frame cannot back, and on nesting deeper than maxDepth.
func checkShape(b []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("%w: nested deeper than %d", ErrBadFrame, maxDepth)
	}
	if i >= len(b) {
		return 0, fmt.Errorf("%w: value past end of frame", ErrBadFrame)
	}
	c := b[i]
	i++
	// size reads a big-endian length of w bytes at b[i:].
	size := func(w int) (int, error) {
		if len(b)-i < w {
			return 0, fmt.Errorf("%w: length past end of frame", ErrBadFrame)
		}
		var n uint64
		for _, x := range b[i : i+w] {
			n = n<<8 | uint64(x)
		}
		i += w
		return int(n), nil
	}
	var raw, elems int // bytes to skip, values to walk
	var err error
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
	case c <= 0x8f:
		elems = 2 * int(c&0x0f)
	case c <= 0x9f:
		elems = int(c & 0x0f)
	case c <= 0xbf:
		raw = int(c & 0x1f)
	case c == 0xc4 || c == 0xd9:
		raw, err = size(1)
	case c == 0xc5 || c == 0xda:
		raw, err = size(2)
	case c == 0xc6 || c == 0xdb:
		raw, err = size(4)
	case c == 0xc7 || c == 0xc8 || c == 0xc9:
		raw, err = size(1 << (c - 0xc7))
		raw++ // the ext type byte
	case c == 0xca || c == 0xcb:
		raw = 4 << (c - 0xca)
	case c >= 0xcc && c <= 0xcf:
		raw = 1 << (c - 0xcc)
	case c >= 0xd0 && c <= 0xd3:
		raw = 1 << (c - 0xd0)
	case c >= 0xd4 && c <= 0xd8:
		raw = 1 + 1<<(c-0xd4)
	case c == 0xdc || c == 0xdd:
		elems, err = size(2 << (c - 0xdc))
	case c == 0xde || c == 0xdf:
		elems, err = size(2 << (c - 0xde))
		elems *= 2
	default:
		return 0, fmt.Errorf("%w: invalid code 0x%x", ErrBadFrame, c)
	}
	if err != nil {
		return 0, err
	}
	if raw < 0 || raw > len(b)-i || elems < 0 || elems > len(b)-i {
		return 0, fmt.Errorf("%w: length past end of frame", ErrBadFrame)
	}
	i += raw
	for range elems {
		if i, err = checkShape(b, i, depth+1); err != nil {
			return 0, err
		}
	}
	return i, nil
}
