package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/server/node"
)

// resultBackend answers every proposal with res, and reports st as its
// published view (which may lag the result).
type resultBackend struct {
	Backend
	st  Status
	res node.Result
}

func (b *resultBackend) Status() Status { return b.st }

func (b *resultBackend) Propose(context.Context, *kv.Command) (node.Result, error) {
	return b.res, nil
}

// TestWriteRaftHeadersFromResult: the answer to a write carries the raft
// index and term of its entry at least, even when the published view is
// older; a newer view is reported as it is.
func TestWriteRaftHeadersFromResult(t *testing.T) {
	v := "v"
	res := node.Result{Index: 9, Term: 3, Event: &kv.Event{Action: kv.ActionSet, Index: 7,
		Node: &kv.Node{Key: "/a", Value: &v, ModifiedIndex: 7, CreatedIndex: 7}}}
	for _, tc := range []struct {
		name            string
		st              Status
		wantIdx, wantTm string
	}{
		{"view behind the result", Status{ID: 1, ClusterID: 0x2a, Term: 2, Commit: 5}, "9", "3"},
		{"view ahead of the result", Status{ID: 1, ClusterID: 0x2a, Term: 4, Commit: 12}, "12", "4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &api{b: &resultBackend{st: tc.st, res: res}, metrics: newMetrics(), requestTimeout: time.Second}
			r := httptest.NewRequest(http.MethodPut, "/v2/keys/a", strings.NewReader("value=v"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			a.handler().ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				t.Fatalf("PUT: %d %s", w.Code, w.Body)
			}
			h := w.Result().Header
			if h.Get("X-Etcd-Index") != "7" || h.Get("X-Raft-Index") != tc.wantIdx || h.Get("X-Raft-Term") != tc.wantTm {
				t.Errorf("X-Etcd-Index %q X-Raft-Index %q X-Raft-Term %q, want 7, %s, %s",
					h.Get("X-Etcd-Index"), h.Get("X-Raft-Index"), h.Get("X-Raft-Term"), tc.wantIdx, tc.wantTm)
			}
		})
	}
}
