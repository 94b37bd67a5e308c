package sim

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"

	"github.com/raftkv/raftkv/internal/plant"
)

// Options is everything a run depends on besides its seed. It is derived
// from (preset, seed, short) by MakeOptions, written into the trace header,
// and never read from anywhere else, so the replay command names a run
// completely.
type Options struct {
	Preset  string `json:"preset"`
	Short   bool   `json:"short,omitempty"`
	Members int    `json:"members"`
	Clients int    `json:"clients"`
	Keys    int    `json:"keys"`

	// SafetyMs is the length of the safety phase (faults on); LivenessMs
	// bounds the liveness phase (faults off, everything healed) in which
	// the cluster must converge.
	SafetyMs   int64 `json:"safetyMs"`
	LivenessMs int64 `json:"livenessMs"`

	TickMs        int64 `json:"tickMs"`
	ElectionTick  int   `json:"electionTick"`
	HeartbeatTick int   `json:"heartbeatTick"`
	// ElectionTickMax, if not 0, is the largest randomized election
	// timeout in ticks (raft.Config.ElectionTickMax): timeouts are drawn
	// from [ElectionTick, ElectionTickMax] instead of [ElectionTick,
	// 2*ElectionTick). The papers/ experiments set it; presets do not.
	ElectionTickMax int `json:"electionTickMax,omitempty"`
	// MaxSizePerMsg 1 sends one entry per append (more interleavings).
	MaxSizePerMsg      uint64 `json:"maxSizePerMsg,omitempty"`
	DisablePreVote     bool   `json:"disablePreVote,omitempty"`
	DisableCheckQuorum bool   `json:"disableCheckQuorum,omitempty"`
	// SnapshotCount is how many applied entries a member lets pass
	// between snapshots (0: the server's default, 100000).
	SnapshotCount uint64 `json:"snapshotCount,omitempty"`
	// SyncMs, if positive, is how long a member's disk takes to make a
	// Ready durable when raft asks for a sync: the member handles nothing
	// else meanwhile (work arriving then is batched into its next Ready),
	// and the Ready's messages and client answers leave only once the sync
	// is done. 0: disks are instant (the swarm's model).
	SyncMs float64 `json:"syncMs,omitempty"`
	// PreloadKeys, if positive, starts the initial members from a snapshot
	// of a key space of that many keys (the benchmarks' large state).
	PreloadKeys int `json:"preloadKeys,omitempty"`
	// LeaseReads runs every member with raft's read lease
	// (node.Config.LeaseReads): the simulator's clocks never drift, so
	// the lease must hold under every fault, pauses included.
	LeaseReads bool `json:"leaseReads,omitempty"`
	// SnapshotWriteMs, if positive, makes members write their own
	// snapshots in the background, as the server does: the key space is
	// frozen at the applied index, the member goes on applying, and the log
	// is compacted only this long afterwards (unless the member crashed
	// first, leaving a snapshot file that no WAL marker names). 0: a
	// snapshot is written whole inside the Ready that reaches the count.
	SnapshotWriteMs float64 `json:"snapshotWriteMs,omitempty"`
	// SnapshotChunkSize is the largest piece of a snapshot in one MsgSnap
	// (0: raft's default, 1 MiB); small values make InstallSnapshot take
	// many chunks, some of them lost.
	SnapshotChunkSize uint64 `json:"snapshotChunkSize,omitempty"`

	Net      NetOptions      `json:"net"`
	Faults   FaultOptions    `json:"faults"`
	Workload WorkloadOptions `json:"workload"`

	// Bug plants a known defect (see Bugs); empty for none.
	Bug string `json:"bug,omitempty"`
}

// NetOptions shape the simulated network between members (and between
// clients and members, which sees latency but no faults).
type NetOptions struct {
	// Latency is LatencyMinMs plus an exponential tail of mean
	// LatencyTailMs, drawn per message: variance alone reorders messages.
	LatencyMinMs  float64 `json:"latencyMinMs"`
	LatencyTailMs float64 `json:"latencyTailMs"`
	// Loss and Duplicate are per-message probabilities; Reorder is the
	// probability that a message is held back an extra 0–10× the tail.
	Loss      float64 `json:"loss"`
	Duplicate float64 `json:"duplicate"`
	Reorder   float64 `json:"reorder"`
	// BandwidthMBps, if positive, is each directed link's capacity in
	// megabytes per second: a message occupies its link for its size over
	// the bandwidth, and messages on one link queue behind one another.
	BandwidthMBps float64 `json:"bandwidthMBps,omitempty"`
}

// FaultOptions schedule faults during the safety phase. Each *EveryMs is
// the mean time between injections of that kind (exponentially
// distributed); 0 turns the kind off. LeaderKillEveryMs is a fixed period.
type FaultOptions struct {
	PartitionEveryMs  int64 `json:"partitionEveryMs,omitempty"`
	ClogEveryMs       int64 `json:"clogEveryMs,omitempty"`
	CrashEveryMs      int64 `json:"crashEveryMs,omitempty"`
	PauseEveryMs      int64 `json:"pauseEveryMs,omitempty"`
	LeaderKillEveryMs int64 `json:"leaderKillEveryMs,omitempty"`
	// NewLeaderKill is the probability that a newly elected leader crashes
	// within a few ticks of its election, before its own entries spread.
	NewLeaderKill float64 `json:"newLeaderKill,omitempty"`
	// TransferEveryMs: the leader is told to hand leadership to a random
	// voter (thesis §3.10), caught up or not.
	TransferEveryMs int64 `json:"transferEveryMs,omitempty"`
	// StepdownEveryMs: the leader is shut down gracefully: it hands
	// leadership to its most caught-up voter (node.Node.Stepdown), is
	// stopped once another member leads or an election timeout passed,
	// and restarts later.
	StepdownEveryMs int64 `json:"stepdownEveryMs,omitempty"`
	// ChurnEveryMs: a membership change starts (when none is in
	// progress): add a brand-new member with an empty disk as a learner,
	// which the leader promotes once caught up; remove a member (the
	// leader sometimes); or replace one (add, then remove another).
	ChurnEveryMs int64 `json:"churnEveryMs,omitempty"`
	// DurationMs is the mean length of a partition, clog, pause or downtime.
	DurationMs int64 `json:"durationMs"`
	// MaxDown is how many members may be crashed or paused at once.
	MaxDown int `json:"maxDown"`
}

// WorkloadOptions shape the clients. Each client has at most one request
// outstanding; the weights choose the next operation.
type WorkloadOptions struct {
	ThinkMs   float64 `json:"thinkMs"`
	TimeoutMs int64   `json:"timeoutMs"`
	Get       int     `json:"get"`
	Set       int     `json:"set"`
	Create    int     `json:"create"`
	CAS       int     `json:"cas"`
	Delete    int     `json:"delete"`
	// Read is the weight of linearizable reads through ReadIndex (no log
	// entry); Get's reads go through the log (kv.MethodQuorumGet).
	Read int `json:"read,omitempty"`
}

// plantable is every defect a run can plant, by name: what each plants.
var plantable = []struct {
	name string
	bugs plant.Node
}{
	{"double-vote", plant.Node{Raft: plant.Raft{DoubleVote: true}}},
	{"commit-old-term", plant.Node{Raft: plant.Raft{CommitOldTerm: true}}},
	{"skip-up-to-date", plant.Node{Raft: plant.Raft{SkipUpToDateCheck: true}}},
	{"skip-sync", plant.Node{SkipSync: true}},
	{"read-no-quorum", plant.Node{Raft: plant.Raft{ReadWithoutQuorum: true}}},
	{"lease-without-acks", plant.Node{Raft: plant.Raft{LeaseWithoutAcks: true}}},
	{"learner-quorum", plant.Node{Raft: plant.Raft{CountLearners: true}}},
	{"two-conf-changes", plant.Node{Raft: plant.Raft{ConcurrentConfChanges: true}}},
	{"snapshot-past-applied", plant.Node{SnapshotPastApplied: true}},
	{"snapshot-before-apply", plant.Node{SnapshotBeforeApply: true}},
}

// Bugs are the defects a run can plant (Options.Bug), each of which the
// checkers must catch.
var Bugs = func() []string {
	names := make([]string, len(plantable))
	for i, p := range plantable {
		names[i] = p.name
	}
	return names
}()

func plantedBugs(name string) (plant.Node, error) {
	if name == "" {
		return plant.Node{}, nil
	}
	for _, p := range plantable {
		if p.name == name {
			return p.bugs, nil
		}
	}
	return plant.Node{}, fmt.Errorf("sim: unknown bug %q (want one of %s)", name, strings.Join(Bugs, ", "))
}

// Presets are the named option sets. "swarm" draws everything from the
// seed; the others are fixed (their randomness is only the run's).
var Presets = []string{"swarm", "default", "calm", "partitions", "crashes", "figure8", "churn", "reads", "leases"}

// LivePreset names the options of a live session (NewLive). MakeOptions
// knows it, but it is not among Presets: a run of it without a user at the
// controls does nothing.
const LivePreset = "live"

// subRand returns the random stream named label (and i) of a seed. Streams
// are independent of one another and of the order in which they are made.
func subRand(seed uint64, label string, i uint64) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(label))
	return rand.New(rand.NewPCG(seed, h.Sum64()+i*0x9e3779b97f4a7c15))
}

// MakeOptions returns the options of a run. short shortens the phases (for
// go test); bug plants a defect.
func MakeOptions(preset string, seed uint64, short bool, bug string) (Options, error) {
	if _, err := plantedBugs(bug); err != nil {
		return Options{}, err
	}
	o := Options{
		Preset: preset, Short: short, Bug: bug,
		Members: 5, Clients: 10, Keys: 3,
		SafetyMs: 20_000, LivenessMs: 10_000,
		TickMs: 10, ElectionTick: 10, HeartbeatTick: 1,
		Net: NetOptions{LatencyMinMs: 1, LatencyTailMs: 3, Loss: 0.02, Duplicate: 0.01, Reorder: 0.02},
		Faults: FaultOptions{
			PartitionEveryMs: 2000, ClogEveryMs: 3000, CrashEveryMs: 3000, PauseEveryMs: 4000,
			LeaderKillEveryMs: 5000, DurationMs: 1000,
		},
		Workload: WorkloadOptions{ThinkMs: 20, TimeoutMs: 1000, Get: 3, Set: 3, Create: 1, CAS: 2, Delete: 1},
	}
	switch preset {
	case "default":
		o.SnapshotCount = 1000
	case "calm":
		o.Faults = FaultOptions{DurationMs: 1000}
		o.Net.Loss, o.Net.Duplicate, o.Net.Reorder = 0, 0, 0
	case "partitions":
		o.Faults = FaultOptions{PartitionEveryMs: 800, ClogEveryMs: 800, DurationMs: 1500}
		o.Net.Loss = 0.05
	case "crashes":
		o.Faults = FaultOptions{CrashEveryMs: 500, PauseEveryMs: 1500, LeaderKillEveryMs: 1500, DurationMs: 400}
	case "figure8":
		// Figure 8 of the Raft paper needs leader changes that leave
		// entries of an old term on a majority without the new leader's
		// own entries: one entry per append, a lossy network, frequent
		// leader kills and short-lived partitions, three members.
		o.Members, o.Clients, o.Keys = 3, 4, 2
		o.MaxSizePerMsg = 1
		o.DisablePreVote, o.DisableCheckQuorum = true, true
		o.Net = NetOptions{LatencyMinMs: 1, LatencyTailMs: 4, Loss: 0.05, Duplicate: 0.01, Reorder: 0.1}
		o.Faults = FaultOptions{PartitionEveryMs: 500, LeaderKillEveryMs: 400, NewLeaderKill: 0.6, DurationMs: 100, MaxDown: 2}
		o.Workload.ThinkMs, o.Workload.TimeoutMs = 2, 300
	case "churn":
		// Membership changes back to back while members crash and the
		// network splits, with snapshots small and frequent so that new
		// members catch up by InstallSnapshot in many chunks.
		o.SnapshotCount, o.SnapshotChunkSize = 40, 512
		o.Faults.ChurnEveryMs, o.Faults.TransferEveryMs = 400, 3000
		o.Faults.PartitionEveryMs, o.Faults.LeaderKillEveryMs = 3000, 6000
	case "leases":
		// The reads preset with CheckQuorum on and reads served from the
		// leader's lease: pauses and partitions of leaders are what a
		// lease must survive.
		// Faults last about an election timeout (300 ms), so that a
		// leader often comes back while it still leads in its own eyes.
		o.LeaseReads = true
		o.ElectionTick = 30
		o.Workload = WorkloadOptions{ThinkMs: 5, TimeoutMs: 200, Read: 8, Get: 1, Set: 3, CAS: 1, Delete: 1}
		o.Faults.PartitionEveryMs, o.Faults.PauseEveryMs, o.Faults.DurationMs = 1000, 700, 400
		o.Faults.CrashEveryMs, o.Faults.LeaderKillEveryMs = 0, 0
		o.Faults.TransferEveryMs, o.Faults.StepdownEveryMs = 1500, 4000
	case "reads":
		// Mostly ReadIndex reads, with leaders deposed often: by
		// partitions, pauses, transfers and graceful stepdowns. Without
		// CheckQuorum a leader cut off from the others keeps leading until
		// it hears of a newer term, so a read it answers without
		// confirming its leadership is stale for a long while; clients give
		// up on it quickly and find the new leader.
		o.DisableCheckQuorum = true
		o.Workload = WorkloadOptions{ThinkMs: 10, TimeoutMs: 300, Read: 8, Get: 1, Set: 3, CAS: 1, Delete: 1}
		o.Faults.PartitionEveryMs, o.Faults.PauseEveryMs = 1000, 1500
		o.Faults.TransferEveryMs, o.Faults.StepdownEveryMs = 1500, 4000
		o.SnapshotCount = 300
	case LivePreset:
		// A live session (live.go): five calm members, no faults and no
		// clients of their own, on a network slow enough to watch: what
		// happens is what the user does. Options of the session can change
		// any of these (the page's settings).
		o.Clients = 0
		o.SafetyMs, o.LivenessMs = 60_000, 10_000
		o.ElectionTick, o.HeartbeatTick = 30, 10
		o.SnapshotCount = 100
		o.Net = NetOptions{LatencyMinMs: 10, LatencyTailMs: 5}
		o.Faults = FaultOptions{DurationMs: 1000}
		o.Workload = WorkloadOptions{ThinkMs: 500, TimeoutMs: 2000, Get: 3, Set: 3, Create: 1, CAS: 2, Delete: 1}
	case "swarm":
		drawSwarm(&o, subRand(seed, "options", 0))
	default:
		return o, fmt.Errorf("sim: unknown preset %q (want one of %s)", preset, strings.Join(Presets, ", "))
	}
	if o.Faults.MaxDown == 0 {
		o.Faults.MaxDown = (o.Members - 1) / 2
	}
	if short {
		o.SafetyMs = min(o.SafetyMs, 4000)
	}
	return o, nil
}

// drawSwarm draws a seed's own cluster size, fault rates and workload mix.
func drawSwarm(o *Options, r *rand.Rand) {
	pick := func(w ...int) int { // index chosen with weights w
		total := 0
		for _, x := range w {
			total += x
		}
		n := r.IntN(total)
		for i, x := range w {
			if n < x {
				return i
			}
			n -= x
		}
		return len(w) - 1
	}
	o.Members = []int{3, 5, 1, 7}[pick(45, 40, 5, 10)]
	o.Clients = 1 + r.IntN(10)
	o.Keys = 1 + r.IntN(5)
	o.ElectionTick = 5 + r.IntN(16)
	o.HeartbeatTick = 1 + r.IntN(max(1, o.ElectionTick/5))
	if r.IntN(4) == 0 {
		o.MaxSizePerMsg = 1
	}
	if r.IntN(3) == 0 {
		o.SnapshotCount = uint64(20 + r.IntN(500))
	}
	o.DisablePreVote = r.IntN(4) == 0
	o.DisableCheckQuorum = r.IntN(4) == 0
	o.Net = NetOptions{
		LatencyMinMs:  0.2 + 4*r.Float64(),
		LatencyTailMs: 10 * r.Float64() * r.Float64(),
		Loss:          []float64{0, 0.01, 0.05, 0.2}[pick(3, 3, 2, 1)],
		Duplicate:     []float64{0, 0.01, 0.05}[pick(2, 2, 1)],
		Reorder:       []float64{0, 0.02, 0.2}[pick(2, 2, 1)],
	}
	every := func(meanMs float64) int64 { // off a quarter of the time
		if r.IntN(4) == 0 {
			return 0
		}
		return int64(meanMs * (0.2 + 1.8*r.Float64()))
	}
	o.Faults = FaultOptions{
		PartitionEveryMs:  every(2000),
		ClogEveryMs:       every(3000),
		CrashEveryMs:      every(2000),
		PauseEveryMs:      every(4000),
		LeaderKillEveryMs: every(4000),
		DurationMs:        int64(100 + r.IntN(2000)),
	}
	if r.IntN(3) == 0 {
		o.Faults.NewLeaderKill = r.Float64() / 2
	}
	if r.IntN(10) == 0 {
		o.Faults.MaxDown = o.Members // sometimes a majority goes down
	}
	o.Workload = WorkloadOptions{
		ThinkMs:   []float64{1, 10, 50, 200}[r.IntN(4)],
		TimeoutMs: int64(200 + r.IntN(2000)),
		Get:       r.IntN(6), Set: r.IntN(6), Create: r.IntN(4), CAS: r.IntN(6), Delete: r.IntN(3),
	}
	if o.Workload.Get+o.Workload.Set+o.Workload.Create+o.Workload.CAS+o.Workload.Delete == 0 {
		o.Workload.Set = 1
	}
	o.SafetyMs = int64(5000 + r.IntN(25000))
	o.LivenessMs = 15_000
	// Drawn last, so that the draws above stay what they were before:
	// snapshots in most seeds, sent in chunks; membership churn,
	// leadership transfers and graceful stepdowns; ReadIndex reads, the
	// bulk of the workload in a fifth of the seeds.
	if r.IntN(6) != 0 {
		o.SnapshotCount = uint64(5 + r.IntN(80))
	}
	if o.SnapshotCount != 0 && r.IntN(4) != 0 {
		o.SnapshotChunkSize = uint64(256 << r.IntN(6)) // 256 B to 8 KiB
	}
	o.Faults.ChurnEveryMs = every(2500)
	o.Faults.TransferEveryMs = every(4000)
	o.Faults.StepdownEveryMs = every(6000)
	o.Workload.Read = r.IntN(6)
	if r.IntN(5) == 0 {
		o.Workload.Read += 12
	}
	if o.SnapshotCount != 0 && r.IntN(2) == 0 {
		o.SnapshotWriteMs = float64(1 + r.IntN(60))
	}
	o.LeaseReads = !o.DisableCheckQuorum && r.IntN(3) == 0
}

// ReplayCommand is the command line that replays the run of seed with o.
func ReplayCommand(seed uint64, o Options) string {
	args := []string{"go", "run", "./cmd/raftkv-sim", "-seed", fmt.Sprint(seed)}
	if o.Preset != "swarm" {
		args = append(args, "-preset", o.Preset)
	}
	if o.Short {
		args = append(args, "-short")
	}
	if o.Bug != "" {
		args = append(args, "-bug", o.Bug)
	}
	return strings.Join(args, " ")
}

func memberIDs(n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	return ids
}
