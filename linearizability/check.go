package linearizability

import (
	"fmt"
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
// The error is non-nil only when the history is malformed or the
// visualization could not be written; the Result is meaningful whenever the
// history was well formed.
func Check(ops []porcupine.Operation, opts CheckOptions) (Result, error) {
	ops, res, err := normalize(ops)
	if err != nil {
		return Result{}, err
	}
	model := Model()
	verdict, info := porcupine.CheckOperationsVerbose(model, ops, opts.Timeout)
	switch verdict {
	case porcupine.Ok:
		res.Verdict = VerdictOK
	case porcupine.Illegal:
		res.Verdict = VerdictIllegal
	default:
		res.Verdict = VerdictUnknown
	}
	if (res.Verdict != VerdictOK || opts.VisualizeAlways) && opts.VisualizationPath != "" {
		if err := porcupine.VisualizePath(model, info, opts.VisualizationPath); err != nil {
			return res, fmt.Errorf("linearizability: writing visualization: %w", err)
		}
		res.VisualizationPath = opts.VisualizationPath
	}
	return res, nil
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
