package server

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/vfs"
)

// memberOnDisk starts a one-member cluster on fsys and returns it.
func memberOnDisk(t *testing.T, fsys vfs.FS) (*Member, error) {
	t.Helper()
	const peerURL = "http://127.0.0.1:2380" // advertised only: one member dials no one
	return StartMember(MemberConfig{
		Name: "solo", DataDir: "/data", FS: fsys,
		AdvertiseClientURLs:      []string{"http://127.0.0.1:2379"},
		InitialAdvertisePeerURLs: []string{peerURL},
		InitialCluster:           []InitialMember{{Name: "solo", PeerURLs: []string{peerURL}}},
		HeartbeatInterval:        10 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
		Logger:          testLogger(t),
		ClientListeners: []net.Listener{}, PeerListener: listen(t),
	})
}

func stopMember(t *testing.T, m *Member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestMemberFileSurvivesCrash: the member file goes through vfs, so the
// in-memory disk sees it. Once a member has started, its member.json
// survives a crash that loses every unsynced write, and the member comes
// back as itself.
func TestMemberFileSurvivesCrash(t *testing.T) {
	mem := vfs.NewMem(rand.New(rand.NewPCG(7, 7)))
	m, err := memberOnDisk(t, mem)
	if err != nil {
		t.Fatal(err)
	}
	id := m.ID()
	stopMember(t, m)
	mem.Crash()
	m, err = memberOnDisk(t, mem)
	if err != nil {
		t.Fatalf("restart after a crash: %v", err)
	}
	defer stopMember(t, m)
	if m.ID() != id {
		t.Fatalf("restarted as %s, want %s", IDString(m.ID()), IDString(id))
	}
}

// TestMemberFileFailedSync: a member file that cannot be made durable
// stops the start with the file named, and, after a crash, leaves nothing
// half-written behind: the next start bootstraps afresh.
func TestMemberFileFailedSync(t *testing.T) {
	mem := vfs.NewMem(rand.New(rand.NewPCG(8, 8)))
	mem.FailSyncs(1) // the first sync is member.json's
	_, err := memberOnDisk(t, mem)
	if !errors.Is(err, vfs.ErrInjected) || !strings.Contains(err.Error(), "member.json") {
		t.Fatalf("start with a failing sync = %v, want an error naming member.json", err)
	}
	mem.Crash()
	if b, err := vfs.ReadFile(mem, "/data/member.json"); err == nil {
		t.Fatalf("member.json survived a crash before it was synced: %q", b)
	}
	m, err := memberOnDisk(t, mem)
	if err != nil {
		t.Fatalf("start after the failed one: %v", err)
	}
	stopMember(t, m)
}

// TestInitialClusterStateTypo: a misspelt --initial-cluster-state is refused
// on a restart too, where the flag is otherwise ignored.
func TestInitialClusterStateTypo(t *testing.T) {
	mem := vfs.NewMem(rand.New(rand.NewPCG(9, 9)))
	m, err := memberOnDisk(t, mem)
	if err != nil {
		t.Fatal(err)
	}
	stopMember(t, m)
	cfg := MemberConfig{Name: "solo", DataDir: "/data", FS: mem, InitialClusterState: "exsting",
		ClientListeners: []net.Listener{}, PeerListener: listen(t), Logger: testLogger(t)}
	if _, err := StartMember(cfg); err == nil || !strings.Contains(err.Error(), `not "exsting"`) {
		t.Fatalf("restart with --initial-cluster-state exsting = %v, want it refused", err)
	}
}
