package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/client/clienttest"
	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/storage/backup"
)

func snapCtl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &stdio{in: strings.NewReader(""), out: &out, err: &errb, getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

// TestSnapshotSaveAndStatus saves a snapshot of a real (in-process) member
// and describes it.
func TestSnapshotSaveAndStatus(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	for _, k := range []string{"/a", "/d/b", "/d/c"} {
		if code, _, errs := snapCtl(t, "--endpoints", srv.URL, "set", k, "v"); code != 0 {
			t.Fatalf("set %s: %s", k, errs)
		}
	}
	file := filepath.Join(t.TempDir(), "s.db")
	code, out, errs := snapCtl(t, "--endpoints", srv.URL, "snapshot", "save", file)
	if code != 0 || out != "Snapshot saved at "+file+"\n" {
		t.Fatalf("save: exit %d, %q %q", code, out, errs)
	}
	if _, err := os.Stat(file + ".part"); !os.IsNotExist(err) {
		t.Errorf("%s.part left behind", file)
	}
	code, out, errs = snapCtl(t, "-o", "json", "snapshot", "status", file)
	if code != 0 {
		t.Fatalf("status: exit %d %s", code, errs)
	}
	var st snapshotStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.TotalKeys != 3 || st.TotalDirs != 1 || st.Members != 1 || st.Index == 0 || len(st.SHA256) != 64 {
		t.Errorf("status %+v", st)
	}
	code, out, _ = snapCtl(t, "snapshot", "status", file)
	if code != 0 || !strings.HasPrefix(out, "HASH") || !strings.Contains(out, st.SHA256[:8]) {
		t.Errorf("status table: %q", out)
	}
}

// TestSnapshotSaveRefusesBrokenStreams: a stream cut off by the member and
// a stream that arrives whole but damaged both fail the command, and
// neither leaves a file behind nor replaces an existing one.
func TestSnapshotSaveRefusesBrokenStreams(t *testing.T) {
	var good bytes.Buffer
	w, _ := backup.NewWriter(&good, backup.Header{ClusterID: "1", Index: 3, Term: 1})
	_ = kv.New(kv.Options{}).Save(w)
	_ = w.Close()
	cases := map[string]func(http.ResponseWriter){
		"cut off": func(rw http.ResponseWriter) {
			rw.WriteHeader(http.StatusOK)
			rw.Write(good.Bytes()[:good.Len()/2])
			rw.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		},
		"damaged": func(rw http.ResponseWriter) {
			b := bytes.Clone(good.Bytes())
			b[len(b)/2] ^= 0x10
			rw.WriteHeader(http.StatusOK)
			rw.Write(b)
		},
		"refused": func(rw http.ResponseWriter) {
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(http.StatusUnauthorized)
			rw.Write([]byte(`{"message":"Insufficient credentials"}`))
		},
	}
	for name, serve := range cases {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/raftkv/snapshot" {
					serve(rw)
					return
				}
				http.NotFound(rw, r)
			}))
			defer srv.Close()
			file := filepath.Join(t.TempDir(), "s.db")
			os.WriteFile(file, []byte("the previous snapshot"), 0o600)
			code, out, errs := snapCtl(t, "--no-sync", "--endpoints", srv.URL, "snapshot", "save", file)
			if code != exitServerError || out != "" || errs == "" {
				t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
			}
			if b, _ := os.ReadFile(file); string(b) != "the previous snapshot" {
				t.Errorf("%s was replaced: %q", file, b)
			}
			if _, err := os.Stat(file + ".part"); !os.IsNotExist(err) {
				t.Errorf("%s.part left behind", file)
			}
			t.Logf("%s: %s", name, strings.TrimSpace(errs))
		})
	}
}
