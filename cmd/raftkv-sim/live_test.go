package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/sim"
)

// session writes a live session of seed with a few inputs to a file.
func session(t *testing.T, seed uint64) string {
	t.Helper()
	o, err := sim.LiveOptions(seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	l, err := sim.NewLive(sim.LiveConfig{Seed: seed, Options: o, Trace: &b})
	if err != nil {
		t.Fatal(err)
	}
	step := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	step(l.AdvanceTo(1500))
	step(l.Apply(sim.Input{Kind: "client", Op: "put", ID: 2, Key: "k", Value: "v"}))
	step(l.AdvanceTo(2000))
	step(l.Apply(sim.Input{Kind: "crash", ID: l.Leader()}))
	step(l.AdvanceEvents(7))
	step(l.Apply(sim.Input{Kind: "cut", From: 1, To: 2, Both: true}))
	step(l.AdvanceTo(4000))
	step(l.End())
	path := filepath.Join(t.TempDir(), sim.LiveSessionFile(seed))
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReplay: -replay reproduces an exported live session byte for byte,
// writes it with -trace, and says so; a session that does not replay to
// itself, or a trace that is not a session, exits 1.
func TestReplay(t *testing.T) {
	path := session(t, 5)
	out := filepath.Join(t.TempDir(), "replayed.jsonl")
	var stdout, stderr strings.Builder
	if code := run([]string{"-replay", path, "-trace", out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "identical to "+path+", byte for byte") || !strings.Contains(stdout.String(), "3 inputs") {
		t.Fatalf("output:\n%s", stdout.String())
	}
	want, _ := os.ReadFile(path)
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("-trace wrote %d bytes (%v), the session has %d", len(got), err, len(want))
	}

	// Another value in the put: the replay differs from the file.
	tampered := filepath.Join(t.TempDir(), "tampered.jsonl")
	if err := os.WriteFile(tampered, bytes.Replace(want, []byte(`"value":"v"`), []byte(`"value":"w"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if code := run([]string{"-replay", tampered}, &stdout, &stderr); code != exitUsage || !strings.Contains(stdout.String(), "DIFFERS") {
		t.Fatalf("tampered session: exit %d:\n%s", code, stdout.String())
	}

	// A run's trace is not a session.
	runTrace := filepath.Join(t.TempDir(), "run.jsonl")
	stdout.Reset()
	if code := run([]string{"-seed", "1", "-preset", "calm", "-short", "-trace", runTrace}, &stdout, &stderr); code != exitOK {
		t.Fatalf("run: exit %d: %s", code, stdout.String())
	}
	stderr.Reset()
	if code := run([]string{"-replay", runTrace}, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "not of a live session") {
		t.Fatalf("-replay of a run's trace: exit %d: %s", code, stderr.String())
	}
}

// TestLiveSite: -live -site serves a folder made by make site, the
// WebAssembly with its type; a folder without it is refused.
func TestLiveSite(t *testing.T) {
	site := t.TempDir()
	if err := os.MkdirAll(filepath.Join(site, "live"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"index.html": "<!doctype html>", "live/raftkv.wasm": "\x00asm", "live/wasm_exec.js": "//"} {
		if err := os.WriteFile(filepath.Join(site, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	old := interrupted
	interrupted = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	t.Cleanup(func() { interrupted = old })
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		c := run([]string{"-live", "-site", site}, pw, &stderr)
		pw.Close()
		code <- c
	}()
	sc := bufio.NewScanner(pr)
	url := ""
	for url == "" && sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "live simulator: "); ok {
			url, _, _ = strings.Cut(u, "?live")
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" {
		cancel()
		t.Fatalf("no URL; exit %d: %s", <-code, stderr.String())
	}
	resp, err := http.Get(url + "live/raftkv.wasm")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/wasm" || string(body) != "\x00asm" {
		t.Fatalf("live/raftkv.wasm: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Fatalf("exit %d: %s", c, stderr.String())
	}

	stderr.Reset()
	if c := run([]string{"-live", "-site", t.TempDir()}, io.Discard, &stderr); c != exitUsage || !strings.Contains(stderr.String(), "make site") {
		t.Fatalf("-site without the wasm: exit %d: %s", c, stderr.String())
	}
}
