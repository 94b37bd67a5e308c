package clustertest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testcluster"
)

// member is the flags of one raftkv process on free loopback ports.
type member struct {
	name, dataDir, clientURL, peerURL string
}

func newMember(t *testing.T, name string) member {
	t.Helper()
	ports, err := testcluster.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	return member{
		name: name, dataDir: filepath.Join(t.TempDir(), name+".raftkv"),
		clientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		peerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
	}
}

// args are the member's flags; extra ones (which may repeat a flag:
// the last one wins) follow.
func (m member) args(extra ...string) []string {
	return append([]string{
		"--name", m.name, "--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
		"--initial-cluster", m.name + "=" + m.peerURL,
		"--heartbeat-interval", fmt.Sprint(heartbeat.Milliseconds()), "--election-timeout", fmt.Sprint(election.Milliseconds()),
	}, extra...)
}

// refuses starts raftkv with args and checks that it exits non-zero
// promptly with output containing every one of want.
func refuses(t *testing.T, args []string, want ...string) string {
	t.Helper()
	p := startProc(t, "raftkv", args...)
	code := p.wait(t, 10*time.Second)
	out := p.out.String()
	if code == 0 {
		t.Errorf("raftkv %s exited 0, want a failure; output:\n%s", strings.Join(args, " "), out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("raftkv refused to start, but its message does not say %q:\n%s", w, out)
		}
	}
	return out
}

// noDataDir checks that a refused start left no data dir behind, so the
// same command with the mistake fixed bootstraps cleanly.
func noDataDir(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused start left %s behind (stat: %v)", dir, err)
	}
}

// TestMisconfigurationStopsStartup checks that each classic mistake stops
// raftkv before it serves, with a non-zero exit and a message that says
// what to do, and that it loses nothing.
func TestMisconfigurationStopsStartup(t *testing.T) {
	t.Run("not in initial cluster", func(t *testing.T) {
		m := newMember(t, "m9")
		other := newMember(t, "m1")
		refuses(t, m.args("--initial-cluster", "m1="+other.peerURL+",m2=http://127.0.0.1:1"),
			"not in --initial-cluster", "add m9=<its peer URL> to --initial-cluster")
		noDataDir(t, m.dataDir)
	})
	t.Run("client port in use", func(t *testing.T) {
		m := newMember(t, "m1")
		ln, err := net.Listen("tcp", strings.TrimPrefix(m.clientURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		refuses(t, m.args(), "--listen-client-urls "+m.clientURL, "cannot listen", "Stop it or choose another port")
		noDataDir(t, m.dataDir)
	})
	t.Run("peer port in use", func(t *testing.T) {
		m := newMember(t, "m1")
		ln, err := net.Listen("tcp", strings.TrimPrefix(m.peerURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		refuses(t, m.args(), "--listen-peer-urls "+m.peerURL, "cannot listen", "Stop it or choose another port")
		noDataDir(t, m.dataDir)
	})
	t.Run("bad initial cluster state", func(t *testing.T) {
		m := newMember(t, "m1")
		refuses(t, m.args("--initial-cluster-state", "exisitng"), "--initial-cluster-state must be new or existing", `"exisitng"`)
		noDataDir(t, m.dataDir)
	})
	t.Run("data dir of another cluster", func(t *testing.T) {
		m := newMember(t, "m1")
		hc := newHTTPClient(5 * time.Second)
		defer hc.CloseIdleConnections()
		// Bootstrap a one-member cluster with token "one" and write a key.
		p := startProc(t, "m1", m.args("--initial-cluster-token", "one")...)
		eventually(t, 10*time.Second, 20*time.Millisecond, "the one-member cluster takes a write", func(ctx context.Context) error {
			r, err := keys(ctx, hc, http.MethodPut, m.clientURL, "/kept", vals("value", "yes"))
			if err != nil {
				return err
			}
			if r.Status/100 != 2 {
				return fmt.Errorf("PUT: %v", r)
			}
			return nil
		})
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("SIGTERM: exit code %d, want 0", code)
		}
		// The same data dir, told it belongs to cluster "two".
		refuses(t, m.args("--initial-cluster-token", "two"),
			"belongs to another cluster", m.dataDir, "point --data-dir at this cluster's member, or move the old data dir away")
		// Nothing was lost: with the right token it starts, key and all.
		startProc(t, "m1 again", m.args("--initial-cluster-token", "one")...)
		waitLocalValue(t, hc, m.clientURL, "/kept", "yes", 10*time.Second)
	})
}
