// Package v2workload is the client step of the KV workloads that check
// real raftkv processes for linearizability (server/clustertest's
// TestLinearizableUnderFaults and the nemesis, internal/nemesis): one
// random operation (a linearizable or local read, a set, a
// compare-and-swap, a create or a delete) sent over plain v2 HTTP
// (internal/testcluster's Keys), its answer classified and recorded in a
// linearizability history.
//
// A refused connection never left, so it is recorded as having no
// effect; a timeout, a broken connection, error 300 or an answer the
// model does not know has an unknown outcome; the rest are definite.
package v2workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"

	"github.com/raftkv/raftkv/internal/testcluster"
	"github.com/raftkv/raftkv/linearizability"
)

// Outcome is the class of an operation's answer.
type Outcome uint8

const (
	// OK: the operation succeeded.
	OK Outcome = iota
	// Failed: a definite failure the model knows (key not found, compare
	// failed, already exists): nothing changed.
	Failed
	// Unknown: a timeout, a broken connection, error 300 or an answer
	// outside the model; a write stays in the history with an unknown
	// outcome.
	Unknown
	// Refused: the connection was refused (the member was down): the
	// request never left.
	Refused
)

var outcomeNames = [Refused + 1]string{"ok", "failed", "unknown", "refused"}

func (o Outcome) String() string { return outcomeNames[o] }

// Client is one client of a workload: one operation at a time, recorded
// through its own Recorder.
type Client struct {
	// ID names the client in the values it writes ("c<ID>.<seq>"), so
	// that every write carries a value never written before.
	ID  int
	Rec *linearizability.Recorder
	HC  *http.Client
	Rng *rand.Rand
	// Last is the last value this client saw for each key, for CAS.
	Last map[string]string
	// StaleReads sends reads with quorum=false (a bug planted for tests
	// of the checker: local reads may be stale).
	StaleReads bool

	seq int
}

// Step runs one random operation on key through the member at base,
// sending it to the v2 key path+key (the history names it key), and
// records it. It returns the operation's kind and outcome; unexpected
// describes an answer outside the v2 contract, recorded as Unknown, and
// is "" otherwise.
//
// The operation is not bound to the caller's context: one in flight
// when the load stops finishes (bounded by the HTTP client's timeout)
// rather than turning unknown for nothing.
func (c *Client) Step(base, path, key string) (op linearizability.Op, o Outcome, unexpected string) {
	c.seq++
	value := fmt.Sprintf("c%d.%d", c.ID, c.seq)
	var in linearizability.Input
	var method string
	form := url.Values{}
	switch p := c.Rng.IntN(100); {
	case p < 40:
		in, method = linearizability.Input{Op: linearizability.OpGet, Key: key}, http.MethodGet
		if c.StaleReads {
			form.Set("quorum", "false")
		}
	case p < 65 || (p < 90 && c.Last[key] == ""):
		in, method = linearizability.Input{Op: linearizability.OpSet, Key: key, Value: value}, http.MethodPut
		form.Set("value", value)
	case p < 90:
		in, method = linearizability.Input{Op: linearizability.OpCompareAndSwap, Key: key, Value: value, PrevValue: c.Last[key]}, http.MethodPut
		form.Set("value", value)
		form.Set("prevValue", c.Last[key])
	case p < 95:
		in, method = linearizability.Input{Op: linearizability.OpCreate, Key: key, Value: value}, http.MethodPut
		form.Set("value", value)
		form.Set("prevExist", "false")
	default:
		in, method = linearizability.Input{Op: linearizability.OpDelete, Key: key}, http.MethodDelete
	}
	c.Rec.Call(in)
	r, err := testcluster.Keys(context.Background(), c.HC, method, base, path+key, form)
	var opErr *net.OpError
	switch {
	case errors.As(err, &opErr) && opErr.Op == "dial":
		// Refused (the member is down): the request never left.
		c.Rec.NoEffect()
		return in.Op, Refused, ""
	case err != nil:
		// Reset, or a timeout (a paused or cut-off member).
		c.Rec.Ambiguous()
		return in.Op, Unknown, ""
	case r.Status == http.StatusOK || r.Status == http.StatusCreated:
		out := linearizability.Output{Status: linearizability.StatusOK}
		if r.Node != nil {
			out.Index = r.Node.ModifiedIndex
		}
		switch in.Op {
		case linearizability.OpGet:
			out.Value = r.Node.Val()
			c.Last[key] = out.Value
		case linearizability.OpDelete:
			c.Last[key] = ""
		default:
			c.Last[key] = value
		}
		c.Rec.Return(out)
		return in.Op, OK, ""
	case r.ErrorCode == 300:
		// The member could not tell (no leader, leader lost
		// mid-request, timeout).
		c.Rec.Ambiguous()
		return in.Op, Unknown, ""
	default:
		if st, known := linearizability.StatusOf(r.ErrorCode); known {
			c.Rec.Return(linearizability.Output{Status: st})
			if st == linearizability.StatusNotFound {
				c.Last[key] = ""
			}
			return in.Op, Failed, ""
		}
		// Outside the model: sound to record as unknown, but it should
		// not happen.
		c.Rec.Ambiguous()
		return in.Op, Unknown, fmt.Sprintf("%v %s from %s: %v", in.Op, key, base, r)
	}
}
