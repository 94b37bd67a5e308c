package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testcluster"
)

// membersRequest sends a /v2/members request with a JSON body (or none)
// and decodes the answer into out if it is not nil.
func membersRequest(ctx context.Context, hc *http.Client, method, u string, body any, out any) (int, error) {
	var rd *strings.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %s: %v", method, u, resp.Status, err)
		}
	}
	return resp.StatusCode, nil
}

// TestMembershipAddAndRemove adds a fourth member through /v2/members,
// starts it as an operator would (--initial-cluster-state existing and the
// full --initial-cluster), checks that it serves reads and writes and
// becomes a voter, then removes it: it is gone from /v2/members on every
// member, a second DELETE is 410 Gone, and the three carry on.
func TestMembershipAddAndRemove(t *testing.T) {
	c, hc := newCluster(t, 3)
	ctx := t.Context()
	leader := waitLeader(t, c, 10*time.Second)
	via := c.Members[(leader+1)%3].ClientURL // a follower: the change is forwarded
	if r, err := keys(ctx, hc, http.MethodPut, via, "/before-join", vals("value", "yes")); err != nil || r.Status != http.StatusCreated {
		t.Fatalf("PUT /before-join: %v %v", r, err)
	}

	ports, err := testcluster.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	var added memberEntry
	status, err := membersRequest(ctx, hc, http.MethodPost, via+"/v2/members", map[string]any{"peerURLs": []string{peerURL}}, &added)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("POST /v2/members: %d %v", status, err)
	}
	if added.ID == "" || !slices.Equal(added.PeerURLs, []string{peerURL}) {
		t.Fatalf("POST /v2/members answered %+v, want an id and peerURLs [%s]", added, peerURL)
	}
	// The same peer URLs again are a conflict.
	if status, err := membersRequest(ctx, hc, http.MethodPost, c.Members[leader].ClientURL+"/v2/members", map[string]any{"peerURLs": []string{peerURL}}, nil); err != nil || status != http.StatusConflict {
		t.Fatalf("second POST of the same peer URL: %d %v, want 409", status, err)
	}
	for _, m := range c.Members {
		ms, err := listMembers(ctx, hc, m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 4 || !slices.ContainsFunc(ms, func(e memberEntry) bool { return e.ID == added.ID }) {
			t.Fatalf("%s: /v2/members after the add: %+v, want 4 members including %s", m.Name, ms, added.ID)
		}
	}

	// Start it with the whole cluster in --initial-cluster, as after
	// `member add`.
	var initial []string
	for _, m := range c.Members {
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	initial = append(initial, "m4="+peerURL)
	token := "testcluster-" + filepath.Base(clusterDir(c))
	startProc(t, "m4",
		"--name", "m4", "--data-dir", filepath.Join(t.TempDir(), "m4.raftkv"),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "existing",
		"--initial-cluster-token", token,
		"--heartbeat-interval", fmt.Sprint(heartbeat.Milliseconds()), "--election-timeout", fmt.Sprint(election.Milliseconds()))

	// It receives the log: a write from before it joined shows up in its
	// own store.
	waitLocalValue(t, hc, clientURL, "/before-join", "yes", 15*time.Second)
	// It serves linearizable reads and writes.
	if r, err := keys(ctx, hc, http.MethodPut, clientURL, "/from-m4", vals("value", "hi")); err != nil || r.Status != http.StatusCreated {
		t.Fatalf("PUT through the new member: %v %v", r, err)
	}
	for _, base := range append(c.ClientURLs(), clientURL) {
		if r, err := keys(ctx, hc, http.MethodGet, base, "/from-m4", nil); err != nil || r.Node.Val() != "hi" {
			t.Fatalf("%s: GET /from-m4: %v %v", base, r, err)
		}
	}
	// Every member lists it by name with its client URL, as a voter once it
	// has caught up.
	for _, m := range c.Members {
		eventually(t, 10*time.Second, 20*time.Millisecond, m.Name+" lists m4 as a voter", func(ctx context.Context) error {
			ms, err := listMembers(ctx, hc, m.ClientURL)
			if err != nil {
				return err
			}
			for _, e := range ms {
				if e.ID == added.ID {
					if e.Name != "m4" || !slices.Equal(e.ClientURLs, []string{clientURL}) || e.IsLearner {
						return fmt.Errorf("m4 listed as %+v", e)
					}
					return nil
				}
			}
			return fmt.Errorf("m4 is not listed: %+v", ms)
		})
	}

	// Remove it.
	status, err = membersRequest(ctx, hc, http.MethodDelete, via+"/v2/members/"+added.ID, nil, nil)
	if err != nil || status != http.StatusNoContent {
		t.Fatalf("DELETE /v2/members/%s: %d %v, want 204", added.ID, status, err)
	}
	for _, m := range c.Members {
		eventually(t, 5*time.Second, 20*time.Millisecond, m.Name+" forgets m4", func(ctx context.Context) error {
			ms, err := listMembers(ctx, hc, m.ClientURL)
			if err != nil {
				return err
			}
			if len(ms) != 3 || slices.ContainsFunc(ms, func(e memberEntry) bool { return e.ID == added.ID }) {
				return fmt.Errorf("/v2/members: %+v", ms)
			}
			return nil
		})
	}
	var gone struct {
		Message string `json:"message"`
	}
	status, err = membersRequest(ctx, hc, http.MethodDelete, c.Members[leader].ClientURL+"/v2/members/"+added.ID, nil, &gone)
	if err != nil || status != http.StatusGone {
		t.Fatalf("second DELETE /v2/members/%s: %d %v, want 410", added.ID, status, err)
	}
	if !strings.Contains(gone.Message, "removed") {
		t.Errorf("second DELETE says %q, want it to say the member was removed", gone.Message)
	}
	// The three carry on with a quorum of two.
	for _, m := range c.Members {
		if r, err := keys(ctx, hc, http.MethodPut, m.ClientURL, "/after-remove", vals("value", m.Name)); err != nil || r.Status/100 != 2 {
			t.Fatalf("%s: PUT after the removal: %v %v", m.Name, r, err)
		}
	}
}
