package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serving runs raftkv-sim with args in the background, waits for the URL
// it prints, and returns it with a func that interrupts the command and
// returns its exit code and output.
func serving(t *testing.T, args ...string) (string, func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	old := interrupted
	interrupted = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	t.Cleanup(func() { interrupted = old })
	pr, pw := io.Pipe()
	var errOut strings.Builder
	code := make(chan int, 1)
	go func() {
		c := run(args, pw, &errOut)
		pw.Close()
		code <- c
	}()
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	url := ""
	for url == "" && sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if u, ok := strings.CutPrefix(line, "visualizer: "); ok {
			url, _, _ = strings.Cut(u, " ")
		}
	}
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(pr)
		rest <- string(b)
	}()
	stop := func() (int, string) {
		cancel()
		c := <-code
		return c, out.String() + <-rest + errOut.String()
	}
	if url == "" {
		c, all := stop()
		t.Fatalf("%v: exit %d without a URL:\n%s", args, c, all)
	}
	return url, stop
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

type runInfo struct{ Trace, Porcupine, Name string }

// TestVisualize: -visualize runs the seed and serves its trace with
// Porcupine's HTML; -serve serves the saved trace and finds the HTML
// beside it; both on 127.0.0.1.
func TestVisualize(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "run.jsonl")
	url, stop := serving(t, "-seed", "3", "-preset", "calm", "-short", "-visualize", "-trace", trace, "-html-dir", dir)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("URL %q is not on 127.0.0.1", url)
	}
	var info runInfo
	getJSON(t, url+"api/run", &info)
	if info.Trace != "trace.jsonl" || info.Porcupine != "porcupine.html" || info.Name != "run.jsonl" {
		t.Errorf("/api/run: %+v", info)
	}
	if s := status(t, url+"porcupine.html"); s != 200 {
		t.Errorf("porcupine.html: %d", s)
	}
	if s := status(t, url); s != 200 {
		t.Errorf("page: %d", s)
	}
	code, out := stop()
	if code != exitOK || !strings.Contains(out, "  ok") {
		t.Fatalf("-visualize: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "run.porcupine.html")); err != nil {
		t.Fatalf("Porcupine's HTML beside the trace: %v", err)
	}

	url, stop = serving(t, "-serve", trace)
	info = runInfo{}
	getJSON(t, url+"api/run", &info)
	if info.Trace != "trace.jsonl" || info.Porcupine != "porcupine.html" {
		t.Errorf("-serve /api/run: %+v", info)
	}
	resp, err := http.Get(url + "trace.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	head, _ := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if !strings.HasPrefix(head, `{"type":"header","format":1,"seed":3,`) {
		t.Errorf("served trace starts %.80q", head)
	}
	if code, out := stop(); code != exitOK {
		t.Fatalf("-serve: exit %d\n%s", code, out)
	}

	// Without a run, a trace that is not one, a public address, a swarm.
	for _, args := range [][]string{
		{"-serve", filepath.Join(dir, "run.porcupine.html")},
		{"-serve", filepath.Join(dir, "missing.jsonl")},
		{"-serve", trace, "-addr", "0.0.0.0:0"},
		{"-swarm", "-visualize", "-seeds", "2"},
	} {
		var out, errOut strings.Builder
		if code := run(args, &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s%s", args, code, exitUsage, out.String(), errOut.String())
		}
	}
}
