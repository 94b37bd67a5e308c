package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/storage/backup"
	"github.com/raftkv/raftkv/vfs"
)

// soloOn starts a one-member cluster named name on the OS disk in dir.
func soloOn(t *testing.T, name, dir, peerURL, token string) *Member {
	t.Helper()
	m, err := StartMember(MemberConfig{
		Name: name, DataDir: dir, FS: vfs.OS(),
		AdvertiseClientURLs:      []string{"http://127.0.0.1:2379"},
		InitialAdvertisePeerURLs: []string{peerURL},
		InitialCluster:           []InitialMember{{Name: name, PeerURLs: []string{peerURL}}},
		InitialClusterToken:      token,
		HeartbeatInterval:        10 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
		Logger:          testLogger(t),
		ClientListeners: []net.Listener{}, PeerListener: listen(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	return m
}

func put(t *testing.T, m *Member, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := m.Propose(ctx, &kv.Command{Method: kv.MethodPut, Path: key, Value: value})
	if err == nil {
		err = r.Err
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotEndpointAndRestore takes a snapshot through the client API,
// restores it into a new cluster's data dir, and starts a member on it:
// the key space is the source's, the membership and the member records
// the new cluster's.
func TestSnapshotEndpointAndRestore(t *testing.T) {
	dir := t.TempDir()
	src := soloOn(t, "src", filepath.Join(dir, "src"), "http://127.0.0.1:2380", "old")
	put(t, src, "/a", "1")
	put(t, src, "/dir/b", "2")

	rec := httptest.NewRecorder()
	src.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/raftkv/snapshot", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /v2/raftkv/snapshot: %d %s", rec.Code, rec.Body)
	}
	snap, err := backup.Decode(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	h := snap.Header
	if h.ClusterID != IDString(src.ClusterID()) || len(h.Members) != 1 || h.Members[0].ID != IDString(src.ID()) || h.Index == 0 {
		t.Fatalf("header %+v", h)
	}
	if got := rec.Header().Get("X-Raft-Index"); got == "" || got != strings.TrimSpace(got) {
		t.Fatalf("X-Raft-Index %q", got)
	}
	file := filepath.Join(dir, "s.db")
	if err := os.WriteFile(file, rec.Body.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	const peer = "http://127.0.0.1:12380"
	ic := []InitialMember{{Name: "n1", PeerURLs: []string{peer}}, {Name: "n2", PeerURLs: []string{"http://127.0.0.1:22380"}}}
	target := filepath.Join(dir, "n1")
	res, err := RestoreSnapshot(RestoreConfig{SnapshotPath: file, Name: "n1", DataDir: target, InitialCluster: ic, InitialClusterToken: "new"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ClusterID == src.ClusterID() || len(res.Voters) != 2 {
		t.Fatalf("result %+v", res)
	}
	if leftovers, _ := filepath.Glob(target + ".partial-*"); len(leftovers) > 0 {
		t.Fatalf("temporary directories left: %v", leftovers)
	}
	// n1 alone is no quorum of the two-member cluster, so its store is
	// read as restored, without a leader.
	m, err := StartMember(MemberConfig{
		Name: "n1", DataDir: target, FS: vfs.OS(), InitialCluster: ic, InitialClusterSet: true, InitialClusterToken: "new",
		InitialAdvertisePeerURLs: []string{peer}, AdvertiseClientURLs: []string{"http://127.0.0.1:2379"},
		HeartbeatInterval: 10 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
		Logger: testLogger(t), ClientListeners: []net.Listener{}, PeerListener: listen(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop(context.Background())
	if m.ClusterID() != res.ClusterID || m.ID() != res.MemberID {
		t.Fatalf("started as %x of %x, restored %x of %x", m.ID(), m.ClusterID(), res.MemberID, res.ClusterID)
	}
	for k, want := range map[string]string{"/a": "1", "/dir/b": "2"} {
		ev, err := m.Store().Get(k, false, false)
		if err != nil || ev.Node.Value == nil || *ev.Node.Value != want {
			t.Errorf("restored %s: %+v %v", k, ev, err)
		}
	}
	records := readMembers(m.Store())
	if len(records) != 2 || records[src.ID()] != nil || records[res.MemberID] == nil {
		b, _ := json.Marshal(records)
		t.Errorf("member records after restore: %s", b)
	}
	st := m.Status()
	if len(st.Voters) != 2 {
		t.Errorf("voters %v", st.Voters)
	}
}

func TestRestoreRefusals(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	f, err := os.Create(good)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := backup.NewWriter(f, backup.Header{ClusterID: "abc", Index: 5, Term: 2})
	if err := kv.New(kv.Options{}).Save(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	f.Close()
	b, _ := os.ReadFile(good)
	bad := filepath.Join(dir, "bad.db")
	b[20] ^= 1
	os.WriteFile(bad, b, 0o600)
	ic := []InitialMember{{Name: "n1", PeerURLs: []string{"http://127.0.0.1:2380"}}}
	cases := []struct {
		cfg  RestoreConfig
		want string
	}{
		{RestoreConfig{SnapshotPath: bad, Name: "n1", InitialCluster: ic}, "checksum mismatch"},
		{RestoreConfig{SnapshotPath: good, Name: "n9", InitialCluster: ic}, "--initial-cluster lists only"},
		{RestoreConfig{SnapshotPath: good, Name: "n1", InitialCluster: ic, InitialAdvertisePeerURLs: []string{"http://127.0.0.1:9"}}, "make them the same"},
		{RestoreConfig{SnapshotPath: filepath.Join(dir, "missing.db"), Name: "n1", InitialCluster: ic}, "no such file"},
	}
	for _, c := range cases {
		c.cfg.DataDir = filepath.Join(dir, "out")
		_, err := RestoreSnapshot(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.cfg, err, c.want)
		}
		if _, serr := os.Stat(c.cfg.DataDir); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("%+v: the data dir was created", c.cfg)
		}
	}
	// The good file restores; a second restore onto it is refused.
	cfg := RestoreConfig{SnapshotPath: good, Name: "n1", InitialCluster: ic, DataDir: filepath.Join(dir, "out")}
	if _, err := RestoreSnapshot(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreSnapshot(cfg); !errors.Is(err, ErrDataDirExists) {
		t.Fatalf("second restore: %v", err)
	}
}

// TestSnapshotNeedsRootWithAuth: the snapshot holds every key, so with v2
// auth on only root may take one.
func TestSnapshotNeedsRootWithAuth(t *testing.T) {
	c := startInproc(t, 1)
	base := c.url(c.waitLeader())
	setupAuth(t, base)
	runAuthSteps(t, base, []authStep{
		{guest, "GET", "/v2/raftkv/snapshot", "", 401, "Insufficient credentials"},
		{alice, "GET", "/v2/raftkv/snapshot", "", 401, "Insufficient credentials"},
		{root, "GET", "/v2/raftkv/snapshot", "", 200, "RAFTKVSN"},
	})
}
