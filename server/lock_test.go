package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// soloOnOS is a one-member cluster's config on the OS file system.
func soloOnOS(t *testing.T, dir string) MemberConfig {
	const peerURL = "http://127.0.0.1:2380" // advertised only: one member dials no one
	return MemberConfig{
		Name: "solo", DataDir: dir,
		AdvertiseClientURLs:      []string{"http://127.0.0.1:2379"},
		InitialAdvertisePeerURLs: []string{peerURL},
		InitialCluster:           []InitialMember{{Name: "solo", PeerURLs: []string{peerURL}}},
		HeartbeatInterval:        10 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
		Logger:          testLogger(t),
		ClientListeners: []net.Listener{}, PeerListener: listen(t),
	}
}

// TestDataDirLock: a second member on a data dir in use refuses to start,
// naming the holder, and harms nothing; once the holder stops, the data
// dir starts again (the lock file left behind locks nothing).
func TestDataDirLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "solo.raftkv")
	first, err := StartMember(soloOnOS(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer stopMember(t, first)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-first.Published():
	case <-ctx.Done():
		t.Fatal("the first member never published")
	}

	for _, name := range []string{"solo", "another"} {
		cfg := soloOnOS(t, dir)
		cfg.Name = name
		second, err := StartMember(cfg)
		if err == nil {
			stopMember(t, second)
			t.Fatalf("a second member (--name %s) started on a data dir in use", name)
		}
		msg := err.Error()
		for _, want := range []string{
			"data dir " + dir + " is in use by raftkv pid " + fmt.Sprint(os.Getpid()), `(member "solo", started `,
			filepath.Join(dir, LockFileName), "stop it or choose another --data-dir",
		} {
			if !errors.Is(err, ErrDataDirInUse) || !strings.Contains(msg, want) {
				t.Errorf("second start (--name %s): %v\nwant ErrDataDirInUse saying %q", name, err, want)
			}
		}
	}
	// The refusals left the holder's record and the member alone.
	b, err := os.ReadFile(filepath.Join(dir, LockFileName))
	if err != nil {
		t.Fatal(err)
	}
	var h lockHolder
	if err := json.Unmarshal(b, &h); err != nil || h.Name != "solo" || h.PID != os.Getpid() {
		t.Errorf("lock file %q after the refusals", b)
	}
	if err := first.ReadIndex(ctx); err != nil {
		t.Fatalf("the first member after the refusals: %v", err)
	}
	id := first.ID()
	stopMember(t, first)

	again, err := StartMember(soloOnOS(t, dir))
	if err != nil {
		t.Fatalf("start after the holder stopped: %v", err)
	}
	defer stopMember(t, again)
	if again.ID() != id {
		t.Errorf("restarted as %s, want %s", IDString(again.ID()), IDString(id))
	}
}

// TestDataDirLockBeforeBootstrap: a new, empty data dir that another
// holds: the start is refused before it writes a member file.
func TestDataDirLockBeforeBootstrap(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new.raftkv")
	holder, err := lockDir(dir, lockHolder{PID: 4242, Name: "elsewhere", Started: time.Unix(0, 0).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = StartMember(soloOnOS(t, dir))
	if !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), `raftkv pid 4242 (member "elsewhere", started 1970-01-01T00:00:00Z)`) {
		t.Fatalf("start on a locked data dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "member.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused start wrote member.json (stat: %v)", err)
	}
	if err := holder.Unlock(); err != nil {
		t.Fatal(err)
	}
	m, err := StartMember(soloOnOS(t, dir))
	if err != nil {
		t.Fatalf("start once the lock is free: %v", err)
	}
	stopMember(t, m)
}
