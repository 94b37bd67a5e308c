package sim

import (
	"slices"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/vfs"
)

// Membership churn, leadership transfers and graceful stepdowns: what an
// operator does to a running cluster, done while the other faults go on.

// maxJoins bounds the members a run adds, so that runs stay small.
const maxJoins = 8

// churnOp is a membership change in progress. add, if set, is a new member
// that must become a voter; then remove, if set, must leave the
// configuration. A replacement sets both.
type churnOp struct {
	kind    string // "add", "remove" or "replace"
	add     uint64
	remove  uint64
	startNs int64
}

// newMember makes a member with an empty disk that starts with voters
// peers.
func (s *Sim) newMember(id uint64, peers []uint64) *member {
	return &member{
		id:    id,
		peers: slices.Clone(peers),
		fs:    vfs.NewMem(subRand(s.cfg.Seed, "disk", id)),
		rand:  subRand(s.cfg.Seed, "member", id),
	}
}

// configMembers are the voters and learners of l's configuration.
func configMembers(l *member) []uint64 {
	if l == nil || l.node == nil {
		return nil
	}
	cs := l.node.ConfState()
	return append(slices.Clone(cs.Voters), cs.Learners...)
}

// join starts a brand-new member with an empty disk, as an operator starts
// a process before adding it: it knows the current voters (so that
// replaying the leader's log from its start gives it the same membership
// as everyone) and is in nobody's configuration until the leader adds it.
func (s *Sim) join(voters []uint64) *member {
	id := uint64(len(s.members) + 1)
	m := s.newMember(id, voters)
	m.learners = []uint64{id}
	s.members = append(s.members, m)
	s.live = append(s.live, id)
	s.net.grow(int(id))
	s.trace(TraceEvent{Type: "join", ID: id, Voters: slices.Clone(voters)})
	if err := s.start(m); err != nil {
		s.fail(ClassCrash, "join", err.Error())
		return m
	}
	s.at(s.nowNs+int64(m.rand.IntN(int(s.opts.TickMs*1000)))*1000, func() { s.tick(m) })
	return m
}

// onRemoved runs when m's removal, at index, commits. The process keeps
// running (it may not even know it was removed, and must not count toward
// any quorum meanwhile) until every voter of the leader's configuration
// has applied the removal, and a little longer; then it is stopped for
// good, as a careful operator would. Stopping it as soon as the removal
// commits could strand the rest: a member that has not applied the
// removal still counts the removed one in its majority.
func (s *Sim) onRemoved(m *member, index uint64) {
	var poll func()
	poll = func() {
		if m.gone || s.phase == phaseDone {
			return
		}
		if !s.removalApplied(m.id, index) {
			s.after(s.opts.TickMs*1e6, poll)
			return
		}
		if s.phase != phaseSafety {
			s.decommission(m)
			return
		}
		et := float64(s.opts.ElectionTick) * float64(s.opts.TickMs)
		s.after(s.expMs(et), func() { s.decommission(m) })
	}
	poll()
}

// removalApplied: a leader is known, id is out of its configuration, and
// every voter of that configuration has applied index.
func (s *Sim) removalApplied(id, index uint64) bool {
	l := s.leader()
	if l == nil || l.view.applied < index {
		return false
	}
	cs := l.node.ConfState()
	if slices.Contains(cs.Voters, id) || slices.Contains(cs.Learners, id) {
		return false
	}
	for _, v := range cs.Voters {
		if o := s.member(v); !o.up || o.view.applied < index {
			return false
		}
	}
	return true
}

// decommission stops m for good: its process and disk are gone.
func (s *Sim) decommission(m *member) {
	if m.gone {
		return
	}
	if m.paused {
		s.down-- // it was paused by a fault that now finds it gone
	}
	if m.up {
		_ = m.node.Close()
	}
	m.node, m.up, m.paused, m.held, m.gone = nil, false, false, nil, true
	m.life++
	m.view.role, m.view.lead = raft.StateFollower, 0
	s.live = slices.DeleteFunc(s.live, func(id uint64) bool { return id == m.id })
	s.trace(TraceEvent{Type: "leave", ID: m.id})
}

// startChurn starts a membership change if none is in progress and a
// leader is known to propose it to.
func (s *Sim) startChurn() {
	if s.churn != nil {
		return
	}
	l := s.leader()
	if l == nil || l.paused {
		return
	}
	cs := l.node.ConfState()
	r := s.faultRand
	n := s.opts.Members
	canAdd := len(s.members) < n+maxJoins && len(cs.Voters) < n+2
	canRemove := len(cs.Voters) > max(1, n-2) || len(cs.Learners) > 0
	var kinds []string
	if canAdd {
		kinds = append(kinds, "add")
	}
	if canRemove {
		kinds = append(kinds, "remove")
	}
	if len(s.members) < n+maxJoins {
		kinds = append(kinds, "replace")
	}
	if len(kinds) == 0 {
		return
	}
	op := &churnOp{kind: kinds[r.IntN(len(kinds))], startNs: s.nowNs}
	pickRemove := func() uint64 {
		if len(cs.Learners) > 0 && r.IntN(3) == 0 {
			return cs.Learners[r.IntN(len(cs.Learners))]
		}
		if len(cs.Voters) < 2 {
			return 0
		}
		return cs.Voters[r.IntN(len(cs.Voters))] // the leader too, sometimes
	}
	switch op.kind {
	case "add":
		op.add = s.join(cs.Voters).id
	case "remove":
		op.remove = pickRemove()
	case "replace":
		op.remove = pickRemove()
		op.add = s.join(cs.Voters).id
	}
	if op.add == 0 && op.remove == 0 {
		return
	}
	s.churn = op
	s.trace(TraceEvent{Type: "churn", Kind: op.kind, To: op.add, From: op.remove})
	s.after(0, s.pollChurn)
}

// pollChurn drives the change in progress: it proposes at the current
// leader whatever step is missing from the leader's configuration, and
// comes back a heartbeat later. Proposals fail harmlessly while another
// change is unapplied or leadership is moving; the next poll retries.
func (s *Sim) pollChurn() {
	op := s.churn
	if op == nil || s.phase != phaseSafety {
		return
	}
	again := func() { s.after(2*int64(s.opts.HeartbeatTick)*s.opts.TickMs*1e6, s.pollChurn) }
	// A change that cannot finish (its new member keeps failing to catch
	// up, say) is given up; the leader may still complete it later.
	if s.nowNs-op.startNs > 40*int64(s.opts.ElectionTick)*s.opts.TickMs*1e6 {
		s.churn = nil
		return
	}
	l := s.leader()
	if l == nil || l.paused {
		again()
		return
	}
	cs := l.node.ConfState()
	var cc raft.ConfChange
	switch {
	case op.add != 0 && slices.Contains(cs.Voters, op.add):
		op.add = 0 // promoted by the leader once caught up
		s.after(0, s.pollChurn)
		return
	case op.add != 0 && !slices.Contains(cs.Learners, op.add):
		cc = raft.ConfChange{Type: raft.ConfChangeAddLearner, NodeID: op.add}
	case op.add != 0:
		again() // a learner catching up
		return
	case op.remove != 0 && (slices.Contains(cs.Voters, op.remove) || slices.Contains(cs.Learners, op.remove)):
		if len(cs.Voters) == 1 && cs.Voters[0] == op.remove {
			s.churn = nil // the last voter stays
			return
		}
		cc = raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: op.remove}
	default:
		s.churn = nil
		return
	}
	if err := l.node.ProposeConfChange(cc, nil); err == nil {
		s.trace(TraceEvent{Type: "conf-propose", ID: l.id, Kind: cc.Type.String(), To: cc.NodeID})
		s.process(l)
	}
	again()
}

// injectTransfer tells the leader to hand leadership to another voter,
// chosen at random whether it is caught up or not.
func (s *Sim) injectTransfer() {
	l := s.leader()
	if l == nil || l.paused {
		return
	}
	var to []uint64
	for _, id := range l.node.ConfState().Voters {
		if id != l.id {
			to = append(to, id)
		}
	}
	if len(to) == 0 {
		return
	}
	target := to[s.faultRand.IntN(len(to))]
	s.trace(TraceEvent{Type: "transfer", ID: l.id, To: target})
	if l.node.TransferLeadership(target) == nil {
		s.process(l)
	}
	s.res.Faults++
}

// injectStepdown shuts the leader down gracefully: it hands leadership to
// its most caught-up voter, keeps running until someone else leads or an
// election timeout has passed, then stops (cleanly: a graceful stop loses
// nothing) and restarts after a while.
func (s *Sim) injectStepdown() {
	l := s.leader()
	if l == nil || l.paused || s.down >= s.opts.Faults.MaxDown {
		return
	}
	to, err := l.node.Stepdown()
	if err != nil {
		return
	}
	s.trace(TraceEvent{Type: "stepdown", ID: l.id, To: to})
	s.process(l)
	s.res.Faults++
	life := l.life
	deadline := s.nowNs + int64(s.opts.ElectionTick)*s.opts.TickMs*1e6
	var wait func()
	wait = func() {
		if l.life != life || !l.up || s.phase != phaseSafety {
			return
		}
		if l.paused || (l.view.lead == l.id && s.nowNs < deadline) {
			s.after(s.opts.TickMs*1e6, wait)
			return
		}
		if s.down >= s.opts.Faults.MaxDown {
			return
		}
		if l.view.lead == l.id {
			s.res.StepdownsTimedOut++
		} else {
			s.res.Stepdowns++
		}
		s.down++
		s.stop(l, "stepdown")
		s.after(s.expMs(float64(s.opts.Faults.DurationMs)), func() {
			if !l.up && s.phase == phaseSafety {
				s.down--
				s.restart(l)
			}
		})
	}
	s.after(s.opts.TickMs*1e6, wait)
}
