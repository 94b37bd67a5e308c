package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/raftkv/raftkv/client/clienttest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if ctlBin != "" {
		os.RemoveAll(filepath.Dir(ctlBin))
	}
	os.Exit(code)
}

// TestHelp checks the help, the version and the errors for bad command
// lines, which need no server.
func TestHelp(t *testing.T) {
	s := &script{r: &runner{env: map[string]string{"RAFTKVCTL_ENDPOINTS": "http://127.0.0.1:1"}}}
	s.run(t, "testdata/help.txt")
}

// TestFake runs transcripts against clienttest's one-member raftkv, in this
// process: the HTTP each command sends, and its output in every format.
func TestFake(t *testing.T) {
	datadriven.Walk(t, "testdata/fake", func(t *testing.T, path string) {
		srv := clienttest.NewServerHistory(20)
		defer srv.Close()
		s := &script{
			r:        &runner{env: map[string]string{"RAFTKVCTL_ENDPOINTS": srv.URL}},
			vars:     []subst{{"$URL", srv.URL}},
			base:     srv.Index(),
			requests: srv.Requests,
		}
		s.run(t, path)
	})
}
