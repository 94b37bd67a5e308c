package linearizability

import (
	"fmt"
	"math/rand/v2"

	"github.com/anishathalye/porcupine"
)

// simStore is a correct sequential v2 key space (files only), with optional
// planted bugs, used to generate histories.
type simStore struct {
	nodes map[string]simNode
	prev  map[string]simNode // the node before the latest write, for stale reads
	index uint64
}

type simNode struct {
	exists bool
	value  string
	index  uint64
}

type plantedBug uint8

const (
	bugNone       plantedBug = iota
	bugStaleRead             // a get sometimes answers from before the latest write
	bugLostWrite             // a set is sometimes acknowledged but not applied
	bugBlindCAS              // a cas sometimes ignores prevValue
	bugWrongIndex            // a write sometimes reports the replaced node's index
)

func (s *simStore) apply(in Input, rng *rand.Rand, bug plantedBug) Output {
	cur := s.nodes[in.Key]
	buggy := bug != bugNone && rng.IntN(20) == 0
	write := func(n simNode) Output {
		s.index++
		s.prev[in.Key] = cur
		n.index = s.index
		s.nodes[in.Key] = n
		if buggy && bug == bugWrongIndex {
			return Output{Status: StatusOK, Index: cur.index}
		}
		return Output{Status: StatusOK, Index: s.index}
	}
	switch in.Op {
	case OpGet:
		n := cur
		if buggy && bug == bugStaleRead {
			n = s.prev[in.Key]
		}
		if !n.exists {
			return Output{Status: StatusNotFound}
		}
		return Output{Status: StatusOK, Value: n.value, Index: n.index}
	case OpSet:
		if buggy && bug == bugLostWrite {
			s.index++
			return Output{Status: StatusOK, Index: s.index}
		}
		return write(simNode{exists: true, value: in.Value})
	case OpCreate:
		if cur.exists {
			return Output{Status: StatusAlreadyExists}
		}
		return write(simNode{exists: true, value: in.Value})
	case OpUpdate, OpDelete:
		if !cur.exists {
			return Output{Status: StatusNotFound}
		}
		return write(simNode{exists: in.Op == OpUpdate, value: in.Value})
	case OpCompareAndSwap, OpCompareAndDelete:
		if !cur.exists {
			return Output{Status: StatusNotFound}
		}
		valueOK := in.PrevValue == "" || in.PrevValue == cur.value || (buggy && bug == bugBlindCAS)
		indexOK := in.PrevIndex == 0 || in.PrevIndex == cur.index
		if !valueOK || !indexOK {
			return Output{Status: StatusCompareFailed}
		}
		return write(simNode{exists: in.Op == OpCompareAndSwap, value: in.Value})
	}
	panic("unreachable")
}

type genOptions struct {
	seed          uint64
	clients, keys int
	ops           int
	ambiguousPct  int // percentage of operations whose outcome is lost
	bug           plantedBug
}

type genClient struct {
	rec           *Recorder
	in            Input
	callNs, linNs int64
	lastSeen      map[string]simNode
	valueSeq      int
	id            int
}

// generate runs a sequential simulation of a store with overlapping client
// timings: each operation takes effect at a point strictly inside its
// [call, return] interval, in the order of those points, so with bugNone
// the history is linearizable by construction. It records through
// Recorder.CallAt/ReturnAt/Ambiguous like the simulator would.
func generate(o genOptions) []porcupine.Operation {
	rng := rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15))
	store := &simStore{nodes: map[string]simNode{}, prev: map[string]simNode{}}
	h := NewHistory(nil)
	const thinkNs, latencyNs = 20_000, 50_000
	clients := make([]*genClient, o.clients)
	start := func(c *genClient, fromNs int64) {
		c.in = randomInput(c, rng, o.keys)
		c.callNs = fromNs + rng.Int64N(thinkNs)
		c.linNs = c.callNs + 1 + rng.Int64N(latencyNs)
		c.rec.CallAt(c.callNs, c.in)
	}
	for i := range clients {
		clients[i] = &genClient{rec: h.NewRecorder(), lastSeen: map[string]simNode{}, id: i}
		start(clients[i], 0)
	}
	for done := 0; done < o.ops; done++ {
		c := clients[0]
		for _, d := range clients[1:] {
			if d.linNs < c.linNs {
				c = d
			}
		}
		retNs := c.linNs + 1 + rng.Int64N(latencyNs)
		if rng.IntN(100) < o.ambiguousPct {
			// The response is lost; a write may or may not have applied.
			if c.in.Op.IsWrite() && rng.IntN(2) == 0 {
				store.apply(c.in, rng, bugNone)
			}
			c.rec.Ambiguous()
		} else {
			out := store.apply(c.in, rng, o.bug)
			if c.in.Op == OpGet && out.Status == StatusOK {
				c.lastSeen[c.in.Key] = simNode{exists: true, value: out.Value, index: out.Index}
			}
			if c.in.Op.IsWrite() && out.Status == StatusOK {
				c.lastSeen[c.in.Key] = simNode{exists: c.in.Op != OpDelete && c.in.Op != OpCompareAndDelete, value: c.in.Value, index: out.Index}
			}
			c.rec.ReturnAt(retNs, out)
		}
		start(c, retNs)
	}
	// Operations still outstanding are kept (writes, as ambiguous) or
	// dropped (reads) by Operations.
	return h.Operations()
}

func randomInput(c *genClient, rng *rand.Rand, keys int) Input {
	key := fmt.Sprintf("k%d", rng.IntN(keys))
	c.valueSeq++
	value := fmt.Sprintf("c%d-%d", c.id, c.valueSeq)
	seen := c.lastSeen[key]
	switch p := rng.IntN(100); {
	case p < 40:
		return Input{Op: OpGet, Key: key}
	case p < 55:
		return Input{Op: OpSet, Key: key, Value: value}
	case p < 65:
		return Input{Op: OpCreate, Key: key, Value: value}
	case p < 72:
		return Input{Op: OpUpdate, Key: key, Value: value}
	case p < 87:
		in := Input{Op: OpCompareAndSwap, Key: key, Value: value, PrevValue: seen.value, PrevIndex: seen.index}
		if !seen.exists {
			in.PrevValue, in.PrevIndex = "nope", 0
		} else if rng.IntN(2) == 0 {
			in.PrevIndex = 0
		} else if rng.IntN(2) == 0 {
			in.PrevValue = ""
		}
		if in.PrevValue == "" && in.PrevIndex == 0 {
			in.PrevValue = "nope" // a write that reported index 0 (bugWrongIndex)
		}
		return in
	case p < 93:
		return Input{Op: OpDelete, Key: key}
	default:
		in := Input{Op: OpCompareAndDelete, Key: key, PrevValue: seen.value, PrevIndex: seen.index}
		if !seen.exists {
			in.PrevValue, in.PrevIndex = "nope", 0
		} else if rng.IntN(2) == 0 {
			in.PrevIndex = 0
		}
		return in
	}
}
