package nemesis

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/raftkv/raftkv/linearizability"
)

// WriteSummary writes the run's table: operations by kind and outcome,
// faults by kind, leader changes, the verdict, the seed and the command
// that replays it.
func (r *Result) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "nemesis seed %d, %d members, %v\n", r.Seed, r.Members, r.Took.Round(time.Second))
	writeOps(w, r.Ops)
	writeFaults(w, r.Faults)
	fmt.Fprintf(w, "leader changes seen: %d (terms: %d)\n", r.LeaderChanges, r.Terms)
	fmt.Fprintf(w, "final reads: %d keys x %d members = %d quorum reads, in the checked history\n", r.Keys, r.Members, r.FinalReads)
	if l := r.Locks; l != nil {
		l.write(w)
	}
	if r.Check.Verdict != 0 {
		fmt.Fprintf(w, "porcupine: %v\n", r.Check)
	}
	for _, u := range r.Unexpected {
		fmt.Fprintf(w, "answer outside the v2 contract (recorded as unknown): %s\n", u)
	}
	fmt.Fprintf(w, "verdict: %s", r.Verdict)
	if r.Why != "" {
		fmt.Fprintf(w, " (%s)", r.Why)
	}
	fmt.Fprintln(w)
	if r.Dir != "" {
		fmt.Fprintf(w, "member logs and data: %s\n", r.Dir)
	}
	fmt.Fprintf(w, "replay: %s\n", r.Replay)
}

func writeOps(w io.Writer, ops map[linearizability.Op][numOutcomes]int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "op\t")
	for o := range numOutcomes {
		fmt.Fprintf(tw, "%s\t", o)
	}
	fmt.Fprintln(tw, "total\t")
	var sum [numOutcomes]int
	for _, k := range opKinds {
		c := ops[k]
		fmt.Fprintf(tw, "%s\t", k)
		t := 0
		for o := range numOutcomes {
			fmt.Fprintf(tw, "%d\t", c[o])
			sum[o] += c[o]
			t += c[o]
		}
		fmt.Fprintf(tw, "%d\t\n", t)
	}
	fmt.Fprint(tw, "all\t")
	t := 0
	for o := range numOutcomes {
		fmt.Fprintf(tw, "%d\t", sum[o])
		t += sum[o]
	}
	fmt.Fprintf(tw, "%d\t\n", t)
	tw.Flush()
}

func writeFaults(w io.Writer, faults map[Fault]int) {
	var parts []string
	total := 0
	for _, f := range AllFaults {
		if n := faults[f]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", f, n))
			total += n
		}
	}
	fmt.Fprintf(w, "faults: %d (%s)\n", total, strings.Join(parts, ", "))
}

// Totals sums many runs.
type Totals struct {
	Runs          int
	Verdicts      map[Verdict]int
	Ops           map[linearizability.Op][numOutcomes]int
	Faults        map[Fault]int
	LeaderChanges int
	FinalReads    int
	// Locks sums the lock workloads (Clients is the most in one run).
	Locks LockStats
	// Failed lists the runs whose verdict is not ok, with why and the
	// replay command.
	Failed []string
	// Errors lists the runs that could not be made (set by the caller).
	Errors []string
}

// Add adds a run to the totals.
func (t *Totals) Add(r *Result) {
	if t.Verdicts == nil {
		t.Verdicts = map[Verdict]int{}
		t.Ops = map[linearizability.Op][numOutcomes]int{}
		t.Faults = map[Fault]int{}
	}
	t.Runs++
	t.Verdicts[r.Verdict]++
	for k, c := range r.Ops {
		s := t.Ops[k]
		for o := range numOutcomes {
			s[o] += c[o]
		}
		t.Ops[k] = s
	}
	for f, n := range r.Faults {
		t.Faults[f] += n
	}
	t.LeaderChanges += r.LeaderChanges
	t.FinalReads += r.FinalReads
	if l := r.Locks; l != nil {
		s := &t.Locks
		s.Clients = max(s.Clients, l.Clients)
		s.add(l)
		s.Violations = append(s.Violations, l.Violations...)
	}
	if r.Verdict != VerdictOK {
		t.Failed = append(t.Failed, fmt.Sprintf("seed %d: %s: %s\n    replay: %s", r.Seed, r.Verdict, r.Why, r.Replay))
	}
}

// WriteSummary writes the totals' table.
func (t *Totals) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "=== %d runs\n", t.Runs)
	writeOps(w, t.Ops)
	writeFaults(w, t.Faults)
	fmt.Fprintf(w, "leader changes seen: %d\n", t.LeaderChanges)
	fmt.Fprintf(w, "final reads: %d\n", t.FinalReads)
	if t.Locks.Clients > 0 {
		t.Locks.write(w)
	}
	var vs []string
	for v, n := range t.Verdicts {
		vs = append(vs, fmt.Sprintf("%s %d", v, n))
	}
	sort.Strings(vs)
	fmt.Fprintf(w, "verdicts: %s\n", strings.Join(vs, ", "))
	for _, f := range t.Failed {
		fmt.Fprintln(w, f)
	}
	if len(t.Errors) > 0 {
		fmt.Fprintf(w, "runs that could not be made: %d\n", len(t.Errors))
		for _, e := range t.Errors {
			fmt.Fprintln(w, "  "+e)
		}
	}
}

// write writes the lock workload's lines of the summary.
func (l *LockStats) write(w io.Writer) {
	fmt.Fprintf(w, "locks: %d clients, %d acquisitions (%d Lock calls failed, %d holds lost), %d fenced writes: %d accepted, %d rejected; %d during partitions\n",
		l.Clients, l.Acquisitions, l.LockErrors, l.Losses, l.Writes, l.Accepted, l.Rejected, l.PartitionedWrites)
	fmt.Fprintf(w, "locks: %d holders paused past the TTL: %d stale writes rejected by the fence, %d accepted (nobody had taken the lock meanwhile)\n",
		l.PausedHolds, l.StaleRejected, l.StaleAccepted)
	if len(l.Violations) == 0 {
		fmt.Fprintln(w, "locks: checker ok (no interleaved holders, every stale token rejected, tokens unique, no holder refused while it held the lock)")
	}
	for _, v := range l.Violations {
		fmt.Fprintf(w, "locks: VIOLATION: %s\n", v)
	}
}
