package kv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// msgpackDecode is DecodeCommand as it was before it parsed the bytes
// itself: the same field-by-field decoding, through msgpack's Decoder. It
// is kept as a second reference for the tests, beside reflectDecode.
func msgpackDecode(b []byte) (*Command, error) {
	cd := refDecoders.Get().(*refDecoder)
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
	refDecoders.Put(cd)
	return &c, nil
}

// refDecoder is a Decoder reading a byte slice, pooled. It does not buffer
// a bytes.Reader, so decodeKey may also look at b directly:
// b[len(b)-r.Len():] is what the Decoder has yet to read.
type refDecoder struct {
	b   []byte
	r   bytes.Reader
	dec *msgpack.Decoder
}

var refDecoders = sync.Pool{New: func() any {
	cd := &refDecoder{}
	cd.dec = msgpack.NewDecoder(&cd.r)
	return cd
}}

func (cd *refDecoder) decode(c *Command) error {
	code, err := cd.dec.PeekCode()
	if err != nil {
		return err
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

func (cd *refDecoder) decodeKey() ([]byte, error) {
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

func (cd *refDecoder) decodeField(c *Command, k string) (known bool, err error) {
	dec := cd.dec
	switch k {
	case "m":
		var m uint64
		m, err = dec.DecodeUint64()
		c.Method = Method(m)
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

func (cd *refDecoder) nextIsNil() bool {
	code, err := cd.dec.PeekCode()
	return err == nil && code == msgpcode.Nil
}
