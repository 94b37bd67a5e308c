package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testcluster"
)

// TestDataDirLock: a second raftkv on a running member's data dir exits
// with a message naming the process that holds it, whether it has ports
// of its own or the same ones, and the running member is unharmed; once
// that one stops, the data dir starts again.
func TestDataDirLock(t *testing.T) {
	m := newMember(t, "m1")
	hc := newHTTPClient(5 * time.Second)
	defer hc.CloseIdleConnections()
	p := startProc(t, "m1", m.args()...)
	eventually(t, 10*time.Second, 20*time.Millisecond, "the member takes a write", func(ctx context.Context) error {
		r, err := keys(ctx, hc, http.MethodPut, m.clientURL, "/kept", vals("value", "yes"))
		if err != nil {
			return err
		}
		if r.Status/100 != 2 {
			return fmt.Errorf("PUT: %v", r)
		}
		return nil
	})
	holder := fmt.Sprintf("is in use by raftkv pid %d (member %q, started ", p.cmd.Process.Pid, "m1")
	other := newMember(t, "m1")
	other.dataDir = m.dataDir
	refuses(t, other.args(), "data dir "+m.dataDir+" "+holder, "stop it or choose another --data-dir")
	// Same flags, same ports: the lock is named, not the ports.
	out := refuses(t, m.args(), "data dir "+m.dataDir+" "+holder)
	if strings.Contains(out, "cannot listen") {
		t.Errorf("the second start blamed the ports:\n%s", out)
	}
	waitLocalValue(t, hc, m.clientURL, "/kept", "yes", 10*time.Second)

	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0", code)
	}
	startProc(t, "m1 again", m.args()...)
	waitLocalValue(t, hc, m.clientURL, "/kept", "yes", 10*time.Second)
}

// TestClusterHealthRightAfterStart: a member answers clients only once
// its client URLs are published, so as soon as every member of a new
// cluster answers at all (/health, whatever it says), every member's
// /v2/members lists every member's client URLs: cluster-health run right
// after start never finds a member unpublished. (Without the rule the
// members answer from their first moment, before any publish.)
func TestClusterHealthRightAfterStart(t *testing.T) {
	c, err := testcluster.Start(testcluster.Options{Bin: testcluster.Build(t), Dir: t.TempDir(), Members: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			for i, m := range c.Members {
				t.Logf("--- log of %s ---\n%s", m.Name, c.Log(i))
			}
		}
	})
	hc := newHTTPClient(10 * time.Second)
	defer hc.CloseIdleConnections()
	healthy := 0
	eventually(t, 20*time.Second, 5*time.Millisecond, "every member answers", func(ctx context.Context) error {
		healthy = 0
		for _, m := range c.Members {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.ClientURL+"/health", nil)
			resp, err := hc.Do(req)
			if err != nil {
				return err // not listening yet
			}
			var h struct{ Health string }
			_ = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if h.Health == "true" {
				healthy++
			}
		}
		return nil
	})
	// At once, as cluster-health would: the member list from each member,
	// then each listed member's client URLs.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, m := range c.Members {
		list, err := listMembers(ctx, hc, m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		var urls []string
		for _, e := range list {
			if len(e.ClientURLs) == 0 {
				t.Errorf("%s lists member %s (%s) without published client URLs (%d members said healthy)", m.Name, e.ID, e.Name, healthy)
			}
			urls = append(urls, e.ClientURLs...)
		}
		slices.Sort(urls)
		if want := slices.Sorted(slices.Values(c.ClientURLs())); !slices.Equal(urls, want) {
			t.Errorf("%s lists client URLs %v, want %v", m.Name, urls, want)
		}
	}
	// And raftkvctl itself (runCtl: backup_test.go).
	code, out := runCtl(t, "--endpoints", strings.Join(c.ClientURLs(), ","), "cluster-health")
	if code != 0 || !strings.Contains(out, "cluster is healthy") || strings.Contains(out, "no available published client urls") {
		t.Errorf("cluster-health right after start: exit %d\n%s", code, out)
	}
}

// TestEtcdEnvironment: a member configured only through etcd's ETCD_*
// variables (as an etcd systemd unit or container sets them) starts and
// serves, says it used them, and RAFTKV_* wins where both are set.
func TestEtcdEnvironment(t *testing.T) {
	m := newMember(t, "infra1")
	cmd := exec.Command(testcluster.Build(t))
	cmd.Env = append(os.Environ(),
		"ETCD_NAME=wrong", "RAFTKV_NAME="+m.name, // RAFTKV_ wins
		"ETCD_DATA_DIR="+m.dataDir,
		"ETCD_LISTEN_CLIENT_URLS="+m.clientURL, "ETCD_ADVERTISE_CLIENT_URLS="+m.clientURL,
		"ETCD_LISTEN_PEER_URLS="+m.peerURL, "ETCD_INITIAL_ADVERTISE_PEER_URLS="+m.peerURL,
		"ETCD_INITIAL_CLUSTER="+m.name+"="+m.peerURL, "ETCD_INITIAL_CLUSTER_STATE=new",
		"ETCD_HEARTBEAT_INTERVAL="+strconv.Itoa(int(heartbeat.Milliseconds())),
		"ETCD_ELECTION_TIMEOUT="+strconv.Itoa(int(election.Milliseconds())),
		"ETCD_ENABLE_V2=true", // etcd 3.4's; raftkv has no such flag
	)
	p := &proc{cmd: cmd, out: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		if t.Failed() {
			t.Logf("--- output ---\n%s", p.out.String())
		}
	})
	hc := newHTTPClient(5 * time.Second)
	defer hc.CloseIdleConnections()
	var list []memberEntry
	eventually(t, 10*time.Second, 20*time.Millisecond, "the member serves on its ETCD_LISTEN_CLIENT_URLS", func(ctx context.Context) error {
		var err error
		list, err = listMembers(ctx, hc, m.clientURL)
		return err
	})
	if len(list) != 1 || list[0].Name != m.name || !slices.Equal(list[0].ClientURLs, []string{m.clientURL}) || !slices.Equal(list[0].PeerURLs, []string{m.peerURL}) {
		t.Errorf("members %+v", list)
	}
	if _, err := os.Stat(m.dataDir + "/member.json"); err != nil {
		t.Errorf("ETCD_DATA_DIR not used: %v", err)
	}
	out := p.out.String()
	for _, want := range []string{"using etcd's environment variables", "ETCD_DATA_DIR", "ETCD_NAME by RAFTKV_NAME", "unknown environment variable ETCD_ENABLE_V2"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
}
