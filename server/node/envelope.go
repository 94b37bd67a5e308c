package node

import (
	"encoding/binary"
	"io"

	"github.com/vmihailenco/msgpack/v5"
)

// envelope is the payload of a normal log entry: who proposed the command,
// so the proposer can recognise its own entry when it is applied.
//
// Its bytes are msgpack.Marshal's (an array of three: From and Seq as
// uint64, 0xcf and eight bytes each, and Cmd as bin, or nil), which is
// what every log holds. encodeEnvelope writes them by hand into a buffer
// of the entry's size, and decodeEnvelope reads that form by hand and
// hands any other to msgpack.Unmarshal, so what decodes is exactly what
// decoded before: writing and reading entries is on every write's path
// on every member, and the reflection-driven codec was 7% of a
// follower's CPU.
type envelope struct {
	_msgpack struct{} `msgpack:",as_array"` //lint:ignore U1000 msgpack reads the tag
	From     uint64
	Seq      uint64
	Cmd      []byte
}

// encodeEnvelope is msgpack.Marshal(e), in a buffer of its exact size
// (the entry lives in the in-memory log until the next snapshot).
func encodeEnvelope(e *envelope) []byte {
	n := len(e.Cmd)
	size := 1 + 9 + 9 + 1
	switch {
	case e.Cmd == nil:
	case n < 1<<8:
		size += 1 + n
	case n < 1<<16:
		size += 2 + n
	default:
		size += 4 + n
	}
	b := make([]byte, 0, size)
	b = append(b, 0x93, 0xcf)
	b = binary.BigEndian.AppendUint64(b, e.From)
	b = append(b, 0xcf)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	switch {
	case e.Cmd == nil:
		return append(b, 0xc0)
	case n < 1<<8:
		b = append(b, 0xc4, byte(n))
	case n < 1<<16:
		b = append(b, 0xc5)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0xc6)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	return append(b, e.Cmd...)
}

// decodeEnvelope is msgpack.Unmarshal(data, &env), except that Cmd is a
// piece of data rather than a copy (kv.DecodeCommand copies what it
// keeps). The form encodeEnvelope writes is read here; any other goes to
// msgpack.Unmarshal.
func decodeEnvelope(data []byte) (envelope, error) {
	env, ok, short := decodeEnvelopeFast(data)
	switch {
	case ok:
		return env, nil
	case short:
		// Unmarshal would fail too, after allocating what the header
		// claims (up to 4 GiB).
		return envelope{}, io.ErrUnexpectedEOF
	}
	err := msgpack.Unmarshal(data, &env)
	return env, err
}

// decodeEnvelopeFast reads encodeEnvelope's form: ok if b is in it; short
// if b is in it up to its command, whose bin 16 or bin 32 header claims
// more bytes than follow.
func decodeEnvelopeFast(b []byte) (env envelope, ok, short bool) {
	if len(b) < 1+9+9+1 || b[0] != 0x93 || b[1] != 0xcf || b[10] != 0xcf {
		return envelope{}, false, false
	}
	env = envelope{From: binary.BigEndian.Uint64(b[2:]), Seq: binary.BigEndian.Uint64(b[11:])}
	rest := b[19:]
	var n, head int
	switch rest[0] {
	case 0xc0:
		return env, len(rest) == 1, false
	case 0xc4:
		if len(rest) < 2 {
			return envelope{}, false, false
		}
		n, head = int(rest[1]), 2
	case 0xc5:
		if len(rest) < 3 {
			return envelope{}, false, false
		}
		n, head = int(binary.BigEndian.Uint16(rest[1:])), 3
	case 0xc6:
		if len(rest) < 5 {
			return envelope{}, false, false
		}
		n, head = int(binary.BigEndian.Uint32(rest[1:])), 5
	default:
		return envelope{}, false, false
	}
	if len(rest)-head != n {
		return envelope{}, false, head > 2 && n > len(rest)-head
	}
	env.Cmd = rest[head:len(rest):len(rest)]
	return env, true, false
}
