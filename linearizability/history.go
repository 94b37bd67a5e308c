package linearizability

import (
	"fmt"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// A Clock returns the current time in nanoseconds. It must never go
// backwards. A simulator passes its virtual clock; real clients use
// [WallClock].
type Clock func() int64

// WallClock returns a Clock reading the monotonic wall clock, in
// nanoseconds since WallClock was called.
func WallClock() Clock {
	start := time.Now()
	return func() int64 { return int64(time.Since(start)) }
}

type recordState uint8

const (
	recordPending   recordState = iota // called, not yet returned
	recordDone                         // returned with a definite outcome
	recordAmbiguous                    // a write whose outcome is unknown
	recordDropped                      // a read whose outcome is unknown, or an operation with no effect
)

type record struct {
	clientID int
	in       Input
	out      Output
	callNs   int64
	returnNs int64 // meaningful when state == recordDone
	state    recordState
}

// History collects the operations of many clients. It is safe for
// concurrent use: each client goroutine owns one [Recorder], and any
// goroutine may take [History.Operations] or [History.Check] at any time.
type History struct {
	mu    sync.Mutex
	clock Clock // may be nil: then times must be passed to CallAt/ReturnAt
	// records in the order of their Call.
	records      []record
	nextClientID int
	maxTimeNs    int64 // the latest time recorded
}

// NewHistory returns an empty history. clock may be nil if every recorder
// passes times explicitly ([Recorder.CallAt], [Recorder.ReturnAt]).
func NewHistory(clock Clock) *History {
	return &History{clock: clock}
}

// NewRecorder returns a recorder for one client. A client has at most one
// operation outstanding; the recorder panics if operations overlap.
func (h *History) NewRecorder() *Recorder {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := &Recorder{h: h, clientID: h.nextClientID, pending: -1}
	h.nextClientID++
	return r
}

// Recorder records the operations of one client. Its methods are safe to
// call from any goroutine, but a client's operations must not overlap: Call
// while an operation is outstanding panics, as does Return without a Call.
type Recorder struct {
	h *History
	// Guarded by h.mu.
	clientID     int
	pending      int   // index in h.records of the outstanding operation, or -1
	lastReturnNs int64 // a new Call may not start before this
}

// ClientID returns the porcupine client id the recorder currently records
// under. It changes after an ambiguous write.
func (r *Recorder) ClientID() int {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	return r.clientID
}

func (h *History) now() int64 {
	if h.clock == nil {
		panic("linearizability: History has no clock; use CallAt and ReturnAt")
	}
	return h.clock()
}

// Call records the invocation of in at the history's clock. Call it before
// the request is sent.
func (r *Recorder) Call(in Input) {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	r.callLocked(r.h.now(), in)
}

// CallAt records the invocation of in at time tNs.
func (r *Recorder) CallAt(tNs int64, in Input) {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	r.callLocked(tNs, in)
}

func (r *Recorder) callLocked(tNs int64, in Input) {
	h := r.h
	if err := in.validate(); err != nil {
		panic(err)
	}
	if r.pending >= 0 {
		p := h.records[r.pending]
		panic(fmt.Sprintf("linearizability: client %d calls %v while %v is outstanding; a client's operations must not overlap",
			r.clientID, in.Op, p.in.Op))
	}
	if tNs < r.lastReturnNs {
		panic(fmt.Sprintf("linearizability: client %d calls at %dns, before its previous operation returned at %dns",
			r.clientID, tNs, r.lastReturnNs))
	}
	r.pending = len(h.records)
	h.records = append(h.records, record{
		clientID: r.clientID,
		in:       in,
		callNs:   tNs,
		state:    recordPending,
	})
	h.maxTimeNs = max(h.maxTimeNs, tNs)
}

// Return records the definite outcome of the outstanding operation at the
// history's clock. Call it after the response was received. A response
// whose status the model does not know must go to [Recorder.Ambiguous].
func (r *Recorder) Return(out Output) {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	r.returnLocked(r.h.now(), out)
}

// ReturnAt records the definite outcome of the outstanding operation at
// time tNs.
func (r *Recorder) ReturnAt(tNs int64, out Output) {
	r.h.mu.Lock()
	defer r.h.mu.Unlock()
	r.returnLocked(tNs, out)
}

func (r *Recorder) returnLocked(tNs int64, out Output) {
	h := r.h
	if r.pending < 0 {
		panic(fmt.Sprintf("linearizability: client %d returns with no operation outstanding", r.clientID))
	}
	if out.Status >= StatusAmbiguous {
		panic(fmt.Sprintf("linearizability: client %d returns status %v; record unknown outcomes with Ambiguous", r.clientID, out.Status))
	}
	rec := &h.records[r.pending]
	if tNs < rec.callNs {
		panic(fmt.Sprintf("linearizability: client %d returns at %dns, before its call at %dns", r.clientID, tNs, rec.callNs))
	}
	rec.out, rec.returnNs, rec.state = out, tNs, recordDone
	r.pending, r.lastReturnNs = -1, tNs
	h.maxTimeNs = max(h.maxTimeNs, tNs)
}

// Ambiguous records that the outstanding operation's outcome is unknown: a
// timeout, a broken connection, or a response the client cannot classify.
// A read is dropped from the history. A write stays, returning after every
// other operation (it may take effect at any point after its call, or
// never), and the recorder continues under a fresh client id, because its
// old client still has the write outstanding.
func (r *Recorder) Ambiguous() {
	h := r.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.pending < 0 {
		panic(fmt.Sprintf("linearizability: client %d: Ambiguous with no operation outstanding", r.clientID))
	}
	rec := &h.records[r.pending]
	r.pending = -1
	if !rec.in.Op.IsWrite() {
		rec.state = recordDropped
		return
	}
	rec.state = recordAmbiguous
	rec.out = Output{Status: StatusAmbiguous}
	r.clientID = h.nextClientID
	h.nextClientID++
	r.lastReturnNs = 0 // the fresh client has no past
}

// NoEffect records that the outstanding operation certainly did not take
// effect: the server proved it (for raftkv, a proposal whose log index went
// to another entry, server.ErrProposalLost). The operation is dropped from
// the history, as if it had never been called, which is sound for reads and
// writes alike; unlike [Recorder.Ambiguous] the client keeps its id.
func (r *Recorder) NoEffect() {
	h := r.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.pending < 0 {
		panic(fmt.Sprintf("linearizability: client %d: NoEffect with no operation outstanding", r.clientID))
	}
	rec := &h.records[r.pending]
	r.pending = -1
	rec.state = recordDropped
	r.lastReturnNs = max(r.lastReturnNs, rec.callNs)
}

// Operations returns a snapshot of the history for porcupine, in call
// order. Operations still outstanding are treated as if Ambiguous had been
// called: writes are kept with an unknown outcome and reads are dropped.
// Writes with an unknown outcome return one nanosecond after the latest
// time in the history.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	infinityNs := h.maxTimeNs + 1
	ops := make([]porcupine.Operation, 0, len(h.records))
	for _, rec := range h.records {
		op := porcupine.Operation{ClientId: rec.clientID, Input: rec.in, Call: rec.callNs}
		switch rec.state {
		case recordDone:
			op.Output, op.Return = rec.out, rec.returnNs
		case recordAmbiguous, recordPending:
			if !rec.in.Op.IsWrite() {
				continue
			}
			op.Output, op.Return = Output{Status: StatusAmbiguous}, infinityNs
		case recordDropped:
			continue
		}
		ops = append(ops, op)
	}
	return ops
}

// Check checks the history recorded so far; see [Check].
func (h *History) Check(opts CheckOptions) (Result, error) {
	return Check(h.Operations(), opts)
}
