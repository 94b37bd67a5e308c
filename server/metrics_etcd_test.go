package server

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape reads m's /metrics as "name{labels}" -> value.
func scrape(t *testing.T, m *Member) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestEtcdMetricNames: /metrics serves etcd's names beside raftkv's, with
// the same values (one observation, two names), and they move.
func TestEtcdMetricNames(t *testing.T) {
	c := startInproc(t, 3)
	lead := c.waitLeader()
	for i := range 3 {
		resp, body := do(t, http.MethodPut, c.url(lead)+"/v2/keys/k"+strconv.Itoa(i), url.Values{"value": {"v"}})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT: %s %s", resp.Status, body)
		}
	}
	got := scrape(t, lead)
	for _, name := range []string{
		"server_has_leader", "server_is_leader", "server_proposals_pending",
		"server_leader_changes_seen_total", "server_proposals_failed_total",
		"disk_wal_fsync_duration_seconds_count", `http_received_total{method="PUT"}`,
	} {
		e, ok := got["etcd_"+name]
		if !ok {
			t.Errorf("/metrics has no etcd_%s", name)
			continue
		}
		// These stand still on an idle leader between the two reads of
		// one scrape; the counters that heartbeats move are checked below.
		if r := got["raftkv_"+name]; r != e {
			t.Errorf("etcd_%s = %v but raftkv_%s = %v", name, e, name, r)
		}
	}
	if got["etcd_server_has_leader"] != 1 || got["etcd_server_is_leader"] != 1 || got["etcd_server_leader_changes_seen_total"] < 1 {
		t.Errorf("leader gauges: has %v is %v changes %v", got["etcd_server_has_leader"], got["etcd_server_is_leader"], got["etcd_server_leader_changes_seen_total"])
	}
	if got["etcd_server_proposals_committed_total"] < 3 || got["etcd_server_proposals_applied_total"] < 3 ||
		got["etcd_disk_wal_fsync_duration_seconds_count"] < 1 || got[`etcd_http_received_total{method="PUT"}`] != 3 {
		t.Errorf("after 3 writes: committed %v applied %v fsyncs %v PUTs %v", got["etcd_server_proposals_committed_total"],
			got["etcd_server_proposals_applied_total"], got["etcd_disk_wal_fsync_duration_seconds_count"], got[`etcd_http_received_total{method="PUT"}`])
	}
	// The leader has sent the writes to both followers and heard back.
	for _, m := range c.members {
		if m == lead {
			continue
		}
		to := `{To="` + IDString(m.ID()) + `"}`
		from := `{From="` + IDString(m.ID()) + `"}`
		for _, name := range []string{"etcd_network_peer_sent_bytes_total" + to, "etcd_network_peer_received_bytes_total" + from} {
			if got[name] <= 0 {
				t.Errorf("%s = %v, want > 0", name, got[name])
			}
		}
		if _, ok := got["etcd_network_peer_sent_failures_total"+to]; !ok {
			t.Errorf("no etcd_network_peer_sent_failures_total%s", to)
		}
	}
	// A follower without a leader says so under etcd's name: has_leader
	// falls to 0 when the leader stops.
	f := c.follower(lead)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, m := range c.members {
		if m != f {
			_ = m.Stop(ctx)
		}
	}
	for {
		v, ch := f.waitChange()
		if v.lead == 0 {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("the follower still sees a leader after the others stopped")
		}
	}
	if got := scrape(t, f); got["etcd_server_has_leader"] != 0 || got["raftkv_server_has_leader"] != 0 {
		t.Errorf("has_leader after losing the leader: etcd %v raftkv %v", got["etcd_server_has_leader"], got["raftkv_server_has_leader"])
	}
}
