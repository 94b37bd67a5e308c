package sim

import (
	"bufio"
	"encoding/json"
	"io"
)

// TraceFormat is the version of the trace schema (see doc.go).
const TraceFormat = 1

// TraceHeader is the first line of a trace.
type TraceHeader struct {
	Type    string   `json:"type"` // "header"
	Format  int      `json:"format"`
	Seed    uint64   `json:"seed"`
	Options Options  `json:"options"`
	Members []uint64 `json:"members"`
	Replay  string   `json:"replay"`
}

// TraceEvent is one line of a trace after the header. Which fields are set
// depends on Type (doc.go lists them); absent numbers are 0, absent
// strings empty, absent booleans false.
type TraceEvent struct {
	T    float64 `json:"t"` // virtual time in ms (microsecond precision)
	Type string  `json:"type"`
	// ID is the member concerned (role, term, timeout, append, truncate,
	// commit, apply, crash, restart, pause, resume, and the member a client
	// request goes to).
	ID uint64 `json:"id,omitempty"`

	// Messages.
	MsgID   uint64 `json:"mid,omitempty"`
	From    uint64 `json:"from,omitempty"`
	To      uint64 `json:"to,omitempty"`
	Msg     string `json:"msg,omitempty"`
	Term    uint64 `json:"term,omitempty"`
	LogTerm uint64 `json:"logTerm,omitempty"`
	Index   uint64 `json:"index,omitempty"`
	Entries int    `json:"entries,omitempty"`
	Commit  uint64 `json:"commit,omitempty"`
	Reject  bool   `json:"reject,omitempty"`
	Reason  string `json:"reason,omitempty"`

	// Member state.
	Role  string `json:"role,omitempty"`
	Lead  uint64 `json:"lead,omitempty"`
	Vote  uint64 `json:"vote,omitempty"`
	Count int    `json:"count,omitempty"`

	// Clients.
	Client  int    `json:"client,omitempty"`
	Op      string `json:"op,omitempty"`
	Key     string `json:"key,omitempty"`
	Value   string `json:"value,omitempty"`
	Prev    string `json:"prev,omitempty"`
	Result  string `json:"result,omitempty"`
	Attempt int    `json:"attempt,omitempty"`

	// Network faults: the groups of a partition, the link of a clog.
	Groups [][]uint64 `json:"groups,omitempty"`
	Kind   string     `json:"kind,omitempty"`

	// Phase changes and the end.
	Phase string `json:"phase,omitempty"`

	// What the visualizer draws beyond the events above: a leader's
	// replication progress per follower (progress: to, match, next, kind),
	// a member's membership (conf), the key space after an applied index
	// (kv), and a restarted member's log as runs of [first index, count,
	// term] (restart).
	Match    uint64            `json:"match,omitempty"`
	Next     uint64            `json:"next,omitempty"`
	Voters   []uint64          `json:"voters,omitempty"`
	Learners []uint64          `json:"learners,omitempty"`
	KV       map[string]string `json:"kv,omitempty"`
	Log      [][3]uint64       `json:"log,omitempty"`

	// A live session's user actions (input: kind is the action, and the
	// fields above say on what; see Input) and the links cut (links).
	Both   bool        `json:"both,omitempty"`
	Ms     float64     `json:"ms,omitempty"`
	Quorum *bool       `json:"quorum,omitempty"`
	Events int64       `json:"events,omitempty"`
	Cut    [][2]uint64 `json:"cut,omitempty"`
}

type tracer struct {
	w   *bufio.Writer
	enc *json.Encoder
	err error
	buf []byte
}

func newTracer(w io.Writer) *tracer {
	if w == nil {
		return nil
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	return &tracer{w: bw, enc: json.NewEncoder(bw)}
}

func (t *tracer) write(v any) {
	if t.err == nil {
		t.err = t.enc.Encode(v)
	}
}

// writeEvent writes an event without boxing it in an interface, which
// would allocate a copy for every event traced.
func (t *tracer) writeEvent(e *TraceEvent) {
	if t.err != nil {
		return
	}
	// Without reflection (tracejson.go): the same bytes.
	if b, ok := e.appendJSON(t.buf[:0]); ok {
		t.buf = b
		_, t.err = t.w.Write(b)
		return
	}
	t.err = t.enc.Encode(*e)
}

func (t *tracer) flush() error {
	if t.err == nil {
		t.err = t.w.Flush()
	}
	return t.err
}

func msOf(ns int64) float64 { return float64(ns/1000) / 1000 }

// TraceEventTypes lists every event type a trace may hold (doc.go says
// what each carries).
var TraceEventTypes = []string{
	"role", "term", "timeout",
	"send", "duplicate", "deliver", "drop",
	"append", "truncate", "snapshot", "compact", "commit", "apply", "kv",
	"progress", "conf",
	"request", "request-arrive", "redirect", "response",
	"crash", "restart", "pause", "resume",
	"partition", "heal", "clog", "unclog",
	"join", "leave", "churn", "conf-propose", "transfer", "stepdown",
	"phase", "end",
	"input", "links",
}
