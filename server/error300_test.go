package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// TestError300CarriesIndex: a write whose outcome is unknown (no quorum
// left) gets error 300 with the member's current store index in the body
// and in X-Etcd-Index (etcd 2 gave 0).
func TestError300CarriesIndex(t *testing.T) {
	c := startInproc(t, 3, func(cfg *MemberConfig) { cfg.RequestTimeout = 300 * time.Millisecond })
	lead := c.waitLeader()
	if resp, body := do(t, http.MethodPut, c.url(lead)+"/v2/keys/k", url.Values{"value": {"v"}}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s %s", resp.Status, body)
	}
	last := c.members[len(c.members)-1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := last.ReadIndex(ctx); err != nil { // it has applied the write
		t.Fatal(err)
	}
	for _, m := range c.members[:len(c.members)-1] {
		if err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := do(t, http.MethodPut, c.url(last)+"/v2/keys/k", url.Values{"value": {"w"}})
	var e struct {
		ErrorCode int    `json:"errorCode"`
		Index     uint64 `json:"index"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.ErrorCode != 300 {
		t.Fatalf("PUT without a quorum: %s %s; want error 300", resp.Status, body)
	}
	want := last.Store().Index()
	if e.Index == 0 || e.Index != want || resp.Header.Get("X-Etcd-Index") != strconv.FormatUint(want, 10) {
		t.Errorf("error 300: index %d, X-Etcd-Index %q; want the store index %d", e.Index, resp.Header.Get("X-Etcd-Index"), want)
	}
}
