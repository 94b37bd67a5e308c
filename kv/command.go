package kv

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
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

// Encode returns the msgpack encoding of c, the log entry payload.
func (c *Command) Encode() ([]byte, error) {
	return msgpack.Marshal(c)
}

// ErrBadCommand is wrapped by every DecodeCommand error.
var ErrBadCommand = errors.New("kv: bad command encoding")

// DecodeCommand decodes a log entry payload made by Encode. It rejects
// trailing bytes and unknown fields: a member must never half-understand an
// entry, because every member has to apply it identically.
func DecodeCommand(b []byte) (*Command, error) {
	r := bytes.NewReader(b)
	// Every member decodes every entry: reuse decoders rather than
	// allocating one (and its buffers) per entry.
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(r)
	dec.DisallowUnknownFields(true) // after Reset, which clears it
	var c Command
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadCommand, r.Len())
	}
	return &c, nil
}
