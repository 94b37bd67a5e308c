package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Method says what a Command does; together with the conditions in the
// Command it selects the v2 action exactly as etcd's apply step does (see
// Command).
type Method uint8

const (
	// MethodQuorumGet is GET with quorum=true: a read through the log. It
	// returns the node without changing the store index.
	MethodQuorumGet Method = 1
	// MethodPut is PUT: set, create (PrevExist false), update (PrevExist
	// true, no PrevValue/PrevIndex) or compareAndSwap (PrevValue or
	// PrevIndex given).
	MethodPut Method = 2
	// MethodPost is POST: create an in-order child named by the new index,
	// zero-padded to 20 digits.
	MethodPost Method = 3
	// MethodDelete is DELETE: delete, or compareAndDelete when PrevValue or
	// PrevIndex is given.
	MethodDelete Method = 4
	// MethodSync only moves time forward (expiring what is due) and, with
	// GraceNs, grants the leader-change grace period. It returns a nil Event.
	MethodSync Method = 5
)

func (m Method) String() string {
	switch m {
	case MethodQuorumGet:
		return "QGET"
	case MethodPut:
		return "PUT"
	case MethodPost:
		return "POST"
	case MethodDelete:
		return "DELETE"
	case MethodSync:
		return "SYNC"
	}
	return fmt.Sprintf("Method(%d)", uint8(m))
}

// MaxTTLSec is the largest TTL accepted; larger values would overflow the
// nanosecond clock. The HTTP layer answers a larger ttl with 202.
const MaxTTLSec = 1 << 32

// Command is one replicated request: everything a v2 write or quorum read
// needs, plus the proposer's wall time. It is the payload of a log entry
// (Encode/DecodeCommand). Fields a method does not use are ignored.
//
// Encode and DecodeCommand are written by hand to give what msgpack's
// reflection over these tags gives (see doc.go): a new field needs them,
// encodedLen, commandFields and the field constants updated, and
// TestCommandFieldIndexes and TestCommandCodecMatchesReflection fail until
// they are.
type Command struct {
	Method Method `msgpack:"m"`
	// Path is the key path; it is cleaned (path.Clean of "/"+Path) on apply.
	Path  string `msgpack:"p,omitempty"`
	Value string `msgpack:"v,omitempty"`
	Dir   bool   `msgpack:"d,omitempty"`
	// TTLSec is the ttl parameter in seconds; nil means no ttl (the node is
	// permanent, and an update or CAS without it makes the node permanent).
	TTLSec *uint64 `msgpack:"t,omitempty"`
	// PrevValue and PrevIndex make a PUT a compareAndSwap and a DELETE a
	// compareAndDelete; "" and 0 mean "not given", as in v2.
	PrevValue string `msgpack:"pv,omitempty"`
	PrevIndex uint64 `msgpack:"pi,omitempty"`
	// PrevExist is the prevExist parameter; nil means absent.
	PrevExist *bool `msgpack:"pe,omitempty"`
	// Refresh is refresh=true: reset the TTL, keep the value, wake no
	// watcher. Requires TTLSec and an empty Value.
	Refresh   bool `msgpack:"r,omitempty"`
	Recursive bool `msgpack:"rc,omitempty"`
	Sorted    bool `msgpack:"s,omitempty"`
	// TimeUnixNano is the proposer's wall clock when it proposed the
	// command. The store clock becomes max(store clock, TimeUnixNano) before
	// the command runs; 0 leaves the clock alone.
	TimeUnixNano int64 `msgpack:"tm,omitempty"`
	// GraceNs, on any command but normally on MethodSync, asks for the
	// leader-change grace: at the next forward move of the store clock,
	// every TTL due within GraceNs of the new clock is pushed out to new
	// clock + GraceNs before anything expires. See doc.go.
	GraceNs int64 `msgpack:"g,omitempty"`
}

// Bool and Uint64 return pointers for the optional Command fields.
func Bool(b bool) *bool { return &b }

// Uint64 returns a pointer to v, for Command.TTLSec.
func Uint64(v uint64) *uint64 { return &v }

// Validate reports the request errors that kv can see in a command (211,
// 212, 202 for a too-large ttl, 209 for an unknown method). The HTTP layer
// should call it before proposing so the client gets the error without a
// round through the log; Apply checks again. Errors from parsing the HTTP
// form itself (201, 202, 203, 209, 210) are the HTTP layer's, because only
// it knows whether a parameter was present.
func (c *Command) Validate() *Error {
	switch c.Method {
	case MethodQuorumGet, MethodPut, MethodPost, MethodDelete, MethodSync:
	default:
		return NewError(EcodeInvalidField, "unknown method "+c.Method.String(), 0)
	}
	if c.TTLSec != nil && *c.TTLSec > MaxTTLSec {
		return NewError(EcodeTTLNaN, "", 0)
	}
	if c.Refresh && c.Method == MethodPut {
		if c.Value != "" {
			return NewError(EcodeRefreshValue, "A value was provided on a refresh", 0)
		}
		if c.TTLSec == nil {
			return NewError(EcodeRefreshTTLReq, "No TTL value set", 0)
		}
	}
	if c.GraceNs < 0 {
		return NewError(EcodeInvalidField, "negative grace", 0)
	}
	return nil
}

// Encode returns the msgpack encoding of c, the log entry payload: the
// bytes msgpack.Marshal(c) gives by reflection over the struct tags above
// (a map of the non-empty fields in declaration order; Method as uint8,
// TTLSec and PrevIndex as uint64, TimeUnixNano and GraceNs as int64, whatever
// their values), written field by field without reflection. Logs and
// snapshots hold these bytes, so they must never change;
// TestCommandCodecMatchesReflection holds this to msgpack.Marshal.
func (c *Command) Encode() ([]byte, error) {
	if c == nil {
		return []byte{msgpcode.Nil}, nil // as msgpack.Marshal((*Command)(nil))
	}
	w := commandWriter{b: make([]byte, 0, c.encodedLen())}
	w.encode(c)
	return w.b, nil
}

// commandWriter appends a Command's encoding to b, each value as the
// msgpack Encoder's primitive for its type writes it (EncodeMapLen,
// EncodeString, EncodeUint8, EncodeUint64, EncodeInt64, EncodeBool), but
// by appending to the slice rather than through an Encoder's io.Writer.
type commandWriter struct {
	b    []byte // Encode sizes it exactly, so it never grows
	keys int    // map keys written so far by encode
}

// encode appends c as a map of its non-empty fields (Method always), in
// declaration order, to the empty w.b. The map header is written for no
// keys and its count patched in at the end: a Command has 13 fields, so
// the header is the one byte of a fixmap, as msgpack writes it.
func (w *commandWriter) encode(c *Command) {
	w.keys = 0
	w.b = append(w.b, msgpcode.FixedMapLow) // EncodeMapLen(0)
	w.key("m")
	w.b = append(w.b, msgpcode.Uint8, uint8(c.Method)) // EncodeUint8
	w.str("p", c.Path)
	w.str("v", c.Value)
	w.flag("d", c.Dir)
	if c.TTLSec != nil {
		w.key("t")
		w.uint64(msgpcode.Uint64, *c.TTLSec)
	}
	w.str("pv", c.PrevValue)
	if c.PrevIndex != 0 {
		w.key("pi")
		w.uint64(msgpcode.Uint64, c.PrevIndex)
	}
	if c.PrevExist != nil {
		w.key("pe")
		w.bool(*c.PrevExist)
	}
	w.flag("r", c.Refresh)
	w.flag("rc", c.Recursive)
	w.flag("s", c.Sorted)
	w.int64("tm", c.TimeUnixNano)
	w.int64("g", c.GraceNs)
	w.b[0] |= byte(w.keys)
}

func (w *commandWriter) key(k string) {
	w.string(k)
	w.keys++
}

// string is EncodeString: the shortest str header, then the bytes.
func (w *commandWriter) string(s string) { w.b = appendMsgpString(w.b, s) }

// uint64 is EncodeUint64 (code Uint64) or EncodeInt64 (code Int64): the
// code and all eight bytes, whatever the value.
func (w *commandWriter) uint64(code byte, v uint64) {
	w.b = binary.BigEndian.AppendUint64(append(w.b, code), v)
}

func (w *commandWriter) bool(v bool) {
	if v {
		w.b = append(w.b, msgpcode.True)
	} else {
		w.b = append(w.b, msgpcode.False)
	}
}

// str, flag and int64 write a field unless it is empty (omitempty).
func (w *commandWriter) str(k, v string) {
	if v != "" {
		w.key(k)
		w.string(v)
	}
}

func (w *commandWriter) flag(k string, set bool) {
	if set {
		w.key(k)
		w.bool(true)
	}
}

func (w *commandWriter) int64(k string, v int64) {
	if v != 0 {
		w.key(k)
		w.uint64(msgpcode.Int64, uint64(v))
	}
}

// encodedLen is the length of c's encoding, so Encode allocates once.
func (c *Command) encodedLen() int {
	n := 1 + 2 + 2 // map header (at most 13 entries: a fixmap), "m", uint8
	str := func(key, v string) {
		if v != "" {
			n += 1 + len(key) + strHeaderLen(len(v)) + len(v)
		}
	}
	flag := func(key string, set bool) {
		if set {
			n += 1 + len(key) + 1
		}
	}
	word := func(key string, set bool) {
		if set {
			n += 1 + len(key) + 9
		}
	}
	str("p", c.Path)
	str("v", c.Value)
	flag("d", c.Dir)
	word("t", c.TTLSec != nil)
	str("pv", c.PrevValue)
	word("pi", c.PrevIndex != 0)
	flag("pe", c.PrevExist != nil)
	flag("r", c.Refresh)
	flag("rc", c.Recursive)
	flag("s", c.Sorted)
	word("tm", c.TimeUnixNano != 0)
	word("g", c.GraceNs != 0)
	return n
}

// strHeaderLen is the length of msgpack's header for a string of n bytes.
func strHeaderLen(n int) int {
	switch {
	case n < 32:
		return 1
	case n < 1<<8:
		return 2
	case n < 1<<16:
		return 3
	}
	return 5
}

// ErrBadCommand is wrapped by every DecodeCommand error.
var ErrBadCommand = errors.New("kv: bad command encoding")

// DecodeCommand decodes a log entry payload made by Encode. It rejects
// trailing bytes and unknown fields: a member must never half-understand an
// entry, because every member has to apply it identically.
//
// It parses b directly, and accepts and rejects what msgpack.Unmarshal into
// a Command would by reflection (with unknown fields disallowed), with the
// same errors: a map in any key order, repeated keys (the last wins), nil
// for any field (zero; nil pointers), integers of any msgpack width or sign
// (Method keeps the low 8 bits, as reflection's SetUint does), strings and
// keys as str or bin, and the array form of the struct (13 values in
// declaration order). TestCommandCodecMatchesReflection and
// FuzzDecodeCommand check it against the reflection decoder. One difference
// is left, in an error's text only: reflection reads a string longer than a
// MiB in MiB chunks, and when the entry ends exactly at the end of one of
// them it says "EOF" where DecodeCommand says "unexpected EOF".
//
// A decoded command costs one allocation for the Command (together with
// what TTLSec and PrevExist point at) and one for each of Path, Value and
// PrevValue that is not empty. The strings are not one block, although
// that would save an allocation: the store keeps Path and Value for
// different lengths of time (an update or compare-and-swap keeps the
// node's old path with the new value), and a kept substring keeps its
// whole block, an old value included.
func DecodeCommand(b []byte) (*Command, error) {
	r := commandReader{b: b}
	err := r.decode()
	if err == nil && r.off != len(b) {
		err = fmt.Errorf("%d trailing bytes", len(b)-r.off)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	return r.command(), nil
}

// decodedCommand is a Command with room for what its pointer fields point
// at, so that DecodeCommand allocates them together.
type decodedCommand struct {
	Command
	ttlSec    uint64
	prevExist bool
}

// commandReader parses one Command from b. The errors of its methods are
// those of msgpack's Decoder reading the same bytes (io.EOF when nothing is
// left, io.ErrUnexpectedEOF when a value is cut short).
type commandReader struct {
	b   []byte
	off int // b[off:] is yet to read
	// c is the command read so far, but for its strings, which are the
	// spans of b below until command copies them out, and its pointer
	// fields, which command sets from hasTTL and hasPrevExist (a pointer
	// into r would move r to the heap).
	c                      decodedCommand
	path, value, prevValue []byte
	hasTTL, hasPrevExist   bool
}

// command returns the decoded command, with its strings copied out of b
// (see DecodeCommand for how).
func (r *commandReader) command() *Command {
	var c *Command
	if r.hasTTL || r.hasPrevExist {
		dc := new(decodedCommand)
		*dc = r.c
		c = &dc.Command
		if r.hasTTL {
			c.TTLSec = &dc.ttlSec
		}
		if r.hasPrevExist {
			c.PrevExist = &dc.prevExist
		}
	} else {
		c = new(Command)
		*c = r.c.Command
	}
	if len(r.path) > 0 {
		c.Path = string(r.path)
	}
	if len(r.value) > 0 {
		c.Value = string(r.value)
	}
	if len(r.prevValue) > 0 {
		c.PrevValue = string(r.prevValue)
	}
	return c
}

// commandFields is the array form's order: the fields' declaration order.
var commandFields = [...]string{"m", "p", "v", "d", "t", "pv", "pi", "pe", "r", "rc", "s", "tm", "g"}

// decode is reflection's decodeStructValue for a Command: a map (or nil), or
// else an array; the error for anything else is the map's.
func (r *commandReader) decode() error {
	code, err := r.code()
	if err != nil {
		return err // io.EOF for an empty input
	}
	switch {
	case code == msgpcode.Nil:
		return nil
	case msgpcode.IsFixedMap(code) || code == msgpcode.Map16 || code == msgpcode.Map32:
		n, err := r.length(code, msgpcode.FixedMapMask, msgpcode.Map16)
		if err != nil {
			return err
		}
		// Every entry reads at least a byte or fails, so a huge n costs
		// no more than the input's length.
		for range n {
			k, err := r.key()
			if err != nil {
				return err
			}
			f := fieldOf(k)
			if f < 0 {
				return fmt.Errorf("msgpack: unknown field %q", k)
			}
			if err := r.field(f); err != nil {
				return err
			}
		}
		return nil
	case msgpcode.IsFixedArray(code) || code == msgpcode.Array16 || code == msgpcode.Array32:
		n, err := r.length(code, msgpcode.FixedArrayMask, msgpcode.Array16)
		if err != nil {
			return notMap(code)
		}
		if n == 0 {
			return nil
		}
		if n != len(commandFields) {
			return errors.New("msgpack: number of fields in array-encoded struct has changed")
		}
		for f := range commandFields {
			if err := r.field(f); err != nil {
				return err
			}
		}
		return nil
	}
	return notMap(code)
}

func notMap(code byte) error {
	return fmt.Errorf("msgpack: unexpected code=%x decoding map length", code)
}

// The indexes of the fields in commandFields.
// TestCommandFieldIndexes checks that they agree.
const (
	fieldMethod = iota
	fieldPath
	fieldValue
	fieldDir
	fieldTTL
	fieldPrevValue
	fieldPrevIndex
	fieldPrevExist
	fieldRefresh
	fieldRecursive
	fieldSorted
	fieldTime
	fieldGrace
)

// fieldOf returns the index in commandFields of key k, or -1.
func fieldOf(k []byte) int {
	switch string(k) {
	case "m":
		return fieldMethod
	case "p":
		return fieldPath
	case "v":
		return fieldValue
	case "d":
		return fieldDir
	case "t":
		return fieldTTL
	case "pv":
		return fieldPrevValue
	case "pi":
		return fieldPrevIndex
	case "pe":
		return fieldPrevExist
	case "r":
		return fieldRefresh
	case "rc":
		return fieldRecursive
	case "s":
		return fieldSorted
	case "tm":
		return fieldTime
	case "g":
		return fieldGrace
	}
	return -1
}

// field decodes the value of field commandFields[f] into r.c, as
// reflection decodes a value of the field's type.
func (r *commandReader) field(f int) error {
	c := &r.c
	switch f {
	case fieldMethod:
		m, err := r.uint()
		c.Method = Method(m) // the low 8 bits, as reflect.Value.SetUint
		return err
	case fieldPath:
		return r.str(&r.path)
	case fieldValue:
		return r.str(&r.value)
	case fieldDir:
		return r.bool(&c.Dir)
	case fieldTTL:
		if r.nextIsNil() {
			r.off++
			r.hasTTL = false
			return nil
		}
		var err error
		c.ttlSec, err = r.uint()
		r.hasTTL = true
		return err
	case fieldPrevValue:
		return r.str(&r.prevValue)
	case fieldPrevIndex:
		var err error
		c.PrevIndex, err = r.uint()
		return err
	case fieldPrevExist:
		if r.nextIsNil() {
			r.off++
			r.hasPrevExist = false
			return nil
		}
		r.hasPrevExist = true
		return r.bool(&c.prevExist)
	case fieldRefresh:
		return r.bool(&c.Refresh)
	case fieldRecursive:
		return r.bool(&c.Recursive)
	case fieldSorted:
		return r.bool(&c.Sorted)
	case fieldTime:
		var err error
		c.TimeUnixNano, err = r.int()
		return err
	case fieldGrace:
		var err error
		c.GraceNs, err = r.int()
		return err
	}
	panic("kv: no decoder for field " + commandFields[f])
}

func (r *commandReader) nextIsNil() bool {
	return r.off < len(r.b) && r.b[r.off] == msgpcode.Nil
}

// code reads one byte, as the Decoder's readCode.
func (r *commandReader) code() (byte, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// next reads n bytes, as the Decoder's readN, without copying them.
func (r *commandReader) next(n int) ([]byte, error) {
	left := len(r.b) - r.off
	if n < 0 || n > left {
		r.off = len(r.b)
		if left == 0 {
			return nil, io.EOF
		}
		return nil, io.ErrUnexpectedEOF
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p, nil
}

func (r *commandReader) uint16() (uint16, error) {
	p, err := r.next(2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(p), nil
}

func (r *commandReader) uint32() (uint32, error) {
	p, err := r.next(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(p), nil
}

func (r *commandReader) uint64() (uint64, error) {
	p, err := r.next(8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(p), nil
}

// length reads the rest of a map or array header that starts with code:
// the fixed form (with mask) or the 16- or 32-bit one (code16, code16+1).
func (r *commandReader) length(code, mask, code16 byte) (int, error) {
	switch code {
	case code16:
		n, err := r.uint16()
		return int(n), err
	case code16 + 1:
		n, err := r.uint32()
		return int(n), err
	}
	return int(code & mask), nil
}

// bytesLen is the Decoder's bytesLen: the length of a str or bin whose
// header starts with code, or -1 for nil.
func (r *commandReader) bytesLen(code byte) (int, error) {
	switch {
	case code == msgpcode.Nil:
		return -1, nil
	case msgpcode.IsFixedString(code):
		return int(code & msgpcode.FixedStrMask), nil
	}
	switch code {
	case msgpcode.Str8, msgpcode.Bin8:
		n, err := r.code()
		return int(n), err
	case msgpcode.Str16, msgpcode.Bin16:
		n, err := r.uint16()
		return int(n), err
	case msgpcode.Str32, msgpcode.Bin32:
		n, err := r.uint32()
		return int(n), err
	}
	return 0, fmt.Errorf("msgpack: invalid code=%x decoding string/bytes length", code)
}

// key reads a map key, as the Decoder's decodeStringTemp: nil is "", and
// an empty string is read (which can only fail when nothing is left).
func (r *commandReader) key() ([]byte, error) {
	code, err := r.code()
	if err != nil {
		return nil, err
	}
	n, err := r.bytesLen(code)
	if err != nil || n == -1 {
		return nil, err
	}
	return r.next(n)
}

// str reads a string field into *s, as the Decoder's DecodeString: nil is
// "", and an empty string reads nothing.
func (r *commandReader) str(s *[]byte) error {
	code, err := r.code()
	if err != nil {
		return err
	}
	n, err := r.bytesLen(code)
	if err != nil {
		return err
	}
	if n <= 0 {
		*s = nil
		return nil
	}
	*s, err = r.next(n)
	return err
}

// bool reads a bool field into *v, as the Decoder's DecodeBool.
func (r *commandReader) bool(v *bool) error {
	code, err := r.code()
	if err != nil {
		return err
	}
	switch code {
	case msgpcode.Nil, msgpcode.False:
		*v = false
	case msgpcode.True:
		*v = true
	default:
		return fmt.Errorf("msgpack: invalid code=%x decoding bool", code)
	}
	return nil
}

// uint reads an integer of any width and sign as a uint64, as the
// Decoder's DecodeUint64 (nil is 0; a negative value wraps).
func (r *commandReader) uint() (uint64, error) {
	code, err := r.code()
	if err != nil {
		return 0, err
	}
	n, ok, err := r.integer(code)
	if !ok {
		return 0, fmt.Errorf("msgpack: invalid code=%x decoding uint64", code)
	}
	return n, err
}

// int reads an integer of any width and sign as an int64, as the Decoder's
// DecodeInt64 (nil is 0; a uint64 above MaxInt64 wraps).
func (r *commandReader) int() (int64, error) {
	code, err := r.code()
	if err != nil {
		return 0, err
	}
	n, ok, err := r.integer(code)
	if !ok {
		return 0, fmt.Errorf("msgpack: invalid code=%x decoding int64", code)
	}
	return int64(n), err
}

// integer reads the rest of an integer (or nil, as 0) that starts with
// code, sign-extended to 64 bits; ok is false if code starts neither.
// DecodeUint64 and DecodeInt64 give the same 64 bits for every input.
func (r *commandReader) integer(code byte) (n uint64, ok bool, err error) {
	switch {
	case code == msgpcode.Nil:
		return 0, true, nil
	case msgpcode.IsFixedNum(code):
		return uint64(int8(code)), true, nil
	}
	switch code {
	case msgpcode.Uint8:
		v, err := r.code()
		return uint64(v), true, err
	case msgpcode.Int8:
		v, err := r.code()
		return uint64(int8(v)), true, err
	case msgpcode.Uint16:
		v, err := r.uint16()
		return uint64(v), true, err
	case msgpcode.Int16:
		v, err := r.uint16()
		return uint64(int16(v)), true, err
	case msgpcode.Uint32:
		v, err := r.uint32()
		return uint64(v), true, err
	case msgpcode.Int32:
		v, err := r.uint32()
		return uint64(int32(v)), true, err
	case msgpcode.Uint64, msgpcode.Int64:
		v, err := r.uint64()
		return v, true, err
	}
	return 0, false, nil
}
