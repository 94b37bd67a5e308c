package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The whole pipeline at a tiny size: runs (too short for a cut: the shape
// is sim's TestDisruptionShape), CSV, plot and the table.
func TestRunWritesEverything(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	if err := runMain([]string{"-out", dir, "-duration", "1s"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"disruption.csv", "results.md", "disruption.svg", "disruption.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "disruption.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 1+len(scenarios)*len(configs) {
		t.Errorf("disruption.csv has %d lines, want %d", n, 1+len(scenarios)*len(configs))
	}
	if !strings.Contains(out.String(), "| flapping-member | on | on |") {
		t.Errorf("results lack the flapping member with both on:\n%s", out.String())
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-duration", "0s"}, {"extra"}} {
		if err := runMain(append(args, "-out", t.TempDir()), io.Discard, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
