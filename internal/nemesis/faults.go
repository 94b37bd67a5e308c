package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Fault is a kind of fault the nemesis injects.
type Fault string

// The faults, as named in the summary and in Options.Faults.
const (
	// FaultIsolateLeader cuts the leader off from every other member
	// (iptables, both directions).
	FaultIsolateLeader Fault = "isolate-leader"
	// FaultSplit cuts the members into a minority and a majority.
	FaultSplit Fault = "split"
	// FaultBridge cuts the members into two sides with one member that
	// sees both (the Jepsen "bridge").
	FaultBridge Fault = "bridge"
	// FaultOneWay drops the packets from some members to one member only
	// (iptables on the receiver's side).
	FaultOneWay Fault = "one-way"
	// FaultKillLeader, FaultKillFollower and FaultKillAll SIGKILL members
	// and restart them after the fault's duration.
	FaultKillLeader   Fault = "kill-leader"
	FaultKillFollower Fault = "kill-follower"
	FaultKillAll      Fault = "kill-all"
	// FaultPause SIGSTOPs a member (the leader half of the time) and
	// SIGCONTs it after the fault's duration.
	FaultPause Fault = "pause"
	// FaultDelay delays every member's raft messages (their fault hooks,
	// --experimental-fault-injection).
	FaultDelay Fault = "delay"
	// FaultLoss drops a share of every member's raft messages (fault
	// hooks).
	FaultLoss Fault = "loss"
)

// AllFaults lists every fault kind.
var AllFaults = []Fault{
	FaultIsolateLeader, FaultSplit, FaultBridge, FaultOneWay,
	FaultKillLeader, FaultKillFollower, FaultKillAll, FaultPause,
	FaultDelay, FaultLoss,
}

// ParseFaults parses a comma-separated list of fault names ("" or "all":
// every fault).
func ParseFaults(s string) ([]Fault, error) {
	if s == "" || s == "all" {
		return slices.Clone(AllFaults), nil
	}
	var out []Fault
	for _, name := range strings.Split(s, ",") {
		f := Fault(strings.TrimSpace(name))
		if !slices.Contains(AllFaults, f) {
			var names []string
			for _, a := range AllFaults {
				names = append(names, string(a))
			}
			return nil, fmt.Errorf("unknown fault %q; the faults are %s", name, strings.Join(names, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

// injected is one fault as applied: what, to whom, for how long, and
// how to undo it.
type injected struct {
	kind Fault
	what string
	heal func(ctx context.Context) error
}

// inject applies a fault of kind drawn with rng. leader is the member
// believed to lead (-1 if none is known).
func (r *runner) inject(ctx context.Context, kind Fault, rng *rand.Rand, leader int) (*injected, error) {
	n := r.opts.Members
	perm := rng.Perm(n)
	pickLeader := func() int {
		if leader >= 0 {
			return leader
		}
		return perm[0]
	}
	inj := &injected{kind: kind}
	switch kind {
	case FaultIsolateLeader:
		l := pickLeader()
		var others []int
		for i := range n {
			if i != l {
				others = append(others, i)
			}
		}
		inj.what = fmt.Sprintf("%s cut off", r.name(l))
		return inj, r.partition(ctx, inj, [][]int{{l}, others})
	case FaultSplit:
		k := 1 + rng.IntN((n-1)/2) // minority size: 1..(n-1)/2
		a, b := slices.Clone(perm[:k]), slices.Clone(perm[k:])
		inj.what = fmt.Sprintf("%s | %s", r.names(a), r.names(b))
		return inj, r.partition(ctx, inj, [][]int{a, b})
	case FaultBridge:
		// n=3: a | bridge | b; n=5: a b | bridge | c d. The bridge is in
		// no side: it drops nothing and nobody drops it, so it sees all.
		side := (n - 1) / 2
		a, bridge, b := slices.Clone(perm[:side]), perm[side], slices.Clone(perm[side+1:])
		inj.what = fmt.Sprintf("%s | %s | %s", r.names(a), r.name(bridge), r.names(b))
		return inj, r.partition(ctx, inj, [][]int{a, b})
	case FaultOneWay:
		// The receiver (the leader half of the time) loses what some
		// others send it; what it sends still arrives.
		to := perm[0]
		if leader >= 0 && rng.IntN(2) == 0 {
			to = leader
		}
		var from []int
		for _, i := range perm {
			if i != to && (len(from) == 0 || rng.IntN(2) == 0) {
				from = append(from, i)
			}
		}
		slices.Sort(from)
		inj.what = fmt.Sprintf("%s -> %s lost", r.names(from), r.name(to))
		rules := make([][]int, n)
		rules[to] = from
		inj.heal = r.healRules
		return inj, r.applyRules(ctx, rules)
	case FaultKillLeader, FaultKillFollower, FaultKillAll:
		var victims []int
		switch kind {
		case FaultKillLeader:
			victims = []int{pickLeader()}
		case FaultKillFollower:
			for _, i := range perm {
				if i != leader {
					victims = []int{i}
					break
				}
			}
		default:
			victims = perm
		}
		slices.Sort(victims)
		inj.what = "SIGKILL " + r.names(victims)
		for _, i := range victims {
			r.cluster.Kill(i)
		}
		inj.heal = func(context.Context) error {
			for _, i := range victims {
				if !r.cluster.Running(i) {
					if err := r.cluster.Restart(i); err != nil {
						return err
					}
				}
			}
			return nil
		}
		return inj, nil
	case FaultPause:
		v := perm[0]
		if leader >= 0 && rng.IntN(2) == 0 {
			v = leader
		}
		inj.what = "SIGSTOP " + r.name(v)
		r.cluster.Pause(v)
		inj.heal = func(context.Context) error { r.cluster.Resume(v); return nil }
		return inj, nil
	case FaultDelay:
		delay := time.Duration(20+rng.IntN(180)) * time.Millisecond
		jitter := time.Duration(rng.IntN(100)) * time.Millisecond
		inj.what = fmt.Sprintf("raft messages delayed %v + up to %v", delay, jitter)
		inj.heal = r.healHooks
		return inj, r.setHooks(ctx, url.Values{"peer": {"*"}, "delay": {delay.String()}, "jitter": {jitter.String()}})
	case FaultLoss:
		p := 0.1 + 0.4*rng.Float64()
		inj.what = fmt.Sprintf("%.0f%% of raft messages dropped", 100*p)
		inj.heal = r.healHooks
		return inj, r.setHooks(ctx, url.Values{"peer": {"*"}, "drop": {fmt.Sprintf("%.3f", p)}})
	}
	return nil, fmt.Errorf("unknown fault %q", kind)
}

// partition cuts every side off from every other side; a member in no
// side sees all of them.
func (r *runner) partition(ctx context.Context, inj *injected, sides [][]int) error {
	rules := make([][]int, r.opts.Members)
	for si, side := range sides {
		for sj, other := range sides {
			if si == sj {
				continue
			}
			for _, i := range side {
				rules[i] = append(rules[i], other...)
			}
		}
	}
	inj.heal = r.healRules
	return r.applyRules(ctx, rules)
}

// applyRules sets every member's iptables rules (rules[i]: the members
// whose packets member i drops).
func (r *runner) applyRules(ctx context.Context, rules [][]int) error {
	for i := range r.opts.Members {
		if err := r.net.setRules(ctx, i, rules[i]); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) healRules(ctx context.Context) error {
	return r.applyRules(ctx, make([][]int, r.opts.Members))
}

// setHooks sets the same fault-hook rule on every running member.
func (r *runner) setHooks(ctx context.Context, form url.Values) error {
	return r.eachHook(ctx, http.MethodPut, form)
}

func (r *runner) healHooks(ctx context.Context) error {
	return r.eachHook(ctx, http.MethodDelete, nil)
}

// eachHook sends a /debug/faults request to every member. A member that
// is down (or restarting) is skipped: a new process starts without rules.
func (r *runner) eachHook(ctx context.Context, method string, form url.Values) error {
	for i, m := range r.cluster.Members {
		if !r.cluster.Running(i) {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, method, m.ClientURL+"/debug/faults", strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := r.ctl.Do(req)
		if err != nil {
			// Starting, or its listener not yet serving: no rules there.
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s/debug/faults: %s", method, m.ClientURL, resp.Status)
		}
	}
	return nil
}

func (r *runner) name(i int) string { return r.cluster.Members[i].Name }

func (r *runner) names(is []int) string {
	var s []string
	for _, i := range is {
		s = append(s, r.name(i))
	}
	return strings.Join(s, ",")
}
