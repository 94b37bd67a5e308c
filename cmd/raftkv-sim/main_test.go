package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExitCodesAndReplay(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "t.jsonl")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-seed", "3", "-preset", "calm", "-short", "-trace", trace, "-html-dir", dir}, exitOK, "ok"},
		{[]string{"-seed", "1", "-short", "-bug", "skip-sync", "-html-dir", dir}, exitSafety,
			"replay: go run ./cmd/raftkv-sim -seed 1 -short -bug skip-sync"},
		{[]string{"-swarm", "-seeds", "4", "-short", "-quiet", "-html-dir", dir}, exitOK, "slowest porcupine check"},
		{[]string{"-swarm", "-seeds", "20", "-short", "-quiet", "-bug", "double-vote", "-html-dir", dir}, exitSafety, "safety failures"},
		{[]string{"-preset", "nope"}, exitUsage, ""},
		{[]string{"-bench", "catchup", "-keys", "2000"}, exitOK, "1000 Mbit/s"},
		{[]string{"-bench", "nope"}, exitUsage, ""},
	} {
		var out, errOut bytes.Buffer
		if code := run(c.args, &out, &errOut); code != c.code || !strings.Contains(out.String(), c.want) {
			t.Errorf("%v: exit %d, want %d; output:\n%s\n%s", c.args, code, c.code, out.String(), errOut.String())
		}
	}
	b, err := os.ReadFile(trace)
	if err != nil || !bytes.HasPrefix(b, []byte(`{"type":"header","format":1,"seed":3,`)) {
		t.Fatalf("trace: %v, %.100s", err, b)
	}
}
