// Package browsertest finds the tools that the browser and JavaScript tests
// need (Debian's chromium, node) and holds the rule they share: a missing
// tool skips the test on a developer's machine but fails it under CI=true,
// because CI must run every test (.ci/run installs both). Start starts the
// headless Chromium they drive, with the same options everywhere.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
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

// Start starts headless Chromium with a window of width×height and returns
// the context that drives its first tab (closed when t ends). Without
// Chromium, Need decides: a skip, or a failure under CI=true.
func Start(t testing.TB, width, height int) context.Context {
	t.Helper()
	path := Chromium()
	Need(t, path, "Chromium", "apt-get install chromium, or set RAFTKV_CHROMIUM")
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(width, height),
		chromedp.UserDataDir(t.TempDir()))
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser and must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}
