package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/vfs"
)

// cred is who a test request claims to be: "" for a guest, "user:password"
// for Basic credentials, or a raw Authorization header after "raw ".
type cred string

// authReq sends one request with cred's credentials; a body that starts
// with "{" goes as JSON, any other as a form.
func authReq(t *testing.T, c cred, method, u, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case strings.HasPrefix(string(c), "raw "):
		req.Header.Set("Authorization", strings.TrimPrefix(string(c), "raw "))
	case c != "":
		name, pw, _ := strings.Cut(string(c), ":")
		req.SetBasicAuth(name, pw)
	}
	if strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/json")
	} else if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// authStep is one request of a scripted auth session and what it must get.
type authStep struct {
	who          cred
	method, path string
	body         string
	status       int
	contains     string
}

func runAuthSteps(t *testing.T, base string, steps []authStep) {
	t.Helper()
	for i, s := range steps {
		resp, body := authReq(t, s.who, s.method, base+s.path, s.body)
		if resp.StatusCode != s.status || !strings.Contains(body, s.contains) {
			t.Fatalf("step %d: %q %s %s %s: %s %q, want %d containing %q", i, s.who, s.method, s.path, s.body, resp.Status, body, s.status, s.contains)
		}
		if s.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("step %d: 401 without WWW-Authenticate", i)
		}
	}
}

const (
	root  cred = "root:rootpw"
	alice cred = "alice:alicepw"
	guest cred = ""
)

// setupAuth creates root, a role "app" with read and write on /app/*, a
// user alice with that role, and turns auth on.
func setupAuth(t *testing.T, base string) {
	t.Helper()
	runAuthSteps(t, base, []authStep{
		{guest, "PUT", "/v2/auth/users/root", `{"user":"root","password":"rootpw"}`, 201, `"roles":["root"]`},
		{guest, "PUT", "/v2/auth/roles/app", `{"role":"app","permissions":{"kv":{"read":["/app/*"],"write":["/app/*"]}}}`, 201, `"read":["/app/*"]`},
		{guest, "PUT", "/v2/auth/users/alice", `{"user":"alice","password":"alicepw","roles":["app"]}`, 201, `{"user":"alice","roles":["app"]}`},
		{guest, "PUT", "/v2/auth/enable", "", 200, ""},
	})
}

// TestAuthAPI walks the /v2/auth endpoints through their rules and status
// codes on one member.
func TestAuthAPI(t *testing.T) {
	c := startInproc(t, 1)
	m := c.waitLeader()
	base := c.url(m)
	runAuthSteps(t, base, []authStep{
		{guest, "GET", "/v2/auth/enable", "", 200, `{"enabled":false}`},
		{guest, "PUT", "/v2/auth/enable", "", 400, `{"message":"auth: No root user available, please create one"}`},
		{guest, "DELETE", "/v2/auth/enable", "", 409, `auth: already disabled`},
		{guest, "POST", "/v2/auth/enable", "", 405, ""},
		{guest, "GET", "/v2/auth/users", "", 200, `{"users":[]}`},
		{guest, "GET", "/v2/auth/roles", "", 200, `{"roles":[{"role":"root","permissions":{"kv":{"read":["/*"],"write":["/*"]}}}]}`},
		{guest, "PUT", "/v2/auth/users/x", `{"user":"y","password":"p"}`, 400, "User JSON name does not match the name in the URL"},
		{guest, "PUT", "/v2/auth/users/x", `not json`, 400, "Invalid JSON in request body."},
		{guest, "PUT", "/v2/auth/users/x", `{"user":"x"}`, 400, "auth: Cannot create user x with an empty password"},
		{guest, "PUT", "/v2/auth/users/x", `{"user":"x","roles":["a"],"grant":["b"]}`, 400, "User JSON contains both roles and grant/revoke"},
		{guest, "PUT", "/v2/auth/users/x", `{"user":"x","grant":["b"]}`, 404, "auth: User x doesn't exist."},
		{guest, "GET", "/v2/auth/users/x", "", 404, "auth: User x does not exist."},
		{guest, "DELETE", "/v2/auth/users/x", "", 404, "auth: User x does not exist"},
		{guest, "GET", "/v2/auth/users/x/y", "", 400, "Invalid path"},
		{guest, "PUT", "/v2/auth/roles/root", `{"role":"root"}`, 403, "auth: Cannot modify role root: is root role."},
		{guest, "DELETE", "/v2/auth/roles/root", "", 403, "auth: Cannot modify role root: is root role."},
		{guest, "GET", "/v2/auth/roles/nope", "", 404, "auth: Role nope does not exist."},
		{guest, "DELETE", "/v2/auth/roles/nope", "", 404, "auth: Role nope doesn't exist."},
		{guest, "PUT", "/v2/auth/roles/nope", `{"role":"nope","grant":{"kv":{"read":["/a"]}}}`, 404, "auth: Role nope doesn't exist."},
	})
	setupAuth(t, base)
	runAuthSteps(t, base, []authStep{
		{guest, "GET", "/v2/auth/enable", "", 200, `{"enabled":true}`},
		// Enabling created the guest role with full access.
		{root, "GET", "/v2/auth/roles/guest", "", 200, `{"role":"guest","permissions":{"kv":{"read":["/*"],"write":["/*"]}}}`},
		{guest, "PUT", "/v2/auth/enable", "", 401, `{"message":"Insufficient credentials"}`},
		{alice, "PUT", "/v2/auth/enable", "", 401, `Insufficient credentials`},
		{root, "PUT", "/v2/auth/enable", "", 409, `auth: already enabled`},
		{guest, "GET", "/v2/auth/users", "", 401, `Insufficient credentials`},
		{alice, "GET", "/v2/auth/users/alice", "", 401, `Insufficient credentials`},
		{root, "GET", "/v2/auth/users", "", 200, `{"users":[{"user":"alice","roles":[{"role":"app","permissions":{"kv":{"read":["/app/*"],"write":["/app/*"]}}}]},{"user":"root","roles":[{"role":"root"`},
		{root, "GET", "/v2/auth/users/alice", "", 200, `{"user":"alice","roles":[{"role":"app"`},
		{root, "GET", "/v2/auth/roles", "", 200, `{"roles":[{"role":"app"`},
		{root, "PUT", "/v2/auth/users/alice", `{"user":"alice","password":"x","roles":["app"]}`, 409, "auth: User alice already exists."},
		{root, "PUT", "/v2/auth/roles/app", `{"role":"app"}`, 409, "auth: Role app already exists."},
		// Grants: a duplicate is a conflict; revoking what is not there
		// is one for users and ignored for roles, as in etcd.
		{root, "PUT", "/v2/auth/users/alice", `{"user":"alice","grant":["app"]}`, 409, "auth: Granting duplicate role app for user alice"},
		{root, "PUT", "/v2/auth/users/alice", `{"user":"alice","revoke":["guest"]}`, 409, "auth: Revoking ungranted role guest for user alice"},
		{root, "PUT", "/v2/auth/users/alice", `{"user":"alice","grant":["ghost"]}`, 404, "auth: Role ghost does not exist."},
		{root, "PUT", "/v2/auth/roles/app", `{"role":"app","grant":{"kv":{"read":["/app/*"]}}}`, 409, "auth: Granting duplicate read permission /app/*"},
		{root, "PUT", "/v2/auth/roles/app", `{"role":"app","grant":{"kv":{"write":["/app/*"]}}}`, 409, "auth: Granting duplicate write permission /app/*"},
		{root, "PUT", "/v2/auth/roles/app", `{"role":"app","revoke":{"kv":{"read":["/nothere"]}}}`, 400, "auth: Role not updated. Use grant/revoke to update the role."},
		{root, "PUT", "/v2/auth/roles/app", `{"role":"app","permissions":{"kv":{"read":["/a"]}},"grant":{"kv":{"read":["/b"]}}}`, 400, "Role JSON contains both permissions and grant/revoke"},
		{root, "PUT", "/v2/auth/roles/app", `{"role":"app","grant":{"kv":{"read":["/shared"]}}}`, 200, `{"role":"app","permissions":{"kv":{"read":["/app/*","/shared"],"write":["/app/*"]}}}`},
		{root, "PUT", "/v2/auth/roles/app", `{"role":"app","revoke":{"kv":{"read":["/shared"]}}}`, 200, `{"role":"app","permissions":{"kv":{"read":["/app/*"],"write":["/app/*"]}}}`},
		{root, "PUT", "/v2/auth/roles/ops", `{"role":"ops"}`, 201, `{"role":"ops","permissions":{"kv":{"read":[],"write":[]}}}`},
		{root, "PUT", "/v2/auth/users/alice", `{"user":"alice","grant":["ops"]}`, 200, `{"user":"alice","roles":["app","ops"]}`},
		{root, "PUT", "/v2/auth/users/alice", `{"user":"alice","revoke":["ops"]}`, 200, `{"user":"alice","roles":["app"]}`},
		// Neither grant, revoke nor password: nothing to change.
		{root, "PUT", "/v2/auth/users/alice", `{"user":"alice","revoke":[]}`, 400, "auth: User not updated. Use grant/revoke/password to update the user."},
		{root, "DELETE", "/v2/auth/roles/ops", "", 200, ""},
		{root, "DELETE", "/v2/auth/users/root", "", 403, "auth: Cannot delete root user while auth is enabled."},
		// The records are not readable through /v2/keys, even by root.
		{root, "GET", "/v2/keys/_raftkv/_auth/users/@alice", "", 400, `"errorCode":106`},
		{root, "GET", "/v2/keys/_raftkv/_auth?recursive=true", "", 400, `"errorCode":106`},
		{root, "GET", "/v2/keys/_raftkv?recursive=true", "", 200, `"key":"/_raftkv/members"`},
		{root, "DELETE", "/v2/auth/enable", "", 200, ""},
		{guest, "DELETE", "/v2/auth/enable", "", 409, "auth: already disabled"},
		{guest, "DELETE", "/v2/auth/users/root", "", 200, ""},
	})
	_, body := authReq(t, root, "GET", base+"/v2/keys/_raftkv?recursive=true", "")
	if strings.Contains(body, "_auth") || strings.Contains(body, "$2a$") {
		t.Fatalf("a listing of /_raftkv shows the auth records: %s", body)
	}
}

// TestAuthPermissionMatrix: who may read and write what once auth is on:
// root everything, alice what her role grants (exact keys, prefixes,
// recursive requests only under a prefix), guests what the guest role
// grants; members, stats, version and health as etcd.
func TestAuthPermissionMatrix(t *testing.T) {
	c := startInproc(t, 1)
	m := c.waitLeader()
	base := c.url(m)
	setupAuth(t, base)
	runAuthSteps(t, base, []authStep{
		// Guests keep full access until root narrows the guest role.
		{guest, "PUT", "/v2/keys/open", "value=1", 201, ""},
		{root, "PUT", "/v2/auth/roles/guest", `{"role":"guest","revoke":{"kv":{"write":["/*"]}}}`, 200, `"write":[]`},
		{root, "PUT", "/v2/auth/roles/app", `{"role":"app","grant":{"kv":{"read":["/shared"]}}}`, 200, ""},
		{root, "PUT", "/v2/keys/shared", "value=s", 201, ""},
		{root, "PUT", "/v2/keys/app/d/x", "value=1", 201, ""},
		{root, "PUT", "/v2/keys/other", "value=o", 201, ""},
	})
	const noAuth = `{"errorCode":110,"message":"The request requires user authentication","cause":"Insufficient credentials","index":0}`
	type row struct {
		who          cred
		method, path string
		status       int
	}
	rows := []row{
		{root, "GET", "/v2/keys/other", 200},
		{root, "PUT", "/v2/keys/other?value=r", 200},
		{root, "GET", "/v2/keys/?recursive=true", 200},
		{root, "DELETE", "/v2/keys/other", 200},
		{guest, "GET", "/v2/keys/shared", 200},
		{guest, "HEAD", "/v2/keys/shared", 200},
		{guest, "GET", "/v2/keys/app/d?recursive=true", 200},
		{guest, "PUT", "/v2/keys/shared?value=g", 401},
		{guest, "POST", "/v2/keys/app?value=g", 401},
		{guest, "DELETE", "/v2/keys/shared", 401},
		{alice, "PUT", "/v2/keys/app/a?value=1", 201},
		{alice, "GET", "/v2/keys/app/a", 200},
		{alice, "POST", "/v2/keys/app/q?value=1", 201},
		{alice, "GET", "/v2/keys/app/d?recursive=true", 200},
		{alice, "DELETE", "/v2/keys/app/d?recursive=true&dir=true", 200},
		{alice, "GET", "/v2/keys/shared", 200},
		{alice, "PUT", "/v2/keys/shared?value=a", 401},
		// A recursive request needs a prefix pattern: /app/* does not
		// cover /app itself, nor /shared (exact) anything below it.
		{alice, "GET", "/v2/keys/app?recursive=true", 401},
		{alice, "GET", "/v2/keys/shared?recursive=true", 401},
		{alice, "GET", "/v2/keys/app", 401},
		// An authenticated user does not get the guest role's rights.
		{alice, "GET", "/v2/keys/open", 401},
		{alice, "PUT", "/v2/keys/elsewhere?value=1", 401},
		// Watches are checked when they start (this one is answered from
		// the history at once).
		{alice, "GET", "/v2/keys/app/a?wait=true&waitIndex=1", 200},
		{alice, "GET", "/v2/keys/open?wait=true", 401},
		{alice, "GET", "/v2/keys/app?wait=true&recursive=true", 401},
		// Paths are checked once cleaned: .. cannot climb out of /app/.
		{alice, "GET", "/v2/keys/app/..%2Fother", 401},
		// Wrong or malformed credentials are refused, never guests.
		{"alice:wrong", "GET", "/v2/keys/shared", 401},
		{"nobody:pw", "GET", "/v2/keys/shared", 401},
		{"raw Bearer abc", "GET", "/v2/keys/shared", 401},
		{"raw Basic !!!", "GET", "/v2/keys/shared", 401},
		// Membership changes need root; reading it does not.
		{guest, "GET", "/v2/members", 200},
		{alice, "POST", "/v2/members", 401},
		{alice, "DELETE", "/v2/members/1234", 401},
		{root, "DELETE", "/v2/members/1234", 404},
		// Stats, version, health and metrics stay open, as in etcd.
		{guest, "GET", "/v2/stats/self", 200},
		{guest, "GET", "/v2/stats/store", 200},
		{guest, "GET", "/version", 200},
		{guest, "GET", "/health", 200},
		{guest, "GET", "/metrics", 200},
	}
	for _, r := range rows {
		resp, body := authReq(t, r.who, r.method, base+r.path, "")
		if resp.StatusCode != r.status {
			t.Errorf("%q %s %s: %s %s, want %d", r.who, r.method, r.path, resp.Status, body, r.status)
			continue
		}
		if r.status == 401 && strings.HasPrefix(r.path, "/v2/keys") {
			if strings.TrimSpace(body) != noAuth && r.method != "HEAD" {
				t.Errorf("%q %s %s: body %s, want %s", r.who, r.method, r.path, body, noAuth)
			}
			if resp.Header.Get("X-Etcd-Index") != "0" || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%q %s %s: headers %v", r.who, r.method, r.path, resp.Header)
			}
		}
	}
	// Without any guest permission, a guest reads nothing.
	runAuthSteps(t, base, []authStep{
		{root, "DELETE", "/v2/auth/roles/guest", "", 200, ""},
		{guest, "GET", "/v2/keys/shared", "", 401, `"errorCode":110`},
		{guest, "GET", "/version", "", 200, ""},
		{alice, "GET", "/v2/keys/shared", "", 200, ""},
	})
}

// TestAuthLiveWatchStarts: a watch a user may start waits for its event.
func TestAuthLiveWatchStarts(t *testing.T) {
	c := startInproc(t, 1)
	m := c.waitLeader()
	base := c.url(m)
	setupAuth(t, base)
	req, _ := http.NewRequest("GET", base+"/v2/keys/app/w?wait=true", nil)
	req.SetBasicAuth("alice", "alicepw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("watch: %s", resp.Status)
	}
	runAuthSteps(t, base, []authStep{{alice, "PUT", "/v2/keys/app/w", "value=v", 201, ""}})
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), `"value":"v"`) {
		t.Fatalf("watch got %s", b)
	}
}

// waitApplied waits until m has applied the raft log up to index.
func waitApplied(t *testing.T, m *Member, index uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.waitApplied(ctx, index); err != nil {
		t.Fatalf("%s did not apply index %d: %v", m.cfg.Name, index, err)
	}
}

// TestAuthPasswordChangeInvalidatesCache: once every member has verified
// bob's password (and cached it), a password change through one member
// makes each of them refuse the old password as soon as it has applied
// the change, and accept the new one.
func TestAuthPasswordChangeInvalidatesCache(t *testing.T) {
	c := startInproc(t, 3)
	lead := c.waitLeader()
	setupAuth(t, c.url(lead))
	runAuthSteps(t, c.url(lead), []authStep{
		{root, "PUT", "/v2/auth/users/bob", `{"user":"bob","password":"old","roles":["app"]}`, 201, ""},
	})
	idx := lead.Status().Applied
	for _, m := range c.members {
		waitApplied(t, m, idx)
		for range 3 {
			runAuthSteps(t, c.url(m), []authStep{{"bob:old", "GET", "/v2/keys/app/x", "", 404, `"errorCode":100`}})
		}
	}
	through := c.follower(lead)
	runAuthSteps(t, c.url(through), []authStep{
		{root, "PUT", "/v2/auth/users/bob", `{"user":"bob","password":"new"}`, 200, `{"user":"bob","roles":["app"]}`},
	})
	idx = through.Status().Applied
	for _, m := range c.members {
		waitApplied(t, m, idx)
		runAuthSteps(t, c.url(m), []authStep{
			{"bob:old", "GET", "/v2/keys/app/x", "", 401, `"errorCode":110`},
			{"bob:new", "GET", "/v2/keys/app/x", "", 404, `"errorCode":100`},
		})
	}
}

// TestAuthCacheSkipsBcrypt: a verified password is not checked with bcrypt
// again until its user record changes.
func TestAuthCacheSkipsBcrypt(t *testing.T) {
	z, s := authorizerWithStore(t)
	applyAll(t, s, putJSON(authUserKey("bob"), authUser{User: "bob", Password: mustHash(t, "pw")}))
	st := z.state()
	u := st.users["bob"]
	for range 5 {
		if !z.checkPassword(u, "pw") {
			t.Fatal("password refused")
		}
	}
	if n := z.bcrypts.Load(); n != 1 {
		t.Fatalf("%d bcrypt comparisons for 5 checks, want 1", n)
	}
	if z.checkPassword(u, "wrong") {
		t.Fatal("wrong password accepted")
	}
	if !z.checkPassword(u, "pw") || z.bcrypts.Load() != 2 {
		t.Fatalf("a wrong password evicted the good one (%d comparisons)", z.bcrypts.Load())
	}
	// A rewrite of the record (same password) invalidates the entry.
	applyAll(t, s, putJSON(authUserKey("bob"), authUser{User: "bob", Password: u.Password}))
	u = z.state().users["bob"]
	if !z.checkPassword(u, "pw") || z.bcrypts.Load() != 3 {
		t.Fatalf("after a rewrite: %d comparisons, want 3", z.bcrypts.Load())
	}
}

func authorizerWithStore(t *testing.T) (*authorizer, *kv.Store) {
	s := kv.New(kv.Options{})
	return newAuthorizer(s), s
}

func applyAll(t *testing.T, s *kv.Store, cmds ...*kv.Command) {
	t.Helper()
	for _, c := range cmds {
		if _, err := s.Apply(c); err != nil {
			t.Fatalf("apply %+v: %v", c, err)
		}
	}
}

func mustHash(t *testing.T, pw string) string {
	h, err := hashPassword(pw, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestAuthStateFollowsRestore: a snapshot restored under the authorizer
// (a follower catching up) drops its watch; the next check reads the
// restored records.
func TestAuthStateFollowsRestore(t *testing.T) {
	z, s := authorizerWithStore(t)
	if z.state().enabled {
		t.Fatal("enabled on an empty store")
	}
	other := kv.New(kv.Options{})
	applyAll(t, other, &kv.Command{Method: kv.MethodPut, Path: authEnabledKey, Value: "true"})
	var buf strings.Builder
	if err := other.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(strings.NewReader(buf.String())); err != nil {
		t.Fatal(err)
	}
	if !z.state().enabled {
		t.Fatal("the restored switch is not seen")
	}
	applyAll(t, s, &kv.Command{Method: kv.MethodPut, Path: authEnabledKey, Value: "false"})
	if z.state().enabled {
		t.Fatal("a change after the restore is not seen")
	}
}

// TestAuthCertificateCN: with no Authorization header, the common name of
// a verified client certificate names the user; an unverified certificate
// names no one; Basic credentials win over a certificate.
func TestAuthCertificateCN(t *testing.T) {
	z, s := authorizerWithStore(t)
	applyAll(t, s,
		putJSON(authUserKey("carol"), authUser{User: "carol", Password: mustHash(t, "pw"), Roles: []string{"ops"}}),
		putJSON(authRoleKey("ops"), authRole{Role: "ops", Permissions: authPermissions{KV: rwPermission{Read: []string{"/ops/*"}, Write: []string{"/ops/*"}}}}),
		putJSON(authRoleKey(guestRole), authRole{Role: guestRole, Permissions: authPermissions{KV: rwPermission{Read: []string{"/pub"}}}}),
		&kv.Command{Method: kv.MethodPut, Path: authEnabledKey, Value: "true"},
	)
	withCert := func(method, cn string, verified bool) *http.Request {
		r := httptest.NewRequest(method, "https://x/v2/keys/ops/a", nil)
		cert := &x509.Certificate{Subject: pkix.Name{CommonName: cn}}
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
		if verified {
			r.TLS.VerifiedChains = [][]*x509.Certificate{{cert}}
		}
		return r
	}
	for _, tc := range []struct {
		name string
		r    *http.Request
		key  string
		want bool
	}{
		{"cert user reads", withCert("GET", "carol", true), "/ops/a", true},
		{"cert user writes", withCert("PUT", "carol", true), "/ops/a", true},
		{"cert user outside role", withCert("GET", "carol", true), "/pub", false},
		{"unknown CN is a guest", withCert("GET", "mallory", true), "/pub", true},
		{"unknown CN gets no more", withCert("GET", "mallory", true), "/ops/a", false},
		{"unverified cert is a guest", withCert("GET", "carol", false), "/ops/a", false},
		{"no TLS is a guest", httptest.NewRequest("GET", "http://x/", nil), "/pub", true},
	} {
		if got := z.allowKey(tc.r, tc.key, false); got != tc.want {
			t.Errorf("%s: allowKey(%s) = %v, want %v", tc.name, tc.key, got, tc.want)
		}
	}
	r := withCert("GET", "carol", true)
	r.SetBasicAuth("carol", "wrong")
	if z.allowKey(r, "/ops/a", false) {
		t.Error("a certificate made up for wrong Basic credentials")
	}
	if certUser(withCert("GET", "carol", true)) != "carol" || certUser(withCert("GET", "carol", false)) != "" {
		t.Error("certUser")
	}
	if z.allowRoot(withCert("PUT", "carol", true)) {
		t.Error("carol has no root role")
	}
}

// TestAuthPatterns is etcd's matching: exact keys, prefixes ending in *,
// and recursive requests only under a prefix.
func TestAuthPatterns(t *testing.T) {
	p := rwPermission{Read: []string{"/foo", "/bar*", "/dir/*"}, Write: []string{"*"}}
	for _, tc := range []struct {
		key              string
		write, recursive bool
		want             bool
	}{
		{"/foo", false, false, true},
		{"/foo/x", false, false, false},
		{"/foo", false, true, false},
		{"/bar", false, true, true},
		{"/barn/x", false, false, true},
		{"/dir", false, false, false},
		{"/dir/a", false, true, true},
		{"/anything", true, true, true},
		{"/foo", true, false, true},
	} {
		if got := p.allows(tc.key, tc.write, tc.recursive); got != tc.want {
			t.Errorf("allows(%s, write %v, recursive %v) = %v, want %v", tc.key, tc.write, tc.recursive, got, tc.want)
		}
	}
}

// TestAuthConcurrentGrants: grants of different roles to one user through
// different members at once all land (compare-and-swap on the record).
func TestAuthConcurrentGrants(t *testing.T) {
	c := startInproc(t, 3)
	lead := c.waitLeader()
	base := c.url(lead)
	steps := []authStep{{guest, "PUT", "/v2/auth/users/dave", `{"user":"dave","password":"pw"}`, 201, ""}}
	const n = 6
	for i := range n {
		steps = append(steps, authStep{guest, "PUT", fmt.Sprintf("/v2/auth/roles/r%d", i), fmt.Sprintf(`{"role":"r%d"}`, i), 201, ""})
	}
	runAuthSteps(t, base, steps)
	idx := lead.Status().Applied
	errs := make(chan string, n)
	for i := range n {
		m := c.members[i%len(c.members)]
		waitApplied(t, m, idx)
		go func() {
			req, _ := http.NewRequest("PUT", c.url(m)+"/v2/auth/users/dave", strings.NewReader(fmt.Sprintf(`{"user":"dave","grant":["r%d"]}`, i)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Sprintf("grant r%d: %s %s", i, resp.Status, b)
				return
			}
			errs <- ""
		}()
	}
	for range n {
		if e := <-errs; e != "" {
			t.Fatal(e)
		}
	}
	_, body := authReq(t, guest, "GET", base+"/v2/auth/users/dave", "")
	var u userWithRoles
	if err := json.Unmarshal([]byte(body), &u); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range u.Roles {
		got = append(got, r.Role)
	}
	if want := []string{"r0", "r1", "r2", "r3", "r4", "r5"}; !slices.Equal(got, want) {
		t.Fatalf("dave's roles %v, want %v", got, want)
	}
}

// TestAuthSurvivesRestart: users, roles and the switch are in the log and
// in snapshots; a member restarted from its disk (with a snapshot taken
// after they were written) still enforces them.
func TestAuthSurvivesRestart(t *testing.T) {
	mem := vfs.NewMem(rand.New(rand.NewPCG(17, 17)))
	start := func() (*Member, *httptest.Server) {
		const peerURL = "http://127.0.0.1:2380"
		m, err := StartMember(MemberConfig{
			Name: "solo", DataDir: "/data", FS: mem, SnapshotCount: 4,
			AdvertiseClientURLs:      []string{"http://127.0.0.1:2379"},
			InitialAdvertisePeerURLs: []string{peerURL},
			InitialCluster:           []InitialMember{{Name: "solo", PeerURLs: []string{peerURL}}},
			HeartbeatInterval:        10 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
			Logger:          testLogger(t),
			ClientListeners: []net.Listener{}, PeerListener: listen(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		return m, httptest.NewServer(m.Handler())
	}
	m, srv := start()
	setupAuth(t, srv.URL)
	runAuthSteps(t, srv.URL, []authStep{
		{root, "PUT", "/v2/auth/roles/guest", `{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}`, 200, ""},
	})
	for i := range 10 {
		runAuthSteps(t, srv.URL, []authStep{{alice, "PUT", fmt.Sprintf("/v2/keys/app/k%d", i), "value=v", 201, ""}})
	}
	srv.Close()
	stopMember(t, m)
	if names, _ := mem.ReadDir("/data/member/snap"); !slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, ".snap") }) {
		t.Fatalf("no snapshot was taken: %v", names)
	}
	m, srv = start()
	defer stopMember(t, m)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.ReadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	runAuthSteps(t, srv.URL, []authStep{
		{guest, "GET", "/v2/auth/enable", "", 200, `{"enabled":true}`},
		{guest, "GET", "/v2/keys/app/k1", "", 401, ""},
		{alice, "GET", "/v2/keys/app/k1", "", 200, `"value":"v"`},
		{"alice:wrong", "GET", "/v2/keys/app/k1", "", 401, ""},
		{root, "GET", "/v2/auth/users/alice", "", 200, `"role":"app"`},
	})
}

// BenchmarkAuthCheck is the per-request cost of v2 auth for a user whose
// password is cached: the check a /v2/keys request makes.
func BenchmarkAuthCheck(b *testing.B) {
	s := kv.New(kv.Options{})
	h, err := hashPassword("pw", bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []*kv.Command{
		putJSON(authUserKey("bench"), authUser{User: "bench", Password: h, Roles: []string{"a", "b"}}),
		putJSON(authRoleKey("a"), authRole{Role: "a", Permissions: authPermissions{KV: rwPermission{Read: []string{"/x/*"}, Write: []string{"/x/*"}}}}),
		putJSON(authRoleKey("b"), authRole{Role: "b", Permissions: authPermissions{KV: rwPermission{Read: []string{"/bench/*"}, Write: []string{"/bench/*"}}}}),
		{Method: kv.MethodPut, Path: authEnabledKey, Value: "true"},
	} {
		if _, err := s.Apply(c); err != nil {
			b.Fatal(err)
		}
	}
	z := newAuthorizer(s)
	r := httptest.NewRequest("PUT", "http://x/v2/keys/bench/k?"+url.Values{"value": {"v"}}.Encode(), nil)
	r.SetBasicAuth("bench", "pw")
	if !z.allowKey(r, "/bench/k", false) {
		b.Fatal("refused")
	}
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !z.allowKey(r, "/bench/k", false) {
					b.Fatal("refused")
				}
			}
		})
	})
	// What etcd pays on every request, and raftkv once per user and
	// password change.
	b.Run("bcrypt", func(b *testing.B) {
		for b.Loop() {
			if bcrypt.CompareHashAndPassword([]byte(h), []byte("pw")) != nil {
				b.Fatal("refused")
			}
		}
	})
}
