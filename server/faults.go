package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/rpc"
)

// TEST ONLY. This file is the fault injection of
// --experimental-fault-injection (MemberConfig.FaultInjection): the
// nemesis (internal/nemesis) drops and delays raft messages between real
// processes with it, because the kernels it runs on have no netem. Off by
// default; when off, nothing here exists in a running member (m.faults is
// nil, no route, no rpc filter).
//
// With it on, the client listeners serve /debug/faults:
//
//	GET    /debug/faults    the rules in force, as JSON
//	PUT    /debug/faults    form: peer=<member id in hex, or *> drop=<0..1>
//	                        delay=<duration> jitter=<duration>; sets the
//	                        rule for messages this member sends to that
//	                        peer (* is every peer without a rule of its own);
//	                        drop=0 delay=0 jitter=0 removes it
//	DELETE /debug/faults    removes every rule
//
// A rule drops each outbound raft message with probability drop, and
// otherwise holds it for delay plus a uniform draw in [0, jitter) (rpc's
// Filter: the messages queued behind it on its lane wait too). Forwarded
// writes (the app lane) are not affected. drop must be a number in [0, 1];
// delay and jitter whole milliseconds, each and together at most 30s;
// anything else is refused with a 400.
//
// The endpoint has no authentication: it bypasses v2 auth (auth.go), so
// any client that reaches a client URL can partition the member. Never
// turn the flag on outside a test; it can be turned on by the environment
// too (RAFTKV_EXPERIMENTAL_FAULT_INJECTION or
// ETCD_EXPERIMENTAL_FAULT_INJECTION), so a member that has it says so
// loudly in its log when it starts (newFaults).

// faultRule is the fault rule for one peer.
type faultRule struct {
	Drop     float64 `json:"drop"`
	DelayMs  int64   `json:"delayMs"`
	JitterMs int64   `json:"jitterMs"`
}

// maxFaultDelay bounds a rule's delay plus jitter.
const maxFaultDelay = 30 * time.Second

// faults holds the rules; its filters are installed on every peer of the
// transport (attach), and read the rules on each message.
type faults struct {
	mu    sync.Mutex
	rng   *rand.Rand
	rules map[uint64]faultRule // by peer id; 0 is the rule for every peer
}

// newFaults makes the fault injection of a member, and warns on log that
// it is on.
func newFaults(seed uint64, log *slog.Logger) *faults {
	if log == nil {
		log = slog.Default()
	}
	log.Warn("TEST ONLY: fault injection is on (--experimental-fault-injection): " +
		"/debug/faults on the client URLs drops and delays raft messages, without authentication; " +
		"never run a member with it outside a test")
	return &faults{rng: rand.New(rand.NewPCG(seed, 0x6661756c7473)), rules: map[uint64]faultRule{}}
}

// attach installs the filter on peer id of tr. Called for every peer the
// member adds (syncPeers), so a rule for * covers later peers too.
func (f *faults) attach(tr *rpc.Transport, id uint64) error {
	return tr.SetFilter(id, func(raft.Message) (bool, time.Duration) { return f.decide(id) })
}

func (f *faults) decide(id uint64) (drop bool, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rules[id]
	if !ok {
		if r, ok = f.rules[0]; !ok {
			return false, 0
		}
	}
	if r.Drop > 0 && f.rng.Float64() < r.Drop {
		return true, 0
	}
	delay = time.Duration(r.DelayMs) * time.Millisecond
	if r.JitterMs > 0 {
		delay += time.Duration(f.rng.Int64N(r.JitterMs * int64(time.Millisecond)))
	}
	return false, delay
}

// wrap serves /debug/faults in front of h.
func (f *faults) wrap(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/debug/faults", f.serve)
	return mux
}

func (f *faults) serve(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodDelete:
		f.mu.Lock()
		clear(f.rules)
		f.mu.Unlock()
	case http.MethodPut, http.MethodPost:
		if err := f.set(r); err != nil {
			http.Error(w, "/debug/faults: "+err.Error(), http.StatusBadRequest)
			return
		}
	default:
		w.Header().Set("Allow", "GET, PUT, POST, DELETE")
		http.Error(w, "/debug/faults: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f.mu.Lock()
	out := map[string]faultRule{}
	for id, rule := range f.rules {
		name := "*"
		if id != 0 {
			name = IDString(id)
		}
		out[name] = rule
	}
	f.mu.Unlock()
	// encoding/json writes the map's keys sorted.
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Peers map[string]faultRule `json:"peers"`
	}{out})
}

// set applies a PUT's form.
func (f *faults) set(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	peer := r.Form.Get("peer")
	var id uint64
	switch peer {
	case "":
		return fmt.Errorf("peer is missing: give a member id in hex or *")
	case "*":
	default:
		var err error
		if id, err = strconv.ParseUint(peer, 16, 64); err != nil || id == 0 {
			return fmt.Errorf("peer %q is not a member id in hex or *", peer)
		}
	}
	var rule faultRule
	if s := r.Form.Get("drop"); s != "" {
		p, err := strconv.ParseFloat(s, 64)
		if err != nil || !(p >= 0 && p <= 1) { // NaN too
			return fmt.Errorf("drop %q is not a probability between 0 and 1", s)
		}
		rule.Drop = p
	}
	durs := []struct {
		name string
		to   *int64
	}{{"delay", &rule.DelayMs}, {"jitter", &rule.JitterMs}}
	total := time.Duration(0)
	for _, d := range durs {
		s := r.Form.Get(d.name)
		if s == "" {
			continue
		}
		v, err := time.ParseDuration(s)
		switch {
		case err != nil || v < 0:
			return fmt.Errorf("%s %q is not a duration such as 50ms", d.name, s)
		case v%time.Millisecond != 0:
			return fmt.Errorf("%s %q is not a whole number of milliseconds", d.name, s)
		case v > maxFaultDelay:
			// Checked alone first: the sum of two could overflow.
			return fmt.Errorf("%s is %v, above the limit of %v", d.name, v, maxFaultDelay)
		}
		*d.to = v.Milliseconds()
		total += v
	}
	if total > maxFaultDelay {
		return fmt.Errorf("delay plus jitter is %v, above the limit of %v", total, maxFaultDelay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if rule == (faultRule{}) {
		delete(f.rules, id)
	} else {
		f.rules[id] = rule
	}
	return nil
}
