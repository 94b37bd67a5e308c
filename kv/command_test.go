package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
	"pgregory.net/rapid"
)

// The Command codec is written by hand for speed, but logs and snapshots
// hold what the reflection codec of msgpack made and accepted. The naive
// model here is that reflection codec itself: msgpack.Marshal for encoding,
// and the Decoder with unknown fields disallowed (DecodeCommand as it was)
// for decoding.

// reflectEncode is msgpack's reflection encoding of c. bug plants a mistake,
// to show that the comparison catches it.
func reflectEncode(c *Command, bug string) ([]byte, error) {
	if bug == "compactInts" {
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(true)
		err := enc.Encode(c)
		return buf.Bytes(), err
	}
	return msgpack.Marshal(c)
}

// reflectDecode is DecodeCommand as it was before the hand-written decoder:
// msgpack's reflection decoder, unknown fields disallowed, trailing bytes
// rejected. bug plants a mistake, to show that the comparison catches it.
func reflectDecode(b []byte, bug string) (*Command, error) {
	r := bytes.NewReader(b)
	dec := msgpack.NewDecoder(r)
	dec.DisallowUnknownFields(bug != "allowUnknown")
	var c Command
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadCommand, r.Len())
	}
	if bug == "noArrayForm" && (msgpcode.IsFixedArray(b[0]) || b[0] == msgpcode.Array16 || b[0] == msgpcode.Array32) && c != (Command{}) {
		return nil, fmt.Errorf("%w: array", ErrBadCommand)
	}
	return &c, nil
}

// drawLongString draws "", an arbitrary string, or one whose length is at a
// msgpack header boundary (fixstr, str8, str16, str32).
func drawLongString(t *rapid.T, label string) string {
	switch rapid.IntRange(0, 3).Draw(t, label+"Kind") {
	case 0:
		return ""
	case 1:
		n := rapid.SampledFrom([]int{31, 32, 255, 256, 65535, 65536}).Draw(t, label+"Len")
		return strings.Repeat("x", n)
	}
	return rapid.String().Draw(t, label)
}

// drawCommand draws any Command, including ones Validate refuses: the codec
// must carry them all unchanged.
func drawCommand(t *rapid.T) *Command {
	edge := rapid.SampledFrom([]uint64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64, math.MaxUint64})
	u64 := rapid.OneOf(edge, rapid.Uint64())
	i64 := rapid.OneOf(rapid.Int64(), rapid.SampledFrom([]int64{0, -1, -32, -33, math.MinInt64, math.MaxInt64}))
	c := &Command{
		Method:       Method(rapid.Uint8().Draw(t, "method")),
		Path:         drawLongString(t, "path"),
		Value:        drawLongString(t, "value"),
		Dir:          rapid.Bool().Draw(t, "dir"),
		PrevValue:    drawLongString(t, "prevValue"),
		PrevIndex:    u64.Draw(t, "prevIndex"),
		Refresh:      rapid.Bool().Draw(t, "refresh"),
		Recursive:    rapid.Bool().Draw(t, "recursive"),
		Sorted:       rapid.Bool().Draw(t, "sorted"),
		TimeUnixNano: i64.Draw(t, "time"),
		GraceNs:      i64.Draw(t, "grace"),
	}
	if rapid.Bool().Draw(t, "hasTTL") {
		c.TTLSec = Uint64(u64.Draw(t, "ttl"))
	}
	if rapid.Bool().Draw(t, "hasPrevExist") {
		c.PrevExist = Bool(rapid.Bool().Draw(t, "prevExist"))
	}
	return c
}

// mp builds msgpack input by hand, in every encoding a value may take,
// whether or not it is the shortest.
type mp struct{ b []byte }

func (m *mp) code(c byte) { m.b = append(m.b, c) }

// uint writes n in a drawn one of the integer encodings that hold it.
func (m *mp) uint(t *rapid.T, label string, n uint64) {
	var forms []byte
	if n <= 127 {
		forms = append(forms, 0) // positive fixint
	}
	for _, f := range []struct {
		code byte
		max  uint64
	}{{msgpcode.Uint8, math.MaxUint8}, {msgpcode.Uint16, math.MaxUint16}, {msgpcode.Uint32, math.MaxUint32},
		{msgpcode.Uint64, math.MaxUint64}, {msgpcode.Int8, math.MaxInt8}, {msgpcode.Int16, math.MaxInt16},
		{msgpcode.Int32, math.MaxInt32}, {msgpcode.Int64, math.MaxInt64}} {
		if n <= f.max {
			forms = append(forms, f.code)
		}
	}
	m.number(rapid.SampledFrom(forms).Draw(t, label+"Form"), n)
}

// int writes n in a drawn one of the signed encodings that hold it (or the
// unsigned ones for n >= 0).
func (m *mp) int(t *rapid.T, label string, n int64) {
	if n >= 0 {
		m.uint(t, label, uint64(n))
		return
	}
	var forms []byte
	if n >= -32 {
		forms = append(forms, 0xe0) // negative fixint
	}
	for _, f := range []struct {
		code byte
		min  int64
	}{{msgpcode.Int8, math.MinInt8}, {msgpcode.Int16, math.MinInt16}, {msgpcode.Int32, math.MinInt32}, {msgpcode.Int64, math.MinInt64}} {
		if n >= f.min {
			forms = append(forms, f.code)
		}
	}
	m.number(rapid.SampledFrom(forms).Draw(t, label+"Form"), uint64(n))
}

// number writes the low bits of n after code; code 0 and 0xe0 are the
// positive and negative fixints.
func (m *mp) number(code byte, n uint64) {
	switch code {
	case 0, 0xe0:
		m.code(byte(n))
	case msgpcode.Uint8, msgpcode.Int8:
		m.b = append(m.b, code, byte(n))
	case msgpcode.Uint16, msgpcode.Int16:
		m.b = binary.BigEndian.AppendUint16(append(m.b, code), uint16(n))
	case msgpcode.Uint32, msgpcode.Int32:
		m.b = binary.BigEndian.AppendUint32(append(m.b, code), uint32(n))
	default:
		m.b = binary.BigEndian.AppendUint64(append(m.b, code), n)
	}
}

// str writes s as a str or (with bin) a bin of a drawn header width.
func (m *mp) str(t *rapid.T, label, s string, bin bool) {
	forms := []byte{msgpcode.Str8, msgpcode.Str16, msgpcode.Str32}
	if len(s) < 32 {
		forms = append(forms, msgpcode.FixedStrLow)
	}
	if bin {
		forms = append(forms, msgpcode.Bin8, msgpcode.Bin16, msgpcode.Bin32)
	}
	m.length(rapid.SampledFrom(forms).Draw(t, label+"Form"), len(s))
	m.b = append(m.b, s...)
}

// length writes a str, bin, array or map header; fixed forms take the
// length in the code.
func (m *mp) length(code byte, n int) {
	switch code {
	case msgpcode.FixedStrLow, msgpcode.FixedArrayLow, msgpcode.FixedMapLow:
		m.code(code | byte(n))
	case msgpcode.Str8, msgpcode.Bin8:
		m.b = append(m.b, code, byte(n))
	case msgpcode.Str16, msgpcode.Bin16, msgpcode.Array16, msgpcode.Map16:
		m.b = binary.BigEndian.AppendUint16(append(m.b, code), uint16(n))
	default:
		m.b = binary.BigEndian.AppendUint32(append(m.b, code), uint32(n))
	}
}

// anyValue writes any msgpack value, or a byte that is none (0xc1).
func (m *mp) anyValue(t *rapid.T, label string, depth int) {
	switch rapid.IntRange(0, 13).Draw(t, label+"Type") {
	case 0:
		m.code(msgpcode.Nil)
	case 1:
		m.code(rapid.SampledFrom([]byte{msgpcode.False, msgpcode.True}).Draw(t, label+"Bool"))
	case 2:
		m.uint(t, label, rapid.Uint64().Draw(t, label+"Uint"))
	case 3:
		m.int(t, label, rapid.Int64().Draw(t, label+"Int"))
	case 4:
		m.b = binary.BigEndian.AppendUint32(append(m.b, msgpcode.Float), rapid.Uint32().Draw(t, label+"Float"))
	case 5:
		m.b = binary.BigEndian.AppendUint64(append(m.b, msgpcode.Double), rapid.Uint64().Draw(t, label+"Double"))
	case 6, 7:
		m.str(t, label, rapid.StringN(0, 40, -1).Draw(t, label+"Str"), true)
	case 8:
		n := rapid.IntRange(0, 2).Draw(t, label+"Len")
		if depth > 1 {
			n = 0
		}
		m.length(rapid.SampledFrom([]byte{msgpcode.FixedArrayLow, msgpcode.Array16, msgpcode.Array32}).Draw(t, label+"ArrayForm"), n)
		for i := range n {
			m.anyValue(t, fmt.Sprintf("%s[%d]", label, i), depth+1)
		}
	case 9:
		n := rapid.IntRange(0, 1).Draw(t, label+"Len")
		if depth > 1 {
			n = 0
		}
		m.length(rapid.SampledFrom([]byte{msgpcode.FixedMapLow, msgpcode.Map16, msgpcode.Map32}).Draw(t, label+"MapForm"), n)
		for i := range n {
			m.anyValue(t, fmt.Sprintf("%s.k%d", label, i), depth+1)
			m.anyValue(t, fmt.Sprintf("%s.v%d", label, i), depth+1)
		}
	case 10:
		m.b = append(m.b, msgpcode.FixExt1, rapid.Byte().Draw(t, label+"ExtType"), rapid.Byte().Draw(t, label+"ExtData"))
	case 11:
		m.code(0xc1) // never used
	case 12:
		m.code(rapid.Byte().Draw(t, label+"Byte"))
	default:
		m.code(msgpcode.FixedMapLow) // an empty map: a Command in a field
	}
}

// fieldValue writes, mostly, a value of the type of the field with key k,
// in any encoding the reflection decoder might accept.
func (m *mp) fieldValue(t *rapid.T, label, k string) {
	if rapid.IntRange(0, 15).Draw(t, label+"Any") == 0 {
		m.anyValue(t, label, 0)
		return
	}
	if rapid.IntRange(0, 7).Draw(t, label+"Nil") == 0 {
		m.code(msgpcode.Nil)
		return
	}
	switch k {
	case "m", "t", "pi":
		if rapid.IntRange(0, 4).Draw(t, label+"Neg") == 0 {
			m.int(t, label, rapid.Int64Max(-1).Draw(t, label+"Int"))
			return
		}
		m.uint(t, label, rapid.OneOf(rapid.Uint64Range(0, 300), rapid.Uint64()).Draw(t, label+"Uint"))
	case "tm", "g":
		m.int(t, label, rapid.Int64().Draw(t, label+"Int"))
	case "p", "v", "pv":
		m.str(t, label, rapid.StringN(0, 40, -1).Draw(t, label+"Str"), true)
	case "d", "pe", "r", "rc", "s":
		m.code(rapid.SampledFrom([]byte{msgpcode.False, msgpcode.True}).Draw(t, label+"Bool"))
	default:
		m.anyValue(t, label, 0)
	}
}

// drawEncoded draws input for DecodeCommand: maps (of known, unknown and
// repeated keys, in any order, of values in any encoding, with a true or a
// wrong entry count), the array form, nil, other values, damaged encodings
// of real commands, and random bytes; sometimes truncated or with trailing
// bytes.
func drawEncoded(t *rapid.T) []byte {
	var m mp
	keys := append(append([]string(nil), commandFields[:]...), "x", "", "mm", "pvx", strings.Repeat("k", 40))
	switch rapid.IntRange(0, 12).Draw(t, "shape") {
	case 0, 1, 2, 3, 4, 5: // a map
		n := rapid.IntRange(0, 15).Draw(t, "entries")
		declared := n
		if rapid.IntRange(0, 9).Draw(t, "miscount") == 0 {
			declared = max(n+rapid.IntRange(-1, 1).Draw(t, "by"), 0)
		}
		form := rapid.SampledFrom([]byte{msgpcode.FixedMapLow, msgpcode.FixedMapLow, msgpcode.Map16, msgpcode.Map32}).Draw(t, "mapForm")
		if form == msgpcode.FixedMapLow && declared > 15 {
			form = msgpcode.Map16
		}
		m.length(form, declared)
		for i := range n {
			label := fmt.Sprintf("e%d", i)
			k := keys[rapid.IntRange(0, len(keys)-1).Draw(t, label+"Key")]
			switch rapid.IntRange(0, 19).Draw(t, label+"KeyType") {
			case 0:
				m.code(msgpcode.Nil) // read as ""
			case 1:
				m.uint(t, label+"Key", 1) // not a string
			default:
				m.str(t, label+"Key", k, true)
			}
			m.fieldValue(t, label, k)
		}
	case 6, 7, 8: // the array form
		n := len(commandFields)
		if rapid.IntRange(0, 4).Draw(t, "miscount") == 0 {
			n = rapid.IntRange(0, 15).Draw(t, "elems")
		}
		m.length(rapid.SampledFrom([]byte{msgpcode.FixedArrayLow, msgpcode.Array16, msgpcode.Array32}).Draw(t, "arrayForm"), n)
		for i := range n {
			k := "extra"
			if i < len(commandFields) {
				k = commandFields[i]
			}
			m.fieldValue(t, fmt.Sprintf("a%d", i), k)
		}
	case 9:
		m.anyValue(t, "top", 0)
	case 10, 11: // a real command, maybe damaged
		b, err := msgpack.Marshal(drawCommand(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && rapid.Bool().Draw(t, "damage") {
			b[rapid.IntRange(0, len(b)-1).Draw(t, "at")] = rapid.Byte().Draw(t, "to")
		}
		m.b = b
	default:
		m.b = rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "raw")
	}
	if len(m.b) > 0 && rapid.IntRange(0, 9).Draw(t, "truncate") == 0 {
		m.b = m.b[:rapid.IntRange(0, len(m.b)-1).Draw(t, "truncateAt")]
	}
	if rapid.IntRange(0, 9).Draw(t, "trail") == 0 {
		m.b = append(m.b, rapid.Byte().Draw(t, "trailing"))
	}
	return m.b
}

// sameDecoding fails t unless DecodeCommand, the reflection decoder and
// the Decoder-based one it replaced (msgpackDecode) agree on b: the same
// command, or errors with the same text.
func sameDecoding(t *rapid.T, b []byte, bug string) {
	got, gotErr := DecodeCommand(b)
	old, oldErr := msgpackDecode(b)
	if (gotErr == nil) != (oldErr == nil) || gotErr != nil && gotErr.Error() != oldErr.Error() || !reflect.DeepEqual(got, old) {
		t.Fatalf("decode %x: %v %v; the Decoder-based decoder: %v %v", b, got, gotErr, old, oldErr)
	}
	want, wantErr := reflectDecode(b, bug)
	switch {
	case wantErr != nil && gotErr != nil:
		if gotErr.Error() != wantErr.Error() || !errors.Is(gotErr, ErrBadCommand) {
			t.Fatalf("decode %x: error %q, reflection %q", b, gotErr, wantErr)
		}
	case wantErr != nil:
		t.Fatalf("decode %x: accepted as %+v, reflection refuses: %v", b, *got, wantErr)
	case gotErr != nil:
		t.Fatalf("decode %x: %v, reflection accepts %+v", b, gotErr, *want)
	case !reflect.DeepEqual(got, want):
		t.Fatalf("decode %x:\n got  %s\n want %s", b, commandString(got), commandString(want))
	}
}

// commandString shows the pointed-to values of the optional fields.
func commandString(c *Command) string {
	s := fmt.Sprintf("%+v", *c)
	if c.TTLSec != nil {
		s += fmt.Sprintf(" ttl=%d", *c.TTLSec)
	}
	if c.PrevExist != nil {
		s += fmt.Sprintf(" prevExist=%v", *c.PrevExist)
	}
	return s
}

// codecProperty: Encode writes exactly msgpack.Marshal's bytes, in a slice
// of exactly their length, and decodes back to the same command; on any
// input, DecodeCommand and the reflection decoder agree. bug plants a
// mistake in the reflection side, to prove the comparison can fail.
func codecProperty(bug string) func(*rapid.T) {
	return func(t *rapid.T) {
		c := drawCommand(t)
		got, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		want, err := reflectEncode(c, bug)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("encode %s:\n got  %x\n want %x", commandString(c), got, want)
		}
		if len(got) != cap(got) {
			t.Fatalf("encode %s: %d bytes in a slice of %d", commandString(c), len(got), cap(got))
		}
		back, err := DecodeCommand(got)
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip of %s: %v %v", commandString(c), back, err)
		}
		sameDecoding(t, got, bug)
		sameDecoding(t, drawEncoded(t), bug)
	}
}

// TestCommandCodecMatchesReflection holds the hand-written codec to the
// reflection one that wrote and read the existing logs and snapshots.
func TestCommandCodecMatchesReflection(t *testing.T) {
	rapid.Check(t, codecProperty(""))
}

// TestCommandCodecComparisonIsLive plants a difference in the reflection
// side and checks that the property finds it: the generators reach
// integers of every width, unknown keys, and valid commands in the array
// form.
func TestCommandCodecComparisonIsLive(t *testing.T) {
	for _, bug := range []string{"compactInts", "allowUnknown", "noArrayForm"} {
		t.Run(bug, func(t *testing.T) {
			setFlag(t, "rapid.checks", "1000") // some bugs show in a few percent of inputs
			mustCatch(t, bug, codecProperty(bug))
		})
	}
}

// TestDecodeCommandQuirks pins, with literal bytes, what reflection
// accepted that a reader of doc.go might not expect, so that no rewrite
// loses it: the array form, nil as the zero command, keys as bin, and
// Method's low 8 bits.
func TestDecodeCommandQuirks(t *testing.T) {
	array := []byte{0x9d, 0x02, 0xa2, '/', 'a', 0xc0, 0xc3, 0x05, 0xc0, 0xc0, 0xc2, 0xc0, 0xc0, 0xc0, 0xd0, 0xff, 0x00}
	for _, tc := range []struct {
		name string
		in   []byte
		want Command
	}{
		{"nil", []byte{0xc0}, Command{}},
		{"empty array", []byte{0x90}, Command{}},
		{"array form", array, Command{Method: MethodPut, Path: "/a", Dir: true, TTLSec: Uint64(5), PrevExist: Bool(false), TimeUnixNano: -1}},
		{"bin key", []byte{0x81, 0xc4, 0x01, 'm', 0x03}, Command{Method: MethodPost}},
		{"wide method", []byte{0x81, 0xa1, 'm', 0xcd, 0x01, 0x02}, Command{Method: MethodPut}},
		{"last wins", []byte{0x82, 0xa1, 'p', 0xa1, 'x', 0xa1, 'p', 0xc0}, Command{}},
	} {
		got, err := DecodeCommand(tc.in)
		if err != nil || !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%s: got %v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
	for _, in := range [][]byte{
		{},                                     // nothing
		{0x81, 0xa1, 'z', 0x01},                // unknown key
		{0x81, 0xc0, 0x01},                     // nil key: the unknown ""
		{0x91, 0x02},                           // array of the wrong length
		{0xd4, 0x01, 0x80},                     // ext
		{0x81, 0xa1, 'd', 0x01},                // number for a bool
		{0x81, 0xa1, 'm', 0xca, 0x40, 0, 0, 0}, // float for an integer
	} {
		if _, err := DecodeCommand(in); !errors.Is(err, ErrBadCommand) {
			t.Errorf("%x: %v, want ErrBadCommand", in, err)
		}
	}
}

// TestDecodeCommandRefusalsDoNotGrowMemory: a string header claiming more
// bytes than the entry holds makes msgpack's Decoder grow its scratch buffer
// by at least a megabyte before it finds out; a decoder reused after that
// grows it again with every such entry (the fuzzer ran out of memory, and
// this test, with the decoder reused, saw 500 MB allocated per decode).
// DecodeCommand no longer uses a Decoder; the test stays as a guard.
func TestDecodeCommandRefusalsDoNotGrowMemory(t *testing.T) {
	hostile := []byte{0x81, msgpcode.Bin32, 0xff, 0xff, 0xff, 0xff}
	const n = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		if _, err := DecodeCommand(hostile); !errors.Is(err, ErrBadCommand) {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// Each refusal allocates about 2 MiB in msgpack's Decoder.
	if perDecode := (after.TotalAlloc - before.TotalAlloc) / n; perDecode > 4<<20 {
		t.Fatalf("%d bytes allocated per refused decode", perDecode)
	}
}

// TestCommandFieldIndexes: the field constants name commandFields' entries.
func TestCommandFieldIndexes(t *testing.T) {
	if len(commandFields) != reflect.TypeOf(Command{}).NumField() {
		t.Fatalf("%d fields in commandFields, %d in Command", len(commandFields), reflect.TypeOf(Command{}).NumField())
	}
	for i, k := range commandFields {
		if got := fieldOf([]byte(k)); got != i {
			t.Errorf("fieldOf(%q) = %d, want %d", k, got, i)
		}
		if tag := reflect.TypeOf(Command{}).Field(i).Tag.Get("msgpack"); strings.Split(tag, ",")[0] != k {
			t.Errorf("field %d is %q, tag %q", i, k, tag)
		}
	}
}

// TestDecodeCommandCopiesAndAllocates: the decoded strings are copies (the
// log entry's buffer may be reused), and a command costs one allocation
// and one per string (each has its own: TestDecodedStringsKeepNoOldValue
// says why).
func TestDecodeCommandCopiesAndAllocates(t *testing.T) {
	for _, bc := range benchCommands {
		b, err := bc.cmd.Encode()
		if err != nil {
			t.Fatal(err)
		}
		c, err := DecodeCommand(b)
		if err != nil {
			t.Fatal(err)
		}
		for i := range b {
			b[i] = 0
		}
		if !reflect.DeepEqual(*c, bc.cmd) {
			t.Fatalf("%s: after the input was overwritten: %s", bc.name, commandString(c))
		}
		b, _ = bc.cmd.Encode()
		want := 3.0
		if bc.cmd.PrevValue != "" {
			want = 4
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = DecodeCommand(b) }); n != want {
			t.Errorf("%s: %v allocations per decode, want %v", bc.name, n, want)
		}
	}
}

// TestDecodeCommandLongTruncatedString: a string of more than a MiB cut
// short is refused wherever it is cut. (Reflection's Decoder reads it in
// MiB chunks and says "EOF" rather than "unexpected EOF" when the input
// ends between two; DecodeCommand always says "unexpected EOF" once any of
// the string was there. The property tests' strings are shorter.)
func TestDecodeCommandLongTruncatedString(t *testing.T) {
	b, err := (&Command{Method: MethodPut, Path: "/a", Value: strings.Repeat("x", 3<<20)}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	head := len(b) - 3<<20
	for _, cut := range []int{head, head + 1, head + 64, head + 1<<20, head + 1<<20 + 64, head + 2<<20 + 64, len(b) - 1} {
		_, err := DecodeCommand(b[:cut])
		_, rerr := reflectDecode(b[:cut], "")
		if !errors.Is(err, ErrBadCommand) || rerr == nil {
			t.Fatalf("cut at %d: %v; reflection %v", cut, err, rerr)
		}
		want := "unexpected EOF"
		if cut == head {
			want = "EOF"
		}
		if !strings.HasSuffix(err.Error(), ": "+want) {
			t.Errorf("cut at %d: %v, want %s", cut, err, want)
		}
		t.Logf("cut at head+%d: %v; reflection: %v", cut-head, err, rerr)
	}
}
