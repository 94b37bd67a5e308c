package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testcluster"
)

// runCtl runs raftkvctl with args and returns its exit code and output.
func runCtl(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, buildCtl(t), args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("raftkvctl %v: %v", args, err)
	}
	return 0, string(out)
}

// tree is a recursive /v2/keys answer.
type tree struct {
	Node struct {
		Nodes []struct {
			Key           string `json:"key"`
			Value         string `json:"value"`
			ModifiedIndex uint64 `json:"modifiedIndex"`
		} `json:"nodes"`
	} `json:"node"`
}

// readDir reads every key of dir with a quorum read, as key → value.
func readDir(ctx context.Context, hc *http.Client, base, dir string) (map[string]string, error) {
	var tr tree
	if err := getJSON(ctx, hc, base+"/v2/keys"+dir+"?recursive=true&quorum=true", &tr); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range tr.Node.Nodes {
		out[n.Key] = n.Value
	}
	return out, nil
}

// ack is one write the writer made: its key, value and modified index,
// whether it was acknowledged, and whether before the save began.
type ack struct {
	key, value string
	index      uint64
	ok         bool
	beforeSave bool
}

// TestSnapshotSaveUnderLoadRestoreIntoNewCluster: a snapshot saved with
// raftkvctl while writers run, restored into a fresh 3-member cluster,
// holds exactly the writes at or below its index: every write
// acknowledged before the save began, and no write applied after the
// snapshot's index.
func TestSnapshotSaveUnderLoadRestoreIntoNewCluster(t *testing.T) {
	c, hc := newCluster(t, 3)
	urls := c.ClientURLs()
	file := filepath.Join(t.TempDir(), "backup.db")

	var saving atomic.Bool
	var mu sync.Mutex
	var acks []ack
	// Four writers, each with keys of its own, spread over the members.
	const writers = 4
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				before := !saving.Load()
				a := ack{key: fmt.Sprintf("/load/w%d-%05d", w, i), value: fmt.Sprintf("v%d-%d", w, i)}
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				r, err := keys(ctx, hc, http.MethodPut, urls[(w+i)%len(urls)], a.key, vals("value", a.value))
				cancel()
				if err == nil && r.Status/100 == 2 && r.Node != nil {
					a.ok, a.index, a.beforeSave = true, r.Node.ModifiedIndex, before
				}
				mu.Lock()
				acks = append(acks, a)
				mu.Unlock()
			}
		}()
	}
	// Let the writers get going, then save while they run.
	eventually(t, 10*time.Second, 20*time.Millisecond, "writes before the save", func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if len(acks) < 200 {
			return fmt.Errorf("%d writes so far", len(acks))
		}
		return nil
	})
	saving.Store(true)
	code, out := runCtl(t, "--endpoints", strings.Join(urls, ","), "snapshot", "save", file)
	if code != 0 || !strings.Contains(out, "Snapshot saved at "+file) {
		t.Fatalf("snapshot save: exit %d\n%s", code, out)
	}
	// And more writes after it, which the snapshot must not hold.
	mu.Lock()
	n := len(acks)
	mu.Unlock()
	eventually(t, 10*time.Second, 20*time.Millisecond, "writes after the save", func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if len(acks) < n+100 {
			return fmt.Errorf("%d writes after the save", len(acks)-n)
		}
		return nil
	})
	close(stop)
	wg.Wait()

	code, out = runCtl(t, "-o", "json", "snapshot", "status", file)
	if code != 0 {
		t.Fatalf("snapshot status: exit %d\n%s", code, out)
	}
	var st struct {
		Index, EtcdIndex, TotalKeys uint64
		Members                     int
		ClusterID                   string
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("snapshot status -o json: %v\n%s", err, out)
	}
	if st.Members != 3 || st.EtcdIndex == 0 {
		t.Fatalf("snapshot status: %s", out)
	}
	t.Logf("snapshot at raft index %d, store index %d, %d keys; %d writes in all", st.Index, st.EtcdIndex, st.TotalKeys, len(acks))

	// Restore every member of a new cluster from the file.
	var ms []member
	var ic []string
	for _, name := range []string{"r1", "r2", "r3"} {
		m := newMember(t, name)
		ms = append(ms, m)
		ic = append(ic, m.name+"="+m.peerURL)
	}
	cluster := strings.Join(ic, ",")
	for _, m := range ms {
		code, out := runCtl(t, "snapshot", "restore", file, "--name", m.name, "--data-dir", m.dataDir,
			"--initial-cluster", cluster, "--initial-cluster-token", "restored", "--initial-advertise-peer-urls", m.peerURL)
		if code != 0 {
			t.Fatalf("snapshot restore %s: exit %d\n%s", m.name, code, out)
		}
	}
	// The source cluster goes away: the restored one must not need it.
	c.Close()
	var rurls []string
	for _, m := range ms {
		startProc(t, m.name, m.args("--initial-cluster", cluster, "--initial-cluster-token", "restored")...)
		rurls = append(rurls, m.clientURL)
	}
	var got map[string]string
	eventually(t, 20*time.Second, 50*time.Millisecond, "the restored cluster serving", func(ctx context.Context) error {
		var err error
		got, err = readDir(ctx, hc, rurls[1], "/load")
		return err
	})
	want := 0
	for _, a := range acks {
		v, present := got[a.key]
		switch {
		case a.ok && a.beforeSave && a.index > st.EtcdIndex:
			t.Errorf("%s was acknowledged at index %d before the save began, but the snapshot is at %d", a.key, a.index, st.EtcdIndex)
		case a.ok && a.index <= st.EtcdIndex:
			want++
			if v != a.value {
				t.Errorf("%s (index %d <= %d): restored %q (present %v), want %q", a.key, a.index, st.EtcdIndex, v, present, a.value)
			}
		case a.ok && present:
			t.Errorf("%s was written at index %d, after the snapshot's %d, but the restored cluster has it", a.key, a.index, st.EtcdIndex)
		}
	}
	if len(got) < want || uint64(len(got)) != st.TotalKeys {
		t.Errorf("restored %d keys, snapshot status says %d, %d acknowledged writes are at or below its index", len(got), st.TotalKeys, want)
	}
	// The restored cluster is the three new members, and takes writes.
	var members []memberEntry
	eventually(t, 10*time.Second, 50*time.Millisecond, "the restored members", func(ctx context.Context) error {
		var err error
		members, err = listMembers(ctx, hc, rurls[0])
		if err == nil && len(members) != 3 {
			err = fmt.Errorf("%d members: %+v", len(members), members)
		}
		return err
	})
	resp, err := hc.Get(rurls[0] + "/v2/members")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if id := resp.Header.Get("X-Etcd-Cluster-Id"); id == "" || id == st.ClusterID {
		t.Errorf("the restored cluster's id is %q, the source's %q: want a new one", id, st.ClusterID)
	}
	for _, m := range members {
		if len(m.PeerURLs) != 1 || !strings.Contains(cluster, m.PeerURLs[0]) {
			t.Errorf("restored cluster lists member %+v, not one of %s", m, cluster)
		}
	}
	r, err := keys(t.Context(), hc, http.MethodPut, rurls[2], "/after-restore", vals("value", "yes"))
	if err != nil || r.Status != http.StatusCreated {
		t.Fatalf("write to the restored cluster: %v %v", r, err)
	}
	waitLocalValue(t, hc, rurls[0], "/after-restore", "yes", 10*time.Second)
}

// TestSnapshotRestoreRefusesDamage: a truncated snapshot file is refused
// by status and restore, naming the file, and restore writes nothing; an
// existing data dir is never overwritten.
func TestSnapshotRestoreRefusesDamage(t *testing.T) {
	c, _ := newCluster(t, 1)
	dir := t.TempDir()
	file := filepath.Join(dir, "s.db")
	if code, out := runCtl(t, "--endpoints", c.ClientURLs()[0], "snapshot", "save", file); code != 0 {
		t.Fatalf("save: exit %d\n%s", code, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.db")
	if err := os.WriteFile(cut, b[:len(b)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runCtl(t, "snapshot", "status", cut)
	if code != 1 || !strings.Contains(out, cut) || !strings.Contains(out, "truncated") {
		t.Errorf("status of a truncated file: exit %d\n%s", code, out)
	}
	target := filepath.Join(dir, "n1.raftkv")
	code, out = runCtl(t, "snapshot", "restore", cut, "--name", "n1", "--data-dir", target, "--initial-cluster-token", "new")
	if code != 1 || !strings.Contains(out, "truncated") {
		t.Errorf("restore of a truncated file: exit %d\n%s", code, out)
	}
	noDataDir(t, target)
	if err := os.MkdirAll(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "keep"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = runCtl(t, "snapshot", "restore", file, "--name", "n1", "--data-dir", target, "--initial-cluster-token", "new")
	if code != 1 || !strings.Contains(out, "exists and is not empty") {
		t.Errorf("restore onto an existing data dir: exit %d\n%s", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(target, "keep")); err != nil || string(b) != "mine" {
		t.Errorf("the existing data dir was touched: %q %v", b, err)
	}
	// The source cluster's own --initial-cluster and token give its own
	// cluster id: refused, a restored cluster needs an id of its own.
	m := c.Members[0]
	code, out = runCtl(t, "snapshot", "restore", file, "--name", m.Name, "--data-dir", filepath.Join(dir, "same"),
		"--initial-cluster", m.Name+"="+m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster-token", "testcluster-"+filepath.Base(clusterDir(c)))
	if code != 1 || !strings.Contains(out, "new --initial-cluster-token") {
		t.Errorf("restore under the source's own cluster id: exit %d\n%s", code, out)
	}
	noDataDir(t, filepath.Join(dir, "same"))
}

// survivorArgs are the flags of testcluster member m started by hand.
func survivorArgs(m *testcluster.Member, extra ...string) []string {
	return append([]string{
		"--name", m.Name, "--data-dir", m.DataDir,
		"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
		"--heartbeat-interval", fmt.Sprint(heartbeat.Milliseconds()), "--election-timeout", fmt.Sprint(election.Milliseconds()),
	}, extra...)
}

// checkAlone waits until the member at base serves, alone, every key of
// want, and takes a new write.
func checkAlone(t *testing.T, hc *http.Client, base string, want map[string]string) {
	t.Helper()
	eventually(t, 20*time.Second, 50*time.Millisecond, base+" serving writes alone", func(ctx context.Context) error {
		r, err := keys(ctx, hc, http.MethodPut, base, "/alone", vals("value", "yes"))
		if err == nil && r.Status/100 != 2 {
			err = fmt.Errorf("%v", r)
		}
		return err
	})
	got, err := readDir(t.Context(), hc, base, "/data")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s is %q, want %q", base, k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d keys under /data, want %d", base, len(got), len(want))
	}
	ms, err := listMembers(t.Context(), hc, base)
	if err != nil || len(ms) != 1 {
		t.Errorf("%s: members %+v (%v), want one", base, ms, err)
	}
}

// TestForceNewClusterFromOneSurvivor: a 3-member cluster loses two
// members for good; the survivor, restarted with --force-new-cluster,
// serves reads and writes alone with every acknowledged write, and stays a
// one-member cluster on a later restart without the flag. Meanwhile an
// offline `raftkvctl backup` of a lost member's data dir, started with
// --force-new-cluster, becomes a one-member cluster of its own (a new
// cluster id) with the same data.
func TestForceNewClusterFromOneSurvivor(t *testing.T) {
	// Snapshots every 20 entries: the membership to rewrite comes from a
	// snapshot and the log after it.
	c, hc := newCluster(t, 3, "--snapshot-count", "20")
	l := waitLeader(t, c, 10*time.Second)
	s, lost := (l+1)%3, (l+2)%3
	urls := c.ClientURLs()
	want := map[string]string{}
	for i := range 50 {
		k, v := fmt.Sprintf("/data/k%02d", i), fmt.Sprintf("v%d", i)
		r, err := keys(t.Context(), hc, http.MethodPut, urls[l], k, vals("value", v))
		if err != nil || r.Status/100 != 2 {
			t.Fatalf("PUT %s: %v %v", k, r, err)
		}
		want[k] = v
	}
	// The survivor has applied every write (a quorum read there waits
	// for it), so its own commit index covers them.
	if r, err := keys(t.Context(), hc, http.MethodGet, urls[s], "/data/k49", vals("quorum", "true")); err != nil || r.Node.Val() != "v49" {
		t.Fatalf("quorum read on the survivor: %v %v", r, err)
	}
	// A running member's data dir is not backed up: its lock is held.
	backupDir := filepath.Join(t.TempDir(), "backup.raftkv")
	if code, out := runCtl(t, "backup", "--data-dir", c.Members[lost].DataDir, "--backup-dir", backupDir); code != 1 || !strings.Contains(out, "in use") {
		t.Errorf("backup of a running member: exit %d\n%s", code, out)
	}
	noDataDir(t, backupDir)
	c.Kill(l)
	c.Kill(lost)
	c.Kill(s)

	code, out := runCtl(t, "backup", "--data-dir", c.Members[lost].DataDir, "--backup-dir", backupDir)
	if code != 0 || !strings.Contains(out, "--force-new-cluster") {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}

	p := startProc(t, "survivor", survivorArgs(c.Members[s], "--force-new-cluster")...)
	checkAlone(t, hc, urls[s], want)
	if !strings.Contains(p.out.String(), "only member") {
		t.Errorf("the survivor's log does not say what --force-new-cluster did:\n%s", p.out.String())
	}
	// A restart without the flag keeps the one-member cluster.
	_ = p.cmd.Process.Kill()
	<-p.exited
	startProc(t, "survivor-again", survivorArgs(c.Members[s])...)
	checkAlone(t, hc, urls[s], want)

	// The backup, on the lost member's ports and with its flags (the old
	// --initial-cluster included, which describes another cluster id), is
	// a cluster of its own.
	bm := *c.Members[lost]
	bm.DataDir = backupDir
	var ic []string
	for _, m := range c.Members {
		ic = append(ic, m.Name+"="+m.PeerURL)
	}
	// Without --force-new-cluster the copy would wait forever for peers
	// that do not know its new id: it refuses to start and says so.
	refused := startProc(t, "backup-without-flag", survivorArgs(&bm, "--initial-cluster", strings.Join(ic, ","),
		"--initial-cluster-token", "testcluster-"+filepath.Base(clusterDir(c)))...)
	if code := refused.wait(t, 10*time.Second); code == 0 || !strings.Contains(refused.out.String(), "start it with --force-new-cluster") {
		t.Errorf("the backup copy started without --force-new-cluster: exit %d\n%s", code, refused.out.String())
	}
	startProc(t, "backup", survivorArgs(&bm, "--force-new-cluster", "--initial-cluster", strings.Join(ic, ","),
		"--initial-cluster-token", "testcluster-"+filepath.Base(clusterDir(c)))...)
	checkAlone(t, hc, bm.ClientURL, want)
	idS, _ := selfID(t.Context(), hc, urls[s])
	idB, _ := selfID(t.Context(), hc, bm.ClientURL)
	if idS == "" || idS == idB {
		t.Errorf("the backup's member id %q is the survivor's %q", idB, idS)
	}
}
