package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/raftkv/raftkv/linearizability"
	"github.com/raftkv/raftkv/linearizability/v2workload"
)

// numOutcomes sizes the tally's rows: one count per v2workload.Outcome.
const numOutcomes = v2workload.Refused + 1

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

func (t *tally) add(op linearizability.Op, o v2workload.Outcome) {
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
	v2workload.Client
	urls  []string
	keys  keySpace
	tally *tally
	// used collects every key the client touched (for the final reads).
	used map[string]bool
}

func (c *kvClient) run(ctx context.Context) {
	for ctx.Err() == nil {
		if c.step(c.urls[c.Rng.IntN(len(c.urls))]) == v2workload.Refused {
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

func (c *kvClient) step(base string) v2workload.Outcome {
	key := c.keys.pick(c.Rng)
	c.used[key] = true
	op, o, unexpected := c.Step(base, "", key)
	if unexpected != "" {
		c.tally.unexpectedAnswer(unexpected)
	}
	c.tally.add(op, o)
	return o
}
