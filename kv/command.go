package kv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/raftkv/raftkv/internal/msgpbuf"
	"github.com/vmihailenco/msgpack/v5"
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
// encodedLen and commandFields updated, and TestCommandCodecMatchesReflection
// fails until they are.
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
	ce := encoders.Get().(*commandEncoder)
	defer encoders.Put(ce)
	ce.w.B = make([]byte, 0, c.encodedLen())
	ce.encode(c)
	b := ce.w.B
	ce.w.B = nil
	return b, nil
}

// commandEncoder is an Encoder writing to a byte slice, pooled: the
// leader encodes every proposal. Writing to a slice cannot fail, so its
// methods ignore msgpack's errors, which can only come from the writer.
type commandEncoder struct {
	// w holds the encoding. Encode sizes w.B exactly, so it never grows.
	w    msgpbuf.Writer
	enc  *msgpack.Encoder
	keys int // map keys written so far by encode
}

var encoders = sync.Pool{New: func() any {
	ce := &commandEncoder{}
	ce.enc = msgpack.NewEncoder(&ce.w)
	return ce
}}

// encode appends c as a map of its non-empty fields (Method always), in
// declaration order, to the empty ce.w.B. The map header is written for no
// keys and its count patched in at the end: a Command has 13 fields, so
// the header is the one byte of a fixmap, as msgpack writes it.
func (ce *commandEncoder) encode(c *Command) {
	enc := ce.enc
	ce.keys = 0
	_ = enc.EncodeMapLen(0)
	ce.key("m")
	_ = enc.EncodeUint8(uint8(c.Method))
	ce.str("p", c.Path)
	ce.str("v", c.Value)
	ce.flag("d", c.Dir)
	if c.TTLSec != nil {
		ce.key("t")
		_ = enc.EncodeUint64(*c.TTLSec)
	}
	ce.str("pv", c.PrevValue)
	if c.PrevIndex != 0 {
		ce.key("pi")
		_ = enc.EncodeUint64(c.PrevIndex)
	}
	if c.PrevExist != nil {
		ce.key("pe")
		_ = enc.EncodeBool(*c.PrevExist)
	}
	ce.flag("r", c.Refresh)
	ce.flag("rc", c.Recursive)
	ce.flag("s", c.Sorted)
	ce.int64("tm", c.TimeUnixNano)
	ce.int64("g", c.GraceNs)
	ce.w.B[0] |= byte(ce.keys)
}

func (ce *commandEncoder) key(k string) {
	_ = ce.enc.EncodeString(k)
	ce.keys++
}

// str, flag and int64 write a field unless it is empty (omitempty).
func (ce *commandEncoder) str(k, v string) {
	if v != "" {
		ce.key(k)
		_ = ce.enc.EncodeString(v)
	}
}

func (ce *commandEncoder) flag(k string, set bool) {
	if set {
		ce.key(k)
		_ = ce.enc.EncodeBool(true)
	}
}

func (ce *commandEncoder) int64(k string, v int64) {
	if v != 0 {
		ce.key(k)
		_ = ce.enc.EncodeInt64(v)
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
// It reads field by field what msgpack.Unmarshal into a Command would by
// reflection (with unknown fields disallowed), and accepts and rejects the
// same inputs with the same errors: a map in any key order, repeated keys
// (the last wins), nil for any field (zero; nil pointers), integers of any
// msgpack width or sign (Method keeps the low 8 bits, as reflection's
// SetUint does), strings as str or bin, and the array form of the struct (13
// values in declaration order). TestCommandCodecMatchesReflection checks it
// against the reflection decoder.
func DecodeCommand(b []byte) (*Command, error) {
	cd := decoders.Get().(*commandDecoder)
	cd.b = b
	cd.r.Reset(b)
	var c Command
	err := cd.decode(&c)
	if err == nil && cd.r.Len() != 0 {
		err = fmt.Errorf("%d trailing bytes", cd.r.Len())
	}
	if err != nil {
		// Not back to the pool: a string whose header claims more bytes
		// than there are leaves the Decoder's scratch buffer at least a
		// megabyte longer than it was, every time.
		return nil, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	cd.b = nil
	cd.r.Reset(nil)
	decoders.Put(cd)
	return &c, nil
}

// commandDecoder is a Decoder reading a byte slice, pooled: every member
// decodes every entry. The Decoder reads r, which DecodeCommand points at
// each entry in turn; it keeps no state between values but scratch space,
// and no options are set (decode refuses unknown keys itself). It does not
// buffer a bytes.Reader, so decodeKey may also look at b directly:
// b[len(b)-r.Len():] is what the Decoder has yet to read.
type commandDecoder struct {
	b   []byte
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decoders = sync.Pool{New: func() any {
	cd := &commandDecoder{}
	cd.dec = msgpack.NewDecoder(&cd.r)
	return cd
}}

// commandFields is the array form's order: the fields' declaration order.
var commandFields = [...]string{"m", "p", "v", "d", "t", "pv", "pi", "pe", "r", "rc", "s", "tm", "g"}

// decode is reflection's decodeStructValue for a Command: a map (or nil), or
// else an array; the error for anything else is the map's.
func (cd *commandDecoder) decode(c *Command) error {
	code, err := cd.dec.PeekCode()
	if err != nil {
		return err // io.EOF for an empty input
	}
	switch {
	case code == msgpcode.Nil || msgpcode.IsFixedMap(code) || code == msgpcode.Map16 || code == msgpcode.Map32:
		n, err := cd.dec.DecodeMapLen()
		if err != nil {
			return err
		}
		for range n {
			k, err := cd.decodeKey()
			if err != nil {
				return err
			}
			// string(k) does not allocate: decodeField keeps no reference.
			known, err := cd.decodeField(c, string(k))
			if !known {
				return fmt.Errorf("msgpack: unknown field %q", k)
			}
			if err != nil {
				return err
			}
		}
		return nil
	case msgpcode.IsFixedArray(code) || code == msgpcode.Array16 || code == msgpcode.Array32:
		n, err := cd.dec.DecodeArrayLen()
		if err != nil {
			return notMap(code)
		}
		if n == 0 {
			return nil
		}
		if n != len(commandFields) {
			return errors.New("msgpack: number of fields in array-encoded struct has changed")
		}
		for _, k := range commandFields {
			if _, err := cd.decodeField(c, k); err != nil {
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

// decodeKey reads a map key. Known keys are short fixstrs, taken from b
// without copying; anything else, a truncated fixstr included, takes the
// Decoder's path, which also reads nil as "" and bin as a string, as
// reflection does, and fails as it does.
func (cd *commandDecoder) decodeKey() ([]byte, error) {
	at := len(cd.b) - cd.r.Len()
	if at < len(cd.b) && msgpcode.IsFixedString(cd.b[at]) {
		end := at + 1 + int(cd.b[at]&msgpcode.FixedStrMask)
		if end <= len(cd.b) {
			if _, err := cd.r.Seek(int64(end-at), io.SeekCurrent); err != nil {
				return nil, err
			}
			return cd.b[at+1 : end], nil
		}
	}
	k, err := cd.dec.DecodeString()
	return []byte(k), err
}

// decodeField decodes the value of the field with key k into c, and
// reports whether there is such a field (without reading anything if not).
func (cd *commandDecoder) decodeField(c *Command, k string) (known bool, err error) {
	dec := cd.dec
	switch k {
	case "m":
		var m uint64
		m, err = dec.DecodeUint64()
		c.Method = Method(m) // the low 8 bits, as reflect.Value.SetUint
	case "p":
		c.Path, err = dec.DecodeString()
	case "v":
		c.Value, err = dec.DecodeString()
	case "d":
		c.Dir, err = dec.DecodeBool()
	case "t":
		if cd.nextIsNil() {
			c.TTLSec = nil
			return true, dec.DecodeNil()
		}
		var t uint64
		t, err = dec.DecodeUint64()
		c.TTLSec = &t
	case "pv":
		c.PrevValue, err = dec.DecodeString()
	case "pi":
		c.PrevIndex, err = dec.DecodeUint64()
	case "pe":
		if cd.nextIsNil() {
			c.PrevExist = nil
			return true, dec.DecodeNil()
		}
		var pe bool
		pe, err = dec.DecodeBool()
		c.PrevExist = &pe
	case "r":
		c.Refresh, err = dec.DecodeBool()
	case "rc":
		c.Recursive, err = dec.DecodeBool()
	case "s":
		c.Sorted, err = dec.DecodeBool()
	case "tm":
		c.TimeUnixNano, err = dec.DecodeInt64()
	case "g":
		c.GraceNs, err = dec.DecodeInt64()
	default:
		return false, nil
	}
	return true, err
}

func (cd *commandDecoder) nextIsNil() bool {
	code, err := cd.dec.PeekCode()
	return err == nil && code == msgpcode.Nil
}
