package clustertest

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestRestartedMemberCatchesUp kills a member, keeps writing through the
// others, restarts the member from its data dir and waits until its own
// store (a local read, quorum=false) shows every write made while it was
// down. With a small --snapshot-count the leader has compacted its log
// past what the member has, so it catches up from a snapshot.
func TestRestartedMemberCatchesUp(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"log", nil},
		{"snapshot", []string{"--snapshot-count", "20"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, hc := newCluster(t, 3, tc.args...)
			ctx := t.Context()
			leader := waitLeader(t, c, 10*time.Second)
			down := (leader + 1) % 3
			up := (leader + 2) % 3
			// A write the member has before it dies.
			if r, err := keys(ctx, hc, http.MethodPut, c.Members[up].ClientURL, "/before", vals("value", "1")); err != nil || r.Status != http.StatusCreated {
				t.Fatalf("PUT /before: %v %v", r, err)
			}
			waitLocalValue(t, hc, c.Members[down].ClientURL, "/before", "1", 5*time.Second)
			c.Kill(down)

			const n = 60
			for i := range n {
				base := c.Members[[]int{leader, up}[i%2]].ClientURL
				r, err := keys(ctx, hc, http.MethodPut, base, fmt.Sprintf("/k/%d", i), vals("value", fmt.Sprint("v", i)))
				if err != nil || (r.Status != http.StatusCreated && r.Status != http.StatusOK) {
					t.Fatalf("PUT /k/%d with %s down: %v %v", i, c.Members[down].Name, r, err)
				}
			}
			r, err := keys(ctx, hc, http.MethodPut, c.Members[up].ClientURL, "/before", vals("value", "2"))
			if err != nil || r.Status != http.StatusOK {
				t.Fatalf("PUT /before=2: %v %v", r, err)
			}

			if err := c.Restart(down); err != nil {
				t.Fatal(err)
			}
			m := c.Members[down]
			waitLocalValue(t, hc, m.ClientURL, "/before", "2", 10*time.Second)
			// Entries apply in order: the last write is there, so all are.
			for i := range n {
				r, err := keys(ctx, hc, http.MethodGet, m.ClientURL, fmt.Sprintf("/k/%d", i), vals("quorum", "false"))
				if err != nil || r.Status != http.StatusOK || r.Node.Val() != fmt.Sprint("v", i) {
					t.Fatalf("%s after catching up: local read of /k/%d: %v %v", m.Name, i, r, err)
				}
			}
			// It is a full member again: it serves linearizable reads and
			// writes, and the cluster agrees on one leader.
			waitLeader(t, c, 10*time.Second)
			if r, err := keys(ctx, hc, http.MethodPut, m.ClientURL, "/after", vals("value", m.Name)); err != nil || r.Status != http.StatusCreated {
				t.Fatalf("PUT /after through the restarted %s: %v %v", m.Name, r, err)
			}
			for _, o := range c.Members {
				if r, err := keys(ctx, hc, http.MethodGet, o.ClientURL, "/after", nil); err != nil || r.Node.Val() != m.Name {
					t.Fatalf("%s: GET /after: %v %v", o.Name, r, err)
				}
			}
		})
	}
}
