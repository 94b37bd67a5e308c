package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// discoveryArgs are m's flags for bootstrapping through discovery: no
// --initial-cluster.
func (m member) discoveryArgs(extra ...string) []string {
	return append([]string{
		"--name", m.name, "--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
		"--heartbeat-interval", fmt.Sprint(heartbeat.Milliseconds()), "--election-timeout", fmt.Sprint(election.Milliseconds()),
	}, extra...)
}

// TestDiscoveryRealProcesses runs etcd's discovery recipe with nothing
// but raftkv: a one-member raftkv cluster is the discovery service,
// `raftkvctl discovery new --size 3` makes the URL, and three members
// started with --discovery form a cluster. A 4th member with
// --discovery-fallback=exit is refused with its message; a 5th with the
// default fallback serves as a proxy (a write, a read and a watch through
// it), and so does a readonly proxy started with --proxy (501 for a
// write). A restarted member skips discovery with a warning.
func TestDiscoveryRealProcesses(t *testing.T) {
	svc, hc := newCluster(t, 1)
	out, err := exec.Command(buildCtl(t), "--endpoints", svc.Members[0].ClientURL, "discovery", "new", "--size", "3").Output()
	if err != nil {
		t.Fatalf("raftkvctl discovery new: %v", err)
	}
	durl := strings.TrimSpace(string(out))
	if !strings.HasPrefix(durl, svc.Members[0].ClientURL+"/v2/keys/_etcd/registry/") {
		t.Fatalf("raftkvctl discovery new printed %q, want %s/v2/keys/_etcd/registry/<token>", durl, svc.Members[0].ClientURL)
	}

	var ms []member
	var procs []*proc
	for i := range 3 {
		m := newMember(t, fmt.Sprintf("d%d", i+1))
		ms = append(ms, m)
		procs = append(procs, startProc(t, m.name, m.discoveryArgs("--discovery", durl)...))
	}
	eventually(t, 20*time.Second, 50*time.Millisecond, "3 discovered members published", func(ctx context.Context) error {
		list, err := listMembers(ctx, hc, ms[2].clientURL)
		if err != nil {
			return err
		}
		published := 0
		for _, e := range list {
			if len(e.ClientURLs) > 0 {
				published++
			}
		}
		if len(list) != 3 || published != 3 {
			return fmt.Errorf("members %+v", list)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	r, err := keys(ctx, hc, http.MethodPut, ms[0].clientURL, "/k", vals("value", "v1"))
	if err != nil || r.Status != http.StatusCreated {
		t.Fatalf("PUT on the discovered cluster: %v %v", r, err)
	}
	waitLocalValue(t, hc, ms[2].clientURL, "/k", "v1", 10*time.Second)

	// A 4th member that may not be a proxy: refused, nothing left behind.
	m4 := newMember(t, "d4")
	refuses(t, m4.discoveryArgs("--discovery", durl, "--discovery-fallback", "exit"),
		"cluster is full", "d1", "--discovery-fallback=proxy")
	noDataDir(t, m4.dataDir)

	// A 5th with the default fallback: a proxy on its client URL.
	m5 := newMember(t, "d5")
	p5 := startProc(t, "d5", m5.discoveryArgs("--discovery", durl)...)
	eventually(t, 20*time.Second, 50*time.Millisecond, "the proxy serves", func(ctx context.Context) error {
		r, err := keys(ctx, hc, http.MethodGet, m5.clientURL, "/k", nil)
		if err != nil {
			return err
		}
		if r.Status != http.StatusOK || r.Node.Val() != "v1" {
			return errors.New(r.String())
		}
		return nil
	})
	if !strings.Contains(p5.out.String(), "starting as a proxy") {
		t.Errorf("the 5th member did not say it became a proxy:\n%s", p5.out.String())
	}
	r, err = keys(ctx, hc, http.MethodPut, m5.clientURL, "/via-proxy", vals("value", "p1"))
	if err != nil || r.Status != http.StatusCreated {
		t.Fatalf("PUT through the proxy: %v %v", r, err)
	}
	waitLocalValue(t, hc, ms[1].clientURL, "/via-proxy", "p1", 10*time.Second)
	// A watch through the proxy sees a write made on a member.
	watched := make(chan string, 1)
	go func() {
		w, err := keys(ctx, hc, http.MethodGet, m5.clientURL, "/via-proxy",
			vals("wait", "true", "waitIndex", strconv.FormatUint(r.Node.ModifiedIndex+1, 10)))
		if err != nil {
			watched <- err.Error()
			return
		}
		watched <- w.Node.Val()
	}()
	if r, err := keys(ctx, hc, http.MethodPut, ms[2].clientURL, "/via-proxy", vals("value", "p2")); err != nil || r.Status != http.StatusOK {
		t.Fatalf("PUT on a member: %v %v", r, err)
	}
	select {
	case v := <-watched:
		if v != "p2" {
			t.Errorf("watch through the proxy got %q, want p2", v)
		}
	case <-ctx.Done():
		t.Fatal("watch through the proxy saw nothing")
	}

	// A readonly proxy started by hand from --initial-cluster: reads pass,
	// writes get 501.
	ro := newMember(t, "ro")
	var initial []string
	for _, m := range ms {
		initial = append(initial, m.name+"="+m.peerURL)
	}
	startProc(t, "ro", "--proxy", "readonly", "--listen-client-urls", ro.clientURL, "--initial-cluster", strings.Join(initial, ","))
	eventually(t, 20*time.Second, 50*time.Millisecond, "the readonly proxy serves", func(ctx context.Context) error {
		r, err := keys(ctx, hc, http.MethodGet, ro.clientURL, "/k", nil)
		if err != nil {
			return err
		}
		if r.Status != http.StatusOK || r.Node.Val() != "v1" {
			return errors.New(r.String())
		}
		return nil
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, ro.clientURL+"/v2/keys/k", strings.NewReader("value=no"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("PUT through the readonly proxy: %s, want 501", resp.Status)
	}

	// A restart with the data dir ignores the discovery URL.
	_ = procs[0].cmd.Process.Signal(syscall.SIGTERM)
	procs[0].wait(t, 10*time.Second)
	p := startProc(t, "d1 again", ms[0].discoveryArgs("--discovery", durl)...)
	eventually(t, 10*time.Second, 50*time.Millisecond, "the restarted member serves", func(ctx context.Context) error {
		r, err := keys(ctx, hc, http.MethodGet, ms[0].clientURL, "/k", vals("quorum", "true"))
		if err != nil {
			return err
		}
		if r.Status != http.StatusOK {
			return errors.New(r.String())
		}
		return nil
	})
	if !strings.Contains(p.out.String(), "discovery token ignored") {
		t.Errorf("the restarted member did not warn that discovery is ignored:\n%s", p.out.String())
	}
}
