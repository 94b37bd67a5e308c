package browsertest

import (
	"fmt"
	"testing"
)

// recorder stands in for a test: it records whether Need failed or
// skipped it.
type recorder struct {
	testing.TB
	failed, skipped string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }
func (r *recorder) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }

// TestNeedFailsUnderCI: a missing tool skips the test, except under
// CI=true, where it fails it; a tool that is there does neither.
func TestNeedFailsUnderCI(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		Need(r, "", "Chromium", "apt-get install chromium")
		if ci == "true" && (r.failed == "" || r.skipped != "") {
			t.Errorf("CI=true: failed %q, skipped %q; want a failure", r.failed, r.skipped)
		}
		if ci == "" && (r.skipped == "" || r.failed != "") {
			t.Errorf("no CI: failed %q, skipped %q; want a skip", r.failed, r.skipped)
		}
		r = &recorder{TB: t}
		Need(r, "/usr/bin/chromium", "Chromium", "apt-get install chromium")
		if r.failed != "" || r.skipped != "" {
			t.Errorf("with the tool: failed %q, skipped %q", r.failed, r.skipped)
		}
	}
}
