package visualizer

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"time"
)

//go:embed static
var static embed.FS

// Files is the app's static files (index.html at the root).
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return sub
}

// Run is what a Handler serves besides the app.
type Run struct {
	// TracePath is the trace file (JSON Lines) shown on load; empty: none,
	// the page offers its file picker.
	TracePath string
	// PorcupineHTML is Porcupine's visualization of the same run's client
	// history; empty or missing: no link.
	PorcupineHTML string
	// Name is what the page calls the trace (default: TracePath).
	Name string
}

// runInfo is /api/run: where the page finds the trace and Porcupine's HTML.
type runInfo struct {
	Trace     string `json:"trace,omitempty"`
	Porcupine string `json:"porcupine,omitempty"`
	Name      string `json:"name,omitempty"`
}

// Handler serves the app at /, and run.
func Handler(run Run) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(Files()))
	mux.HandleFunc("GET /api/run", func(w http.ResponseWriter, r *http.Request) {
		var info runInfo
		if run.TracePath != "" {
			info.Trace, info.Name = "trace.jsonl", run.Name
			if info.Name == "" {
				info.Name = run.TracePath
			}
		}
		if run.PorcupineHTML != "" {
			if _, err := os.Stat(run.PorcupineHTML); err == nil {
				info.Porcupine = "porcupine.html"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(info)
	})
	mux.HandleFunc("GET /trace.jsonl", func(w http.ResponseWriter, r *http.Request) {
		serveFile(w, r, run.TracePath, "application/x-ndjson")
	})
	mux.HandleFunc("GET /porcupine.html", func(w http.ResponseWriter, r *http.Request) {
		serveFile(w, r, run.PorcupineHTML, "text/html; charset=utf-8")
	})
	return mux
}

func serveFile(w http.ResponseWriter, r *http.Request, path, contentType string) {
	if path == "" {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// ErrNotLoopback is returned by Serve for an address that is not on the
// loopback interface: the visualizer serves files from this machine and
// has no authentication.
var ErrNotLoopback = errors.New("visualizer: serving on loopback only")

// Serve serves h on addr ("" for 127.0.0.1 on a free port) until ctx is
// done. ready is called with the page's URL once it listens.
func Serve(ctx context.Context, addr string, h http.Handler, ready func(url string)) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("visualizer: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%w: %q", ErrNotLoopback, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	if ready != nil {
		ready(fmt.Sprintf("http://%s/", ln.Addr()))
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
		<-done
		return nil
	}
}
