package linearizability

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the outcome of a check.
type Verdict uint8

const (
	// VerdictOK: the history is linearizable.
	VerdictOK Verdict = iota + 1
	// VerdictIllegal: no linearization exists; the store misbehaved (or the
	// history was recorded wrongly).
	VerdictIllegal
	// VerdictUnknown: the time limit ran out before the checker decided.
	// No violation was found in the part it explored.
	VerdictUnknown
)

func (v Verdict) String() string {
	switch v {
	case VerdictOK:
		return "ok"
	case VerdictIllegal:
		return "illegal"
	case VerdictUnknown:
		return "unknown (timed out)"
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// CheckOptions configures [Check].
type CheckOptions struct {
	// Timeout bounds the search; 0 means no limit. When it expires the
	// verdict is VerdictUnknown.
	Timeout time.Duration
	// VisualizationPath, if not empty, is where porcupine's HTML
	// visualization is written when the verdict is not VerdictOK. It shows
	// every key's history and the longest partial linearizations found.
	VisualizationPath string
	// VisualizeAlways writes the visualization whatever the verdict (a
	// linearizable history shows one linearization), for tools that show
	// a run next to its history.
	VisualizeAlways bool
}

// Result describes a finished check.
type Result struct {
	Verdict Verdict
	// Operations is the number of operations checked, Ambiguous the number
	// of those whose outcome was unknown, Keys the number of partitions.
	Operations, Ambiguous, Keys int
	// Settled is how many of the ambiguous operations the exact rewrites
	// settled before the search: the reads (which changed nothing) and the
	// unobservable writes, dropped, and the writes known to have taken
	// effect because their value was observed. Restricted is how many keys
	// were proven linearizable with their remaining ambiguous writes
	// dropped or made to return early (see [Check]).
	Settled, Restricted int
	// Elapsed is how long the check took (wall clock; for reports only).
	Elapsed time.Duration
	// VisualizationPath is where the HTML was written, or "".
	VisualizationPath string
}

// OK reports whether the history was proven linearizable.
func (r Result) OK() bool { return r.Verdict == VerdictOK }

func (r Result) String() string {
	s := fmt.Sprintf("%v: %d operations (%d ambiguous) on %d keys", r.Verdict, r.Operations, r.Ambiguous, r.Keys)
	if r.VisualizationPath != "" {
		s += "; visualization in " + r.VisualizationPath
	}
	return s
}

// Check decides whether ops (typically from [History.Operations]) is
// linearizable with respect to [Model]. Every Input must be an [Input] with
// a valid operation and every Output an [Output]. Operations with
// StatusAmbiguous are moved to return after every other operation, whatever
// their Return says.
//
// Each key is checked on its own, keys in parallel. Its ambiguous writes
// are first reduced by rewrites that change no verdict. If some are left,
// restricted histories are tried, each of which can only be linearizable
// if the key's history is: the ambiguous writes dropped; if that is
// illegal, taking effect within growing windows of their call or never.
// They run alone for an eighth of opts.Timeout (a second with no limit);
// then the key's whole history is searched beside them (at once if they
// gave up), and the first search to decide stops the other: ok from
// either, illegal only from the whole history. The whole history and the
// one without ambiguous writes may use all of opts.Timeout; each windowed
// one gets a sixteenth of it (a second when there is no limit), or four
// times what the one without ambiguous writes took, if more.
//
// The error is non-nil only when the history is malformed or the
// visualization could not be written; the Result is meaningful whenever the
// history was well formed.
func Check(ops []porcupine.Operation, opts CheckOptions) (Result, error) {
	start := time.Now()
	ops, res, err := normalize(ops)
	if err != nil {
		return Result{}, err
	}
	remaining := func() time.Duration {
		if opts.Timeout <= 0 {
			return 0
		}
		return max(opts.Timeout-time.Since(start), time.Millisecond)
	}
	ws := windows(ops)
	// shown holds, for the visualization, each key's history as it was
	// decided: whole (simplified), or restricted; marks notes what it
	// did to the ambiguous writes.
	var shown []porcupine.Operation
	var marks []porcupine.Annotation
	windowed := false // shown holds windowed writes
	res.Verdict = VerdictOK
	// Keys are checked in parallel, as Porcupine does.
	parts := partitionOperations(ops)
	ds := make([]decision, len(parts))
	var wg sync.WaitGroup
	left := 0 // ambiguous writes the rewrites left, over all keys
	for i, kops := range parts {
		simple, n := simplify(kops)
		left += n
		wg.Go(func() { ds[i] = checkKey(simple, n, ws, opts.Timeout, remaining) })
	}
	wg.Wait()
	// The keys' operations cover ops, whose ambiguous ones normalize
	// counted.
	res.Settled = res.Ambiguous - left
	for i, kops := range parts {
		d := ds[i]
		switch {
		case d.verdict == porcupine.Illegal:
			res.Verdict = VerdictIllegal
		case d.verdict == porcupine.Unknown && res.Verdict == VerdictOK:
			res.Verdict = VerdictUnknown
		}
		if d.restricted {
			res.Restricted++
			windowed = windowed || slices.ContainsFunc(d.history, func(op porcupine.Operation) bool {
				return op.Output.(Output).Status == statusWindowed
			})
		}
		shown = append(shown, d.history...)
		if opts.VisualizationPath != "" {
			marks = append(marks, notes(kops, d.history)...)
		}
	}
	res.Elapsed = time.Since(start)
	if (res.Verdict == VerdictOK && !opts.VisualizeAlways) || opts.VisualizationPath == "" {
		return res, nil
	}
	// The visualization needs Porcupine's partial linearizations: search
	// again, each key's history as it was decided, with what time is left
	// (and at least an eighth of the limit).
	model := Model()
	if windowed {
		model = windowModel()
	}
	limit := remaining()
	if opts.Timeout > 0 {
		limit = max(limit, opts.Timeout/8)
	}
	_, info := porcupine.CheckOperationsVerbose(model, shown, limit)
	info.AddAnnotations(marks)
	if err := porcupine.VisualizePath(model, info, opts.VisualizationPath); err != nil {
		return res, fmt.Errorf("linearizability: writing visualization: %w", err)
	}
	res.VisualizationPath = opts.VisualizationPath
	return res, nil
}

// decision is how one key's history was decided.
type decision struct {
	verdict porcupine.CheckResult
	// history is what decided it: the key's whole (simplified) history,
	// or a restricted one that proved it linearizable.
	history    []porcupine.Operation
	restricted bool
}

// checkKey decides one key's simplified history, of which n operations
// are ambiguous writes. With none, it is searched as it is. Otherwise the
// restricted histories are tried first (proveRestricted), alone for a
// grace period (an eighth of timeout, a second with none), since the
// whole history's search, hungry for memory, slows them down several
// times when both run; the whole history is searched as soon as they
// give up, or beside them once the grace period is over, and the first
// to decide stops the other (through the model's step, which then fails
// at once). Both are exact, so which one wins changes how long the check
// takes, never the verdict.
func checkKey(simple []porcupine.Operation, n int, ws []int64, timeout time.Duration, remaining func() time.Duration) decision {
	searchWhole := func(m porcupine.Model) decision {
		return decision{porcupine.CheckOperationsTimeout(m, simple, remaining()), simple, false}
	}
	if n == 0 {
		return searchWhole(Model())
	}
	var stop atomic.Bool
	restricted := make(chan decision, 1)
	go func() {
		r, ok := proveRestricted(simple, ws, timeout, remaining, &stop)
		d := decision{porcupine.Unknown, simple, false}
		if ok {
			d = decision{porcupine.Ok, r, true}
		}
		restricted <- d
	}()
	grace := time.Second
	if timeout > 0 {
		grace = timeout / 8
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case r := <-restricted:
		if r.restricted {
			return r
		}
		return searchWhole(Model())
	case <-timer.C:
	}
	whole := make(chan decision, 1)
	go func() { whole <- searchWhole(stoppable(Model(), &stop)) }()
	var w, r decision
	select {
	case w = <-whole:
		if w.verdict != porcupine.Unknown {
			stop.Store(true)
			<-restricted
			return w
		}
		r = <-restricted
	case r = <-restricted:
		if r.restricted {
			stop.Store(true)
			<-whole
			return r
		}
		w = <-whole
	}
	if r.restricted {
		return r
	}
	return w
}

// stoppable returns m whose steps all fail once stop is set, which ends a
// search quickly (with a verdict to ignore).
func stoppable(m porcupine.Model, stop *atomic.Bool) porcupine.Model {
	step := m.Step
	m.Step = func(state, input, output any) (bool, any) {
		if stop.Load() {
			return false, state
		}
		return step(state, input, output)
	}
	return m
}

// proveRestricted tries to prove one key's simplified history
// linearizable through restricted histories: first with its ambiguous
// writes dropped, with all the time left (the whole history's search
// joins it after a grace period, so it holds nothing up for long); then,
// if that one is illegal, with the writes windowed by each of ws, each
// search getting at most a sixteenth of timeout (a second with no
// timeout) or, if more, four times what the first took. It returns the
// history that proved the key, or nil and false. (Once stop is set every
// step fails, so no search ends ok.)
func proveRestricted(simple []porcupine.Operation, ws []int64, timeout time.Duration, remaining func() time.Duration, stop *atomic.Bool) ([]porcupine.Operation, bool) {
	dropped := restrict(simple, -1)
	start := time.Now()
	switch porcupine.CheckOperationsTimeout(stoppable(Model(), stop), dropped, remaining()) {
	case porcupine.Ok:
		return dropped, true
	case porcupine.Unknown:
		return nil, false // out of time
	}
	limit := time.Second
	if timeout > 0 {
		limit = timeout / 16
	}
	limit = max(limit, 4*time.Since(start))
	model := stoppable(windowModel(), stop)
	for _, w := range ws {
		if stop.Load() {
			return nil, false
		}
		l := limit
		if rem := remaining(); rem > 0 {
			l = min(l, rem)
		}
		if r := restrict(simple, w); porcupine.CheckOperationsTimeout(model, r, l) == porcupine.Ok {
			return r, true
		}
	}
	return nil, false
}

// notes annotates the visualization, on the clients' rows, with what the
// history shown (a subsequence of all, with the same Call times) does to
// the ambiguous writes of all: the ones it leaves out, and the ones it
// shows as having taken effect.
func notes(all, shown []porcupine.Operation) []porcupine.Annotation {
	var as []porcupine.Annotation
	j := 0
	for _, op := range all {
		in := op.Input.(Input)
		if j < len(shown) && shown[j].Call == op.Call && shown[j].ClientId == op.ClientId {
			if op.Output.(Output).Status == StatusAmbiguous && shown[j].Output.(Output).Status == StatusOK {
				as = append(as, porcupine.Annotation{
					ClientId:    op.ClientId,
					Start:       op.Call,
					Description: describeOperation(in, op.Output.(Output)),
					Details:     "shown as a successful write: its outcome is unknown, but an operation observed its value, so it took effect before that one returned",
				})
			}
			j++
			continue
		}
		as = append(as, porcupine.Annotation{
			ClientId:    op.ClientId,
			Start:       op.Call,
			Description: describeOperation(in, op.Output.(Output)),
			Details:     "left out: its outcome is unknown and the history is decided without it (it may take effect last, where nobody observes it)",
		})
	}
	return as
}

// normalize validates ops and returns a copy in which ambiguous operations
// return after everything else.
func normalize(ops []porcupine.Operation) ([]porcupine.Operation, Result, error) {
	var res Result
	var latestNs int64
	keys := make(map[string]struct{})
	for i, op := range ops {
		in, ok := op.Input.(Input)
		if !ok {
			return nil, res, fmt.Errorf("linearizability: operation %d: input is %T, not Input", i, op.Input)
		}
		if err := in.validate(); err != nil {
			return nil, res, fmt.Errorf("operation %d: %w", i, err)
		}
		out, ok := op.Output.(Output)
		if !ok {
			return nil, res, fmt.Errorf("linearizability: operation %d: output is %T, not Output", i, op.Output)
		}
		if out.Status > StatusAmbiguous {
			return nil, res, fmt.Errorf("linearizability: operation %d: invalid status %v", i, out.Status)
		}
		latestNs = max(latestNs, op.Call)
		if out.Status == StatusAmbiguous {
			res.Ambiguous++
		} else {
			if op.Return < op.Call {
				return nil, res, fmt.Errorf("linearizability: operation %d returns at %d before its call at %d", i, op.Return, op.Call)
			}
			latestNs = max(latestNs, op.Return)
		}
		keys[in.Key] = struct{}{}
	}
	res.Operations, res.Keys = len(ops), len(keys)
	cp := make([]porcupine.Operation, len(ops))
	copy(cp, ops)
	for i := range cp {
		if cp[i].Output.(Output).Status == StatusAmbiguous {
			cp[i].Return = latestNs + 1
		}
	}
	return cp, res, nil
}
