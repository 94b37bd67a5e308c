package clustertest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFaultInjection drives the test-only fault hooks of real processes
// (--experimental-fault-injection, /debug/faults): with every raft message
// the leader sends dropped, the followers stop hearing it and elect
// another leader in a later term; a member started without the flag has
// no /debug/faults.
func TestFaultInjection(t *testing.T) {
	c, hc := newCluster(t, 3, "--experimental-fault-injection")
	lead := waitLeader(t, c, 10*time.Second)
	base := c.Members[lead].ClientURL
	term := func(i int) uint64 {
		var s struct {
			RaftTerm uint64 `json:"raftTerm"`
		}
		if err := getJSON(t.Context(), hc, c.Members[i].ClientURL+"/v2/stats/self", &s); err != nil {
			t.Fatal(err)
		}
		return s.RaftTerm
	}
	before := term(lead)
	send := func(method, form string) string {
		req, _ := http.NewRequestWithContext(t.Context(), method, base+"/debug/faults", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Status + " " + string(b)
	}
	if got := send(http.MethodPut, "peer=*&drop=1"); !strings.HasPrefix(got, "200") || !strings.Contains(got, `"*":{"drop":1`) {
		t.Fatalf("PUT /debug/faults: %s", got)
	}
	// The followers elect one of themselves: the old leader still hears
	// them, but nobody hears it.
	eventually(t, 20*time.Second, 50*time.Millisecond, "a new leader while the old one's messages are dropped", func(ctx context.Context) error {
		for i := range c.Members {
			if i == lead {
				continue
			}
			var s struct {
				State    string `json:"state"`
				RaftTerm uint64 `json:"raftTerm"`
			}
			if err := getJSON(ctx, hc, c.Members[i].ClientURL+"/v2/stats/self", &s); err != nil {
				return err
			}
			if s.State == "StateLeader" && s.RaftTerm > before {
				return nil
			}
		}
		return fmt.Errorf("no follower leads a term after %d", before)
	})
	if got := send(http.MethodDelete, ""); !strings.HasPrefix(got, "200") || !strings.Contains(got, `{"peers":{}}`) {
		t.Fatalf("DELETE /debug/faults: %s", got)
	}
	waitLeader(t, c, 10*time.Second)

	// Without the flag: no such path.
	plain, hc2 := newCluster(t, 1)
	resp, err := hc2.Get(plain.Members[0].ClientURL + "/debug/faults")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/debug/faults without --experimental-fault-injection: %s, want 404", resp.Status)
	}
}
