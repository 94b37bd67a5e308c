package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// leftoverMembers finds raftkv members of an earlier raftkv-local that are
// still running in dir: raftkv-local killed without the chance to stop its
// members (SIGKILL, a crash) leaves them serving. Each member's data dir
// lock file names its pid; a pid that is alive and runs raftkv counts.
// It returns "m1 (pid 123), ..." and the pids, or nothing.
func leftoverMembers(dir string) (desc []string, pids []int) {
	locks, _ := filepath.Glob(filepath.Join(dir, "*.raftkv", "raftkv.lock"))
	slices.Sort(locks)
	for _, lock := range locks {
		b, err := os.ReadFile(lock)
		if err != nil {
			continue
		}
		var holder struct {
			PID  int    `json:"pid"`
			Name string `json:"name"`
		}
		if json.Unmarshal(b, &holder) != nil || holder.PID <= 0 || holder.PID == os.Getpid() {
			continue
		}
		if syscall.Kill(holder.PID, 0) != nil {
			continue // gone
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(holder.PID), "cmdline"))
		if err == nil && !strings.Contains(string(cmdline), "raftkv") {
			continue // the pid was reused by something else
		}
		desc = append(desc, fmt.Sprintf("%s (pid %d)", holder.Name, holder.PID))
		pids = append(pids, holder.PID)
	}
	return desc, pids
}

// checkLeftovers refuses to start over members still running from an
// earlier raftkv-local, and says how to stop them.
func checkLeftovers(dir string) error {
	desc, pids := leftoverMembers(dir)
	if len(pids) == 0 {
		return nil
	}
	var ps []string
	for _, p := range pids {
		ps = append(ps, strconv.Itoa(p))
	}
	return fmt.Errorf("members of an earlier raftkv-local still run in %s: %s (its raftkv-local was killed before it could stop them); stop them with: kill %s",
		dir, strings.Join(desc, ", "), strings.Join(ps, " "))
}
