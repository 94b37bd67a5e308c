package clustertest

import (
	"net/http"
	"regexp"
	"testing"
	"time"
)

// TestLeaderSIGTERMHandsOver stops the leader with SIGTERM: it exits 0,
// hands leadership over first (its log says to whom, and that member is
// the one the others agree on as soon as it has exited, without waiting
// out an election timeout), loses nothing, and rejoins when restarted.
func TestLeaderSIGTERMHandsOver(t *testing.T) {
	c, hc := newCluster(t, 3)
	ctx := t.Context()
	leader := waitLeader(t, c, 10*time.Second)
	if r, err := keys(ctx, hc, http.MethodPut, c.Members[leader].ClientURL, "/before-stop", vals("value", "1")); err != nil || r.Status != http.StatusCreated {
		t.Fatalf("PUT: %v %v", r, err)
	}

	sent := time.Now()
	if err := c.Stop(leader, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	exited := time.Now()
	if code := c.ExitCode(leader); code != 0 {
		t.Fatalf("the leader exited with code %d after SIGTERM, want 0", code)
	}
	newLeader := waitLeader(t, c, 10*time.Second, leader)
	agreed := time.Now()
	t.Logf("SIGTERM to exit %v; exit to the others agreeing on %s %v",
		exited.Sub(sent).Round(time.Millisecond), c.Members[newLeader].Name, agreed.Sub(exited).Round(time.Millisecond))
	// Without a handover the followers would only start an election an
	// election timeout (randomised in [1, 2) timeouts) after the last
	// heartbeat, which came before the exit.
	if d := agreed.Sub(exited); d >= election {
		t.Errorf("the others agreed on a new leader %v after the old one exited, want under an election timeout (%v): no handover?", d, election)
	}
	log := c.Log(leader)
	m := regexp.MustCompile(`msg="handed leadership over[^"]*" to=([0-9a-f]+)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("the stopped leader's log does not say it handed leadership over:\n%s", log)
	}
	id, err := selfID(ctx, hc, c.Members[newLeader].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != id {
		t.Errorf("the stopped leader handed over to %s, but the others agree on %s (%s)", m[1], c.Members[newLeader].Name, id)
	}

	// Nothing was lost, the two serve, and the stopped member rejoins.
	if r, err := keys(ctx, hc, http.MethodGet, c.Members[newLeader].ClientURL, "/before-stop", nil); err != nil || r.Node.Val() != "1" {
		t.Fatalf("GET /before-stop after the handover: %v %v", r, err)
	}
	if r, err := keys(ctx, hc, http.MethodPut, c.Members[newLeader].ClientURL, "/after-stop", vals("value", "2")); err != nil || r.Status != http.StatusCreated {
		t.Fatalf("PUT after the handover: %v %v", r, err)
	}
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	waitLocalValue(t, hc, c.Members[leader].ClientURL, "/after-stop", "2", 10*time.Second)
}
