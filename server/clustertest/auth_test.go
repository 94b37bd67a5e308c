package clustertest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// authCall is one request of the v2 auth matrix and what must come back.
type authCall struct {
	who        string // for the failure message
	hc         *http.Client
	basic      [2]string // user, password ("" none)
	method     string
	member     int
	path       string // under the member's client URL
	body       string // form (keys API) or JSON (auth API)
	wantStatus int
	wantCode   int // v2 errorCode, 0 for none
}

func (a authCall) do(t *testing.T, urls []string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), a.method, urls[a.member]+a.path, strings.NewReader(a.body))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case strings.HasPrefix(a.path, "/v2/auth"):
		req.Header.Set("Content-Type", "application/json")
	case a.body != "":
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if a.basic[0] != "" {
		req.SetBasicAuth(a.basic[0], a.basic[1])
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s %s on member %d: %v", a.who, a.method, a.path, a.member, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		ErrorCode int `json:"errorCode"`
	}
	_ = json.Unmarshal(b, &e)
	if resp.StatusCode != a.wantStatus || e.ErrorCode != a.wantCode {
		t.Errorf("%s %s %s on member %d: %s %s; want %d with errorCode %d", a.who, a.method, a.path, a.member, resp.Status, b, a.wantStatus, a.wantCode)
	}
}

// TestAuthOverTLS runs v2 auth's permission matrix on real processes with
// client TLS and peer mTLS: root by certificate CN and by Basic, a user
// whose role covers a prefix by certificate CN and by Basic, an unknown CN
// as guest, and a guest role stripped of its permissions; reads and writes
// through every member, so forwarded writes are checked too.
func TestAuthOverTLS(t *testing.T) {
	c, root := newTLSCluster(t, 3)
	if _, err := c.WaitLeader(t.Context()); err != nil {
		t.Fatal(err)
	}
	ca := mustCA(t, c)
	alice := tlsClient(t, ca, tlsCertOf(t, issue(t, ca, "alice")))
	mallory := tlsClient(t, ca, tlsCertOf(t, issue(t, ca, "mallory")))
	urls := c.ClientURLs()
	rootPW := [2]string{"root", "rootpw"}
	alicePW := [2]string{"alice", "alicepw"}

	// Set up with auth off, all through member 0.
	for _, a := range []authCall{
		{"setup", root, [2]string{}, http.MethodPut, 0, "/v2/auth/users/root", `{"user":"root","password":"rootpw"}`, http.StatusCreated, 0},
		{"setup", root, [2]string{}, http.MethodPut, 0, "/v2/auth/roles/app", `{"role":"app","permissions":{"kv":{"read":["/app/*"],"write":["/app/*"]}}}`, http.StatusCreated, 0},
		{"setup", root, [2]string{}, http.MethodPut, 0, "/v2/auth/users/alice", `{"user":"alice","password":"alicepw","roles":["app"]}`, http.StatusCreated, 0},
		{"setup", root, [2]string{}, http.MethodPut, 0, "/v2/auth/enable", ``, http.StatusOK, 0},
		// The guest role has every permission once auth is on (as etcd);
		// take them away so that the unknown CN below is refused.
		{"setup", root, rootPW, http.MethodPut, 0, "/v2/auth/roles/guest", `{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}`, http.StatusOK, 0},
	} {
		a.do(t, urls)
	}
	// A linearizable read on each member (root by its certificate's CN)
	// returns once that member has applied the setup.
	for i := range urls {
		authCall{"root CN", root, [2]string{}, http.MethodGet, i, "/v2/keys/?quorum=true", "", http.StatusOK, 0}.do(t, urls)
	}

	form := func(v string) string { return url.Values{"value": {v}}.Encode() }
	for i := range urls {
		for _, a := range []authCall{
			{"alice CN", alice, [2]string{}, http.MethodPut, i, "/v2/keys/app/x", form("a"), http.StatusOK, 0},
			{"alice CN", alice, [2]string{}, http.MethodGet, i, "/v2/keys/app/x", "", http.StatusOK, 0},
			{"alice CN", alice, [2]string{}, http.MethodPut, i, "/v2/keys/other", form("a"), http.StatusUnauthorized, 110},
			{"alice CN", alice, [2]string{}, http.MethodGet, i, "/v2/keys/other", "", http.StatusUnauthorized, 110},
			{"alice Basic", root, alicePW, http.MethodPut, i, "/v2/keys/app/y", form("b"), http.StatusOK, 0},
			{"alice Basic", root, alicePW, http.MethodPut, i, "/v2/keys/other", form("b"), http.StatusUnauthorized, 110},
			{"alice wrong password", root, [2]string{"alice", "nope"}, http.MethodGet, i, "/v2/keys/app/x", "", http.StatusUnauthorized, 110},
			{"root Basic", alice, rootPW, http.MethodPut, i, "/v2/keys/other", form("r"), http.StatusOK, 0},
			{"root CN", root, [2]string{}, http.MethodGet, i, "/v2/keys/other", "", http.StatusOK, 0},
			{"mallory CN (guest)", mallory, [2]string{}, http.MethodGet, i, "/v2/keys/app/x", "", http.StatusUnauthorized, 110},
			{"mallory CN (guest)", mallory, [2]string{}, http.MethodPut, i, "/v2/keys/app/x", form("m"), http.StatusUnauthorized, 110},
		} {
			// The first write of a key is 201, later ones 200.
			if a.wantStatus == http.StatusOK && a.method == http.MethodPut && i == 0 {
				a.wantStatus = http.StatusCreated
			}
			a.do(t, urls)
		}
	}
}
