package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/raftkv/raftkv/sim"
	"github.com/raftkv/raftkv/visualizer"
)

// runReplay replays a live session's exported trace: the same seed,
// options and inputs, which must give the same trace byte for byte. It
// writes the replay to tracePath when set, and says whether it is
// identical; exit 0 if it is, 1 if not (or the file is not a session).
func runReplay(stdout, stderr io.Writer, session, tracePath string) int {
	want, err := os.ReadFile(session)
	if err != nil {
		fmt.Fprintln(stderr, "raftkv-sim:", err)
		return exitUsage
	}
	sess, err := sim.ReadSession(bytes.NewReader(want))
	if err != nil {
		fmt.Fprintf(stderr, "raftkv-sim: %s: %v\n", session, err)
		return exitUsage
	}
	var got bytes.Buffer
	failure, err := sess.Replay(&got)
	if err != nil {
		fmt.Fprintf(stderr, "raftkv-sim: %s: replay: %v\n", session, err)
		return exitUsage
	}
	if tracePath != "" {
		if err := os.WriteFile(tracePath, got.Bytes(), 0o644); err != nil {
			fmt.Fprintln(stderr, "raftkv-sim:", err)
			return exitUsage
		}
	}
	fmt.Fprintf(stdout, "live session: seed %d, %d members, %d inputs, %.3f ms simulated, %d events\n",
		sess.Seed, sess.Options.Members, len(sess.Inputs), sess.EndMs, sess.EndEvents)
	if failure != nil {
		fmt.Fprintf(stdout, "  the session failed, as it did live: %v\n", failure)
	}
	if tracePath != "" {
		fmt.Fprintf(stdout, "  trace written to %s\n", tracePath)
	}
	if line := firstDifference(want, got.Bytes()); line > 0 {
		fmt.Fprintf(stdout, "  DIFFERS from %s at line %d\n", session, line)
		return exitUsage
	}
	fmt.Fprintf(stdout, "  identical to %s, byte for byte\n", session)
	return exitOK
}

// firstDifference is the first line (from 1) where a and b differ, or 0.
func firstDifference(a, b []byte) int {
	if bytes.Equal(a, b) {
		return 0
	}
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := range min(len(la), len(lb)) {
		if !bytes.Equal(la[i], lb[i]) {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

// serveLive serves the visualizer with its live simulator on loopback
// until interrupted: the page's files, and live/raftkv.wasm and
// live/wasm_exec.js next to live/worker.js. Those come from site (a
// folder made by make site) when it is set; otherwise the WebAssembly
// build is made now with the go command, which needs this module's source
// (run it from the repository, as go run ./cmd/raftkv-sim -live).
func serveLive(stdout, stderr io.Writer, site, addr string) int {
	var files http.Handler
	if site != "" {
		if _, err := os.Stat(filepath.Join(site, "live", "raftkv.wasm")); err != nil {
			fmt.Fprintf(stderr, "raftkv-sim: %s is not a site built by make site: %v\n", site, err)
			return exitUsage
		}
		files = http.FileServer(http.Dir(site))
	} else {
		dir, err := os.MkdirTemp("", "raftkv-live-")
		if err != nil {
			fmt.Fprintln(stderr, "raftkv-sim:", err)
			return exitUsage
		}
		defer os.RemoveAll(dir)
		fmt.Fprintln(stdout, "building the simulator for WebAssembly (GOOS=js GOARCH=wasm go build ./visualizer/wasm) ...")
		if err := visualizer.BuildLive(dir); err != nil {
			fmt.Fprintln(stderr, "raftkv-sim:", err)
			return exitUsage
		}
		files = visualizer.LiveHandler(dir)
	}
	ctx, stop := interrupted()
	defer stop()
	err := visualizer.Serve(ctx, addr, files, func(url string) {
		fmt.Fprintf(stdout, "live simulator: %s?live (Ctrl-C stops it)\n", url)
	})
	if err != nil {
		fmt.Fprintln(stderr, "raftkv-sim:", err)
		return exitUsage
	}
	return exitOK
}
