package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The whole pipeline at a tiny size: trials, CSV, plots and the table.
func TestRunWritesEverything(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	if err := runMain([]string{"-out", dir, "-scale", "0.002", "-variants", "prevote-checkquorum"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"trials.csv", "summary.csv", "results.md", "fig16-prevote-checkquorum.svg",
		"fig16-prevote-checkquorum.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	summary, err := os.ReadFile(filepath.Join(dir, "summary.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(summary), "\n"); n != 1+len(spans) {
		t.Errorf("summary.csv has %d lines, want a header and %d lines", n, len(spans))
	}
	for _, want := range []string{"| 150–155 ms: median | 287 ms |", "| prevote-checkquorum | 12–24 ms |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("results lack %q:\n%s", want, out.String())
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-scale", "0"}, {"-scale", "2"}, {"-variants", "nope"}, {"extra"}} {
		if err := runMain(append(args, "-out", t.TempDir()), io.Discard, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
