package visualizer

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/internal/browsertest"
	"github.com/raftkv/raftkv/sim"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	html := filepath.Join(dir, "p.html")
	if err := os.WriteFile(html, []byte("<html>porcupine</html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(Run{TracePath: "testdata/hand.jsonl", PorcupineHTML: html}))
	defer srv.Close()

	resp, body := get(t, srv.URL+"/")
	if resp.StatusCode != 200 || !strings.Contains(body, `<script type="module" src="app.js">`) {
		t.Fatalf("/: %s %.200s", resp.Status, body)
	}
	resp, _ = get(t, srv.URL+"/app.js")
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("app.js served as %q: browsers refuse a module that is not JavaScript", ct)
	}
	for _, icon := range []string{"/favicon.ico", "/favicon.svg"} {
		resp, body = get(t, srv.URL+icon)
		if resp.StatusCode != 200 || len(body) < 100 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "image/") {
			t.Errorf("%s: %s, %q, %d bytes", icon, resp.Status, resp.Header.Get("Content-Type"), len(body))
		}
	}
	_, body = get(t, srv.URL+"/api/run")
	var info runInfo
	if err := json.Unmarshal([]byte(body), &info); err != nil || info != (runInfo{Trace: "trace.jsonl", Porcupine: "porcupine.html", Name: "testdata/hand.jsonl"}) {
		t.Errorf("/api/run: %s (%v)", body, err)
	}
	want, _ := os.ReadFile("testdata/hand.jsonl")
	if resp, body = get(t, srv.URL+"/trace.jsonl"); resp.StatusCode != 200 || body != string(want) {
		t.Errorf("/trace.jsonl: %s, %d bytes, want %d", resp.Status, len(body), len(want))
	}
	if resp, body = get(t, srv.URL+"/porcupine.html"); resp.StatusCode != 200 || body != "<html>porcupine</html>" {
		t.Errorf("/porcupine.html: %s %q", resp.Status, body)
	}

	// Without a run: no trace, no link; the page offers its file picker.
	empty := httptest.NewServer(Handler(Run{PorcupineHTML: filepath.Join(dir, "missing.html")}))
	defer empty.Close()
	if _, body = get(t, empty.URL+"/api/run"); strings.TrimSpace(body) != "{}" {
		t.Errorf("/api/run without a run: %s", body)
	}
	if resp, _ = get(t, empty.URL+"/trace.jsonl"); resp.StatusCode != 404 {
		t.Errorf("/trace.jsonl without a run: %s", resp.Status)
	}
}

// TestStaticFilesResolve: every module imported and every file the page
// names is embedded (a typo would only show in a browser).
func TestStaticFilesResolve(t *testing.T) {
	files := Files()
	ref := regexp.MustCompile(`(?:from\s+'\./([^']+)'|(?:src|href)="([^"#:]+)")`)
	n := 0
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".js") || strings.HasSuffix(p, ".html")) {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			name := m[1] + m[2]
			if _, err := fs.Stat(files, name); err != nil {
				t.Errorf("%s refers to %s, which is not embedded", p, name)
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("only %d references found: the pattern no longer matches", n)
	}
}

func TestServeLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:8080", ":8080"} {
		if err := Serve(context.Background(), addr, Handler(Run{}), nil); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("Serve(%q): %v, want ErrNotLoopback", addr, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	urls := make(chan string, 1)
	go func() { done <- Serve(ctx, "", Handler(Run{}), func(u string) { urls <- u }) }()
	var u string
	select {
	case u = <-urls:
	case err := <-done:
		t.Fatal(err)
	}
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Fatalf("URL %q is not on 127.0.0.1", u)
	}
	if resp, _ := get(t, u); resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}

// TestJavaScript runs the JavaScript unit tests (jstest/, node's test
// runner), with a simulator trace for the naive-model comparison and the
// growing timeline's: the churn preset, so that members join and leave
// while it grows, besides every other fault.
func TestJavaScript(t *testing.T) {
	node := browsertest.Node()
	browsertest.Need(t, node, "node", "apt-get install nodejs")
	o, err := sim.MakeOptions("churn", 2, true, "")
	if err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(t.TempDir(), "sim.jsonl")
	f, err := os.Create(trace)
	if err != nil {
		t.Fatal(err)
	}
	r := sim.Run(sim.Config{Seed: 2, Options: o, Trace: f, HTMLDir: t.TempDir()})
	if err := f.Close(); err != nil || r.Failure != nil {
		t.Fatalf("simulator run: %v, %v", err, r.Failure)
	}
	cmd := exec.Command(node, "--test", "--test-reporter=spec", "jstest/")
	cmd.Env = append(os.Environ(), "RAFTKV_TRACE="+trace)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "skipped 0") || !strings.Contains(s, "fail 0") || !strings.Contains(s, "a simulator trace agrees with a naive model") ||
		!strings.Contains(s, "a simulator trace grown in batches agrees with the whole") {
		t.Fatalf("node --test did not run every test:\n%s", s)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}

// TestScenariosInNode plays every guided scenario on the real engine in
// node (jstest/scenarios.node.mjs): the simulator compiled to WebAssembly
// behind live/worker.js, stepped the way the page steps it.
func TestScenariosInNode(t *testing.T) {
	node := browsertest.Node()
	browsertest.Need(t, node, "node", "apt-get install nodejs")
	dir := buildLive(t)
	worker, err := os.ReadFile("static/live/worker.js")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "worker.js"), worker, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "--test", "--test-reporter=spec", "jstest/scenarios.node.mjs")
	cmd.Env = append(os.Environ(), "RAFTKV_LIVE_DIR="+dir)
	if testing.Verbose() {
		cmd.Env = append(cmd.Env, "RAFTKV_VERBOSE=1")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test jstest/scenarios.node.mjs: %v\n%s", err, out)
	}
	if s := string(out); !strings.Contains(s, "fail 0") || !strings.Contains(s, "pass 8") {
		t.Fatalf("not every scenario ran:\n%s", s)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}
