package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"

	"github.com/raftkv/raftkv/kv"
)

// v2 auth (etcd 2.1+): users with bcrypt-hashed passwords, roles that
// grant read and write on key patterns, the built-in roles root and guest,
// and a switch that turns the checks on. The records live in the key space
// under a hidden directory of the reserved tree, so they travel through
// the log and snapshots like member records and every member agrees on
// them:
//
//	/_raftkv/_auth/enabled       "true" or "false"
//	/_raftkv/_auth/users/@<name> {"user","password":<bcrypt hash>,"roles"}
//	/_raftkv/_auth/roles/@<name> {"role","permissions":{"kv":{"read","write"}}}
//
// The "@" keeps a name that starts with "_" from becoming a hidden key.
// The directory's own name starts with "_", so listings and watches of
// /_raftkv never show it; reads of it through /v2/keys are refused (106),
// like all writes under /_raftkv.
const (
	authDir        = reservedDir + "/_auth"
	authEnabledKey = authDir + "/enabled"
	authUsersDir   = authDir + "/users"
	authRolesDir   = authDir + "/roles"

	// rootName is the user that must exist before auth can be enabled and
	// the built-in role that may do everything; guestRole is the role of
	// requests without credentials.
	rootName  = "root"
	guestRole = "guest"

	// maxCachedCreds bounds the cache of verified passwords (one entry a
	// user); it is emptied when full.
	maxCachedCreds = 4096
)

func authUserKey(name string) string { return authUsersDir + "/@" + name }
func authRoleKey(name string) string { return authRolesDir + "/@" + name }

// isAuthRecord reports whether a cleaned key path is in the auth records.
func isAuthRecord(p string) bool { return p == authDir || strings.HasPrefix(p, authDir+"/") }

// authUser is a user as stored (Password is the bcrypt hash) and as a PUT
// body carries it (Password in clear, Grant and Revoke for updates).
type authUser struct {
	User     string   `json:"user"`
	Password string   `json:"password,omitempty"`
	Roles    []string `json:"roles"`
	Grant    []string `json:"grant,omitempty"`
	Revoke   []string `json:"revoke,omitempty"`
}

// authRole is a role as stored and as a PUT body carries it.
type authRole struct {
	Role        string           `json:"role"`
	Permissions authPermissions  `json:"permissions"`
	Grant       *authPermissions `json:"grant,omitempty"`
	Revoke      *authPermissions `json:"revoke,omitempty"`
}

type authPermissions struct {
	KV rwPermission `json:"kv"`
}

func (p *authPermissions) isEmpty() bool {
	return p == nil || (len(p.KV.Read) == 0 && len(p.KV.Write) == 0)
}

// rwPermission lists the key patterns a role may read and write: an exact
// key, or a prefix followed by "*" ("/foo*" covers /foo, /foo/bar and
// /foobar; "*" alone covers every key).
type rwPermission struct {
	Read  []string `json:"read"`
	Write []string `json:"write"`
}

// allows reports whether one of the patterns for the access covers key.
// A recursive request (a recursive get, delete or watch of a directory)
// reaches every key below key, so only a prefix pattern whose prefix key
// starts with covers it; etcd's HasRecursiveAccess.
func (p rwPermission) allows(key string, write, recursive bool) bool {
	list := p.Read
	if write {
		list = p.Write
	}
	for _, pat := range list {
		prefix, isPrefix := strings.CutSuffix(pat, "*")
		switch {
		case isPrefix && strings.HasPrefix(key, prefix):
			return true
		case !isPrefix && !recursive && key == pat:
			return true
		}
	}
	return false
}

// rootRole is the built-in root role: never stored, cannot be changed.
var rootRole = authRole{Role: rootName, Permissions: authPermissions{KV: rwPermission{Read: []string{"/*"}, Write: []string{"/*"}}}}

// defaultGuestRole is what enabling auth creates when there is no guest
// role: full access, as before auth was on (etcd's backward compatibility).
var defaultGuestRole = authRole{Role: guestRole, Permissions: authPermissions{KV: rwPermission{Read: []string{"/*"}, Write: []string{"/*"}}}}

// storedUser is a user record with the index that last wrote it.
type storedUser struct {
	authUser
	modified uint64
}

func (u *storedUser) hasRole(name string) bool { return slices.Contains(u.Roles, name) }

type storedRole struct {
	authRole
	modified uint64
}

// authState is the auth records of the store at one moment; immutable once
// built.
type authState struct {
	enabled bool
	// enabledModified is the index of the enabled record (0 if none).
	enabledModified uint64
	users           map[string]*storedUser
	roles           map[string]*storedRole // stored roles; root is built in
}

// role returns a role by name, the built-in root included.
func (st *authState) role(name string) (authRole, bool) {
	if name == rootName {
		return rootRole, true
	}
	r, ok := st.roles[name]
	if !ok {
		return authRole{}, false
	}
	return r.authRole, true
}

// roleAllows reports whether the named role grants the access.
func (st *authState) roleAllows(name, key string, write, recursive bool) bool {
	if name == rootName {
		return true
	}
	r, ok := st.roles[name]
	return ok && r.Permissions.KV.allows(key, write, recursive)
}

// loadAuthState reads the auth records from the store.
func loadAuthState(s *kv.Store) *authState {
	st := &authState{users: map[string]*storedUser{}, roles: map[string]*storedRole{}}
	ev, err := s.Get(authDir, true, false)
	if err != nil || ev.Node == nil {
		return st
	}
	for _, n := range ev.Node.Nodes {
		switch path.Base(n.Key) {
		case "enabled":
			st.enabled = n.Value != nil && *n.Value == "true"
			st.enabledModified = n.ModifiedIndex
		case "users":
			for _, c := range n.Nodes {
				var u authUser
				if c.Value == nil || json.Unmarshal([]byte(*c.Value), &u) != nil {
					continue
				}
				if u.User == rootName && !slices.Contains(u.Roles, rootName) {
					// The root user always holds the root role (etcd's
					// attachRootRole).
					u.Roles = append(slices.Clone(u.Roles), rootName)
				}
				st.users[u.User] = &storedUser{authUser: u, modified: c.ModifiedIndex}
			}
		case "roles":
			for _, c := range n.Nodes {
				var r authRole
				if c.Value == nil || json.Unmarshal([]byte(*c.Value), &r) != nil {
					continue
				}
				st.roles[r.Role] = &storedRole{authRole: r, modified: c.ModifiedIndex}
			}
		}
	}
	return st
}

// authorizer answers the v2 auth questions of the client API from the
// member's store: is auth on, who is asking, may they do this.
//
// It keeps the auth records parsed in memory and re-reads them only when
// they change: a streaming watch on the auth directory receives each
// change while the change is applied (under the store's lock), so a
// request that arrives after a member applied a change finds the event
// waiting and sees the new records. A dropped watch (overflow, snapshot
// restore) also makes it re-read.
//
// Verified passwords are cached: bcrypt (deliberately ~50-100 ms) runs once
// per user and password, not on every request as in etcd. An entry holds
// a salted SHA-256 of the password and the index of the user record that
// verified it; it counts only while that record is unchanged, so a
// password change (or a deleted and re-created user) applied on a member
// invalidates it there, on every member.
type authorizer struct {
	store *kv.Store
	salt  [16]byte

	mu sync.Mutex
	// w watches authDir; nil until the first request and after the store
	// dropped it. invariant: while w is open, st reflects every auth
	// change up to the last event drained from w.
	w     *kv.Watcher
	st    *authState
	creds map[string]cachedCred // by user name
	// bcrypts counts bcrypt comparisons (cache misses), for tests.
	bcrypts atomic.Uint64
}

type cachedCred struct {
	sum      [sha256.Size]byte
	modified uint64 // index of the user record that verified it
}

func newAuthorizer(s *kv.Store) *authorizer {
	z := &authorizer{store: s, creds: map[string]cachedCred{}}
	_, _ = rand.Read(z.salt[:])
	return z
}

// state returns the current auth records.
func (z *authorizer) state() *authState {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.w != nil && !z.changed() {
		return z.st
	}
	if z.w == nil {
		// Watch first, then read: a change in between is seen twice
		// (read now, and as an event later), never missed.
		if w, err := z.store.Watch(authDir, true, true, 0); err == nil {
			z.w = w
		}
	}
	z.st = loadAuthState(z.store)
	return z.st
}

// changed drains the watch and reports whether the records changed since
// the last call (or the watch was dropped, which z.w == nil then says).
func (z *authorizer) changed() bool {
	changed := false
	for {
		select {
		case _, ok := <-z.w.Events():
			if !ok {
				z.w = nil
				return true
			}
			changed = true
		default:
			return changed
		}
	}
}

// identity is who a request says it is: a verified user, or a guest (user
// nil, ok true); ok false means credentials were given and are wrong.
func (z *authorizer) identity(st *authState, r *http.Request) (u *storedUser, ok bool) {
	if r.Header.Get("Authorization") == "" {
		if cn := certUser(r); cn != "" {
			if u := st.users[cn]; u != nil {
				return u, true
			}
		}
		return nil, true
	}
	name, password, ok := r.BasicAuth()
	if !ok {
		return nil, false
	}
	u = st.users[name]
	if u == nil || !z.checkPassword(u, password) {
		return nil, false
	}
	return u, true
}

// certUser is the user named by the request's client certificate: the
// common name of a certificate the TLS layer verified. Only a listener
// that verifies client certificates (--client-cert-auth) fills
// VerifiedChains, so a certificate is never taken on its word.
func certUser(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || len(r.TLS.VerifiedChains) == 0 {
		return ""
	}
	return r.TLS.PeerCertificates[0].Subject.CommonName
}

// checkPassword verifies password against u's bcrypt hash, through the
// cache.
func (z *authorizer) checkPassword(u *storedUser, password string) bool {
	h := sha256.New()
	h.Write(z.salt[:])
	h.Write([]byte(password))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	z.mu.Lock()
	c, hit := z.creds[u.User]
	z.mu.Unlock()
	if hit && c.modified == u.modified && subtle.ConstantTimeCompare(c.sum[:], sum[:]) == 1 {
		return true
	}
	z.bcrypts.Add(1)
	if bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(password)) != nil {
		return false
	}
	z.mu.Lock()
	if len(z.creds) >= maxCachedCreds {
		clear(z.creds)
	}
	z.creds[u.User] = cachedCred{sum: sum, modified: u.modified}
	z.mu.Unlock()
	return true
}

// allowKey reports whether r may read (GET, HEAD) or write (any other
// method) key, recursively or not: etcd's hasKeyPrefixAccess. With auth
// off, everything is allowed.
func (z *authorizer) allowKey(r *http.Request, key string, recursive bool) bool {
	if z == nil {
		return true
	}
	st := z.state()
	if !st.enabled {
		return true
	}
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	u, ok := z.identity(st, r)
	if !ok {
		return false
	}
	if u == nil {
		return st.roleAllows(guestRole, key, write, recursive)
	}
	for _, name := range u.Roles {
		if st.roleAllows(name, key, write, recursive) {
			return true
		}
	}
	return false
}

// allowRoot reports whether r comes from a user with the root role (or
// auth is off): the auth API and membership changes need it. A guest never
// has it.
func (z *authorizer) allowRoot(r *http.Request) bool {
	if z == nil {
		return true
	}
	st := z.state()
	if !st.enabled {
		return true
	}
	u, ok := z.identity(st, r)
	return ok && u != nil && u.hasRole(rootName)
}

// hashPassword is how passwords are stored: bcrypt, at --bcrypt-cost (by
// default bcrypt's default, as etcd).
func hashPassword(password string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(h), err
}
