package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft"
)

// inproc is a cluster of in-process members on loopback.
type inproc struct {
	t       *testing.T
	members []*Member
	cfgs    []MemberConfig
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() || os.Getenv("RAFTKV_TEST_LOGS") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startInproc(t *testing.T, n int, configure ...func(*MemberConfig)) *inproc {
	t.Helper()
	c := &inproc{t: t}
	dir := t.TempDir()
	var initial []InitialMember
	var peerLns, clientLns []net.Listener
	for i := range n {
		pl, cl := listen(t), listen(t)
		peerLns, clientLns = append(peerLns, pl), append(clientLns, cl)
		initial = append(initial, InitialMember{Name: fmt.Sprintf("m%d", i+1), PeerURLs: []string{"http://" + pl.Addr().String()}})
	}
	for i := range n {
		cfg := MemberConfig{
			Name: initial[i].Name, DataDir: fmt.Sprintf("%s/m%d", dir, i+1),
			AdvertiseClientURLs:      []string{"http://" + clientLns[i].Addr().String()},
			InitialAdvertisePeerURLs: initial[i].PeerURLs,
			InitialCluster:           initial, InitialClusterState: "new", InitialClusterToken: t.Name(),
			HeartbeatInterval: 20 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
			Logger:          testLogger(t).With("member", initial[i].Name),
			ClientListeners: []net.Listener{clientLns[i]}, PeerListener: peerLns[i],
		}
		for _, f := range configure {
			f(&cfg)
		}
		m, err := StartMember(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.members = append(c.members, m)
		c.cfgs = append(c.cfgs, cfg)
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = m.Stop(ctx)
			cancel()
		}
	})
	return c
}

// follower returns a member other than lead (the last one).
func (c *inproc) follower(lead *Member) *Member {
	var f *Member
	for _, m := range c.members {
		if m != lead {
			f = m
		}
	}
	return f
}

// waitLeader waits until every member in ms sees the same leader.
func (c *inproc) waitLeader(ms ...*Member) *Member {
	c.t.Helper()
	if ms == nil {
		ms = c.members
	}
	deadline := time.After(10 * time.Second)
	for {
		var lead uint64
		agree := true
		var chans []<-chan struct{}
		for _, m := range ms {
			v, ch := m.waitChange()
			chans = append(chans, ch)
			if v.lead == raft.None || (lead != raft.None && v.lead != lead) {
				agree = false
			}
			lead = v.lead
		}
		if agree {
			for _, m := range c.members {
				if m.id == lead {
					return m
				}
			}
		}
		select {
		case <-chans[0]:
		case <-chans[len(chans)-1]:
		case <-deadline:
			c.t.Fatal("no agreed leader within 10s")
		case <-time.After(50 * time.Millisecond):
			// A change on a member in the middle wakes nobody above.
		}
	}
}

func (c *inproc) url(m *Member) string { return m.cfg.AdvertiseClientURLs[0] }

func do(t *testing.T, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestMemberWriteOnFollowerReadEverywhere(t *testing.T) {
	c := startInproc(t, 3)
	lead := c.waitLeader()
	follower := c.follower(lead)
	resp, body := do(t, http.MethodPut, c.url(follower)+"/v2/keys/message", url.Values{"value": {"Hello"}})
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `"value":"Hello"`) {
		t.Fatalf("PUT on a follower: %s %s", resp.Status, body)
	}
	for _, m := range c.members {
		resp, body := do(t, http.MethodGet, c.url(m)+"/v2/keys/message", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"value":"Hello"`) {
			t.Fatalf("GET on %s: %s %s", m.cfg.Name, resp.Status, body)
		}
		for _, h := range []string{"X-Etcd-Index", "X-Raft-Index", "X-Raft-Term", "X-Etcd-Cluster-Id"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("GET on %s: no %s header", m.cfg.Name, h)
			}
		}
	}
}

func TestMemberStopHandsLeadershipOver(t *testing.T) {
	c := startInproc(t, 3)
	lead := c.waitLeader()
	term := lead.view.Load().term
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lead.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if !lead.handedOver.Load() {
		t.Fatal("the stopping leader did not hand leadership over")
	}
	var rest []*Member
	for _, m := range c.members {
		if m != lead {
			rest = append(rest, m)
		}
	}
	next := c.waitLeader(rest...)
	if got := next.view.Load().term; got != term+1 {
		t.Fatalf("new leader's term %d, want %d (one election, by transfer)", got, term+1)
	}
}

func TestMemberAddJoinRemove(t *testing.T) {
	c := startInproc(t, 3)
	c.waitLeader()
	pl, cl := listen(t), listen(t)
	peerURL := "http://" + pl.Addr().String()
	req, _ := http.NewRequest(http.MethodPost, c.url(c.members[1])+"/v2/members", strings.NewReader(`{"peerURLs":["`+peerURL+`"]}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v2/members: %s %s", resp.Status, b)
	}
	cfg := c.cfgs[0]
	cfg.Name, cfg.DataDir = "m4", t.TempDir()
	cfg.InitialCluster = append(append([]InitialMember(nil), cfg.InitialCluster...), InitialMember{Name: "m4", PeerURLs: []string{peerURL}})
	cfg.InitialClusterState = "existing"
	cfg.InitialAdvertisePeerURLs = []string{peerURL}
	cfg.AdvertiseClientURLs = []string{"http://" + cl.Addr().String()}
	cfg.PeerListener, cfg.ClientListeners = pl, []net.Listener{cl}
	cfg.Logger = testLogger(t).With("member", "m4")
	m4, err := StartMember(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.members = append(c.members, m4)
	// The new member catches up, is promoted to voter, and serves writes.
	deadline := time.After(10 * time.Second)
	for {
		v, ch := m4.waitChange()
		if slices.Contains(v.voters, m4.id) && v.lead != raft.None {
			break
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("m4 not promoted to voter: %+v", v)
		}
	}
	resp, body := do(t, http.MethodPut, c.url(m4)+"/v2/keys/joined", url.Values{"value": {"yes"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT through the new member: %s %s", resp.Status, body)
	}
	// Remove it again through another member.
	resp, body = do(t, http.MethodDelete, c.url(c.members[0])+"/v2/members/"+IDString(m4.id), nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE member: %s %s", resp.Status, body)
	}
	_, body = do(t, http.MethodGet, c.url(c.members[0])+"/v2/members", nil)
	if strings.Contains(body, IDString(m4.id)) {
		t.Fatalf("removed member still listed: %s", body)
	}
	// The removed member notices and stops itself.
	select {
	case <-m4.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the removed member did not stop")
	}
	if !errors.Is(m4.Err(), ErrRemoved) {
		t.Fatalf("removed member stopped with %v, want ErrRemoved", m4.Err())
	}
	resp, body = do(t, http.MethodDelete, c.url(c.members[0])+"/v2/members/"+IDString(m4.id), nil)
	if resp.StatusCode != http.StatusGone {
		t.Fatalf("DELETE of a removed member: %s %s, want 410", resp.Status, body)
	}
}

// TestMemberStopEndsWatches: an open streaming watch does not hold up a
// graceful stop; the watcher sees its response end.
func TestMemberStopEndsWatches(t *testing.T) {
	c := startInproc(t, 1)
	m := c.waitLeader()
	resp, err := http.Get(c.url(m) + "/v2/keys/w?wait=true&stream=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		ended <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Stop waited for the watch to time out")
	}
	if err := <-ended; err != nil {
		t.Fatalf("watch response: %v", err)
	}
}

// Under --lease-reads a cluster serves linearizable reads on every member:
// the leader from its lease, followers through it.
func TestLeaseReads(t *testing.T) {
	c := startInproc(t, 3, func(cfg *MemberConfig) { cfg.LeaseReads = true })
	lead := c.waitLeader()
	for i := range 20 {
		m := c.members[i%3]
		want := fmt.Sprint(i)
		resp, body := do(t, http.MethodPut, c.url(lead)+"/v2/keys/lease", url.Values{"value": {want}})
		if resp.StatusCode/100 != 2 {
			t.Fatalf("PUT: %s %s", resp.Status, body)
		}
		resp, body = do(t, http.MethodGet, c.url(m)+"/v2/keys/lease", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"value":"`+want+`"`) {
			t.Fatalf("GET on %s after writing %s: %s %s", m.cfg.Name, want, resp.Status, body)
		}
	}
	// The leader of a healthy cluster holds a lease: a quorum answers each
	// heartbeat within a tick. Raft publishes no event for it, so look
	// once per heartbeat (a loaded machine may delay an answer past the
	// lease now and then).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(lead.cfg.HeartbeatInterval)
	defer tick.Stop()
	for {
		inLease := make(chan bool, 1)
		if err := lead.do(ctx, func() { inLease <- lead.node.Status().InLease }); err != nil {
			t.Fatalf("the leader of a healthy cluster held no read lease in 10s: %v", err)
		}
		if <-inLease {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the leader of a healthy cluster held no read lease in 10s")
		}
	}
}

// The members of a cluster take their first snapshots spread over half
// of the snapshot count, by rank of id; one not among the voters is not
// staggered.
func TestSnapshotStagger(t *testing.T) {
	voters := []uint64{0x9c, 0x12, 0x57}
	for _, tc := range []struct {
		id, count, want uint64
	}{
		{0x12, 100000, 0},
		{0x57, 100000, 16666},
		{0x9c, 100000, 33333},
		{0x9c, 0, 33333}, // node.Config's default count
		{0x9c, 10, 3},
		{0x77, 100000, 0},
	} {
		if got := snapshotStagger(tc.id, voters, tc.count); got != tc.want {
			t.Errorf("snapshotStagger(%#x, %v, %d) = %d; want %d", tc.id, voters, tc.count, got, tc.want)
		}
	}
	if !slices.Equal(voters, []uint64{0x9c, 0x12, 0x57}) {
		t.Errorf("voters reordered: %v", voters)
	}
}
