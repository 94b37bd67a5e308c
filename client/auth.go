package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// The v2 auth API (etcd 2.1+): /v2/auth/enable, /v2/auth/users[/name] and
// /v2/auth/roles[/name]. With auth on, every call here but AuthEnabled
// needs the root role; a refusal is a *StatusError of status 401 matching
// ErrUnauthorized. Other answers the server gives:
//
//   - ErrNotFound (404): no such user or role.
//   - ErrConflict (409): the user or role exists already, a permission or
//     role granted twice, auth already on.
//   - 400 (enable without a root user), 403 (changing the root role or
//     removing the root or guest roles): *StatusError with the server's
//     message.
//
// The calls map one to one onto etcd's client v2 AuthAPI, AuthUserAPI and
// AuthRoleAPI, as methods of Client.

// User is a user of v2 auth, as GetUser and the user calls return it.
type User struct {
	Name  string   `json:"user"`
	Roles []string `json:"roles"` // the names of the roles granted
}

// Role is a role of v2 auth: what its users may read and write.
type Role struct {
	Name        string      `json:"role"`
	Permissions Permissions `json:"permissions"`
}

// Permissions are a role's permissions; kv is the only kind v2 has.
type Permissions struct {
	KV RWPermission `json:"kv"`
}

// RWPermission lists the key patterns a role may read and may write. A
// pattern is an exact key ("/config/app") or a prefix ending in "*"
// ("/config/*" matches /config/ and everything below it).
type RWPermission struct {
	Read  []string `json:"read"`
	Write []string `json:"write"`
}

// PermissionType says which permissions GrantRoleKV and RevokeRoleKV change.
type PermissionType int

const (
	ReadPermission PermissionType = iota
	WritePermission
	ReadWritePermission
)

func (p PermissionType) String() string {
	switch p {
	case ReadPermission:
		return "read"
	case WritePermission:
		return "write"
	case ReadWritePermission:
		return "readwrite"
	}
	return fmt.Sprintf("PermissionType(%d)", int(p))
}

// userBody is the JSON of a PUT of /v2/auth/users/<name>: a new user with
// its password, or a change of an existing one's password or roles.
type userBody struct {
	User     string   `json:"user"`
	Password string   `json:"password,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	Grant    []string `json:"grant,omitempty"`
	Revoke   []string `json:"revoke,omitempty"`
}

// roleBody is the JSON of a PUT of /v2/auth/roles/<name>.
type roleBody struct {
	Role        string       `json:"role"`
	Permissions *Permissions `json:"permissions,omitempty"`
	Grant       *Permissions `json:"grant,omitempty"`
	Revoke      *Permissions `json:"revoke,omitempty"`
}

// names decodes a list of names that a server writes either as strings
// (etcd 2.1) or as objects with a "user" or "role" field (etcd 2.2 and
// later, which put each user's roles, or each role's permissions, in).
type names []string

func (n *names) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(names, 0, len(raw))
	for _, r := range raw {
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			out = append(out, s)
			continue
		}
		var o struct {
			User string `json:"user"`
			Role string `json:"role"`
		}
		if err := json.Unmarshal(r, &o); err != nil {
			return fmt.Errorf("neither a name nor a user or role: %s", r)
		}
		if o.User != "" {
			out = append(out, o.User)
		} else {
			out = append(out, o.Role)
		}
	}
	*n = out
	return nil
}

// userReply is a user as the server answers it.
type userReply struct {
	User  string `json:"user"`
	Roles names  `json:"roles"`
}

func (u *userReply) user() *User {
	return &User{Name: u.User, Roles: []string(u.Roles)}
}

// authPath is the escaped path of a user or role: a "/" in a name is part
// of the name.
func authPath(kind, name string) string { return "/v2/auth/" + kind + "/" + url.PathEscape(name) }

// authJSON sends a request to the auth API and decodes a 2xx answer into
// out (unless out is nil).
func (c *Client) authJSON(ctx context.Context, method, path string, body any, out any) error {
	r := &request{method: method, rawPath: path, retry5xx: method == http.MethodGet}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r.json = b
	}
	rep, err := c.sendOK(ctx, r)
	if err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(rep.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(rep.body, out); err != nil {
		return fmt.Errorf("client: %s%s: bad JSON: %w", rep.endpoint, path, err)
	}
	return nil
}

// EnableAuth turns v2 auth on (PUT /v2/auth/enable). The root user must
// exist first (the server answers 400 otherwise); from then on requests
// without credentials act as the guest role.
func (c *Client) EnableAuth(ctx context.Context) error {
	return c.authJSON(ctx, http.MethodPut, "/v2/auth/enable", nil, nil)
}

// DisableAuth turns v2 auth off (DELETE /v2/auth/enable); it needs root.
func (c *Client) DisableAuth(ctx context.Context) error {
	return c.authJSON(ctx, http.MethodDelete, "/v2/auth/enable", nil, nil)
}

// AuthEnabled reports whether v2 auth is on (GET /v2/auth/enable).
func (c *Client) AuthEnabled(ctx context.Context) (bool, error) {
	var out struct {
		Enabled bool `json:"enabled"`
	}
	if err := c.authJSON(ctx, http.MethodGet, "/v2/auth/enable", nil, &out); err != nil {
		return false, err
	}
	return out.Enabled, nil
}

// AddUser creates a user with a password and no roles. The v2 API cannot
// tell a new user from a password change: if the user exists, the server
// changes its password instead (raftkvctl user add asks GetUser first).
func (c *Client) AddUser(ctx context.Context, name, password string) error {
	return c.authJSON(ctx, http.MethodPut, authPath("users", name), &userBody{User: name, Password: password}, nil)
}

// GetUser returns a user and the names of its roles; ErrNotFound if there
// is none.
func (c *Client) GetUser(ctx context.Context, name string) (*User, error) {
	var u userReply
	if err := c.authJSON(ctx, http.MethodGet, authPath("users", name), nil, &u); err != nil {
		return nil, err
	}
	return u.user(), nil
}

// ListUsers returns the names of the users, in the server's order.
func (c *Client) ListUsers(ctx context.Context) ([]string, error) {
	var out struct {
		Users names `json:"users"`
	}
	if err := c.authJSON(ctx, http.MethodGet, "/v2/auth/users", nil, &out); err != nil {
		return nil, err
	}
	return []string(out.Users), nil
}

// RemoveUser removes a user.
func (c *Client) RemoveUser(ctx context.Context, name string) error {
	return c.authJSON(ctx, http.MethodDelete, authPath("users", name), nil, nil)
}

// ChangePassword sets an existing user's password and returns the user.
func (c *Client) ChangePassword(ctx context.Context, name, password string) (*User, error) {
	return c.modifyUser(ctx, &userBody{User: name, Password: password})
}

// GrantUser gives a user the roles and returns the user as changed.
func (c *Client) GrantUser(ctx context.Context, name string, roles []string) (*User, error) {
	return c.modifyUser(ctx, &userBody{User: name, Grant: roles})
}

// RevokeUser takes the roles from a user and returns the user as changed.
func (c *Client) RevokeUser(ctx context.Context, name string, roles []string) (*User, error) {
	return c.modifyUser(ctx, &userBody{User: name, Revoke: roles})
}

func (c *Client) modifyUser(ctx context.Context, body *userBody) (*User, error) {
	var u userReply
	if err := c.authJSON(ctx, http.MethodPut, authPath("users", body.User), body, &u); err != nil {
		return nil, err
	}
	if u.User == "" {
		u.User = body.User
	}
	return u.user(), nil
}

// AddRole creates a role with no permissions.
func (c *Client) AddRole(ctx context.Context, name string) error {
	return c.authJSON(ctx, http.MethodPut, authPath("roles", name), &roleBody{Role: name}, nil)
}

// GetRole returns a role and its permissions; ErrNotFound if there is none.
func (c *Client) GetRole(ctx context.Context, name string) (*Role, error) {
	var r Role
	if err := c.authJSON(ctx, http.MethodGet, authPath("roles", name), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListRoles returns the names of the roles, in the server's order.
func (c *Client) ListRoles(ctx context.Context) ([]string, error) {
	var out struct {
		Roles names `json:"roles"`
	}
	if err := c.authJSON(ctx, http.MethodGet, "/v2/auth/roles", nil, &out); err != nil {
		return nil, err
	}
	return []string(out.Roles), nil
}

// RemoveRole removes a role.
func (c *Client) RemoveRole(ctx context.Context, name string) error {
	return c.authJSON(ctx, http.MethodDelete, authPath("roles", name), nil, nil)
}

// GrantRoleKV lets a role read, write or both the keys the patterns match
// and returns the role as changed. Granting a pattern twice is ErrConflict.
func (c *Client) GrantRoleKV(ctx context.Context, name string, patterns []string, perm PermissionType) (*Role, error) {
	p, err := kvPermissions(patterns, perm)
	if err != nil {
		return nil, err
	}
	return c.modifyRole(ctx, &roleBody{Role: name, Grant: p})
}

// RevokeRoleKV takes the permissions back and returns the role as changed;
// revoking a pattern the role lacks changes nothing.
func (c *Client) RevokeRoleKV(ctx context.Context, name string, patterns []string, perm PermissionType) (*Role, error) {
	p, err := kvPermissions(patterns, perm)
	if err != nil {
		return nil, err
	}
	return c.modifyRole(ctx, &roleBody{Role: name, Revoke: p})
}

func kvPermissions(patterns []string, perm PermissionType) (*Permissions, error) {
	p := &Permissions{}
	switch perm {
	case ReadPermission:
		p.KV.Read = patterns
	case WritePermission:
		p.KV.Write = patterns
	case ReadWritePermission:
		p.KV.Read, p.KV.Write = patterns, patterns
	default:
		return nil, fmt.Errorf("client: unknown permission type %d", int(perm))
	}
	return p, nil
}

func (c *Client) modifyRole(ctx context.Context, body *roleBody) (*Role, error) {
	var r Role
	if err := c.authJSON(ctx, http.MethodPut, authPath("roles", body.Role), body, &r); err != nil {
		return nil, err
	}
	if r.Name == "" {
		r.Name = body.Role
	}
	return &r, nil
}
