package nemesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/raftkv/raftkv/internal/testcluster"
	"github.com/raftkv/raftkv/linearizability"
	"github.com/raftkv/raftkv/linearizability/v2workload"
)

// needNamespaces skips the test when this machine cannot make network
// namespaces, and fails it instead under CI=true, where they must work.
func needNamespaces(t *testing.T) {
	t.Helper()
	if err := Available(t.Context()); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and the nemesis cannot run: %v", err)
		}
		t.Skipf("%v (under CI=true this fails)", err)
	}
}

// TestShortRun runs the nemesis for 20 s against 3 members with every
// fault (some composed with delay or loss) and the lock workload, and checks what it found: a linearizable
// history of enough definite operations, faults injected, every key read
// from every member at the end, locks taken and holders paused, and a
// checker that rejects the same history with one final read changed.
func TestShortRun(t *testing.T) {
	needNamespaces(t)
	seed := uint64(time.Now().UnixNano())
	var log strings.Builder
	res, err := Run(t.Context(), Options{
		Bin: testcluster.Build(t), Seed: seed, Duration: 20 * time.Second, Members: 3,
		Log: &log, CheckTimeout: time.Minute, Compose: 0.3,
	})
	if err != nil {
		t.Fatal(err)
	}
	var sum strings.Builder
	res.WriteSummary(&sum)
	t.Logf("faults:\n%s\n%s", log.String(), sum.String())
	if res.Verdict != VerdictOK {
		t.Fatalf("verdict %s: %s\nreplay: %s", res.Verdict, res.Why, res.Replay)
	}
	definite := 0
	for _, c := range res.Ops {
		definite += c[v2workload.OK] + c[v2workload.Failed]
	}
	if definite < 300 {
		t.Errorf("only %d definite operations: too few to mean much", definite)
	}
	if len(res.FaultLog) < 2 { // at most 3 s of calm, then at most 6 s of fault
		t.Errorf("only %d faults in 20 s", len(res.FaultLog))
	}
	if res.Keys == 0 || res.FinalReads < res.Keys*3 {
		t.Errorf("%d final reads of %d keys from 3 members", res.FinalReads, res.Keys)
	}
	if l := res.Locks; l == nil || l.Acquisitions < 5 || l.PausedHolds == 0 {
		t.Errorf("the lock workload hardly ran: %+v", l)
	}
	if res.Dir != "" {
		t.Errorf("a run that passed kept its directory %s", res.Dir)
	}
	if left := leftovers(t); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
	if t.Failed() {
		t.Logf("replay: %s", res.Replay)
	}
	checkerCatchesLostWrite(t, res.ops)
}

// TestCatchesStaleReads proves the whole run live on real processes: with
// a bug planted in the clients (reads with quorum=false, answered from
// the member's own store), cutting leaders off must end in a violation,
// with Porcupine's HTML written and the members' logs kept.
func TestCatchesStaleReads(t *testing.T) {
	needNamespaces(t)
	// Seed 9 cuts the leader off three times, for 4.0, 2.9 and 5.1 s:
	// each long enough for the others to elect a leader and write while
	// the old one still answers reads from its own store.
	const seed = 9
	res, err := Run(t.Context(), Options{
		Bin: testcluster.Build(t), Seed: seed, Duration: 15 * time.Second, Members: 3, Locks: -1,
		Faults: []Fault{FaultIsolateLeader}, CheckTimeout: time.Minute, staleReads: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dir != "" {
		defer os.RemoveAll(res.Dir)
	}
	if html := res.Check.VisualizationPath; html != "" {
		defer os.RemoveAll(filepath.Dir(html))
	}
	var sum strings.Builder
	res.WriteSummary(&sum)
	t.Logf("%s", sum.String())
	if res.Verdict != VerdictViolation {
		t.Fatalf("stale reads under partitions: verdict %s, want violation (seed %d)", res.Verdict, seed)
	}
	if _, err := os.Stat(res.Check.VisualizationPath); err != nil {
		t.Errorf("Porcupine's HTML: %v", err)
	}
	if res.Dir == "" || !strings.Contains(sum.String(), res.Dir) || !strings.Contains(sum.String(), "replay: ") {
		t.Errorf("the summary of a violation names no kept directory or replay command:\n%s", sum.String())
	}
}

// checkerCatchesLostWrite proves the final reads checked: the history
// with the last final read of a written key answering "not found" (the
// key's writes lost) must be rejected. The key is one whose history holds
// no delete that could have come before that read: an ambiguous delete (or
// compare-and-delete) may take effect at any moment after its call, so
// with one pending "not found" is a legal answer and the check rightly
// says ok (seen once on a key with one ambiguous operation).
func checkerCatchesLostWrite(t *testing.T, ops []porcupine.Operation) {
	t.Helper()
	mayDelete := map[string]bool{}
	for _, o := range ops {
		in, out := o.Input.(linearizability.Input), o.Output.(linearizability.Output)
		del := in.Op == linearizability.OpDelete || in.Op == linearizability.OpCompareAndDelete
		if del && out.Status == linearizability.StatusAmbiguous {
			mayDelete[in.Key] = true
		}
	}
	for i := len(ops) - 1; i >= 0; i-- {
		in, out := ops[i].Input.(linearizability.Input), ops[i].Output.(linearizability.Output)
		if in.Op != linearizability.OpGet || out.Status != linearizability.StatusOK || out.Value == "" || mayDelete[in.Key] {
			continue
		}
		var mutant []porcupine.Operation
		for j, o := range ops {
			if o.Input.(linearizability.Input).Key != in.Key {
				continue
			}
			if j == i {
				o.Output = linearizability.Output{Status: linearizability.StatusNotFound}
			}
			mutant = append(mutant, o)
		}
		res, err := linearizability.Check(mutant, linearizability.CheckOptions{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != linearizability.VerdictIllegal {
			t.Errorf("a final read that lost every write of %s passed the check (%v)", in.Key, res)
		}
		return
	}
	t.Error("no successful read with a value of a key without a pending delete in the history")
}

// leftovers lists this process's namespaces.
func leftovers(t *testing.T) []string {
	t.Helper()
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), fmt.Sprintf("%s%dr", nsPrefix, os.Getpid())) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestLeftoversRemoved: namespaces of a run whose process is gone are
// removed at the next start, with the processes still running in them;
// those of a live process are kept. So is one of this process's own, but
// not one that bears this process's pid without being its own: an
// earlier process with the same pid left it.
func TestLeftoversRemoved(t *testing.T) {
	needNamespaces(t)
	ctx := t.Context()
	dead := nsPrefix + "999999999r1-c" // no such pid
	live := nsPrefix + "1r1-c"         // pid 1 is alive
	reused := fmt.Sprintf("%s%dr9001-c", nsPrefix, os.Getpid())
	mine := fmt.Sprintf("%s%dr9002-c", nsPrefix, os.Getpid())
	own(strings.TrimSuffix(mine, "c"))
	for _, ns := range []string{dead, live, reused, mine} {
		if err := run(ctx, "", "ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, ns := range []string{live, reused, mine} {
			if _, err := os.Stat("/run/netns/" + ns); err == nil {
				_ = run(context.Background(), "", "ip", "netns", "del", ns)
			}
		}
	})
	// A member left running by the killed run.
	orphan := exec.Command("ip", "netns", "exec", dead, "sleep", "600")
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- orphan.Wait() }()
	t.Cleanup(func() { _ = orphan.Process.Kill() })
	// Wait until ip has entered the namespace (polling another process).
	for deadline := time.Now().Add(10 * time.Second); ; {
		out, _ := exec.Command("ip", "netns", "pids", dead).Output()
		if slices.Contains(strings.Fields(string(out)), fmt.Sprint(orphan.Process.Pid)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the orphan never entered its namespace")
		}
		time.Sleep(10 * time.Millisecond)
	}
	gone, err := removeLeftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(gone, dead) || !slices.Contains(gone, reused) || slices.Contains(gone, live) || slices.Contains(gone, mine) {
		t.Errorf("removed %v; want %s and %s removed, %s and %s kept", gone, dead, reused, live, mine)
	}
	if _, err := os.Stat("/run/netns/" + live); err != nil {
		t.Errorf("%s: %v", live, err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Error("the process left in a removed namespace still runs")
	}
}

// TestNetworkPartitions checks the network itself: a member reaches the
// others through the bridge, and a rule cuts exactly the link it names,
// in one direction; the clients' namespace reaches every member.
func TestNetworkPartitions(t *testing.T) {
	needNamespaces(t)
	ctx := t.Context()
	n, err := setupNetwork(ctx, "nt", 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.teardown)
	fds := make([]int, 3)
	for i := range fds {
		if fds[i], err = syscall.Open("/run/netns/"+n.memberNS(i), syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err != nil {
			t.Fatal(err)
		}
		defer syscall.Close(fds[i])
	}
	// A listener in each member's namespace, answering "hi".
	for i := range fds {
		var ln net.Listener
		if err := inNamespace(fds[i], func() (err error) {
			ln, err = net.Listen("tcp", memberAddr(i)+":7000")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("hi"))
				c.Close()
			}
		}()
	}
	// reach reports whether from's namespace (-1: the clients') gets "hi"
	// from member to within 300 ms.
	reach := func(from, to int) bool {
		dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		var c net.Conn
		var err error
		if from < 0 {
			c, err = n.dial(dctx, "tcp", memberAddr(to)+":7000")
		} else {
			err = inNamespace(fds[from], func() (err error) {
				var d net.Dialer
				c, err = d.DialContext(dctx, "tcp", memberAddr(to)+":7000")
				return err
			})
		}
		if err != nil {
			return false
		}
		defer c.Close()
		b := make([]byte, 2)
		_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		_, err = io.ReadFull(c, b)
		return err == nil && string(b) == "hi"
	}
	if !reach(0, 1) || !reach(-1, 1) {
		t.Fatal("m1 or the clients cannot reach m2 through the bridge")
	}
	// m2 drops what m1 sends it: m1 -> m2 fails (the SYN never gets
	// there), and so does m2 -> m1 (the SYN-ACK is dropped); m1 -> m3 and
	// the clients -> m2 work.
	if err := n.setRules(ctx, 1, []int{0}); err != nil {
		t.Fatal(err)
	}
	if reach(0, 1) || reach(1, 0) {
		t.Error("m1 and m2 still talk through a rule that drops m1's packets at m2")
	}
	if !reach(0, 2) || !reach(-1, 1) {
		t.Error("a rule about m1 -> m2 cut another link")
	}
	if err := n.setRules(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	if !reach(0, 1) {
		t.Error("m1 -> m2 still cut after healing")
	}
}

func TestParseFaults(t *testing.T) {
	all, err := ParseFaults("all")
	if err != nil || !slices.Equal(all, AllFaults) {
		t.Errorf("all: %v, %v", all, err)
	}
	got, err := ParseFaults("pause, split")
	if err != nil || !slices.Equal(got, []Fault{FaultPause, FaultSplit}) {
		t.Errorf("pause, split: %v, %v", got, err)
	}
	if _, err := ParseFaults("pause,netem"); err == nil || !strings.Contains(err.Error(), `"netem"`) {
		t.Errorf("netem: %v", err)
	}
}

func TestOptionsRefused(t *testing.T) {
	_, err := Run(t.Context(), Options{Bin: "raftkv", Members: 4})
	if err == nil || !strings.Contains(err.Error(), "3 or 5") {
		t.Errorf("4 members: %v", err)
	}
	_, err = Run(t.Context(), Options{})
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("no binary: %v", err)
	}
	_, err = Run(t.Context(), Options{Bin: "raftkv", Compose: 1.5})
	if err == nil || !strings.Contains(err.Error(), "Compose 1.5") {
		t.Errorf("Compose 1.5: %v", err)
	}
	_, err = Run(t.Context(), Options{Bin: "raftkv", Compose: math.NaN()})
	if err == nil || !strings.Contains(err.Error(), "Compose NaN") {
		t.Errorf("Compose NaN: %v", err)
	}
}
