package rpc

import (
	"fmt"

	"github.com/raftkv/raftkv/raft"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// A raft.Message crosses the wire as msgpack's reflection codec writes
// and reads it (see doc.go): each struct a map keyed by its field tags,
// fields tagged omitempty left out when zero. The hand-written codec below
// spares members the reflection, which took a sixth of a busy follower's
// CPU. It must agree with the reflection codec byte for byte when
// encoding, and value for value, error for error when decoding
// (wiremsg_test.go checks both against it), because members that still
// run it may be on the other end of a stream.

// Encoding into a bytes.Buffer cannot fail, so the encoding methods ignore
// msgpack's errors, which can only come from the writer.

// mapStart writes the header of a map whose keys are counted as they are
// written; mapEnd patches their number in. Every map of a message has
// fewer than 16 keys (raft.Message, the largest, has 14 fields), so the
// header is one byte, the one msgpack writes for that count.
func (e *encoder) mapStart() int {
	at := e.buf.Len()
	_ = e.enc.EncodeMapLen(0)
	return at
}

func (e *encoder) mapEnd(at, keys int) { e.buf.Bytes()[at] |= byte(keys) }

func (e *encoder) uintField(key string, v uint64) {
	_ = e.enc.EncodeString(key)
	_ = e.enc.EncodeUint(v) // what UseCompactInts(true) writes for every unsigned field
}

func (e *encoder) bytesField(key string, v []byte) {
	_ = e.enc.EncodeString(key)
	_ = e.enc.EncodeBytes(v)
}

func (e *encoder) uints(v []uint64) {
	if v == nil {
		_ = e.enc.EncodeNil()
		return
	}
	_ = e.enc.EncodeArrayLen(len(v))
	for _, x := range v {
		_ = e.enc.EncodeUint(x)
	}
}

// message encodes m as a map in field order. snapData false leaves out the
// snapshot's data, as the begin frame of a snapshot stream carries it.
func (e *encoder) message(m *raft.Message, snapData bool) {
	at := e.mapStart()
	keys := 4 // type, to, from and term are never omitted
	e.uintField("y", uint64(m.Type))
	e.uintField("to", m.To)
	e.uintField("fr", m.From)
	e.uintField("t", m.Term)
	if m.LogTerm != 0 {
		e.uintField("lt", m.LogTerm)
		keys++
	}
	if m.Index != 0 {
		e.uintField("i", m.Index)
		keys++
	}
	if len(m.Entries) != 0 {
		_ = e.enc.EncodeString("e")
		_ = e.enc.EncodeArrayLen(len(m.Entries))
		for i := range m.Entries {
			e.entry(&m.Entries[i])
		}
		keys++
	}
	if m.Commit != 0 {
		e.uintField("c", m.Commit)
		keys++
	}
	if m.Reject {
		_ = e.enc.EncodeString("r")
		_ = e.enc.EncodeBool(true)
		keys++
	}
	if m.RejectHint != 0 {
		e.uintField("rh", m.RejectHint)
		keys++
	}
	if m.Snapshot != nil {
		_ = e.enc.EncodeString("s")
		e.snapshot(m.Snapshot, snapData)
		keys++
	}
	if m.SnapOffset != 0 {
		e.uintField("so", m.SnapOffset)
		keys++
	}
	if m.SnapTotal != 0 {
		e.uintField("st", m.SnapTotal)
		keys++
	}
	if len(m.Context) != 0 {
		e.bytesField("x", m.Context)
		keys++
	}
	e.mapEnd(at, keys)
}

func (e *encoder) entry(ent *raft.Entry) {
	at := e.mapStart()
	keys := 2
	e.uintField("t", ent.Term)
	e.uintField("i", ent.Index)
	if ent.Type != 0 {
		e.uintField("y", uint64(ent.Type))
		keys++
	}
	if len(ent.Data) != 0 {
		e.bytesField("d", ent.Data)
		keys++
	}
	e.mapEnd(at, keys)
}

func (e *encoder) snapshot(s *raft.Snapshot, withData bool) {
	at := e.mapStart()
	keys := 1
	_ = e.enc.EncodeString("m")
	_ = e.enc.EncodeMapLen(3)
	e.uintField("i", s.Metadata.Index)
	e.uintField("t", s.Metadata.Term)
	_ = e.enc.EncodeString("c")
	cs := &s.Metadata.ConfState
	csAt := e.mapStart()
	csKeys := 1
	_ = e.enc.EncodeString("v")
	e.uints(cs.Voters) // not omitempty: nil and empty differ
	if len(cs.Learners) != 0 {
		_ = e.enc.EncodeString("l")
		e.uints(cs.Learners)
		csKeys++
	}
	e.mapEnd(csAt, csKeys)
	if withData && len(s.Data) != 0 {
		e.bytesField("d", s.Data)
		keys++
	}
	e.mapEnd(at, keys)
}

// The decoding methods read the value at the decoder's position in d.body,
// which checkShape has walked: no length it reads can claim more than the
// body holds, so the slices they make are bounded by the frame's size.
// Byte fields come out as slices of the body, which readStream reuses for
// the next frame; message copies them out before it returns.

// Field names of the structs in declaration order: the order of a struct
// encoded as an array, which the reflection decoder accepts.
var (
	messageFields   = []string{"y", "to", "fr", "t", "lt", "i", "e", "c", "r", "rh", "s", "so", "st", "x"}
	entryFields     = []string{"t", "i", "y", "d"}
	snapshotFields  = []string{"m", "d"}
	snapMetaFields  = []string{"i", "t", "c"}
	confStateFields = []string{"v", "l"}
)

// message decodes a raft.Message into m (the zero Message, or one being
// decoded again under a repeated key), accepting and rejecting what
// msgpack's reflection decoder does, with the same result.
func (d *decoder) message(m *raft.Message) error {
	if err := d.messageFields(m); err != nil {
		return err
	}
	ownBytes(m)
	return nil
}

// structHeader reads the head of a struct value in one of the forms the
// reflection decoder accepts: nil for the zero value; a map of n keyed
// fields, in any order, unknown ones skipped; or an array of exactly
// len(fields) values in field order, or empty for the zero value. It
// returns n < 0 when the struct is to be zeroed.
func (d *decoder) structHeader(fields []string) (n int, positional bool, err error) {
	c, err := d.dec.PeekCode()
	if err != nil {
		return 0, false, err
	}
	switch {
	case c == msgpcode.Nil || msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.dec.DecodeMapLen()
		return n, false, err
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.dec.DecodeArrayLen()
		if err != nil || n == 0 {
			return -1, false, err
		}
		if n != len(fields) {
			return 0, false, fmt.Errorf("struct of %d fields as an array of %d", len(fields), n)
		}
		return n, true, nil
	}
	return 0, false, fmt.Errorf("invalid code 0x%x decoding a struct", c)
}

// fieldName returns the field the i-th element of a struct holds (see
// structHeader): fields[i] when positional, else the field the key read
// names, or "" for an unknown key, whose value the caller skips. A key may
// be nil, str or bin, as for the reflection decoder.
func (d *decoder) fieldName(i int, positional bool, fields []string) (string, error) {
	if positional {
		return fields[i], nil
	}
	key, err := d.bytesInBody()
	if err != nil {
		return "", err
	}
	for _, f := range fields {
		if string(key) == f {
			return f, nil
		}
	}
	return "", nil
}

// bytes decodes a []byte field, str or bin, as a slice of the body; nil
// stays nil and empty stays non-nil, as with the reflection decoder.
func (d *decoder) bytes() ([]byte, error) {
	l, err := d.dec.DecodeBytesLen()
	if err != nil || l < 0 {
		return nil, err
	}
	return d.span(l)
}

// decodeSlice decodes an array into *s, element by element with elem, as
// the reflection decoder does: nil gives nil, an empty array a non-nil
// empty slice, and elements already in *s (a repeated key) are decoded
// into rather than replaced.
func decodeSlice[T any](d *decoder, s *[]T, elem func(*T) error) error {
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	switch {
	case n < 0:
		*s = nil
		return nil
	case *s == nil:
		*s = make([]T, n)
	case cap(*s) >= n:
		*s = (*s)[:n]
	default:
		*s = append((*s)[:cap(*s)], make([]T, n-cap(*s))...)
	}
	for i := range *s {
		if err := elem(&(*s)[i]); err != nil {
			return err
		}
	}
	return nil
}

// unsigned decodes any MessagePack integer, or nil for 0, into *v; a
// negative one as its two's complement, as the reflection decoder does.
func (d *decoder) unsigned(v *uint64) error {
	n, err := d.dec.DecodeUint64()
	if err == nil {
		*v = n
	}
	return err
}

// structFields decodes a struct value (see structHeader): zero runs for
// the forms that make it the zero value, field for each field the value
// holds, by name; unknown fields are skipped. what names the struct in
// errors.
func (d *decoder) structFields(what string, names []string, zero func(), field func(name string) error) error {
	n, positional, err := d.structHeader(names)
	if err != nil {
		return err
	}
	if n < 0 {
		zero()
		return nil
	}
	for i := range n {
		f, err := d.fieldName(i, positional, names)
		if err != nil {
			return err
		}
		if f == "" {
			err = d.dec.Skip()
		} else {
			err = field(f)
		}
		if err != nil {
			return fmt.Errorf("%s %q: %w", what, f, err)
		}
	}
	return nil
}

func (d *decoder) messageFields(m *raft.Message) error {
	return d.structFields("field", messageFields, func() { *m = raft.Message{} }, func(f string) (err error) {
		switch f {
		case "y":
			var t uint64
			err = d.unsigned(&t)
			m.Type = raft.MessageType(t) // truncated, as reflect's SetUint does
		case "to":
			err = d.unsigned(&m.To)
		case "fr":
			err = d.unsigned(&m.From)
		case "t":
			err = d.unsigned(&m.Term)
		case "lt":
			err = d.unsigned(&m.LogTerm)
		case "i":
			err = d.unsigned(&m.Index)
		case "e":
			err = decodeSlice(d, &m.Entries, d.entry)
		case "c":
			err = d.unsigned(&m.Commit)
		case "r":
			m.Reject, err = d.dec.DecodeBool()
		case "rh":
			err = d.unsigned(&m.RejectHint)
		case "s":
			err = d.snapshotPtr(&m.Snapshot)
		case "so":
			err = d.unsigned(&m.SnapOffset)
		case "st":
			err = d.unsigned(&m.SnapTotal)
		case "x":
			m.Context, err = d.bytes()
		}
		return err
	})
}

func (d *decoder) entry(e *raft.Entry) error {
	return d.structFields("entry field", entryFields, func() { *e = raft.Entry{} }, func(f string) (err error) {
		switch f {
		case "t":
			err = d.unsigned(&e.Term)
		case "i":
			err = d.unsigned(&e.Index)
		case "y":
			var t uint64
			err = d.unsigned(&t)
			e.Type = raft.EntryType(t)
		case "d":
			e.Data, err = d.bytes()
		}
		return err
	})
}

// snapshotPtr decodes a *Snapshot: nil gives nil, anything else is decoded
// into *p, allocated first if nil.
func (d *decoder) snapshotPtr(p **raft.Snapshot) error {
	if c, err := d.dec.PeekCode(); err == nil && c == msgpcode.Nil {
		*p = nil
		return d.dec.DecodeNil()
	}
	if *p == nil {
		*p = new(raft.Snapshot)
	}
	s := *p
	return d.structFields("snapshot field", snapshotFields, func() { *s = raft.Snapshot{} }, func(f string) (err error) {
		switch f {
		case "m":
			err = d.snapshotMetadata(&s.Metadata)
		case "d":
			s.Data, err = d.bytes()
		}
		return err
	})
}

func (d *decoder) snapshotMetadata(md *raft.SnapshotMetadata) error {
	return d.structFields("metadata field", snapMetaFields, func() { *md = raft.SnapshotMetadata{} }, func(f string) (err error) {
		switch f {
		case "i":
			err = d.unsigned(&md.Index)
		case "t":
			err = d.unsigned(&md.Term)
		case "c":
			err = d.confState(&md.ConfState)
		}
		return err
	})
}

func (d *decoder) confState(cs *raft.ConfState) error {
	return d.structFields("conf state field", confStateFields, func() { *cs = raft.ConfState{} }, func(f string) (err error) {
		switch f {
		case "v":
			err = decodeSlice(d, &cs.Voters, d.unsigned)
		case "l":
			err = decodeSlice(d, &cs.Learners, d.unsigned)
		}
		return err
	})
}

// ownBytes gives the byte fields of m, slices of a frame body, memory of
// their own: one allocation for all of them (so an entry kept alone keeps
// its message's data alive), each field capped so that appending to it
// cannot overwrite the next. Entries past len(m.Entries), left behind by a
// repeated key, are cleared so that none keeps the body.
func ownBytes(m *raft.Message) {
	total := len(m.Context)
	for i := range m.Entries {
		total += len(m.Entries[i].Data)
	}
	if m.Snapshot != nil {
		total += len(m.Snapshot.Data)
	}
	buf := make([]byte, 0, total)
	own := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	for i := range m.Entries {
		m.Entries[i].Data = own(m.Entries[i].Data)
	}
	clear(m.Entries[len(m.Entries):cap(m.Entries)])
	m.Context = own(m.Context)
	if m.Snapshot != nil {
		m.Snapshot.Data = own(m.Snapshot.Data)
	}
}
