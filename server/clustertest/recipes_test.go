package clustertest

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testcluster"
)

// TestGettingStartedEveryMember runs the README's getting-started recipes
//
//	curl -L -X PUT http://127.0.0.1:2379/v2/keys/message -d value="Hello"
//	curl -L http://127.0.0.1:2379/v2/keys/message
//	curl -L -X DELETE http://127.0.0.1:2379/v2/keys/message
//
// against every member of a 3-member cluster: writes to a follower are
// forwarded to the leader (or, with --redirect, answered with a 307 that
// the client follows, as curl -L does), and a member answers a read of a
// write made through any other member.
func TestGettingStartedEveryMember(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		redirect bool
	}{
		{"forward", nil, false},
		{"redirect", []string{"--redirect"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, hc := newCluster(t, 3, tc.args...)
			ctx := t.Context()
			if tc.redirect {
				checkRedirects(t, c)
			}
			var clusterID string
			for _, m := range c.Members {
				put, err := keys(ctx, hc, http.MethodPut, m.ClientURL, "/message", vals("value", "Hello"))
				if err != nil {
					t.Fatalf("%s: PUT: %v", m.Name, err)
				}
				// The key was deleted by the previous round: a new key is 201.
				if put.Status != http.StatusCreated || put.Action != "set" || put.Node.Val() != "Hello" ||
					put.Node.Key != "/message" || put.PrevNode != nil || put.Node.ModifiedIndex == 0 {
					t.Fatalf("%s: PUT value=Hello: %v, want 201 set /message=\"Hello\" without prevNode", m.Name, put)
				}
				if put.EtcdIndex() < put.Node.ModifiedIndex {
					t.Errorf("%s: PUT: X-Etcd-Index %d below the node's modifiedIndex %d", m.Name, put.EtcdIndex(), put.Node.ModifiedIndex)
				}
				id := put.Header.Get("X-Etcd-Cluster-Id")
				if id == "" || (clusterID != "" && id != clusterID) {
					t.Errorf("%s: X-Etcd-Cluster-Id %q, other members said %q", m.Name, id, clusterID)
				}
				clusterID = id
				if !tc.redirect {
					// The answer came once the member written through had
					// applied the write itself, so even its local read
					// (quorum=false) shows it.
					local, err := keys(ctx, hc, http.MethodGet, m.ClientURL, "/message", vals("quorum", "false"))
					if err != nil {
						t.Fatalf("%s: GET quorum=false: %v", m.Name, err)
					}
					if local.Status != http.StatusOK || local.Node.Val() != "Hello" {
						t.Errorf("%s: local read right after PUT value=Hello through it: %v", m.Name, local)
					}
				}
				// Every member, not only the one written through, reads it
				// (reads are linearizable by default).
				for _, o := range c.Members {
					get, err := keys(ctx, hc, http.MethodGet, o.ClientURL, "/message", nil)
					if err != nil {
						t.Fatalf("%s: GET: %v", o.Name, err)
					}
					if get.Status != http.StatusOK || get.Action != "get" || get.Node.Val() != "Hello" ||
						get.Node.ModifiedIndex != put.Node.ModifiedIndex {
						t.Fatalf("%s: GET after PUT through %s: %v, want 200 get \"Hello\" at modifiedIndex %d",
							o.Name, m.Name, get, put.Node.ModifiedIndex)
					}
					for _, h := range []string{"X-Etcd-Index", "X-Raft-Index", "X-Raft-Term", "X-Etcd-Cluster-Id"} {
						if get.Header.Get(h) == "" {
							t.Errorf("%s: GET: no %s header", o.Name, h)
						}
					}
				}
				del, err := keys(ctx, hc, http.MethodDelete, m.ClientURL, "/message", nil)
				if err != nil {
					t.Fatalf("%s: DELETE: %v", m.Name, err)
				}
				if del.Status != http.StatusOK || del.Action != "delete" || del.PrevNode.Val() != "Hello" ||
					del.Node == nil || del.Node.ModifiedIndex <= put.Node.ModifiedIndex {
					t.Fatalf("%s: DELETE: %v, want 200 delete with prevNode \"Hello\" and a later modifiedIndex", m.Name, del)
				}
				for _, o := range c.Members {
					get, err := keys(ctx, hc, http.MethodGet, o.ClientURL, "/message", nil)
					if err != nil {
						t.Fatalf("%s: GET: %v", o.Name, err)
					}
					if get.Status != http.StatusNotFound || get.ErrorCode != 100 || get.Cause != "/message" ||
						get.Index < del.Node.ModifiedIndex {
						t.Fatalf("%s: GET after DELETE through %s: %v, want 404 errorCode 100 cause /message at index >= %d",
							o.Name, m.Name, get, del.Node.ModifiedIndex)
					}
				}
				if t.Failed() {
					return
				}
			}
		})
	}
}

// checkRedirects checks what curl -L relies on with --redirect: a write to
// a follower is answered with a 307 to the same path on the leader's
// client URL.
func checkRedirects(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	leader := waitLeader(t, c, 10*time.Second)
	noFollow := newHTTPClient(5 * time.Second)
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for i, m := range c.Members {
		if i == leader {
			continue
		}
		// The leader's client URL is known once it has published its
		// attributes; until then a follower forwards instead.
		eventually(t, 5*time.Second, 20*time.Millisecond, m.Name+" redirects to the leader", func(ctx context.Context) error {
			r, err := keys(ctx, noFollow, http.MethodPut, m.ClientURL, "/redirected", vals("value", m.Name))
			if err != nil {
				return err
			}
			if r.Status != http.StatusTemporaryRedirect {
				return fmt.Errorf("PUT through a follower: %v, want 307", r)
			}
			want := c.Members[leader].ClientURL + "/v2/keys/redirected"
			if loc := r.Header.Get("Location"); loc != want {
				t.Fatalf("%s: 307 to %q, want %q", m.Name, loc, want)
			}
			return nil
		})
	}
}
