package server

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	bounds := []float64{1, 2, 4, math.Inf(1)}
	for _, c := range []struct {
		cum  []uint64
		q    float64
		want float64
	}{
		{[]uint64{0, 0, 0, 0}, 0.5, 0},
		{[]uint64{10, 10, 10, 10}, 0.5, 0.5},   // all in [0,1]: the middle
		{[]uint64{0, 10, 10, 10}, 0.99, 1.99},  // all in (1,2]
		{[]uint64{5, 5, 10, 10}, 0.5, 1},       // the boundary
		{[]uint64{5, 5, 10, 10}, 0.75, 3},      // halfway through (2,4]
		{[]uint64{0, 0, 0, 4}, 0.5, 4},         // +Inf: the highest finite bound
		{[]uint64{99, 99, 99, 100}, 0.99, 1.0}, // rank 99 falls in the first bucket
	} {
		if got := quantile(bounds, c.cum, c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("quantile(%v, %v) = %v; want %v", c.cum, c.q, got, c.want)
		}
	}
	if got := subCounts([]uint64{5, 7, 9}, []uint64{1, 2, 3}); got[0] != 4 || got[1] != 5 || got[2] != 6 {
		t.Errorf("subCounts = %v", got)
	}
}

// TestDashboardOnAFollower: a follower's snapshot holds every member's
// stats and the leader's view of its followers, fetched from the leader;
// the page and its stream are served, and / leads to the page.
func TestDashboardOnAFollower(t *testing.T) {
	c := startInproc(t, 3)
	lead := c.waitLeader()
	f := c.follower(lead)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	// Members serve clients (their stats too) once they have published.
	for _, m := range c.members {
		select {
		case <-m.Published():
		case <-ctx.Done():
			t.Fatalf("member %s did not publish its attributes", IDString(m.id))
		}
	}
	snap := f.dashSnapshotter()
	var v *dashView
	for ctx.Err() == nil {
		v = snap(ctx).(*dashView)
		// This follower may apply the others' published records a moment
		// after they did: wait until it lists every member by name.
		named := len(v.Members) == 3
		for _, m := range v.Members {
			named = named && m.Name != "" && m.Reachable
		}
		if v.LeaderStats != nil && v.Leader == IDString(lead.id) && named {
			break
		}
	}
	if v.LeaderStats == nil {
		t.Fatalf("no leader view on the follower: %s", v.LeaderError)
	}
	if v.Self != IDString(f.id) || len(v.Members) != 3 || len(v.LeaderStats.Followers) != 2 {
		t.Fatalf("snapshot: self %s, %d members, %d followers", v.Self, len(v.Members), len(v.LeaderStats.Followers))
	}
	if _, ok := v.LeaderStats.Followers[IDString(lead.id)]; ok {
		t.Fatal("the leader is listed among its followers")
	}
	for _, m := range v.Members {
		if !m.Reachable || m.Term == 0 || m.Name == "" {
			t.Errorf("member %+v", m)
		}
		if (m.ID == IDString(lead.id)) != (m.State == "StateLeader") {
			t.Errorf("member %s in state %s; the leader is %s", m.ID, m.State, IDString(lead.id))
		}
	}
	if v.HeartbeatMs != 20 || v.ElectionMs != 200 {
		t.Errorf("timeouts %v/%v ms", v.HeartbeatMs, v.ElectionMs)
	}

	base := c.url(f)
	resp, body := do(t, http.MethodGet, base+"/dashboard/", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<script type="module" src="app.js">`) {
		t.Fatalf("/dashboard/: %s\n%.200s", resp.Status, body)
	}
	resp, body = do(t, http.MethodGet, base+"/", nil) // follows the redirect
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/dashboard/" || !strings.Contains(body, "raftkv") {
		t.Fatalf("/: %s at %s", resp.Status, resp.Request.URL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/dashboard/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	er, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer er.Body.Close()
	sc := bufio.NewScanner(er.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var got dashView
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatal(err)
		}
		if got.Self != IDString(f.id) || len(got.Members) != 3 {
			t.Fatalf("event: %s", line)
		}
		return
	}
	t.Fatalf("no event: %v", sc.Err())
}
