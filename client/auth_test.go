package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/raftkv/raftkv/client"
)

// authRecorder is a fake auth API: it records each request as
// "METHOD path body" (the body re-marshalled with sorted keys) and answers
// with the canned reply for "METHOD path", or 200 and an empty body.
type authRecorder struct {
	mu      sync.Mutex
	got     []string
	replies map[string]cannedReply
}

type cannedReply struct {
	status int
	body   string
}

func (a *authRecorder) handle(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		line := r.Method + " " + r.URL.EscapedPath()
		if len(b) > 0 {
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q, want application/json", line, ct)
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Errorf("%s: body %q is not JSON: %v", line, b, err)
			}
			canon, _ := json.Marshal(v)
			line += " " + string(canon)
		}
		a.mu.Lock()
		a.got = append(a.got, line)
		rep, ok := a.replies[r.Method+" "+r.URL.EscapedPath()]
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			return
		}
		w.WriteHeader(rep.status)
		io.WriteString(w, rep.body)
	}
}

func (a *authRecorder) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.got
	a.got = nil
	return out
}

// TestAuthRequests checks what each call of the auth API sends: the
// method, the path and the JSON body of etcd's v2 auth API.
func TestAuthRequests(t *testing.T) {
	rec := &authRecorder{replies: map[string]cannedReply{}}
	s, _ := serve(t, rec.handle(t))
	c := newClient(t, client.Config{Endpoints: []string{s.URL}})
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"enable", func() error { return c.EnableAuth(ctx) }, "PUT /v2/auth/enable"},
		{"disable", func() error { return c.DisableAuth(ctx) }, "DELETE /v2/auth/enable"},
		{"status", func() error { _, err := c.AuthEnabled(ctx); return err }, "GET /v2/auth/enable"},
		{"add user", func() error { return c.AddUser(ctx, "alice", "pw") },
			`PUT /v2/auth/users/alice {"password":"pw","user":"alice"}`},
		{"get user", func() error { _, err := c.GetUser(ctx, "alice"); return err }, "GET /v2/auth/users/alice"},
		{"list users", func() error { _, err := c.ListUsers(ctx); return err }, "GET /v2/auth/users"},
		{"remove user", func() error { return c.RemoveUser(ctx, "alice") }, "DELETE /v2/auth/users/alice"},
		{"passwd", func() error { _, err := c.ChangePassword(ctx, "alice", "new"); return err },
			`PUT /v2/auth/users/alice {"password":"new","user":"alice"}`},
		{"grant user", func() error { _, err := c.GrantUser(ctx, "alice", []string{"r1", "r2"}); return err },
			`PUT /v2/auth/users/alice {"grant":["r1","r2"],"user":"alice"}`},
		{"revoke user", func() error { _, err := c.RevokeUser(ctx, "alice", []string{"r1"}); return err },
			`PUT /v2/auth/users/alice {"revoke":["r1"],"user":"alice"}`},
		{"add role", func() error { return c.AddRole(ctx, "rw") }, `PUT /v2/auth/roles/rw {"role":"rw"}`},
		{"get role", func() error { _, err := c.GetRole(ctx, "rw"); return err }, "GET /v2/auth/roles/rw"},
		{"list roles", func() error { _, err := c.ListRoles(ctx); return err }, "GET /v2/auth/roles"},
		{"remove role", func() error { return c.RemoveRole(ctx, "rw") }, "DELETE /v2/auth/roles/rw"},
		{"grant read", func() error {
			_, err := c.GrantRoleKV(ctx, "rw", []string{"/foo/*"}, client.ReadPermission)
			return err
		}, `PUT /v2/auth/roles/rw {"grant":{"kv":{"read":["/foo/*"],"write":null}},"role":"rw"}`},
		{"grant write", func() error {
			_, err := c.GrantRoleKV(ctx, "rw", []string{"/foo"}, client.WritePermission)
			return err
		}, `PUT /v2/auth/roles/rw {"grant":{"kv":{"read":null,"write":["/foo"]}},"role":"rw"}`},
		{"revoke readwrite", func() error {
			_, err := c.RevokeRoleKV(ctx, "rw", []string{"/foo/*"}, client.ReadWritePermission)
			return err
		}, `PUT /v2/auth/roles/rw {"revoke":{"kv":{"read":["/foo/*"],"write":["/foo/*"]}},"role":"rw"}`},
		{"odd names are escaped", func() error { return c.RemoveUser(ctx, "a b/c") }, "DELETE /v2/auth/users/a%20b%2Fc"},
	}
	for _, tc := range tests {
		if err := tc.call(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if got := rec.take(); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s sent %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := c.GrantRoleKV(ctx, "rw", []string{"/x"}, client.PermissionType(7)); err == nil {
		t.Error("an unknown permission type was accepted")
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("an unknown permission type sent %q", got)
	}
}

// TestAuthReplies decodes the answers of etcd 2.1 (names as strings) and
// of 2.2 and later (users and roles as objects).
func TestAuthReplies(t *testing.T) {
	rec := &authRecorder{replies: map[string]cannedReply{}}
	s, _ := serve(t, rec.handle(t))
	c := newClient(t, client.Config{Endpoints: []string{s.URL}})
	ctx := context.Background()
	set := func(key string, status int, body string) { rec.replies[key] = cannedReply{status, body} }

	role := `{"role":"rw","permissions":{"kv":{"read":["/foo/*"],"write":["/foo/*","/bar"]}}}`
	set("GET /v2/auth/enable", 200, `{"enabled":true}`)
	set("GET /v2/auth/roles/rw", 200, role)
	set("PUT /v2/auth/roles/rw", 200, role)
	for _, tc := range []struct {
		name                   string
		users, user, roles     string
		wantUsers, wantRoles   []string
		wantUserRoles          []string
		grantReply, grantRoles string
	}{
		{
			name:  "etcd 2.1",
			users: `{"users":["alice","root"]}`, user: `{"user":"alice","roles":["rw","guest"]}`,
			roles: `{"roles":["guest","root","rw"]}`,
		},
		{
			name:  "etcd 2.2+",
			users: `{"users":[{"user":"alice","roles":[` + role + `,{"role":"guest","permissions":{"kv":{"read":["/*"],"write":["/*"]}}}]},{"user":"root","roles":[{"role":"root"}]}]}`,
			user:  `{"user":"alice","roles":[` + role + `,{"role":"guest"}]}`,
			roles: `{"roles":[{"role":"guest"},{"role":"root"},` + role + `]}`,
		},
	} {
		set("GET /v2/auth/users", 200, tc.users)
		set("GET /v2/auth/users/alice", 200, tc.user)
		set("PUT /v2/auth/users/alice", 200, tc.user)
		set("GET /v2/auth/roles", 200, tc.roles)
		users, err := c.ListUsers(ctx)
		if err != nil || !reflect.DeepEqual(users, []string{"alice", "root"}) {
			t.Errorf("%s: ListUsers = %q, %v", tc.name, users, err)
		}
		u, err := c.GetUser(ctx, "alice")
		if err != nil || !reflect.DeepEqual(u, &client.User{Name: "alice", Roles: []string{"rw", "guest"}}) {
			t.Errorf("%s: GetUser = %+v, %v", tc.name, u, err)
		}
		u, err = c.GrantUser(ctx, "alice", []string{"rw"})
		if err != nil || !reflect.DeepEqual(u.Roles, []string{"rw", "guest"}) {
			t.Errorf("%s: GrantUser = %+v, %v", tc.name, u, err)
		}
		roles, err := c.ListRoles(ctx)
		if err != nil || !reflect.DeepEqual(roles, []string{"guest", "root", "rw"}) {
			t.Errorf("%s: ListRoles = %q, %v", tc.name, roles, err)
		}
	}
	on, err := c.AuthEnabled(ctx)
	if err != nil || !on {
		t.Errorf("AuthEnabled = %v, %v", on, err)
	}
	want := &client.Role{Name: "rw", Permissions: client.Permissions{KV: client.RWPermission{
		Read: []string{"/foo/*"}, Write: []string{"/foo/*", "/bar"}}}}
	r, err := c.GetRole(ctx, "rw")
	if err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("GetRole = %+v, %v", r, err)
	}
	r, err = c.GrantRoleKV(ctx, "rw", []string{"/bar"}, client.WritePermission)
	if err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("GrantRoleKV = %+v, %v", r, err)
	}
	// A change answered with an empty body still names the user or role.
	delete(rec.replies, "PUT /v2/auth/users/alice")
	if u, err := c.ChangePassword(ctx, "alice", "pw"); err != nil || u.Name != "alice" {
		t.Errorf("ChangePassword with an empty answer = %+v, %v", u, err)
	}
	set("GET /v2/auth/users", 200, `{"users":[1]}`)
	if _, err := c.ListUsers(ctx); err == nil || !strings.Contains(err.Error(), "bad JSON") {
		t.Errorf("a bad list: err = %v", err)
	}
}

// TestAuthErrors maps the auth API's {"message"} errors and the keys API's
// error 110 onto the sentinels.
func TestAuthErrors(t *testing.T) {
	rec := &authRecorder{replies: map[string]cannedReply{
		"GET /v2/auth/users/bob":     {404, `{"message":"auth: User bob does not exist."}`},
		"PUT /v2/auth/users/root":    {409, `{"message":"auth: User root already exists."}`},
		"PUT /v2/auth/roles/rw":      {409, `{"message":"auth: Granting duplicate read permission /foo/*"}`},
		"GET /v2/auth/users":         {401, `{"message":"Insufficient credentials"}`},
		"PUT /v2/auth/enable":        {400, `{"message":"auth: No root user available, please create one"}`},
		"DELETE /v2/auth/roles/root": {403, "forbidden\n"},
		"GET /v2/keys/secret":        {401, `{"errorCode":110,"message":"The request requires user authentication","cause":"Insufficient credentials","index":7}`},
	}}
	s, _ := serve(t, rec.handle(t))
	c := newClient(t, client.Config{Endpoints: []string{s.URL}})
	ctx := context.Background()

	check := func(name string, err error, status int, msg string, is ...error) {
		t.Helper()
		var se *client.StatusError
		if !errors.As(err, &se) || se.StatusCode != status || err.Error() != msg {
			t.Errorf("%s: err = %#v, want status %d and %q", name, err, status, msg)
		}
		for _, target := range is {
			if !errors.Is(err, target) {
				t.Errorf("%s: errors.Is(%v, %v) = false", name, err, target)
			}
		}
		for _, other := range []error{client.ErrNotFound, client.ErrConflict, client.ErrUnauthorized} {
			if errors.Is(err, other) && !slicesContain(is, other) {
				t.Errorf("%s: %v matches %v too", name, err, other)
			}
		}
	}
	_, err := c.GetUser(ctx, "bob")
	check("no such user", err, 404, "auth: User bob does not exist.", client.ErrNotFound)
	check("user exists", c.AddUser(ctx, "root", "pw"), 409, "auth: User root already exists.", client.ErrConflict)
	_, err = c.GrantRoleKV(ctx, "rw", []string{"/foo/*"}, client.ReadPermission)
	check("granted twice", err, 409, "auth: Granting duplicate read permission /foo/*", client.ErrConflict)
	_, err = c.ListUsers(ctx)
	check("no credentials", err, 401, "Insufficient credentials", client.ErrUnauthorized)
	if !client.IsUnauthorized(err) {
		t.Errorf("IsUnauthorized(%v) = false", err)
	}
	check("no root", c.EnableAuth(ctx), 400, "auth: No root user available, please create one")
	check("not JSON", c.RemoveRole(ctx, "root"), 403, "403 forbidden")

	_, err = c.Get(ctx, "/secret", nil)
	var v2 *client.Error
	if !errors.As(err, &v2) || v2.Code != client.ErrorCodeUnauthorized || !client.IsUnauthorized(err) {
		t.Errorf("keys API: err = %#v, want error 110", err)
	}
	if errors.Is(err, client.ErrNotFound) || errors.Is(err, client.ErrKeyNotFound) {
		t.Errorf("error 110 matches a not-found sentinel: %v", err)
	}
}

func slicesContain(errs []error, e error) bool {
	for _, x := range errs {
		if x == e {
			return true
		}
	}
	return false
}

// TestAuthSendsCredentials: the auth calls carry Config's Basic
// credentials like every other request.
func TestAuthSendsCredentials(t *testing.T) {
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "root" || p != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"message":"Insufficient credentials"}`)
			return
		}
		io.WriteString(w, `{"roles":["root","guest"]}`)
	})
	c := newClient(t, client.Config{Endpoints: []string{s.URL}, Username: "root", Password: "pw"})
	if roles, err := c.ListRoles(context.Background()); err != nil || len(roles) != 2 {
		t.Errorf("with credentials: %q, %v", roles, err)
	}
	c = newClient(t, client.Config{Endpoints: []string{s.URL}, Username: "root", Password: "wrong"})
	if _, err := c.ListRoles(context.Background()); !client.IsUnauthorized(err) {
		t.Errorf("with a wrong password: err = %v, want a 401", err)
	}
}

// TestStatusForRestrictedUser: a user who may not read / gets 401 for the
// HEAD of the key space; the member still answered, so Status reports it
// from /v2/stats/self rather than failing (raftkvctl endpoint status
// called every member unreachable).
func TestStatusForRestrictedUser(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/keys/":
			w.Header().Set("X-Etcd-Index", "0")
			w.WriteHeader(http.StatusUnauthorized)
		case "/v2/stats/self":
			fmt.Fprint(w, `{"name":"m1","id":"a1","state":"StateLeader","leaderInfo":{"leader":"a1"},"raftTerm":4,"raftIndex":17}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, err := client.New(client.Config{Endpoints: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatalf("Status = %v", err)
	}
	if st.Name != "m1" || !st.IsLeader || st.RaftTerm != 4 || st.RaftIndex != 17 || st.EtcdIndex != 0 {
		t.Errorf("Status = %+v", st)
	}
}
