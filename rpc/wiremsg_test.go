package rpc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/raft"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
	"pgregory.net/rapid"
)

// The hand-written message codec is checked against the one it replaced,
// msgpack's reflection codec, configured as the transport used it.

// failer is what the checks need of a *testing.T or a *rapid.T.
type failer interface {
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// reflectEncode encodes v as the transport did before the hand-written
// encoder.
func reflectEncode(t failer, v any) []byte {
	var b bytes.Buffer
	enc := msgpack.NewEncoder(&b)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// reflectDecode decodes a message as the transport did before the
// hand-written decoder, and returns the bytes it left unread.
func reflectDecode(b []byte) (raft.Message, int, error) {
	var m raft.Message
	r := bytes.NewReader(b)
	err := msgpack.NewDecoder(r).Decode(&m)
	return m, r.Len(), err
}

// handDecode decodes a message with the hand-written decoder, and returns
// the bytes it left unread.
func handDecode(b []byte) (raft.Message, int, error) {
	var m raft.Message
	d := newDecoder()
	d.reset(b)
	err := d.message(&m)
	return m, d.r.Len(), err
}

// checkSameDecode checks that both decoders accept or both reject b, and
// that when they accept they agree on the message and on where it ends.
// b must have passed checkShape, as a frame body has before its message is
// decoded. It returns whether b was accepted.
func checkSameDecode(t failer, b []byte) bool {
	want, wantRest, wantErr := reflectDecode(b)
	got, gotRest, err := handDecode(b)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%x: hand-written decoder says %v, reflection %v", b, err, wantErr)
	}
	if err != nil {
		return false
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%x: hand-written decoder gives\n%#v\nreflection\n%#v", b, got, want)
	}
	if gotRest != wantRest {
		t.Fatalf("%x: hand-written decoder leaves %d bytes, reflection %d", b, gotRest, wantRest)
	}
	return true
}

// genUint draws zero often (omitempty fields) and values of every
// MessagePack integer width.
var genUint = rapid.OneOf(rapid.Just[uint64](0), rapid.Uint64Range(1, 200),
	rapid.Uint64Range(0, 1<<17), rapid.Uint64Range(0, 1<<33), rapid.Uint64())

// genBytes draws nil, empty and non-empty slices, up to bin16's sizes.
func genBytes(t *rapid.T, label string) []byte {
	switch rapid.IntRange(0, 2).Draw(t, label+"Kind") {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	return rapid.SliceOfN(rapid.Byte(), 1, 300).Draw(t, label)
}

// genUints draws nil, empty and non-empty slices, up to array16's sizes.
func genUints(t *rapid.T, label string) []uint64 {
	switch rapid.IntRange(0, 2).Draw(t, label+"Kind") {
	case 0:
		return nil
	case 1:
		return []uint64{}
	}
	return rapid.SliceOfN(genUint, 1, 18).Draw(t, label)
}

// genMessage draws a message with any values in all fields, including
// types the protocol rejects (the codec does not judge them).
func genMessage(t *rapid.T) raft.Message {
	m := raft.Message{
		Type: raft.MessageType(rapid.Uint8().Draw(t, "type")), To: genUint.Draw(t, "to"),
		From: genUint.Draw(t, "from"), Term: genUint.Draw(t, "term"),
		LogTerm: genUint.Draw(t, "logTerm"), Index: genUint.Draw(t, "index"), Commit: genUint.Draw(t, "commit"),
		Reject: rapid.Bool().Draw(t, "reject"), RejectHint: genUint.Draw(t, "rejectHint"),
		SnapOffset: genUint.Draw(t, "snapOffset"), SnapTotal: genUint.Draw(t, "snapTotal"),
		Context: genBytes(t, "context"),
	}
	n := rapid.IntRange(-1, 18).Draw(t, "entries")
	if n < 0 {
		m.Entries = []raft.Entry{}
	}
	for range n {
		m.Entries = append(m.Entries, raft.Entry{Term: genUint.Draw(t, "entryTerm"), Index: genUint.Draw(t, "entryIndex"),
			Type: raft.EntryType(rapid.Uint8().Draw(t, "entryType")), Data: genBytes(t, "entryData")})
	}
	if rapid.Bool().Draw(t, "snapshot") {
		m.Snapshot = &raft.Snapshot{
			Metadata: raft.SnapshotMetadata{Index: genUint.Draw(t, "snapIndex"), Term: genUint.Draw(t, "snapTerm"),
				ConfState: raft.ConfState{Voters: genUints(t, "voters"), Learners: genUints(t, "learners")}},
			Data: genBytes(t, "snapData"),
		}
	}
	return m
}

// Property: the hand-written encoder writes the bytes the reflection
// encoder wrote, for messages, message frames and snapshot begin frames.
func TestMessageEncodingMatchesReflection(t *testing.T) {
	enc := newEncoder()
	rapid.Check(t, func(t *rapid.T) {
		m := genMessage(t)
		want := reflectEncode(t, &m)
		enc.buf.Reset()
		enc.message(&m, true)
		if got := enc.buf.Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("%+v encodes as\n%x\nreflection\n%x", m, got, want)
		}

		frame, err := enc.msgFrame(&m, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		body := append([]byte{0x92, byte(FrameMsg)}, want...)
		if !bytes.Equal(frame[FrameLenSize:], body) {
			t.Fatalf("%+v frames as\n%x\nwant\n%x", m, frame[FrameLenSize:], body)
		}

		if m.Snapshot == nil {
			return
		}
		head, snap := m, *m.Snapshot
		snap.Data = nil
		head.Snapshot = &snap
		body = append([]byte{0x93, byte(FrameSnapBegin)}, reflectEncode(t, &head)...)
		body = append(body, reflectEncode(t, uint64(len(m.Snapshot.Data)))...)
		if frame, err = enc.snapBeginFrame(&m, 1<<20); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(frame[FrameLenSize:], body) {
			t.Fatalf("%+v begins a snapshot as\n%x\nwant\n%x", m, frame[FrameLenSize:], body)
		}
	})
}

// Property: the hand-written decoder decodes what the reflection encoder
// writes to the message the reflection decoder gives, which is the message
// encoded but for nil and empty slices (see normalise); and it agrees with
// the reflection decoder on the same bytes re-encoded in every other way a
// peer may write them (keys shuffled, other integer and length encodings,
// str for bin, structs as arrays) or should not (unknown and repeated
// keys, values of any type).
func TestMessageDecodingMatchesReflection(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genMessage(t)
		b := reflectEncode(t, &m)
		if !checkSameDecode(t, b) {
			t.Fatalf("%x (%+v) rejected", b, m)
		}
		got, _, _ := handDecode(b)
		if !reflect.DeepEqual(normalise(got), normalise(m)) {
			t.Fatalf("%+v decodes as %+v", m, got)
		}

		remixed := remix(t, nil, parseValue(t, b), schemaMessage)
		if _, err := checkShape(remixed, 0, 0); err != nil {
			t.Fatalf("remixed %x: %v", remixed, err)
		}
		checkSameDecode(t, remixed)
	})
}

// Edge cases of the reflection decoder the hand-written one must share,
// and a few of their outcomes spelled out.
func TestMessageDecodingEdgeCases(t *testing.T) {
	s := func(k string) []byte { return append([]byte{0xa0 | byte(len(k))}, k...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	big := bytes.Repeat([]byte{7}, 70000)
	cases := []struct {
		name string
		in   []byte
		ok   bool
		want *raft.Message // checked too when set
	}{
		{"nil message", []byte{0xc0}, true, &raft.Message{}},
		{"empty map", []byte{0x80}, true, &raft.Message{}},
		{"empty array", []byte{0x90}, true, &raft.Message{}},
		{"array of the wrong length", []byte{0x91, 1}, false, nil},
		{"not a struct", []byte{0x01}, false, nil},
		{"type truncated to a byte", cat([]byte{0x81}, s("y"), []byte{0xcd, 0x01, 0x03}), true, &raft.Message{Type: 3}},
		{"negative integer", cat([]byte{0x81}, s("t"), []byte{0xff}), true, &raft.Message{Term: math.MaxUint64}},
		{"nil integer", cat([]byte{0x81}, s("t"), []byte{0xc0}), true, &raft.Message{}},
		{"float integer", cat([]byte{0x81}, s("t"), []byte{0xca, 0, 0, 0, 0}), false, nil},
		{"bool as integer", cat([]byte{0x81}, s("t"), []byte{0xc3}), false, nil},
		{"integer as bool", cat([]byte{0x81}, s("r"), []byte{0x01}), false, nil},
		{"bin key", cat([]byte{0x81, 0xc4, 1, 't', 0x05}), true, &raft.Message{Term: 5}},
		{"nil key skipped", cat([]byte{0x82, 0xc0, 0x05}, s("t"), []byte{0x06}), true, &raft.Message{Term: 6}},
		{"integer key", []byte{0x81, 0x01, 0x05}, false, nil},
		{"str context", cat([]byte{0x81}, s("x"), s("ab")), true, &raft.Message{Context: []byte("ab")}},
		{"empty context", cat([]byte{0x81}, s("x"), []byte{0xc4, 0}), true, &raft.Message{Context: []byte{}}},
		{"nil context", cat([]byte{0x81}, s("x"), []byte{0xc0}), true, &raft.Message{}},
		{"bin32 context", cat([]byte{0x81}, s("x"), []byte{0xc6, 0, 1, 0x11, 0x70}, big), true, &raft.Message{Context: big}},
		{"empty entries", cat([]byte{0x81}, s("e"), []byte{0x90}), true, &raft.Message{Entries: []raft.Entry{}}},
		{"nil entry", cat([]byte{0x81}, s("e"), []byte{0x91, 0xc0}), true, &raft.Message{Entries: []raft.Entry{{}}}},
		{"entry as array", cat([]byte{0x81}, s("e"), []byte{0x91, 0x94, 1, 2, 1}, s("d")), true,
			&raft.Message{Entries: []raft.Entry{{Term: 1, Index: 2, Type: 1, Data: []byte("d")}}}},
		{"entry as short array", cat([]byte{0x81}, s("e"), []byte{0x91, 0x93, 1, 2, 1}), false, nil},
		{"entries repeated, merged", cat([]byte{0x82}, s("e"), []byte{0x92, 0x82}, s("t"), []byte{1}, s("d"), s("x"),
			[]byte{0x82}, s("t"), []byte{2}, s("d"), s("y"),
			s("e"), []byte{0x91, 0x81}, s("i"), []byte{9}), true,
			&raft.Message{Entries: []raft.Entry{{Term: 1, Index: 9, Data: []byte("x")}}}},
		{"entries repeated, grown", cat([]byte{0x83}, s("e"), []byte{0x92, 0x81}, s("t"), []byte{1}, []byte{0x81}, s("t"), []byte{2},
			s("e"), []byte{0x91, 0x80}, s("e"), []byte{0x93, 0x80, 0x80, 0x81}, s("i"), []byte{3}), true,
			&raft.Message{Entries: []raft.Entry{{Term: 1}, {Term: 2}, {Index: 3}}}},
		{"entry zeroed by nil", cat([]byte{0x82}, s("e"), []byte{0x91, 0x81}, s("t"), []byte{1}, s("e"), []byte{0x91, 0xc0}), true,
			&raft.Message{Entries: []raft.Entry{{}}}},
		{"entry zeroed by empty array", cat([]byte{0x82}, s("e"), []byte{0x91, 0x81}, s("t"), []byte{1}, s("e"), []byte{0x91, 0x90}), true,
			&raft.Message{Entries: []raft.Entry{{}}}},
		{"entries then nil", cat([]byte{0x82}, s("e"), []byte{0x91, 0x80}, s("e"), []byte{0xc0}), true, &raft.Message{}},
		{"entries as map", cat([]byte{0x81}, s("e"), []byte{0x80}), false, nil},
		{"nil snapshot", cat([]byte{0x81}, s("s"), []byte{0xc0}), true, &raft.Message{}},
		{"empty snapshot", cat([]byte{0x81}, s("s"), []byte{0x80}), true, &raft.Message{Snapshot: &raft.Snapshot{}}},
		{"snapshot as empty array", cat([]byte{0x81}, s("s"), []byte{0x90}), true, &raft.Message{Snapshot: &raft.Snapshot{}}},
		{"snapshot as array", cat([]byte{0x81}, s("s"), []byte{0x92, 0x93, 4, 5, 0x92, 0x91, 1, 0xc0, 0xc4, 1, 9}), true,
			&raft.Message{Snapshot: &raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 4, Term: 5,
				ConfState: raft.ConfState{Voters: []uint64{1}}}, Data: []byte{9}}}},
		{"snapshot repeated, merged", cat([]byte{0x82}, s("s"), []byte{0x81}, s("d"), s("a"), s("s"), []byte{0x81}, s("m"), []byte{0x81}, s("i"), []byte{3}), true,
			&raft.Message{Snapshot: &raft.Snapshot{Metadata: raft.SnapshotMetadata{Index: 3}, Data: []byte("a")}}},
		{"snapshot then nil", cat([]byte{0x82}, s("s"), []byte{0x80}, s("s"), []byte{0xc0}), true, &raft.Message{}},
		{"metadata nil after values", cat([]byte{0x81}, s("s"), []byte{0x82}, s("m"), []byte{0x81}, s("i"), []byte{3}, s("m"), []byte{0xc0}), true,
			&raft.Message{Snapshot: &raft.Snapshot{}}},
		{"voters empty, learners nil", cat([]byte{0x81}, s("s"), []byte{0x81}, s("m"), []byte{0x81}, s("c"), []byte{0x82}, s("v"), []byte{0x90}, s("l"), []byte{0xc0}), true,
			&raft.Message{Snapshot: &raft.Snapshot{Metadata: raft.SnapshotMetadata{ConfState: raft.ConfState{Voters: []uint64{}}}}}},
		{"voter not an integer", cat([]byte{0x81}, s("s"), []byte{0x81}, s("m"), []byte{0x81}, s("c"), []byte{0x81}, s("v"), []byte{0x91, 0xa0}), false, nil},
		{"ext value skipped", cat([]byte{0x82}, s("zz"), []byte{0xd5, 1, 2, 3}, s("t"), []byte{4}), true, &raft.Message{Term: 4}},
		{"ext as integer", cat([]byte{0x81}, s("t"), []byte{0xd4, 1, 2}), false, nil},
		{"ext as struct", cat([]byte{0x81}, s("s"), []byte{0xd4, 1, 0x80}), false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := checkShape(c.in, 0, 0); err != nil {
				t.Fatalf("case is not well-formed: %v", err)
			}
			if ok := checkSameDecode(t, c.in); ok != c.ok {
				t.Fatalf("accepted %v, want %v", ok, c.ok)
			}
			if c.want != nil {
				if got, _, _ := handDecode(c.in); !reflect.DeepEqual(got, *c.want) {
					t.Fatalf("got %#v, want %#v", got, *c.want)
				}
			}
		})
	}
}

// A field added to raft.Message or to a struct in it must be added to the
// hand-written codec, and to genMessage: this fails until it is.
func TestCodecCoversEveryField(t *testing.T) {
	for _, c := range []struct {
		s     schema
		codec []string
	}{
		{schemaMessage, messageFields}, {schemaEntry, entryFields}, {schemaSnapshot, snapshotFields},
		{schemaMetadata, snapMetaFields}, {schemaConfState, confStateFields},
	} {
		if names, _ := structFields(c.s); !slices.Equal(names, c.codec) {
			t.Errorf("%v has fields %q, the decoder knows %q", structTypes[c.s], names, c.codec)
		}
	}
	snap := raft.Snapshot{Data: []byte("s"), Metadata: raft.SnapshotMetadata{Index: 10, Term: 11,
		ConfState: raft.ConfState{Voters: []uint64{12}, Learners: []uint64{13}}}}
	ents := []raft.Entry{{Term: 6, Index: 7, Type: raft.EntryConfChange, Data: []byte("d")}}
	full := raft.Message{Type: raft.MsgSnap, To: 1, From: 2, Term: 3, LogTerm: 4, Index: 5, Entries: ents, Commit: 8,
		Reject: true, RejectHint: 9, Snapshot: &snap, SnapOffset: 14, SnapTotal: 15, Context: []byte("x")}
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			walk(path, v.Elem())
		case reflect.Slice:
			for i := range v.Len() {
				walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		case reflect.Struct:
			for i := range v.NumField() {
				f := v.Type().Field(i)
				if v.Field(i).IsZero() {
					t.Errorf("%s.%s is zero: set it here and in genMessage", path, f.Name)
				}
				walk(path+"."+f.Name, v.Field(i))
			}
		}
	}
	walk("Message", reflect.ValueOf(full))
	enc := newEncoder()
	enc.message(&full, true)
	want := reflectEncode(t, &full)
	if !bytes.Equal(enc.buf.Bytes(), want) {
		t.Fatalf("encodes as\n%x\nreflection\n%x", enc.buf.Bytes(), want)
	}
	if got, _, err := handDecode(want); err != nil || !reflect.DeepEqual(got, full) {
		t.Fatalf("decodes as %+v, %v", got, err)
	}
}

// A decoded message owns its bytes: readStream reuses the frame body for
// the next frame, so nothing may alias it, and appending to one field must
// not overwrite another.
func TestDecodedMessageOwnsItsBytes(t *testing.T) {
	m := sampleApp()
	m.Context = []byte("ctx")
	m.Snapshot = &raft.Snapshot{Data: []byte("snap")}
	frame, err := newEncoder().msgFrame(&m, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Clone(frame[FrameLenSize:])
	f, err := newDecoder().decode(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 0xff
	}
	if !reflect.DeepEqual(f.msg, m) {
		t.Fatalf("after the body was overwritten:\n%+v\nwant\n%+v", f.msg, m)
	}
	for i := range f.msg.Entries {
		if d := f.msg.Entries[i].Data; cap(d) != len(d) {
			t.Fatalf("entry %d: data of %d bytes has room for %d", i, len(d), cap(d))
		}
	}
	_ = append(f.msg.Entries[0].Data, '!')
	if !reflect.DeepEqual(f.msg, m) {
		t.Fatalf("after an append to the first entry's data:\n%+v\nwant\n%+v", f.msg, m)
	}
}

func messageSeeds(t testing.TB) [][]byte {
	snap := sampleSnap(20)
	snap.Snapshot.Metadata.ConfState.Learners = []uint64{4}
	return [][]byte{
		reflectEncode(t, sampleApp()),
		reflectEncode(t, snap),
		reflectEncode(t, raft.Message{Type: raft.MsgReadIndexResp, From: 1, To: 2, Term: 1 << 40, Index: 300, Context: []byte("id")}),
		{0x81, 0xa1, 's', 0x92, 0x93, 4, 5, 0x92, 0x91, 1, 0xc0, 0xc4, 1, 9},
		{0x82, 0xa1, 'e', 0x91, 0x81, 0xa1, 't', 1, 0xa1, 'e', 0x92, 0x80, 0xc0},
		{0x81, 0xa1, 'y', 0xcd, 0x01, 0x03},
	}
}

// FuzzDecodeMessage: on any bytes that pass checkShape, the hand-written
// decoder accepts and rejects what the reflection decoder does, and
// decodes to the same message.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range messageSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := checkShape(b, 0, 0); err != nil {
			return
		}
		checkSameDecode(t, b)
	})
}

// The rest is a small MessagePack model for re-encoding what the
// reflection encoder wrote in the other ways a decoder must take.

type valueKind uint8

const (
	kindNil valueKind = iota
	kindBool
	kindUint
	kindBytes // str or bin
	kindArray
	kindMap
)

type value struct {
	kind  valueKind
	u     uint64 // kindUint; kindBool: 0 or 1
	raw   []byte // kindBytes
	elems []value
}

// parseValue parses the forms the reflection encoder writes for a message.
func parseValue(t *rapid.T, b []byte) value {
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	var parse func() value
	parse = func() value {
		c, err := dec.PeekCode()
		if err != nil {
			t.Fatal(err)
		}
		var v value
		switch {
		case c == msgpcode.Nil:
			err = dec.DecodeNil()
		case c == msgpcode.False || c == msgpcode.True:
			v.kind = kindBool
			var x bool
			x, err = dec.DecodeBool()
			if x {
				v.u = 1
			}
		case msgpcode.IsFixedNum(c) || c >= msgpcode.Uint8 && c <= msgpcode.Uint64:
			v.kind = kindUint
			v.u, err = dec.DecodeUint64()
		case msgpcode.IsString(c) || msgpcode.IsBin(c):
			v.kind = kindBytes
			v.raw, err = dec.DecodeBytes()
		case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
			v.kind = kindArray
			var n int
			n, err = dec.DecodeArrayLen()
			for range n {
				v.elems = append(v.elems, parse())
			}
		case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
			v.kind = kindMap
			var n int
			n, err = dec.DecodeMapLen()
			for range 2 * n {
				v.elems = append(v.elems, parse())
			}
		default:
			t.Fatalf("unexpected code 0x%x", c)
		}
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return parse()
}

// schema is the Go type a value decodes into: remix writes a struct as an
// array in its field order, and appendAny draws values that fit it.
type schema uint8

const (
	schemaNone schema = iota
	schemaUint
	schemaBool
	schemaBytes
	schemaUints
	schemaEntries
	schemaMessage
	schemaEntry
	schemaSnapshot
	schemaMetadata
	schemaConfState
)

var structTypes = [...]reflect.Type{
	schemaMessage:   reflect.TypeFor[raft.Message](),
	schemaEntry:     reflect.TypeFor[raft.Entry](),
	schemaSnapshot:  reflect.TypeFor[raft.Snapshot](),
	schemaMetadata:  reflect.TypeFor[raft.SnapshotMetadata](),
	schemaConfState: reflect.TypeFor[raft.ConfState](),
}

func schemaOf(typ reflect.Type) schema {
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	for s, st := range structTypes {
		if st != nil && st == typ {
			return schema(s)
		}
	}
	switch {
	case typ.Kind() == reflect.Bool:
		return schemaBool
	case typ.Kind() >= reflect.Uint && typ.Kind() <= reflect.Uint64:
		return schemaUint
	case typ == reflect.TypeFor[[]byte]():
		return schemaBytes
	case typ == reflect.TypeFor[[]uint64]():
		return schemaUints
	case typ == reflect.TypeFor[[]raft.Entry]():
		return schemaEntries
	}
	panic(fmt.Sprintf("no schema for %v", typ))
}

// structFields returns the field names of a struct schema in declaration
// order, from its msgpack tags rather than from the code under test, and
// their schemas; nil for other schemas.
func structFields(s schema) ([]string, map[string]schema) {
	if int(s) >= len(structTypes) || structTypes[s] == nil {
		return nil, nil
	}
	typ := structTypes[s]
	var names []string
	sub := map[string]schema{}
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("msgpack"), ",")
		names = append(names, name)
		sub[name] = schemaOf(typ.Field(i).Type)
	}
	return names, sub
}

// remix appends v to b, drawing among the encodings of each value, and for
// maps of structs shuffling the keys, adding unknown or repeated keys with
// values of any type, or writing the struct as an array.
func remix(t *rapid.T, b []byte, v value, s schema) []byte {
	switch v.kind {
	case kindNil:
		return append(b, 0xc0)
	case kindBool:
		return append(b, 0xc2+byte(v.u))
	case kindUint:
		return appendUint(t, b, v.u)
	case kindBytes:
		return appendRaw(t, b, v.raw)
	case kindArray:
		b = appendLen(t, b, len(v.elems), msgpcode.FixedArrayLow, msgpcode.Array16)
		elem := schemaNone
		if s == schemaEntries {
			elem = schemaEntry
		}
		for _, e := range v.elems {
			b = remix(t, b, e, elem)
		}
		return b
	}
	names, sub := structFields(s)
	type pair struct {
		key, val value
		extra    bool // added here: its value is drawn by appendAny
	}
	fields := map[string]value{}
	var pairs []pair
	for i := 0; i < len(v.elems); i += 2 {
		pairs = append(pairs, pair{key: v.elems[i], val: v.elems[i+1]})
		fields[string(v.elems[i].raw)] = v.elems[i+1]
	}
	if names != nil && rapid.IntRange(0, 3).Draw(t, "asArray") == 0 {
		// Absent fields as nil, which decodes to their zero value.
		b = appendLen(t, b, len(names), msgpcode.FixedArrayLow, msgpcode.Array16)
		for _, name := range names {
			f, ok := fields[name]
			if !ok {
				f = value{kind: kindNil}
			}
			b = remix(t, b, f, sub[name])
		}
		return b
	}
	pairs = rapid.Permutation(pairs).Draw(t, "keyOrder")
	extraKeys := [][]byte{nil, []byte(""), []byte("zz"), []byte("unknown"), []byte("T")}
	for _, name := range names {
		extraKeys = append(extraKeys, []byte(name))
	}
	for range rapid.IntRange(0, 2).Draw(t, "extraKeys") {
		key := rapid.SampledFrom(extraKeys).Draw(t, "extraKey")
		at := rapid.IntRange(0, len(pairs)).Draw(t, "extraAt")
		pairs = slices.Insert(pairs, at, pair{key: value{kind: kindBytes, raw: key}, extra: true})
	}
	b = appendLen(t, b, len(pairs), msgpcode.FixedMapLow, msgpcode.Map16)
	for _, p := range pairs {
		b = appendRaw(t, b, p.key.raw)
		if p.extra {
			b = appendAny(t, b, sub[string(p.key.raw)])
		} else {
			b = remix(t, b, p.val, sub[string(p.key.raw)])
		}
	}
	return b
}

// appendAny appends a value for an unknown or repeated key: half the time
// one that a field of schema s takes, else one of any type.
func appendAny(t *rapid.T, b []byte, s schema) []byte {
	if s != schemaNone && rapid.Bool().Draw(t, "fits") {
		return appendFitting(t, b, s)
	}
	switch rapid.IntRange(0, 9).Draw(t, "anyKind") {
	case 0:
		return append(b, 0xc0)
	case 1:
		return append(b, 0xc2+byte(rapid.IntRange(0, 1).Draw(t, "anyBool")))
	case 2:
		return appendUint(t, b, genUint.Draw(t, "anyUint"))
	case 3:
		return appendNegative(t, b)
	case 4:
		return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(1.5))
	case 5:
		return appendRaw(t, b, genBytes(t, "anyBytes"))
	case 6:
		return append(b, 0xd5, 1, 2, 3) // fixext 2
	case 7:
		b = appendLen(t, b, 1, msgpcode.FixedArrayLow, msgpcode.Array16)
		return appendUint(t, b, genUint.Draw(t, "anyElem"))
	case 8:
		return append(b, 0x90)
	}
	return append(b, 0x80)
}

// appendFitting appends a value a field of schema s takes (nil included).
func appendFitting(t *rapid.T, b []byte, s schema) []byte {
	if rapid.IntRange(0, 5).Draw(t, "fittingNil") == 0 {
		return append(b, 0xc0)
	}
	switch s {
	case schemaUint:
		if rapid.IntRange(0, 3).Draw(t, "negative") == 0 {
			return appendNegative(t, b)
		}
		return appendUint(t, b, genUint.Draw(t, "fittingUint"))
	case schemaBool:
		return append(b, 0xc2+byte(rapid.IntRange(0, 1).Draw(t, "fittingBool")))
	case schemaBytes:
		return appendRaw(t, b, genBytes(t, "fittingBytes"))
	case schemaUints, schemaEntries:
		elem := schemaUint
		if s == schemaEntries {
			elem = schemaEntry
		}
		n := rapid.IntRange(0, 3).Draw(t, "fittingElems")
		b = appendLen(t, b, n, msgpcode.FixedArrayLow, msgpcode.Array16)
		for range n {
			b = appendFitting(t, b, elem)
		}
		return b
	}
	names, sub := structFields(s)
	if rapid.IntRange(0, 3).Draw(t, "fittingArray") == 0 {
		b = appendLen(t, b, len(names), msgpcode.FixedArrayLow, msgpcode.Array16)
		for _, name := range names {
			b = appendFitting(t, b, sub[name])
		}
		return b
	}
	keys := rapid.SliceOfN(rapid.SampledFrom(names), 0, 3).Draw(t, "fittingKeys")
	b = appendLen(t, b, len(keys), msgpcode.FixedMapLow, msgpcode.Map16)
	for _, k := range keys {
		b = appendRaw(t, b, []byte(k))
		b = appendFitting(t, b, sub[k])
	}
	return b
}

// appendNegative appends a negative integer, which a uint64 field takes
// as its two's complement.
func appendNegative(t *rapid.T, b []byte) []byte {
	n := rapid.Int64Range(math.MinInt64, -1).Draw(t, "negative")
	switch {
	case n >= -32:
		return append(b, byte(n))
	case n >= math.MinInt8:
		return append(b, 0xd0, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

// appendUint appends u in one of the encodings that hold it.
func appendUint(t *rapid.T, b []byte, u uint64) []byte {
	var forms []func() []byte
	if u <= 0x7f {
		forms = append(forms, func() []byte { return append(b, byte(u)) }, func() []byte { return append(b, 0xd0, byte(u)) })
	}
	if u <= math.MaxUint8 {
		forms = append(forms, func() []byte { return append(b, 0xcc, byte(u)) })
	}
	if u <= math.MaxUint16 {
		forms = append(forms, func() []byte { return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(u)) })
	}
	if u <= math.MaxInt16 {
		forms = append(forms, func() []byte { return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(u)) })
	}
	if u <= math.MaxUint32 {
		forms = append(forms, func() []byte { return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(u)) })
	}
	if u <= math.MaxInt32 {
		forms = append(forms, func() []byte { return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(u)) })
	}
	if u <= math.MaxInt64 {
		forms = append(forms, func() []byte { return binary.BigEndian.AppendUint64(append(b, 0xd3), u) })
	}
	forms = append(forms, func() []byte { return binary.BigEndian.AppendUint64(append(b, 0xcf), u) })
	return forms[rapid.IntRange(0, len(forms)-1).Draw(t, "uintForm")]()
}

// appendRaw appends raw as str or bin in one of the lengths' encodings
// (nil as nil).
func appendRaw(t *rapid.T, b, raw []byte) []byte {
	if raw == nil {
		return append(b, 0xc0)
	}
	n := len(raw)
	if rapid.Bool().Draw(t, "asStr") {
		if n <= 31 && rapid.Bool().Draw(t, "fixstr") {
			b = append(b, 0xa0|byte(n))
		} else {
			b = appendLenCode(t, b, n, msgpcode.Str8)
		}
	} else {
		b = appendLenCode(t, b, n, msgpcode.Bin8)
	}
	return append(b, raw...)
}

// appendLen appends the header of an array or map of n elements, fixed
// or 16 or 32 bits.
func appendLen(t *rapid.T, b []byte, n int, fixed, code16 byte) []byte {
	forms := []byte{code16, code16 + 1}
	if n <= 15 {
		forms = append(forms, fixed)
	}
	switch c := rapid.SampledFrom(forms).Draw(t, "lenForm"); c {
	case fixed:
		return append(b, fixed|byte(n))
	case code16:
		return binary.BigEndian.AppendUint16(append(b, c), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, c), uint32(n))
	}
}

// appendLenCode appends a str or bin length header: code8 is the 8-bit
// form's code, the 16 and 32-bit ones follow it.
func appendLenCode(t *rapid.T, b []byte, n int, code8 byte) []byte {
	narrowest := 0
	if n > math.MaxUint8 {
		narrowest = 1
	}
	switch rapid.IntRange(narrowest, 2).Draw(t, "lenWidth") {
	case 0:
		return append(b, code8, byte(n))
	case 1:
		return binary.BigEndian.AppendUint16(append(b, code8+1), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, code8+2), uint32(n))
}
