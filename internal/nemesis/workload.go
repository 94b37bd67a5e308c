package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/raftkv/raftkv/linearizability"
)

// Outcome is the class of a client operation's answer.
type Outcome uint8

const (
	// OutcomeOK: the operation succeeded.
	OutcomeOK Outcome = iota
	// OutcomeFailed: a definite failure the model knows (key not found,
	// compare failed, already exists): nothing changed.
	OutcomeFailed
	// OutcomeUnknown: a timeout, a broken connection or error 300; a
	// write stays in the history with an unknown outcome.
	OutcomeUnknown
	// OutcomeRefused: the connection was refused (the member was down):
	// the request never left.
	OutcomeRefused
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "failed", "unknown", "refused"}

func (o Outcome) String() string { return outcomeNames[o] }

// opKinds are the operations the KV clients run, in the table's order.
var opKinds = []linearizability.Op{
	linearizability.OpGet, linearizability.OpSet, linearizability.OpCompareAndSwap,
	linearizability.OpCreate, linearizability.OpDelete,
}

// tally counts the clients' operations by kind and outcome. Safe for
// concurrent use.
type tally struct {
	mu     sync.Mutex
	counts map[linearizability.Op]*[numOutcomes]int
	// unexpected collects answers outside the v2 contract.
	unexpected []string
}

func newTally() *tally {
	t := &tally{counts: map[linearizability.Op]*[numOutcomes]int{}}
	for _, k := range opKinds {
		t.counts[k] = new([numOutcomes]int)
	}
	return t
}

func (t *tally) add(op linearizability.Op, o Outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[op][o]++
}

func (t *tally) unexpectedAnswer(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.unexpected) < 20 {
		t.unexpected = append(t.unexpected, s)
	}
}

// keySpace names the keys of the KV workload. Keys change every epoch so
// that each key's sub-history (Porcupine checks keys apart) stays short
// however long the run: a write with an unknown outcome stays pending to
// the end of the history, and it only slows the check of its own key.
type keySpace struct {
	start   time.Time
	epoch   time.Duration
	perEpch int
}

func (k keySpace) pick(rng *rand.Rand) string {
	e := int(time.Since(k.start) / k.epoch)
	return fmt.Sprintf("/nemesis/e%d-k%d", e, rng.IntN(k.perEpch))
}

// kvClient is one client of the KV workload: one operation at a time, each
// through a member chosen at random, recorded in the shared history
// through its own Recorder.
type kvClient struct {
	id    int
	rec   *linearizability.Recorder
	hc    *http.Client
	rng   *rand.Rand
	urls  []string
	keys  keySpace
	tally *tally
	// last is the last value this client saw for each key, for CAS.
	last map[string]string
	seq  int
	// used collects every key the client touched (for the final reads).
	used map[string]bool
	// staleReads is Options.staleReads (a planted bug).
	staleReads bool
}

func (c *kvClient) run(ctx context.Context) {
	for ctx.Err() == nil {
		if c.step(c.urls[c.rng.IntN(len(c.urls))]) == OutcomeRefused {
			// The member is down: a refused connection returns at once,
			// and retrying in a tight loop only burns the CPU the
			// members need.
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

func (c *kvClient) step(base string) Outcome {
	key := c.keys.pick(c.rng)
	c.used[key] = true
	c.seq++
	value := fmt.Sprintf("c%d.%d", c.id, c.seq)
	var in linearizability.Input
	var method string
	form := url.Values{}
	switch p := c.rng.IntN(100); {
	case p < 40:
		in, method = linearizability.Input{Op: linearizability.OpGet, Key: key}, http.MethodGet
		if c.staleReads {
			form.Set("quorum", "false")
		}
	case p < 65 || (p < 90 && c.last[key] == ""):
		in, method = linearizability.Input{Op: linearizability.OpSet, Key: key, Value: value}, http.MethodPut
		form.Set("value", value)
	case p < 90:
		in, method = linearizability.Input{Op: linearizability.OpCompareAndSwap, Key: key, Value: value, PrevValue: c.last[key]}, http.MethodPut
		form.Set("value", value)
		form.Set("prevValue", c.last[key])
	case p < 95:
		in, method = linearizability.Input{Op: linearizability.OpCreate, Key: key, Value: value}, http.MethodPut
		form.Set("value", value)
		form.Set("prevExist", "false")
	default:
		in, method = linearizability.Input{Op: linearizability.OpDelete, Key: key}, http.MethodDelete
	}
	c.rec.Call(in)
	// Not the run's context: an operation in flight when the load stops
	// finishes (bounded by the client's timeout) rather than turning
	// unknown for nothing.
	r, err := keys(context.Background(), c.hc, method, base, key, form)
	o := c.record(in, value, r, err, base)
	c.tally.add(in.Op, o)
	return o
}

// record classifies an answer and records it; it returns the outcome.
func (c *kvClient) record(in linearizability.Input, value string, r *v2Resp, err error, base string) Outcome {
	var opErr *net.OpError
	switch {
	case errors.As(err, &opErr) && opErr.Op == "dial":
		// Refused (the member is down): the request never left.
		c.rec.NoEffect()
		return OutcomeRefused
	case err != nil:
		// Reset, or a timeout (a paused or cut-off member).
		c.rec.Ambiguous()
		return OutcomeUnknown
	case r.Status == http.StatusOK || r.Status == http.StatusCreated:
		out := linearizability.Output{Status: linearizability.StatusOK}
		if r.Node != nil {
			out.Index = r.Node.ModifiedIndex
		}
		switch in.Op {
		case linearizability.OpGet:
			out.Value = r.Node.value()
			c.last[in.Key] = out.Value
		case linearizability.OpDelete:
			c.last[in.Key] = ""
		default:
			c.last[in.Key] = value
		}
		c.rec.Return(out)
		return OutcomeOK
	case r.ErrorCode == 300:
		// The member could not tell (no leader, leader lost, timeout).
		c.rec.Ambiguous()
		return OutcomeUnknown
	default:
		if st, known := linearizability.StatusOf(r.ErrorCode); known {
			c.rec.Return(linearizability.Output{Status: st})
			if st == linearizability.StatusNotFound {
				c.last[in.Key] = ""
			}
			return OutcomeFailed
		}
		// Outside the model: sound to record as unknown, but it should
		// not happen; the run reports it.
		c.rec.Ambiguous()
		c.tally.unexpectedAnswer(fmt.Sprintf("%v %s from %s: %v", in.Op, in.Key, base, r))
		return OutcomeUnknown
	}
}
