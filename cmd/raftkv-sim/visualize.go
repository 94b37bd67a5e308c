package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/raftkv/raftkv/visualizer"
)

// interrupted is the context that ends serving: Ctrl-C or SIGTERM (tests
// replace it).
var interrupted = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// porcupinePath is where Porcupine's HTML of the run of a trace lives:
// run.jsonl → run.porcupine.html.
func porcupinePath(trace string) string {
	return strings.TrimSuffix(trace, filepath.Ext(trace)) + ".porcupine.html"
}

// serveRun serves the visualizer for a trace until interrupted, printing
// its URL.
func serveRun(stdout io.Writer, trace, porcupine, addr string) error {
	ctx, stop := interrupted()
	defer stop()
	h := visualizer.Handler(visualizer.Run{TracePath: trace, PorcupineHTML: porcupine, Name: filepath.Base(trace)})
	return visualizer.Serve(ctx, addr, h, func(url string) {
		fmt.Fprintf(stdout, "visualizer: %s (Ctrl-C stops it)\n", url)
	})
}

// serveSaved serves a trace written by an earlier run with -trace, after
// checking that it is one.
func serveSaved(stdout, stderr io.Writer, trace, addr string) int {
	if err := checkTrace(trace); err != nil {
		fmt.Fprintln(stderr, "raftkv-sim:", err)
		return exitUsage
	}
	html := porcupinePath(trace)
	if _, err := os.Stat(html); err != nil {
		html = ""
	}
	if err := serveRun(stdout, trace, html, addr); err != nil {
		fmt.Fprintln(stderr, "raftkv-sim:", err)
		return exitUsage
	}
	return exitOK
}

// checkTrace reads the header line of a trace.
func checkTrace(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 1<<16).ReadBytes('\n')
	if err != nil && err != io.EOF {
		return fmt.Errorf("%s: %w", path, err)
	}
	var h struct {
		Type   string `json:"type"`
		Format int    `json:"format"`
	}
	if json.Unmarshal(line, &h) != nil || h.Type != "header" {
		return fmt.Errorf("%s: not a raftkv-sim trace (its first line is not a trace header)", path)
	}
	return nil
}
