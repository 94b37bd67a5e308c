// Package browsertest finds the tools that the browser and JavaScript tests
// need (Debian's chromium, node) and holds the rule they share: a missing
// tool skips the test on a developer's machine but fails it under CI=true,
// because CI must run every test (.ci/run installs both).
package browsertest

import (
	"os"
	"os/exec"
	"testing"
)

// Chromium is the browser to drive: $RAFTKV_CHROMIUM, else Debian's
// chromium (or chromium-browser, google-chrome) on PATH; "" if none.
func Chromium() string {
	if p := os.Getenv("RAFTKV_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Node is node on PATH, or "".
func Node() string {
	p, _ := exec.LookPath("node")
	return p
}

// Need ends t when path is empty: a skip that says how to install what,
// or, under CI=true, a failure.
func Need(t testing.TB, path, what, install string) {
	t.Helper()
	if path != "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found and CI=true: the test must run (%s)", what, install)
		return
	}
	t.Skipf("%s not found: skipping (%s; under CI=true this fails)", what, install)
}
