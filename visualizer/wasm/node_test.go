//go:build !(js && wasm)

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/internal/browsertest"
	"github.com/raftkv/raftkv/sim"
	"github.com/raftkv/raftkv/visualizer"
)

// goCommand is the go command, and the folder of the Go release's
// WebAssembly support (go_js_wasm_exec, wasm_exec.js).
func goCommand(t *testing.T) (goBin, wasmDir string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build for WebAssembly: %v", err)
	}
	out, err := exec.Command(goBin, "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	return goBin, filepath.Join(strings.TrimSpace(string(out)), "lib", "wasm")
}

// TestGlueUnderNode runs this package's WebAssembly tests (main_js_test.go:
// the JavaScript glue, through globalThis.raftkvLive) under node, as
// GOOS=js GOARCH=wasm go test does with go_js_wasm_exec on PATH.
func TestGlueUnderNode(t *testing.T) {
	node := browsertest.Node()
	browsertest.Need(t, node, "node", "apt-get install nodejs")
	t.Parallel()
	goBin, wasmDir := goCommand(t)
	cmd := exec.Command(goBin, "test", "-count=1", "-v", ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm",
		"PATH="+wasmDir+string(os.PathListSeparator)+filepath.Dir(node)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go test: %v\n%s", err, out)
	}
	for _, name := range []string{"TestGlue", "TestGlueCheckAndExport"} {
		if !bytes.Contains(out, []byte("--- PASS: "+name+" ")) {
			t.Errorf("%s did not pass under node:\n%s", name, out)
		}
	}
}

// TestWorkerInNode builds the live simulator (raftkv.wasm, wasm_exec.js)
// and drives static/live/worker.js with it in node (testdata/
// worker.test.mjs): the contract of visualizer/doc.go, "The live
// simulator", message by message. The session it exports must replay, as
// raftkv-sim -replay does, to the same trace byte for byte. It reports
// the speed of 5 members (set RAFTKV_SPEED_FLOOR=100 to require 100x real
// time; speed targets are not asserted by default, since a test machine's
// load decides them).
func TestWorkerInNode(t *testing.T) {
	node := browsertest.Node()
	browsertest.Need(t, node, "node", "apt-get install nodejs")
	t.Parallel()
	dir := t.TempDir()
	if err := visualizer.BuildLive(dir); err != nil {
		t.Fatal(err)
	}
	worker, err := os.ReadFile("../static/live/worker.js")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "worker.js"), worker, 0o644); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, "raftkv.wasm")); err == nil {
		t.Logf("raftkv.wasm: %d bytes", st.Size())
	}
	session := filepath.Join(dir, "session.jsonl")
	cmd := exec.Command(node, "--test", "--test-reporter=spec", "testdata/")
	cmd.Env = append(os.Environ(), "RAFTKV_LIVE_DIR="+dir, "RAFTKV_EXPORT="+session)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "skipped 0") || !strings.Contains(s, "fail 0") || !strings.Contains(s, "fork: a start with the inputs") {
		t.Fatalf("node --test did not run every test:\n%s", s)
	}
	for _, m := range regexp.MustCompile(`speed: \{.*`).FindAllString(s, -1) {
		t.Log(m)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}

	want, err := os.ReadFile(session)
	if err != nil {
		t.Fatalf("the session was not exported: %v", err)
	}
	sess, err := sim.ReadSession(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if f, err := sess.Replay(&got); err != nil || f != nil {
		t.Fatalf("replay: %v, %v", f, err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("the session exported from the worker (%d bytes) does not replay to itself (%d bytes)", len(want), got.Len())
	}
	if len(sess.Inputs) < 4 {
		t.Fatalf("the exported session has %d inputs", len(sess.Inputs))
	}
}
