package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/linearizability"
	"github.com/raftkv/raftkv/raft"
)

// Experiments for papers/: scripted runs of the real node core that
// reproduce published Raft measurements. Each is a function of its
// arguments (the seed among them) only, so trials can run on any number of
// goroutines and give the same numbers.

// ---- Figure 16 of the extended Raft paper (§9.3) ----

// ElectionTiming is the timing model of ElectionAfterCrash.
type ElectionTiming struct {
	// TickUs is the length of a tick in microseconds; it must divide 1000.
	// The simulator's clock counts whole milliseconds per tick
	// (Options.TickMs), so a run with TickUs < 1000 runs the simulator's
	// clock 1000/TickUs times faster: every duration handed to it (latency,
	// sync) is multiplied by that factor and every duration read back is
	// divided by it. Nothing in the node core reads time other than as
	// ticks, so the scaling is exact.
	TickUs int64
	// One-way message latency: LatencyMinMs plus an exponential tail of
	// mean LatencyTailMs, drawn per message.
	LatencyMinMs, LatencyTailMs float64
	// SyncMs is how long a member's disk takes to make a Ready durable
	// (a vote, a term, entries); the member's messages wait for it.
	SyncMs float64
}

// BroadcastMs is the mean time for a member to send a message and get an
// answer that needed one disk write: the paper's "broadcast time".
func (t ElectionTiming) BroadcastMs() float64 {
	return 2*(t.LatencyMinMs+t.LatencyTailMs) + t.SyncMs
}

// ElectionTrial is one trial of ElectionAfterCrash.
type ElectionTrial struct {
	Seed uint64
	// The election timeout is drawn from [MinMs, MaxMs] (rounded to whole
	// ticks); the leader's heartbeat interval is MinMs/2.
	MinMs, MaxMs float64
	// PreVote and CheckQuorum turn on the two extensions (the paper's
	// measurement ran without them).
	PreVote, CheckQuorum bool
	Timing               ElectionTiming
	// CapMs bounds the wait for a new leader: a trial that reaches it is
	// reported with Elected false (a censored measurement).
	CapMs float64
	// EqualLogs leaves every follower's log as long as the leader's (an
	// ablation: the paper's procedure gives two of them shorter logs).
	EqualLogs bool
}

// ElectionResult is the outcome of one ElectionAfterCrash trial.
type ElectionResult struct {
	// DowntimeMs is the time from the leader's crash until every live
	// member follows a new leader (the paper: "until the other servers
	// received the new leader's first heartbeat"); CapMs when not Elected.
	DowntimeMs float64
	Elected    bool
	// Terms is how many terms the election took (1: no split vote).
	Terms int
	// Winner is the new leader; WinnerLagging says it was one of the two
	// members whose log was shorter at the crash (it can win only after
	// an intermediate leader caught it up).
	Winner        uint64
	WinnerLagging bool
	// Retries counts the setups done again because a follower deposed the
	// leader before the crash (timeouts close to the broadcast time).
	Retries int
}

// ElectionAfterCrash reproduces one trial of the experiment behind Figure
// 16 of the extended Raft paper (§9.3; thesis §9.4): a 5-member cluster
// elects a leader; the leader replicates a few entries to two followers
// only (its appends to the other two are lost, heartbeats are not), so
// the survivors' logs differ in length and two of the four cannot win;
// the cluster goes quiet, so that the leader's last heartbeat broadcast
// is the last thing the followers heard; the leader crashes at a uniformly
// random moment within its heartbeat interval; the trial measures how long
// the cluster is without a leader.
func ElectionAfterCrash(t ElectionTrial) (ElectionResult, error) {
	tm := t.Timing
	if tm.TickUs <= 0 || 1000%tm.TickUs != 0 {
		return ElectionResult{}, fmt.Errorf("sim: tick of %dµs does not divide a millisecond", tm.TickUs)
	}
	if t.MinMs <= 0 || t.MaxMs < t.MinMs {
		return ElectionResult{}, fmt.Errorf("sim: bad election timeout range %g–%g ms", t.MinMs, t.MaxMs)
	}
	scale := float64(1000 / tm.TickUs) // simulator ms per real ms
	ticks := func(ms float64) int { return int(math.Round(ms * 1000 / float64(tm.TickUs))) }
	o, err := MakeOptions("calm", t.Seed, false, "")
	if err != nil {
		return ElectionResult{}, err
	}
	o.Preset = "paper-fig16"
	o.Members, o.Clients, o.Keys = 5, 0, 1
	o.SafetyMs = 1 << 50 // the experiment drives the run
	o.TickMs = 1
	o.ElectionTick, o.ElectionTickMax = ticks(t.MinMs), ticks(t.MaxMs)
	o.HeartbeatTick = max(1, ticks(t.MinMs/2))
	if o.ElectionTick <= o.HeartbeatTick {
		return ElectionResult{}, fmt.Errorf("sim: election timeout %g ms is too short for a %dµs tick", t.MinMs, tm.TickUs)
	}
	o.DisablePreVote, o.DisableCheckQuorum = !t.PreVote, !t.CheckQuorum
	o.SyncMs = tm.SyncMs * scale
	o.Net = NetOptions{LatencyMinMs: tm.LatencyMinMs * scale, LatencyTailMs: tm.LatencyTailMs * scale}
	s := newSim(Config{Seed: t.Seed, Options: o})
	if err := s.init(); err != nil {
		return ElectionResult{}, err
	}
	r := subRand(t.Seed, "experiment", 0)
	msNs := func(ms float64) int64 { return int64(ms * scale * 1e6) }
	limit := msNs(60_000)

	// Set up: a leader that every member follows, with its first entry
	// committed; two followers lag; quiet; the crash. With timeouts close
	// to the broadcast time a follower may time out and depose the leader
	// before the crash: the setup is then done again with the new leader.
	var l *member
	var lagging []uint64
	retries := 0
	for ; ; retries++ {
		if retries == 20 {
			return ElectionResult{}, s.benchFailure("the leader kept changing before the crash")
		}
		s.net.filter = nil
		if !s.runUntil(limit, func() bool {
			l = s.leader()
			return l != nil && l.view.commit == l.view.lastIndex() && l.view.termAt(l.view.commit) == l.view.term &&
				s.followedByAll(l)
		}) {
			return ElectionResult{}, s.benchFailure("no leader")
		}
		// Two followers lag: the leader's appends to them are lost.
		var followers []uint64
		for _, id := range s.ids {
			if id != l.id {
				followers = append(followers, id)
			}
		}
		r.Shuffle(len(followers), func(i, j int) { followers[i], followers[j] = followers[j], followers[i] })
		lagging = followers[:2]
		if t.EqualLogs {
			lagging = nil
		}
		lead, lag := l.id, lagging
		s.net.filter = func(m raft.Message) bool {
			return m.From == lead && slices.Contains(lag, m.To) && (m.Type == raft.MsgApp || m.Type == raft.MsgSnap)
		}
		term := l.view.term
		stillLeads := func() bool { return l.up && l.view.role == raft.StateLeader && l.view.term == term }
		for i := range 3 {
			cmd := &kv.Command{Method: kv.MethodPut, Path: kvPath(0), Value: fmt.Sprint(i)}
			if err := l.node.Propose(cmd, s.nowNs, nil); err != nil {
				return ElectionResult{}, fmt.Errorf("sim: propose: %w", err)
			}
			s.process(l)
		}
		if !s.runUntil(limit, func() bool { return !stillLeads() || l.view.commit == l.view.lastIndex() }) {
			return ElectionResult{}, s.benchFailure("entries never committed")
		}
		if !stillLeads() {
			continue
		}
		// Quiet: a few heartbeat intervals with nothing but heartbeats
		// (and the lagging followers' lost appends), then a crash at a
		// uniformly random moment of the heartbeat period: the time since
		// the last heartbeat broadcast is then uniform over the interval.
		hbNs := int64(o.HeartbeatTick) * o.TickMs * 1e6
		crashAt := s.nowNs + 3*hbNs + int64(r.Float64()*float64(hbNs))
		if !s.runUntil(limit, func() bool { return !stillLeads() || s.nowNs >= crashAt }) {
			return ElectionResult{}, s.benchFailure("the run stopped before the crash")
		}
		if stillLeads() && s.leader() == l {
			break
		}
	}
	oldTerm := l.view.term
	s.crash(l, "experiment")
	t0 := s.nowNs
	var nl *member
	done := s.runUntil(msNs(t.CapMs), func() bool {
		nl = s.leader()
		return nl != nil && nl.view.term > oldTerm && s.followedByAll(nl)
	})
	if s.failure != nil {
		return ElectionResult{}, s.failure
	}
	res := ElectionResult{DowntimeMs: float64(s.nowNs-t0) / 1e6 / scale, Elected: done, Retries: retries}
	if !done {
		res.DowntimeMs = t.CapMs
		return res, nil
	}
	res.Terms = int(nl.view.term - oldTerm)
	res.Winner = nl.id
	res.WinnerLagging = slices.Contains(lagging, nl.id)
	return res, nil
}

// followedByAll reports whether every running member follows l in l's
// term.
func (s *Sim) followedByAll(l *member) bool {
	for _, m := range s.members {
		if m.up && (m.view.term != l.view.term || m.view.lead != l.id) {
			return false
		}
	}
	return true
}

// ---- Pre-Vote and CheckQuorum against disruptions (thesis §9.6, §6.2) ----

// DisruptionScenario is the fault a Disruption run repeats.
type DisruptionScenario int

const (
	// FlappingMember: one follower is cut off from every other member,
	// then healed, again and again (thesis §9.6: the rejoining member's
	// higher term deposes the leader unless Pre-Vote stops it).
	FlappingMember DisruptionScenario = iota
	// IsolatedLeader: the leader is cut off from every other member but
	// not from the clients, then healed (thesis §6.2: without CheckQuorum
	// it goes on accepting requests it can never commit).
	IsolatedLeader
)

func (d DisruptionScenario) String() string {
	return [...]string{"flapping-member", "isolated-leader"}[d]
}

// DisruptionConfig is one Disruption run.
type DisruptionConfig struct {
	Scenario             DisruptionScenario
	PreVote, CheckQuorum bool
	Seed                 uint64
	// DurationMs is the simulated time of the run.
	DurationMs int64
	// Each cycle cuts the member off for PartitionMs, then leaves the
	// network whole for HealedMs.
	PartitionMs, HealedMs int64
	// SlowMs: an answered request that took longer than this "waited".
	SlowMs float64
	// Progress, if set, is called now and then with the simulated time
	// covered so far.
	Progress func(doneMs int64)
}

// DisruptionResult is what a Disruption run measured.
type DisruptionResult struct {
	SimulatedMs int64
	// Partitions is how many cycles cut a member off (a flapping member
	// that leads when its cycle starts is left alone: Skipped).
	Partitions, Skipped int
	// LeaderChanges counts the times a different leader (member and term)
	// took over; Terms is how far the highest term climbed.
	LeaderChanges int
	Terms         uint64
	// LeaderlessMs is the time during which no leader could lead: none
	// that a majority of members followed in its term and could reach.
	LeaderlessMs float64
	// Client requests: issued, answered with a definite result, failed
	// (timed out or lost: the client never learnt the outcome, or learnt
	// it had none), and answered only after more than SlowMs (Waited).
	Requests, Answered, Failed, Waited int
	// Latency of answered requests.
	P50Ms, P99Ms, MaxMs float64
}

// Disruption runs a 5-member cluster under a steady client load for
// DurationMs of simulated time while the scenario's fault repeats, and
// measures the cost: leader changes, time without a leader, and client
// requests that failed or waited. The network between members is a LAN
// (1 ms + an exponential tail of mean 1 ms one way, no loss), the tick 10
// ms, the election timeout 150–300 ms, the heartbeat 50 ms; 5 clients
// with a mean think time of 50 ms, each giving up on a request after 1 s.
func Disruption(cfg DisruptionConfig) (DisruptionResult, error) {
	if cfg.DurationMs <= 0 || cfg.PartitionMs <= 0 || cfg.HealedMs <= 0 {
		return DisruptionResult{}, errors.New("sim: disruption: durations must be positive")
	}
	o, err := MakeOptions("calm", cfg.Seed, false, "")
	if err != nil {
		return DisruptionResult{}, err
	}
	o.Preset = "paper-disruption"
	o.Members, o.Clients, o.Keys = 5, 5, 3
	o.SafetyMs = 1 << 50
	o.TickMs, o.ElectionTick, o.HeartbeatTick = 10, 15, 5
	o.DisablePreVote, o.DisableCheckQuorum = !cfg.PreVote, !cfg.CheckQuorum
	o.Net = NetOptions{LatencyMinMs: 1, LatencyTailMs: 1}
	o.Workload = WorkloadOptions{ThinkMs: 50, TimeoutMs: 1000, Get: 3, Set: 3, Create: 1, CAS: 2, Delete: 1}
	s := newSim(Config{Seed: cfg.Seed, Options: o})
	if err := s.init(); err != nil {
		return DisruptionResult{}, err
	}
	var res DisruptionResult
	pollNs := int64(1e6)
	var cur struct{ id, term uint64 }
	var firstTerm uint64
	var leaderless int64
	var poll func()
	poll = func() {
		if l := s.usableLeader(); l == nil {
			leaderless += pollNs
		} else if l.id != cur.id || l.view.term != cur.term {
			if cur.id != 0 {
				res.LeaderChanges++
			} else {
				firstTerm = l.view.term
			}
			cur.id, cur.term = l.id, l.view.term
		}
		s.after(pollNs, poll)
	}
	// Start measuring once the first leader is settled.
	if !s.runUntil(60e9, func() bool { return s.usableLeader() != nil }) {
		return res, s.benchFailure("no first leader")
	}
	start := s.nowNs
	opsBefore := s.res.Ops
	// The flapping member: the first follower when measuring starts.
	flapper := s.ids[0]
	if l := s.usableLeader(); l.id == flapper {
		flapper = s.ids[1]
	}
	poll()
	var cycle func()
	cycle = func() {
		var cut uint64
		switch cfg.Scenario {
		case FlappingMember:
			if l := s.leader(); l != nil && l.id == flapper {
				res.Skipped++
			} else {
				cut = flapper
			}
		case IsolatedLeader:
			if l := s.usableLeader(); l != nil {
				cut = l.id
			} else {
				res.Skipped++
			}
		}
		if cut != 0 {
			res.Partitions++
			s.net.split([][]uint64{{cut}, slices.DeleteFunc(slices.Clone(s.ids), func(id uint64) bool { return id == cut })})
			s.partition = true
			s.trace(TraceEvent{Type: "partition", Kind: "isolate", Groups: [][]uint64{{cut}}})
		}
		s.after(cfg.PartitionMs*1e6, func() {
			if s.partition {
				s.heal()
			}
			s.after(cfg.HealedMs*1e6, cycle)
		})
	}
	s.after(cfg.HealedMs*1e6, cycle)
	end := start + cfg.DurationMs*1e6
	for s.nowNs < end {
		step := min(end, s.nowNs+60e9) // report progress every simulated minute
		s.runUntil(step-s.nowNs, func() bool { return s.nowNs >= step })
		if s.failure != nil {
			return res, s.failure
		}
		if cfg.Progress != nil {
			cfg.Progress((s.nowNs - start) / 1e6)
		}
	}
	res.SimulatedMs = (s.nowNs - start) / 1e6
	res.LeaderlessMs = float64(leaderless) / 1e6
	if l := s.leader(); l != nil {
		res.Terms = l.view.term - firstTerm
	} else {
		for _, m := range s.members {
			res.Terms = max(res.Terms, m.view.term-firstTerm)
		}
	}
	// Client requests issued after the first leader was settled.
	var lat []float64
	for _, op := range s.hist.Operations() {
		if op.Call < start {
			continue
		}
		if out, ok := op.Output.(linearizability.Output); ok && out.Status == linearizability.StatusAmbiguous {
			continue
		}
		ms := float64(op.Return-op.Call) / 1e6
		lat = append(lat, ms)
		if ms > cfg.SlowMs {
			res.Waited++
		}
	}
	res.Answered = len(lat)
	// Requests still waiting when the run ends are neither.
	pending := 0
	for _, c := range s.clients {
		if c.op != nil {
			pending++
		}
	}
	res.Requests = s.res.Ops - opsBefore - pending
	res.Failed = res.Requests - res.Answered
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		res.P50Ms, res.P99Ms, res.MaxMs = lat[n/2], lat[n*99/100], lat[n-1]
	}
	return res, nil
}

// usableLeader is the leader that a majority of the members (itself
// included) follow in its term and can exchange messages with, or nil.
func (s *Sim) usableLeader() *member {
	for _, l := range s.members {
		if !l.up || l.paused || l.view.role != raft.StateLeader {
			continue
		}
		n := 0
		for _, m := range s.members {
			if m == l || m.up && m.view.term == l.view.term && m.view.lead == l.id &&
				!s.net.blocked[s.net.link(l.id, m.id)] && !s.net.blocked[s.net.link(m.id, l.id)] {
				n++
			}
		}
		if n > len(s.ids)/2 {
			return l
		}
	}
	return nil
}
