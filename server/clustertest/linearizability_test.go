package clustertest

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/raftkv/raftkv/internal/testcluster"
	"github.com/raftkv/raftkv/linearizability"
	"github.com/raftkv/raftkv/linearizability/v2workload"
)

// linTally is what the clients of the linearizability workload count
// together.
type linTally struct {
	ok, ambiguous atomic.Int64
	// perMember counts definite answers by member.
	perMember []atomic.Int64

	mu sync.Mutex
	// unexpected collects answers outside the v2 contract.
	unexpected []string
}

// linClient is one client of the linearizability workload: it records
// every request in the shared history through its own Recorder, one
// request at a time.
type linClient struct {
	v2workload.Client
	urls  []string
	keys  []string
	tally *linTally
}

func (c *linClient) run(ctx context.Context) {
	for ctx.Err() == nil {
		// A random member each time, so that a member coming back (a
		// restarted or resumed old leader) is asked at once.
		i := c.Rng.IntN(len(c.urls))
		if c.step(c.urls[i]) {
			c.tally.perMember[i].Add(1)
		}
	}
}

// step runs one operation against base and reports whether the answer
// was definite.
func (c *linClient) step(base string) bool {
	key := c.keys[c.Rng.IntN(len(c.keys))]
	_, o, unexpected := c.Step(base, "/lin", key)
	switch {
	case o == v2workload.OK || o == v2workload.Failed:
		c.tally.ok.Add(1)
		return true
	case unexpected != "":
		c.tally.mu.Lock()
		c.tally.unexpected = append(c.tally.unexpected, unexpected)
		c.tally.mu.Unlock()
	case o == v2workload.Unknown:
		c.tally.ambiguous.Add(1)
	}
	return false
}

// TestLinearizableUnderFaults runs concurrent HTTP clients (writes, CAS,
// creates, deletes and linearizable reads on a few keys) against a
// 3-member cluster of real processes while the leader is killed with
// SIGKILL and restarted, then the new leader is paused with SIGSTOP and
// resumed, and checks the recorded history with Porcupine.
func TestLinearizableUnderFaults(t *testing.T) {
	c, _ := newCluster(t, 3)
	linearizableUnderFaults(t, c)
}

// linearizableUnderFaults runs the workload and the faults of
// TestLinearizableUnderFaults against c (plain or TLS: the clients are
// c.HTTPClient).
func linearizableUnderFaults(t *testing.T, c *testcluster.Cluster) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("workload seed %d", seed)

	h := linearizability.NewHistory(linearizability.WallClock())
	tally := &linTally{perMember: make([]atomic.Int64, len(c.Members))}
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var wg sync.WaitGroup
	const clients = 6
	for i := range clients {
		cl := &linClient{
			Client: v2workload.Client{
				ID: i, Rec: h.NewRecorder(), HC: c.HTTPClient(2 * time.Second),
				Rng:  rand.New(rand.NewPCG(seed, uint64(i))),
				Last: map[string]string{},
			},
			urls: c.ClientURLs(), keys: []string{"/a", "/b", "/c", "/d"}, tally: tally,
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.HC.CloseIdleConnections()
			cl.run(ctx)
		}()
	}

	// The fault schedule: timers set the pace of the run, they synchronise
	// nothing.
	phase := func(d time.Duration, what string, f func()) {
		t.Helper()
		select {
		case <-time.After(d):
		case <-t.Context().Done():
			return
		}
		t.Logf("%-18s (%d definite answers so far, %d unknown)", what, tally.ok.Load(), tally.ambiguous.Load())
		f()
	}
	var killed, paused int
	phase(2*time.Second, "kill the leader", func() {
		killed = waitLeader(t, c, 10*time.Second)
		c.Kill(killed)
	})
	phase(2*time.Second, "restart it", func() {
		if err := c.Restart(killed); err != nil {
			t.Error(err)
		}
	})
	phase(2*time.Second, "pause the leader", func() {
		paused = waitLeader(t, c, 10*time.Second)
		c.Pause(paused)
	})
	var atResume []int64
	phase(2500*time.Millisecond, "resume it", func() {
		c.Resume(paused)
		for i := range tally.perMember {
			atResume = append(atResume, tally.perMember[i].Load())
		}
	})
	phase(3*time.Second, "stop the load", stop)
	wg.Wait()
	// Every member, the restarted and the resumed one included, is back.
	for i := range tally.perMember {
		if tally.perMember[i].Load() == atResume[i] {
			t.Errorf("%s gave no definite answer after the faults ended", c.Members[i].Name)
		}
	}
	waitLeader(t, c, 10*time.Second)
	for _, u := range tally.unexpected {
		t.Errorf("answer outside the v2 contract: %s", u)
	}

	ops := h.Operations()
	res := check(t, ops, 60*time.Second)
	t.Logf("porcupine: %v", res)
	if !res.OK() {
		t.Errorf("the history is not linearizable: %v (workload seed %d)", res, seed)
	}
	if res.Operations-res.Ambiguous < 500 {
		t.Errorf("only %d definite operations: too few to mean much", res.Operations-res.Ambiguous)
	}
	checkerCatches(t, ops)
}

// check runs Porcupine, writing its HTML to a directory kept (and named)
// only if the history is not linearizable.
func check(t *testing.T, ops []porcupine.Operation, timeout time.Duration) linearizability.Result {
	t.Helper()
	dir, err := os.MkdirTemp("", "raftkv-porcupine-")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := linearizability.Check(ops, linearizability.CheckOptions{
		Timeout: timeout, VisualizationPath: filepath.Join(dir, "history.html"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("checked in %v", time.Since(start).Round(time.Millisecond))
	if res.VisualizationPath == "" {
		os.RemoveAll(dir)
	}
	return res
}

// checkerCatches proves the check live on this very history: the same
// operations with one successful read changed to a value nobody wrote must
// be rejected.
func checkerCatches(t *testing.T, ops []porcupine.Operation) {
	t.Helper()
	for i, op := range ops {
		in, out := op.Input.(linearizability.Input), op.Output.(linearizability.Output)
		if in.Op != linearizability.OpGet || out.Status != linearizability.StatusOK || out.Value == "" {
			continue
		}
		// Only this key's operations: the verdict is per key anyway.
		var mutant []porcupine.Operation
		for j, o := range ops {
			if o.Input.(linearizability.Input).Key != in.Key {
				continue
			}
			if j == i {
				bad := out
				bad.Value = "never-written-" + strconv.Itoa(i)
				o.Output = bad
			}
			mutant = append(mutant, o)
		}
		res, err := linearizability.Check(mutant, linearizability.CheckOptions{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != linearizability.VerdictIllegal {
			t.Errorf("a read of a value nobody wrote passed the check (%v): the history is not really checked", res)
		}
		return
	}
	t.Error("no successful read with a value in the history")
}
