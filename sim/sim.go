package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/raftkv/raftkv/internal/plant"
	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/linearizability"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/tracker"
	"github.com/raftkv/raftkv/server/node"
	"github.com/raftkv/raftkv/vfs"
)

// Class is the kind of a failed run; the command maps each to its own exit
// code.
type Class string

// Failure classes.
const (
	ClassSafety   Class = "safety"   // an invariant, Porcupine or the final agreement check failed
	ClassLiveness Class = "liveness" // no convergence within the liveness bound
	ClassCrash    Class = "crash"    // a panic, or a member's storage or restart failed
)

// Failure describes why a run failed.
type Failure struct {
	Class Class
	// Check names the checker that fired ("election safety", ...).
	Check string
	Msg   string
	AtNs  int64
}

func (f *Failure) Error() string {
	return fmt.Sprintf("%s failure at %.3fms: %s: %s", f.Class, msOf(f.AtNs), f.Check, f.Msg)
}

// Config is one run: a seed, the options derived from it, and where output
// goes.
type Config struct {
	Seed    uint64
	Options Options
	// Trace, if set, receives the JSON Lines trace.
	Trace io.Writer
	// HTMLDir is where Porcupine's visualization goes when the history is
	// not linearizable or its check timed out, as raftkv-sim-<seed>.html
	// ("" for the system's temporary directory, os.TempDir(): a run never
	// writes to the working directory unless asked to).
	HTMLDir string
	// PorcupineHTML, if set, is where Porcupine's visualization goes
	// whatever the verdict (the visualizer links it); a history that is
	// not linearizable is then written there rather than to HTMLDir.
	PorcupineHTML string
	// CheckTimeout bounds the Porcupine check (0: 30s). A check that runs
	// out reports VerdictUnknown, which is not a failure.
	CheckTimeout time.Duration
}

// Result is the outcome of a run.
type Result struct {
	Seed    uint64
	Options Options
	// SimulatedNs is the virtual time the run covered.
	SimulatedNs int64
	Events      int64
	Faults      int
	Messages    int64
	// Ops counts client operations issued, Acked those with a definite
	// answer; Checked is the number of operations Porcupine checked.
	Ops, Acked, Checked int
	Verdict             linearizability.Verdict
	// CheckNs is how long the Porcupine check took, in wall-clock time
	// (for reports only: nothing depends on it).
	CheckNs int64
	// HTMLPath is Porcupine's visualization, written when the history is
	// not linearizable or Config.PorcupineHTML asked for it.
	HTMLPath string
	Failure  *Failure

	Exercised
	// Syncs counts the Readies members had to make durable (fsyncs).
	Syncs int64
}

// Exercised counts what a run exercised beyond the basic algorithm (a
// Summary adds them up). ConfChanges are membership changes committed;
// SnapshotsSent are snapshots installed from a leader, SnapshotsTaken
// those members took themselves, and StatesChecked the snapshot and
// restart states the snapshot checker verified by replaying the log; Reads
// are ReadIndex reads answered; Stepdowns are graceful stops of a leader
// after it handed over leadership (StepdownsTimedOut: nobody took over in
// time).
type Exercised struct {
	ConfChanges, SnapshotsSent, SnapshotsTaken, StatesChecked int
	Reads, Stepdowns, StepdownsTimedOut                       int
}

func (e *Exercised) add(o Exercised) {
	e.ConfChanges += o.ConfChanges
	e.SnapshotsSent += o.SnapshotsSent
	e.SnapshotsTaken += o.SnapshotsTaken
	e.StatesChecked += o.StatesChecked
	e.Reads += o.Reads
	e.Stepdowns += o.Stepdowns
	e.StepdownsTimedOut += o.StepdownsTimedOut
}

// Replay is the command that replays this run.
func (r Result) Replay() string { return ReplayCommand(r.Seed, r.Options) }

type phase int

const (
	phaseSafety phase = iota
	phaseLiveness
	phaseDone
)

// Sim is one run in progress. It is single-goroutine: everything happens in
// events taken from the queue in (time, seq) order.
type Sim struct {
	cfg   Config
	opts  Options
	bugs  plant.Node
	nowNs int64
	seq   uint64
	q     queue
	phase phase

	ids     []uint64  // the initial members
	members []*member // members[id-1], every member ever started
	// live are the members whose process exists: the initial ones and
	// those that joined, less those stopped for good after their removal.
	live    []uint64
	net     *network
	clients []*client
	hist    *linearizability.History
	chk     *checker
	tr      *tracer
	logger  *slog.Logger

	faultRand *rand.Rand
	workRand  *rand.Rand
	down      int // members crashed or paused by faults
	partition bool

	churn *churnOp // the membership change in progress, if any
	snaps *snapChecker

	res     Result
	failure *Failure
	// ackedIndex is the highest log index of a definite client answer:
	// in the liveness phase every member must apply it.
	ackedIndex uint64
	opSeq      uint64
	known      []known // per key, see client.generate
	// kvTraced is the highest applied index whose key space was traced.
	kvTraced uint64
	// session: a live session (live.go), driven by its caller: no
	// phases (it stays in the safety phase), messages in flight kept by mid.
	session bool
}

// member is one simulated process: a node core on its own disk.
type member struct {
	id uint64
	// peers are the voters it starts with when its disk holds no snapshot:
	// the initial members, or for a member that joined, the voters when it
	// joined; a member that joined also starts as a learner of its own
	// configuration, as the real-time server starts one.
	peers, learners []uint64
	// gone: removed from the cluster and stopped for good.
	gone bool
	// snapIndex is the index of the snapshot on its disk.
	snapIndex uint64
	fs        *vfs.MemFS
	rand      *rand.Rand // seeds each life's node
	node      *node.Node
	life      int
	// missedTicks counts the ticks skipped while paused (LeaseReads).
	missedTicks int
	up          bool
	paused      bool
	// held are deliveries that arrived while the member was paused; they
	// run when it resumes (as bytes wait in a stopped process's sockets).
	held []func()
	// ticking is set while a tick's work is handled: a campaign started
	// then is an election timeout.
	ticking bool
	// tickFn is the event of m's next tick, made once (tick).
	tickFn func()
	view   memberView
	traced tracedState

	// With Options.SyncMs: the sync of the Ready being handled delays its
	// output by syncDelayNs, and the member handles nothing more until
	// busyUntilNs (a wake-up is scheduled when waking).
	syncDelayNs, busyUntilNs int64
	waking                   bool
}

// tracedState is what the trace last said of a member's state that is
// traced by comparison rather than as it changes (see traceState).
type tracedState struct {
	snap     uint64
	voters   []uint64
	learners []uint64
	progress map[uint64]tracker.Progress
}

// Run runs one seed to the end and reports the result. It never panics: a
// panic is a ClassCrash failure.
func Run(cfg Config) (res Result) {
	s := newSim(cfg)
	defer func() {
		if p := recover(); p != nil {
			s.fail(ClassCrash, "panic", fmt.Sprintf("%v\n%s", p, debug.Stack()))
			res = s.finishResult()
		}
	}()
	if err := s.init(); err != nil {
		s.fail(ClassCrash, "setup", err.Error())
		return s.finishResult()
	}
	s.loop()
	if s.failure == nil {
		s.finalChecks()
	}
	return s.finishResult()
}

func newSim(cfg Config) *Sim {
	return &Sim{cfg: cfg, opts: cfg.Options, res: Result{Seed: cfg.Seed, Options: cfg.Options}}
}

func (s *Sim) finishResult() Result {
	s.res.SimulatedNs = s.nowNs
	s.res.Failure = s.failure
	if s.tr != nil {
		end := TraceEvent{T: msOf(s.nowNs), Type: "end", Result: "ok"}
		if s.failure != nil {
			end.Result = string(s.failure.Class)
			end.Reason = s.failure.Check + ": " + s.failure.Msg
		}
		s.tr.writeEvent(&end)
		if err := s.tr.flush(); err != nil && s.failure == nil {
			s.failure = &Failure{Class: ClassCrash, Check: "trace", Msg: err.Error(), AtNs: s.nowNs}
			s.res.Failure = s.failure
		}
	}
	return s.res
}

func (s *Sim) init() error {
	o := s.opts
	bugs, err := plantedBugs(o.Bug)
	if err != nil {
		return err
	}
	s.bugs = bugs
	if o.Members < 1 || o.TickMs <= 0 {
		return errors.New("sim: need at least one member and a positive tick")
	}
	s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s.ids = memberIDs(o.Members)
	s.tr = newTracer(s.cfg.Trace)
	if s.tr != nil {
		replay := ReplayCommand(s.cfg.Seed, o)
		if s.session {
			replay = LiveReplayCommand(s.cfg.Seed)
		}
		s.tr.write(TraceHeader{Type: "header", Format: TraceFormat, Seed: s.cfg.Seed, Options: o,
			Members: s.ids, Replay: replay})
	}
	s.faultRand = subRand(s.cfg.Seed, "faults", 0)
	s.workRand = subRand(s.cfg.Seed, "workload", 0)
	s.net = newNetwork(s, subRand(s.cfg.Seed, "network", 0))
	if s.session {
		s.net.inflight = map[uint64]*flight{}
	}
	s.chk = newChecker(s)
	s.hist = linearizability.NewHistory(nil)
	s.snaps = newSnapChecker(s)
	s.live = slices.Clone(s.ids)
	for _, id := range s.ids {
		s.members = append(s.members, s.newMember(id, s.ids))
	}
	if o.PreloadKeys > 0 {
		if err := s.preload(); err != nil {
			return err
		}
	}
	for _, m := range s.members {
		if err := s.start(m); err != nil {
			return err
		}
		// Members tick out of phase with one another.
		s.at(int64(m.rand.IntN(int(o.TickMs*1000)))*1000, func() { s.tick(m) })
	}
	s.known = make([]known, o.Keys)
	for i := range o.Clients {
		s.clients = append(s.clients, newClient(s, i+1))
	}
	for _, c := range s.clients {
		c.think()
	}
	s.scheduleFaults()
	if !s.session {
		s.at(o.SafetyMs*1e6, s.startLiveness)
	}
	return nil
}

// at schedules fn at absolute virtual time atNs.
func (s *Sim) at(atNs int64, fn func()) {
	s.seq++
	s.q.push(event{atNs: max(atNs, s.nowNs), seq: s.seq, fn: fn})
}

// after schedules fn d nanoseconds from now.
func (s *Sim) after(dNs int64, fn func()) { s.at(s.nowNs+dNs, fn) }

func (s *Sim) loop() {
	for s.phase != phaseDone && s.failure == nil && len(s.q) > 0 {
		s.step()
	}
}

// step runs the next event.
func (s *Sim) step() {
	ev := s.q.pop()
	s.nowNs = ev.atNs
	ev.fn()
	s.res.Events++
}

func (s *Sim) fail(class Class, check, msg string) {
	if s.failure != nil {
		return
	}
	s.failure = &Failure{Class: class, Check: check, Msg: msg, AtNs: s.nowNs}
	s.phase = phaseDone
}

func (s *Sim) trace(e TraceEvent) {
	if s.tr != nil {
		e.T = msOf(s.nowNs)
		s.tr.writeEvent(&e)
	}
}

// ---- members ----

type transport struct {
	s    *Sim
	m    *member
	life int
}

func (t transport) Send(msgs []raft.Message) {
	if t.m.life != t.life || !t.m.up {
		return
	}
	if d := t.m.syncDelayNs; d > 0 {
		// The disk is still syncing what these messages promise.
		t.s.after(d, func() { t.sendNow(msgs) })
		return
	}
	t.sendNow(msgs)
}

func (t transport) sendNow(msgs []raft.Message) {
	if t.m.life != t.life || !t.m.up {
		return
	}
	for _, msg := range msgs {
		t.s.net.send(msg)
	}
}

// start opens (or reopens after a crash) the member's node on its disk.
func (s *Sim) start(m *member) error {
	m.life++
	life := m.life
	cfg := node.Config{
		ID: m.id, ClusterID: 0x5117, Peers: m.peers, Learners: m.learners, FS: m.fs, Dir: "/data",
		ElectionTick: s.opts.ElectionTick, HeartbeatTick: s.opts.HeartbeatTick, ElectionTickMax: s.opts.ElectionTickMax,
		TickInterval: time.Duration(s.opts.TickMs) * time.Millisecond,
		Rand:         rand.New(rand.NewPCG(m.rand.Uint64(), m.rand.Uint64())),
		Transport:    transport{s: s, m: m, life: life},
		Logger:       s.logger,
		OnReady: func(rd raft.Ready) {
			if m.life == life {
				s.disk(m, rd)
				s.chk.onReady(m, rd)
			}
		},
		MaxSizePerMsg: s.opts.MaxSizePerMsg, DisablePreVote: s.opts.DisablePreVote,
		DisableCheckQuorum: s.opts.DisableCheckQuorum,
		SnapshotCount:      s.opts.SnapshotCount,
		SnapshotChunkSize:  s.opts.SnapshotChunkSize,
		LeaseReads:         s.opts.LeaseReads,
		Background:         s.background(m, life),
	}
	s.bugs.Plant(&cfg)
	n, err := node.NewNode(cfg)
	if err != nil {
		return fmt.Errorf("member %d: open: %w", m.id, err)
	}
	m.node, m.up, m.paused, m.missedTicks = n, true, false, 0
	m.syncDelayNs, m.busyUntilNs = 0, 0
	s.chk.onStart(m)
	if s.tr != nil {
		s.traceStart(m)
	}
	s.snaps.onStart(m)
	s.process(m)
	if m.up && m.life > 1 {
		s.snaps.checkRestart(m)
	}
	return nil
}

// background models the server's background snapshot writes
// (Options.SnapshotWriteMs): the work runs at once, which is the same as
// running it later since it reads only the frozen key space and writes
// only a file the log does not use yet, and the finish (the compaction)
// runs SnapshotWriteMs later on the member's "goroutine", if the member
// has not crashed meanwhile. nil when the option is off.
func (s *Sim) background(m *member, life int) func(work func() func()) {
	if s.opts.SnapshotWriteMs <= 0 {
		return nil
	}
	delay := int64(s.opts.SnapshotWriteMs * 1e6)
	return func(work func() func()) {
		finish := work()
		var deliver func()
		deliver = func() {
			if m.life != life || !m.up || s.failure != nil {
				return
			}
			if m.paused {
				s.after(delay, deliver)
				return
			}
			finish()
			s.process(m)
			s.snaps.maybeCreated(m)
		}
		s.after(delay, deliver)
	}
}

// traceStart traces what a member knows when it opens its disk: after a
// crash, the log that survived (which need not be a prefix of the one it
// had, when a truncation was lost) and its hard state.
func (s *Sim) traceStart(m *member) {
	v := &m.view
	snap, _ := m.node.Storage().Snapshot()
	m.traced = tracedState{snap: snap.Metadata.Index}
	if v.crashedOnce {
		e := TraceEvent{Type: "restart", ID: m.id, Term: v.term, Vote: v.vote, Commit: v.commit, Index: v.base, LogTerm: v.termAt(v.base)}
		for i := v.base + 1; i <= v.lastIndex(); i++ {
			e.Log = addRun(e.Log, i, v.termAt(i))
		}
		s.trace(e)
	}
	s.traceState(m)
}

// traceState traces the member's state that no Ready shows: its own
// snapshots (compaction), its membership, the key space once an index is
// first applied anywhere, and, on a leader, each follower's progress.
func (s *Sim) traceState(m *member) {
	tr := &m.traced
	if snap, _ := m.node.Storage().Snapshot(); snap.Metadata.Index > tr.snap {
		tr.snap = snap.Metadata.Index
		// An installed snapshot was traced as "snapshot" already.
		if snap.Metadata.Index != m.view.base {
			s.trace(TraceEvent{Type: "compact", ID: m.id, Index: snap.Metadata.Index, Term: snap.Metadata.Term})
		}
	}
	if cs := m.node.ConfState(); !slices.Equal(cs.Voters, tr.voters) || !slices.Equal(cs.Learners, tr.learners) {
		tr.voters, tr.learners = slices.Clone(cs.Voters), slices.Clone(cs.Learners)
		s.trace(TraceEvent{Type: "conf", ID: m.id, Voters: tr.voters, Learners: tr.learners})
	}
	if m.view.applied > s.kvTraced {
		s.kvTraced = m.view.applied
		e := TraceEvent{Type: "kv", ID: m.id, Index: m.view.applied, KV: map[string]string{}}
		if ev, err := m.node.Store().Get("/", true, true); err == nil && ev.Node != nil {
			addKV(e.KV, ev.Node.Nodes)
		}
		s.trace(e)
	}
	if m.view.role != raft.StateLeader {
		tr.progress = nil
		return
	}
	if tr.progress == nil {
		tr.progress = map[uint64]tracker.Progress{}
	}
	// By increasing id, without the copying of Status: this runs after
	// every step of a leader.
	m.node.VisitProgress(func(id uint64, pr tracker.Progress) {
		if id == m.id {
			return
		}
		if old, ok := tr.progress[id]; ok && old.Match == pr.Match && old.Next == pr.Next && old.State == pr.State {
			return
		}
		tr.progress[id] = pr
		s.trace(TraceEvent{Type: "progress", ID: m.id, To: id, Match: pr.Match, Next: pr.Next, Kind: pr.State.String()})
	})
}

// addKV adds every key of the tree to out (directories by their children).
func addKV(out map[string]string, nodes []*kv.Node) {
	for _, n := range nodes {
		if n.Dir {
			addKV(out, n.Nodes)
		} else if n.Value != nil {
			out[n.Key] = *n.Value
		}
	}
}

// disk models the time a Ready's sync takes (Options.SyncMs).
func (s *Sim) disk(m *member, rd raft.Ready) {
	if rd.MustSync {
		s.res.Syncs++
	}
	if s.opts.SyncMs <= 0 {
		return
	}
	m.syncDelayNs = 0
	if rd.MustSync {
		m.syncDelayNs = int64(s.opts.SyncMs * 1e6)
		m.busyUntilNs = s.nowNs + m.syncDelayNs
	}
}

// wake handles m's pending work once its disk is done.
func (s *Sim) wake(m *member) {
	if m.waking {
		return
	}
	m.waking = true
	life := m.life
	s.at(m.busyUntilNs, func() {
		if m.life == life {
			m.waking = false
			s.process(m)
		}
	})
}

// process lets the member handle all its work: persist, send, apply.
func (s *Sim) process(m *member) {
	if !m.up || m.paused {
		return
	}
	for s.failure == nil {
		if m.busyUntilNs > s.nowNs {
			s.wake(m) // its disk is syncing: the rest waits
			break
		}
		did, err := m.node.HandleReady()
		if err != nil {
			s.fail(ClassCrash, "storage", fmt.Sprintf("member %d: %v", m.id, err))
			return
		}
		if !did {
			break
		}
		s.snaps.maybeCreated(m)
	}
	s.chk.noteLeaderConf(m)
	if s.tr != nil && s.failure == nil {
		s.traceState(m)
	}
}

func (s *Sim) tick(m *member) {
	if m.up && !m.paused {
		m.ticking = true
		m.node.Tick(s.nowNs)
		s.process(m)
		m.ticking = false
	} else if m.up && s.opts.LeaseReads {
		m.missedTicks++
	}
	if m.tickFn == nil {
		m.tickFn = func() { s.tick(m) }
	}
	s.after(s.opts.TickMs*1e6, m.tickFn)
}

// crash simulates power loss: unsynced writes are lost (or torn), the
// process and its messages in flight to it are gone.
func (s *Sim) crash(m *member, why string) {
	if !m.up {
		return
	}
	m.fs.Crash()
	s.stop(m, why)
}

// stop ends m's process; after crash, nothing unsynced survives, while a
// graceful stop (why "stepdown") leaves its disk as it is.
func (s *Sim) stop(m *member, why string) {
	if !m.up {
		return
	}
	_ = m.node.Close() // after a crash every handle is stale: nothing is written
	m.node, m.up, m.paused, m.held = nil, false, false, nil
	m.life++
	s.res.Faults++
	s.trace(TraceEvent{Type: "crash", ID: m.id, Reason: why})
	s.chk.onCrash(m)
}

func (s *Sim) restart(m *member) {
	if m.up || m.gone {
		return
	}
	// start traces the restart, with what survived on disk.
	if err := s.start(m); err != nil {
		s.fail(ClassCrash, "restart", err.Error())
	}
}

func (s *Sim) pause(m *member) {
	if !m.up || m.paused {
		return
	}
	m.paused = true
	s.res.Faults++
	s.trace(TraceEvent{Type: "pause", ID: m.id})
}

func (s *Sim) resume(m *member) {
	if !m.up || !m.paused {
		return
	}
	m.paused = false
	s.trace(TraceEvent{Type: "resume", ID: m.id})
	if s.opts.LeaseReads {
		// As the server does under leases: the ticks missed while paused
		// come first, before anything that waited (a read among them).
		for ; m.missedTicks > 0; m.missedTicks-- {
			m.node.Tick(s.nowNs)
		}
	}
	held := m.held
	m.held = nil
	for _, fn := range held {
		if !m.up || m.paused {
			break
		}
		fn()
	}
	s.process(m)
}

// onMember runs fn now if the member is running, later if it is paused,
// and never if it is down. It reports whether fn ran or was held.
func (s *Sim) onMember(m *member, fn func()) bool {
	switch {
	case !m.up:
		return false
	case m.paused:
		m.held = append(m.held, fn)
	default:
		fn()
	}
	return true
}

func (s *Sim) leader() *member {
	var best *member
	for _, m := range s.members {
		if m.up && m.view.role == raft.StateLeader && (best == nil || m.view.term > best.view.term) {
			best = m
		}
	}
	return best
}

// ---- faults ----

func (s *Sim) expMs(meanMs float64) int64 {
	return int64(s.faultRand.ExpFloat64() * meanMs * 1e6)
}

func (s *Sim) scheduleFaults() {
	f := s.opts.Faults
	every := func(meanMs int64, inject func()) {
		if meanMs <= 0 {
			return
		}
		var next func()
		next = func() {
			if s.phase != phaseSafety {
				return
			}
			inject()
			s.after(s.expMs(float64(meanMs)), next)
		}
		s.after(s.expMs(float64(meanMs)), next)
	}
	if len(s.members) > 1 {
		every(f.PartitionEveryMs, s.injectPartition)
		every(f.ClogEveryMs, s.injectClog)
	}
	every(f.CrashEveryMs, func() {
		if m := s.pickUp(); m != nil {
			s.takeDown(m, "fault")
		}
	})
	every(f.PauseEveryMs, func() {
		if m := s.pickUp(); m != nil && s.down < f.MaxDown {
			s.down++
			s.pause(m)
			s.after(s.expMs(float64(f.DurationMs)), func() {
				if m.paused {
					s.down--
					s.resume(m)
				}
			})
		}
	})
	every(f.TransferEveryMs, s.injectTransfer)
	every(f.StepdownEveryMs, s.injectStepdown)
	every(f.ChurnEveryMs, s.startChurn)
	if f.LeaderKillEveryMs > 0 {
		var kill func()
		kill = func() {
			if s.phase != phaseSafety {
				return
			}
			if l := s.leader(); l != nil && !l.paused {
				s.takeDown(l, "leader kill")
			}
			s.after(f.LeaderKillEveryMs*1e6, kill)
		}
		s.after(f.LeaderKillEveryMs*1e6, kill)
	}
}

// onNewLeader may schedule the new leader's early death
// (Faults.NewLeaderKill).
func (s *Sim) onNewLeader(m *member) {
	p := s.opts.Faults.NewLeaderKill
	if s.phase != phaseSafety || p == 0 || s.faultRand.Float64() >= p {
		return
	}
	life := m.life
	s.after(int64(s.faultRand.IntN(int(3*s.opts.TickMs*1000)))*1000, func() {
		if m.life == life && m.up && !m.paused && s.phase == phaseSafety {
			s.takeDown(m, "new leader kill")
		}
	})
}

// takeDown crashes m and restarts it after a while, if fewer than MaxDown
// members are down.
func (s *Sim) takeDown(m *member, why string) {
	if s.down >= s.opts.Faults.MaxDown {
		return
	}
	s.down++
	s.crash(m, why)
	s.after(s.expMs(float64(s.opts.Faults.DurationMs)), func() {
		if !m.up && s.phase == phaseSafety {
			s.down--
			s.restart(m)
		}
	})
}

func (s *Sim) pickUp() *member {
	var up []*member
	for _, m := range s.members {
		if m.up && !m.paused {
			up = append(up, m)
		}
	}
	if len(up) == 0 {
		return nil
	}
	return up[s.faultRand.IntN(len(up))]
}

func (s *Sim) injectPartition() {
	if s.partition {
		return
	}
	r := s.faultRand
	n := len(s.live)
	if n < 2 {
		return
	}
	ids := slices.Clone(s.live)
	r.Shuffle(n, func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	var groups [][]uint64
	kind := []string{"isolate", "split", "bridge", "asymmetric"}[r.IntN(4)]
	switch kind {
	case "isolate":
		// Half the time the member cut off is the leader: a deposed leader
		// that does not know it yet is where stale reads come from.
		if l := s.leader(); l != nil && r.IntN(2) == 0 {
			i := slices.Index(ids, l.id)
			ids[0], ids[i] = ids[i], ids[0]
		}
		groups = [][]uint64{ids[:1], ids[1:]}
		s.net.split(groups)
	case "split":
		k := 1 + r.IntN(n-1)
		groups = [][]uint64{ids[:k], ids[k:]}
		s.net.split(groups)
	case "bridge":
		if n < 3 {
			return
		}
		// ids[0] talks to both sides; the sides do not talk to each other.
		k := 1 + (n-1)/2
		a, b := ids[1:k], ids[k:]
		groups = [][]uint64{a, ids[:1], b}
		s.net.split([][]uint64{a, b})
	case "asymmetric":
		// One member's outbound (or inbound) links are cut.
		out := r.IntN(2) == 0
		groups = [][]uint64{ids[:1], ids[1:]}
		s.net.cut(ids[0], out)
		if out {
			kind = "asymmetric-out"
		} else {
			kind = "asymmetric-in"
		}
	}
	s.partition = true
	s.res.Faults++
	for _, g := range groups {
		slices.Sort(g)
	}
	s.trace(TraceEvent{Type: "partition", Kind: kind, Groups: groups})
	s.after(s.expMs(float64(s.opts.Faults.DurationMs)), func() {
		if s.partition {
			s.heal()
		}
	})
}

func (s *Sim) heal() {
	s.net.healAll()
	s.partition = false
	s.trace(TraceEvent{Type: "heal"})
}

func (s *Sim) injectClog() {
	r := s.faultRand
	from := s.live[r.IntN(len(s.live))]
	to := s.live[r.IntN(len(s.live))]
	if from == to {
		return
	}
	untilNs := s.nowNs + s.expMs(float64(s.opts.Faults.DurationMs))
	s.net.clog(from, to, untilNs)
	s.res.Faults++
	s.trace(TraceEvent{Type: "clog", From: from, To: to})
	s.at(untilNs, func() { s.trace(TraceEvent{Type: "unclog", From: from, To: to}) })
}

// ---- phases ----

// startLiveness ends the safety phase: no more faults, the network healed,
// every member up and running, no new client requests. The cluster must
// then converge within LivenessMs.
func (s *Sim) startLiveness() {
	s.phase = phaseLiveness
	s.trace(TraceEvent{Type: "phase", Phase: "liveness"})
	if s.partition {
		s.heal()
	}
	s.net.unclogAll()
	s.net.calm = true
	s.churn = nil
	for _, m := range s.members {
		switch {
		case m.gone:
		case !m.up:
			s.restart(m)
		case m.paused:
			s.resume(m)
		}
	}
	s.down = 0
	deadline := s.nowNs + s.opts.LivenessMs*1e6
	var poll func()
	poll = func() {
		if s.phase != phaseLiveness {
			return
		}
		if s.converged() {
			s.phase = phaseDone
			s.trace(TraceEvent{Type: "phase", Phase: "converged"})
			return
		}
		if s.nowNs >= deadline {
			s.fail(ClassLiveness, "liveness", s.livenessReport())
			return
		}
		s.after(s.opts.TickMs*1e6, poll)
	}
	s.after(0, poll)
}

// converged: a leader of the highest term, every member applied the
// leader's whole log, which covers every acknowledged request, and no
// client is waiting for an answer that could still come.
func (s *Sim) converged() bool {
	l := s.leader()
	if l == nil {
		return false
	}
	last := l.view.lastIndex()
	if l.view.commit != last || last < s.ackedIndex {
		return false
	}
	for _, id := range configMembers(l) {
		m := s.member(id)
		if !m.up || m.view.applied != last || m.view.term != l.view.term || m.view.lead != l.id {
			return false
		}
	}
	for _, c := range s.clients {
		if c.op != nil {
			return false
		}
	}
	return true
}

func (s *Sim) livenessReport() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "no convergence within %dms of healing (acknowledged index %d):", s.opts.LivenessMs, s.ackedIndex)
	for _, m := range s.members {
		if m.gone {
			fmt.Fprintf(&b, " [%d removed]", m.id)
			continue
		}
		fmt.Fprintf(&b, " [%d up=%v role=%v term=%d lead=%d last=%d commit=%d applied=%d",
			m.id, m.up, m.view.role, m.view.term, m.view.lead, m.view.lastIndex(), m.view.commit, m.view.applied)
		if m.node != nil {
			cs := m.node.ConfState()
			fmt.Fprintf(&b, " voters=%v learners=%v", cs.Voters, cs.Learners)
		}
		b.WriteString("]")
	}
	waiting := 0
	for _, c := range s.clients {
		if c.op != nil {
			waiting++
		}
	}
	fmt.Fprintf(&b, " clients waiting=%d", waiting)
	return b.String()
}

// finalChecks: every member's key space is byte-identical, and the client
// history is linearizable.
func (s *Sim) finalChecks() {
	var want []byte
	var first uint64
	for _, id := range configMembers(s.leader()) {
		m := s.member(id)
		var b bytes.Buffer
		if err := m.node.Store().Save(&b); err != nil {
			s.fail(ClassCrash, "kv save", fmt.Sprintf("member %d: %v", m.id, err))
			return
		}
		if want == nil {
			want, first = b.Bytes(), m.id
		} else if !bytes.Equal(want, b.Bytes()) {
			s.fail(ClassSafety, "kv agreement", fmt.Sprintf("member %d's key space differs from member %d's", m.id, first))
			return
		}
	}
	timeout := s.cfg.CheckTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	dir := s.cfg.HTMLDir
	if dir == "" {
		dir = os.TempDir()
	}
	html := filepath.Join(dir, fmt.Sprintf("raftkv-sim-%d.html", s.cfg.Seed))
	if s.cfg.PorcupineHTML != "" {
		html = s.cfg.PorcupineHTML
	}
	res, err := s.hist.Check(linearizability.CheckOptions{Timeout: timeout, VisualizationPath: html,
		VisualizeAlways: s.cfg.PorcupineHTML != ""})
	s.res.Checked = res.Operations
	s.res.CheckNs = int64(res.Elapsed)
	s.res.Verdict = res.Verdict
	s.res.HTMLPath = res.VisualizationPath
	if err != nil {
		s.fail(ClassCrash, "porcupine", err.Error())
		return
	}
	if res.Verdict == linearizability.VerdictIllegal {
		s.fail(ClassSafety, "linearizability", fmt.Sprintf("%v; visualization: %s", res, res.VisualizationPath))
	}
}

// ---- helpers for clients ----

func (s *Sim) member(id uint64) *member { return s.members[id-1] }

// noteAcked records the log index of a definite answer.
func (s *Sim) noteAcked(index uint64) { s.ackedIndex = max(s.ackedIndex, index) }

func kvPath(key int) string { return fmt.Sprintf("/k%d", key) }
