package visualizer

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// LiveFiles are the files of the live simulator that are built, not kept
// in static/: the simulator compiled to WebAssembly, and the Go release's
// JavaScript support for it (the two must come from the same Go). The
// page's worker (static/live/worker.js) loads them from live/.
var LiveFiles = []string{"raftkv.wasm", "wasm_exec.js"}

// BuildLive builds LiveFiles into dir with the go command: GOOS=js
// GOARCH=wasm go build ./visualizer/wasm, and wasm_exec.js copied from
// $(go env GOROOT)/lib/wasm. It needs this module's source: the working
// directory must be inside it (as under go run or go test).
func BuildLive(dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return errors.New("visualizer: building the live simulator needs the go command")
	}
	out, err := exec.Command(goBin, "env", "GOMOD", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("visualizer: go env: %w", err)
	}
	env := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(env) != 2 || !strings.HasSuffix(env[0], "go.mod") {
		return errors.New("visualizer: the live simulator is built from raftkv's source: run this inside the raftkv repository")
	}
	mod, goroot := filepath.Dir(env[0]), env[1]
	if _, err := os.Stat(filepath.Join(mod, "visualizer", "wasm")); err != nil {
		return fmt.Errorf("visualizer: %s is not the raftkv module (no visualizer/wasm)", mod)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return err
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "raftkv.wasm"), "./visualizer/wasm")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("visualizer: GOOS=js GOARCH=wasm go build ./visualizer/wasm: %v\n%s", err, out)
	}
	js, err := os.ReadFile(filepath.Join(goroot, "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return fmt.Errorf("visualizer: wasm_exec.js of the go command's Go (%s): %w", goroot, err)
	}
	return os.WriteFile(filepath.Join(dir, "wasm_exec.js"), js, 0o644)
}

// LiveHandler serves the app at / with LiveFiles from dir (as BuildLive
// leaves them) at /live/.
func LiveHandler(dir string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(Files()))
	for _, name := range LiveFiles {
		p := filepath.Join(dir, name)
		mux.HandleFunc("GET /live/"+name, func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, p) })
	}
	return mux
}
