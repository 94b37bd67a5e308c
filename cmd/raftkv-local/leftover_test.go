package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHelperBlock is not a test: started as a child process with
// RAFTKV_LOCAL_HELPER=block, it blocks until killed, standing in for a
// member that outlived its raftkv-local.
func TestHelperBlock(t *testing.T) {
	if os.Getenv("RAFTKV_LOCAL_HELPER") != "block" {
		return
	}
	time.Sleep(time.Hour)
}

// TestLeftoverMembersRefused: members still running from a raftkv-local
// that was killed are named, with the command that stops them, before
// anything is started or deleted; a lock file of a process that is gone
// does not count.
func TestLeftoverMembersRefused(t *testing.T) {
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestHelperBlock$")
	child.Env = append(os.Environ(), "RAFTKV_LOCAL_HELPER=block")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	})
	writeLock := func(name string, pid int) {
		d := filepath.Join(dir, name+".raftkv")
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"pid": pid, "name": name})
		if err := os.WriteFile(filepath.Join(d, "raftkv.lock"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A process that has exited: its pid is free (or, rarely, reused by
	// something that is not raftkv).
	gone := exec.Command(os.Args[0], "-test.run=^$")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	writeLock("m1", child.Process.Pid)
	writeLock("m2", gone.Process.Pid)
	err := checkLeftovers(dir)
	want := "m1 (pid " + strconv.Itoa(child.Process.Pid) + ")"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "kill "+strconv.Itoa(child.Process.Pid)) {
		t.Fatalf("checkLeftovers = %v, want it to name %s and say how to stop it", err, want)
	}
	if strings.Contains(err.Error(), "m2") {
		t.Errorf("a member whose process is gone was named: %v", err)
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	if err := checkLeftovers(dir); err != nil {
		t.Errorf("after the member is gone: %v", err)
	}
}
