package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/server/node"
)

// The /v2/auth API, as etcd 2.3 serves it: /v2/auth/enable,
// /v2/auth/users[/name] and /v2/auth/roles[/name]. Everything but GET
// /v2/auth/enable needs the root role once auth is on (with auth off,
// anyone may manage users, which is how the root user gets created).
// Errors are {"message": "auth: ..."} with etcd's texts and statuses.
//
// Changes are read-modify-write on one record: the member reads the
// records at a linearizable point (ReadIndex), works out the new record
// and proposes it with prevIndex (or prevExist=false for a new one), so
// two concurrent grants on one user cannot lose each other: the loser's
// compare fails and it starts again from the newer record. Passwords are
// hashed here, once, before proposing; the log carries only hashes.

func (a *api) registerAuth(mux *http.ServeMux) {
	if a.auth == nil {
		return
	}
	mux.HandleFunc("/v2/auth/enable", a.serveAuthEnable)
	mux.HandleFunc("/v2/auth/users", a.serveAuthUsers)
	mux.HandleFunc("/v2/auth/users/", a.serveAuthUsers)
	mux.HandleFunc("/v2/auth/roles", a.serveAuthRoles)
	mux.HandleFunc("/v2/auth/roles/", a.serveAuthRoles)
}

// authError is a refusal of the auth API: its status and message.
type authError struct {
	status int
	msg    string
}

func (e *authError) Error() string { return e.msg }

// authErr is etcd's authErr: every message starts with "auth: ".
func authErr(status int, format string, args ...any) *authError {
	return &authError{status: status, msg: "auth: " + fmt.Sprintf(format, args...)}
}

// authRetries bounds how often a change starts again after losing a race
// for its record.
const authRetries = 16

var errAuthContention = errors.New("auth record changed concurrently too many times")

// writeNoAuth is the auth API's and /v2/members' 401. etcd sends no
// WWW-Authenticate; HTTP requires one with a 401, and it lets a browser
// (the dashboard) ask for credentials.
func writeNoAuth(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="raftkv"`)
	message(w, http.StatusUnauthorized, "Insufficient credentials")
}

// writeKeyNoAuth is /v2/keys' 401: v2 error 110. The dashboard's key
// browser asks for credentials with its own form, so its requests (marked
// X-Requested-With: raftkv-dashboard) get no WWW-Authenticate, which would
// make the browser open its own dialog; the page can then send its requests
// with the browser's credentials (a client certificate).
func (a *api) writeKeyNoAuth(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Requested-With") != dashboardRequester {
		w.Header().Set("WWW-Authenticate", `Basic realm="raftkv"`)
	}
	a.writeError(w, kv.NewError(kv.EcodeUnauthorized, "Insufficient credentials", 0))
}

// dashboardRequester marks the dashboard's own requests.
const dashboardRequester = "raftkv-dashboard"

// answerChange answers a change of the auth records that has no body to
// return: its error, or 200 with an empty JSON body, as etcd.
func (a *api) answerChange(w http.ResponseWriter, err error) {
	if err != nil {
		a.writeAuthError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
}

func (a *api) writeAuthError(w http.ResponseWriter, err error) {
	var ae *authError
	if errors.As(err, &ae) {
		message(w, ae.status, "%s", ae.msg)
		return
	}
	message(w, http.StatusInternalServerError, "Internal Server Error: %v", err)
}

// authMethod answers 405 unless r's method is one of ms (HEAD counts as
// GET).
func authMethod(w http.ResponseWriter, r *http.Request, ms ...string) bool {
	m := r.Method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	if slices.Contains(ms, m) {
		return true
	}
	w.Header().Set("Allow", strings.Join(ms, ","))
	http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	return false
}

// authState returns the auth records at a linearizable point.
func (a *api) authState(ctx context.Context) (*authState, error) {
	if err := a.b.ReadIndex(ctx); err != nil {
		return nil, err
	}
	return a.auth.state(), nil
}

// authUpdate runs change on linearizable records and proposes the command
// it returns (none: nothing to do). A lost race for the record (compare
// failed, created or deleted meanwhile) runs change again on the newer
// records, where it decides afresh.
func (a *api) authUpdate(ctx context.Context, change func(st *authState) (*kv.Command, error)) error {
	for range authRetries {
		st, err := a.authState(ctx)
		if err != nil {
			return err
		}
		cmd, err := change(st)
		if err != nil || cmd == nil {
			return err
		}
		res, err := a.b.Propose(ctx, cmd)
		if err != nil {
			return err
		}
		var ke *kv.Error
		switch {
		case res.Err == nil:
			return nil
		case errors.Is(res.Err, node.ErrProposalLost):
		case errors.As(res.Err, &ke) && (ke.Code == kv.EcodeTestFailed || ke.Code == kv.EcodeNodeExist || ke.Code == kv.EcodeKeyNotFound):
		default:
			return res.Err
		}
	}
	return errAuthContention
}

// authPrelude does what every auth endpoint does first: the method check,
// the root check (except for what needs none), the cluster id header.
func (a *api) authPrelude(w http.ResponseWriter, r *http.Request, needRoot bool, ms ...string) bool {
	a.metrics.httpRequests.WithLabelValues(r.Method).Inc()
	if !authMethod(w, r, ms...) {
		return false
	}
	if needRoot && !a.auth.allowRoot(r) {
		writeNoAuth(w)
		return false
	}
	w.Header().Set("X-Etcd-Cluster-Id", IDString(a.b.Status().ClusterID))
	return true
}

func (a *api) serveAuthEnable(w http.ResponseWriter, r *http.Request) {
	// GET is open; PUT and DELETE need root once auth is on (etcd's
	// hasWriteRootAccess).
	needRoot := r.Method != http.MethodGet && r.Method != http.MethodHead
	if !a.authPrelude(w, r, needRoot, http.MethodGet, http.MethodPut, http.MethodDelete) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.requestTimeout)
	defer cancel()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		st, err := a.authState(ctx)
		if err != nil {
			a.writeAuthError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"enabled": st.enabled})
	case http.MethodPut:
		ready := func(st *authState) error {
			if st.enabled {
				return authErr(http.StatusConflict, "already enabled")
			}
			if st.users[rootName] == nil {
				return authErr(http.StatusBadRequest, "No root user available, please create one")
			}
			return nil
		}
		// First the guest role, if there is none: full access, so turning
		// auth on changes nothing for clients without credentials until
		// root narrows it.
		err := a.authUpdate(ctx, func(st *authState) (*kv.Command, error) {
			if err := ready(st); err != nil || st.roles[guestRole] != nil {
				return nil, err
			}
			cmd := putJSON(authRoleKey(guestRole), defaultGuestRole)
			cmd.PrevExist = kv.Bool(false)
			return cmd, nil
		})
		if err == nil {
			err = a.authUpdate(ctx, func(st *authState) (*kv.Command, error) {
				if err := ready(st); err != nil {
					return nil, err
				}
				return setEnabled(st, true), nil
			})
		}
		a.answerChange(w, err)
	case http.MethodDelete:
		err := a.authUpdate(ctx, func(st *authState) (*kv.Command, error) {
			if !st.enabled {
				return nil, authErr(http.StatusConflict, "already disabled")
			}
			return setEnabled(st, false), nil
		})
		a.answerChange(w, err)
	}
}

// setEnabled is the command that turns auth on or off, conditional on the
// switch being as st saw it.
func setEnabled(st *authState, on bool) *kv.Command {
	cmd := &kv.Command{Method: kv.MethodPut, Path: authEnabledKey, Value: fmt.Sprint(on)}
	if st.enabledModified != 0 {
		cmd.PrevIndex = st.enabledModified
	} else {
		cmd.PrevExist = kv.Bool(false)
	}
	return cmd
}

// authName splits /v2/auth/<kind>[/<name>]: name is "" for the collection;
// ok is false (and a 400 written) for a deeper path.
func authName(w http.ResponseWriter, r *http.Request) (name string, ok bool) {
	pieces := strings.Split(path.Clean(strings.TrimPrefix(r.URL.Path, "/v2/auth")), "/")
	switch len(pieces) {
	case 2:
		return "", true
	case 3:
		return pieces[2], true
	}
	message(w, http.StatusBadRequest, "Invalid path")
	return "", false
}

// userWithRoles is a user as GET shows it: the roles in full.
type userWithRoles struct {
	User  string     `json:"user"`
	Roles []authRole `json:"roles,omitempty"`
}

func (st *authState) withRoles(u *storedUser) userWithRoles {
	out := userWithRoles{User: u.User}
	for _, name := range u.Roles {
		// A role deleted after it was granted is left out.
		if r, ok := st.role(name); ok {
			out.Roles = append(out.Roles, r.shown())
		}
	}
	return out
}

// shown is the role as the API answers with it: permissions only, lists
// never null.
func (r authRole) shown() authRole {
	out := authRole{Role: r.Role, Permissions: r.Permissions}
	if out.Permissions.KV.Read == nil {
		out.Permissions.KV.Read = []string{}
	}
	if out.Permissions.KV.Write == nil {
		out.Permissions.KV.Write = []string{}
	}
	return out
}

func (a *api) serveAuthUsers(w http.ResponseWriter, r *http.Request) {
	name, ok := authName(w, r)
	if !ok {
		return
	}
	if name == "" {
		if !a.authPrelude(w, r, true, http.MethodGet) {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), a.requestTimeout)
		defer cancel()
		st, err := a.authState(ctx)
		if err != nil {
			a.writeAuthError(w, err)
			return
		}
		users := []userWithRoles{}
		for _, n := range slices.Sorted(maps.Keys(st.users)) {
			users = append(users, st.withRoles(st.users[n]))
		}
		writeJSON(w, http.StatusOK, map[string]any{"users": users})
		return
	}
	if !a.authPrelude(w, r, true, http.MethodGet, http.MethodPut, http.MethodDelete) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.requestTimeout)
	defer cancel()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		st, err := a.authState(ctx)
		if err != nil {
			a.writeAuthError(w, err)
			return
		}
		u := st.users[name]
		if u == nil {
			a.writeAuthError(w, authErr(http.StatusNotFound, "User %s does not exist.", name))
			return
		}
		writeJSON(w, http.StatusOK, st.withRoles(u))
	case http.MethodPut:
		a.putUser(ctx, w, r, name)
	case http.MethodDelete:
		err := a.authUpdate(ctx, func(st *authState) (*kv.Command, error) {
			u := st.users[name]
			if u == nil {
				return nil, authErr(http.StatusNotFound, "User %s does not exist", name)
			}
			if name == rootName && st.enabled {
				return nil, authErr(http.StatusForbidden, "Cannot delete root user while auth is enabled.")
			}
			return &kv.Command{Method: kv.MethodDelete, Path: authUserKey(name), PrevIndex: u.modified}, nil
		})
		a.answerChange(w, err)
	}
}

// putUser creates a user, changes its password, or grants and revokes
// roles, deciding as etcd does from what the body holds: grant or revoke
// means update; roles mean create; a password alone creates or updates.
func (a *api) putUser(ctx context.Context, w http.ResponseWriter, r *http.Request, name string) {
	var in authUser
	if err := decodeBody(w, r, &in); err != nil {
		message(w, http.StatusBadRequest, "Invalid JSON in request body.")
		return
	}
	if in.User != name {
		message(w, http.StatusBadRequest, "User JSON name does not match the name in the URL")
		return
	}
	update := len(in.Grant) > 0 || len(in.Revoke) > 0
	if update && len(in.Roles) > 0 {
		message(w, http.StatusBadRequest, "User JSON contains both roles and grant/revoke")
		return
	}
	createOnly := !update && len(in.Roles) > 0
	var hash string
	if in.Password != "" {
		// Once, here, before proposing: the log and the store only ever
		// hold the hash.
		h, err := hashPassword(in.Password, a.bcryptCost)
		if err != nil {
			a.writeAuthError(w, err)
			return
		}
		hash = h
	}
	var out authUser
	created := false
	err := a.authUpdate(ctx, func(st *authState) (*kv.Command, error) {
		old := st.users[name]
		if old == nil {
			if update {
				return nil, authErr(http.StatusNotFound, "User %s doesn't exist.", name)
			}
			if hash == "" {
				return nil, authErr(http.StatusBadRequest, "Cannot create user %s with an empty password", name)
			}
			roles := slices.Clone(in.Roles)
			if name == rootName && !slices.Contains(roles, rootName) {
				roles = append(roles, rootName)
			}
			for _, role := range roles {
				if _, ok := st.role(role); !ok {
					return nil, authErr(http.StatusNotFound, "Role %s does not exist.", role)
				}
			}
			out, created = authUser{User: name, Roles: roles}, true
			cmd := putJSON(authUserKey(name), authUser{User: name, Password: hash, Roles: roles})
			cmd.PrevExist = kv.Bool(false)
			return cmd, nil
		}
		if createOnly {
			return nil, authErr(http.StatusConflict, "User %s already exists.", name)
		}
		next, err := old.merge(st, in, hash)
		if err != nil {
			return nil, err
		}
		out, created = authUser{User: name, Roles: next.Roles}, false
		cmd := putJSON(authUserKey(name), next)
		cmd.PrevIndex = old.modified
		return cmd, nil
	})
	if err != nil {
		a.writeAuthError(w, err)
		return
	}
	if out.Roles == nil {
		out.Roles = []string{}
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, out)
}

// merge applies a PUT's password (already hashed), grants and revokes to
// the stored user: etcd's User.merge.
func (u *storedUser) merge(st *authState, in authUser, hash string) (authUser, error) {
	next := authUser{User: u.User, Password: u.Password, Roles: slices.Clone(u.Roles)}
	if hash != "" {
		next.Password = hash
	}
	for _, g := range in.Grant {
		if slices.Contains(next.Roles, g) {
			return authUser{}, authErr(http.StatusConflict, "Granting duplicate role %s for user %s", g, u.User)
		}
		if _, ok := st.role(g); !ok {
			return authUser{}, authErr(http.StatusNotFound, "Role %s does not exist.", g)
		}
		next.Roles = append(next.Roles, g)
	}
	for _, rv := range in.Revoke {
		i := slices.Index(next.Roles, rv)
		if i < 0 {
			return authUser{}, authErr(http.StatusConflict, "Revoking ungranted role %s for user %s", rv, u.User)
		}
		next.Roles = slices.Delete(next.Roles, i, i+1)
	}
	slices.Sort(next.Roles)
	old := slices.Sorted(slices.Values(u.Roles))
	if hash == "" && slices.Equal(old, next.Roles) {
		return authUser{}, authErr(http.StatusBadRequest, "User not updated. Use grant/revoke/password to update the user.")
	}
	return next, nil
}

func (a *api) serveAuthRoles(w http.ResponseWriter, r *http.Request) {
	name, ok := authName(w, r)
	if !ok {
		return
	}
	if name == "" {
		if !a.authPrelude(w, r, true, http.MethodGet) {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), a.requestTimeout)
		defer cancel()
		st, err := a.authState(ctx)
		if err != nil {
			a.writeAuthError(w, err)
			return
		}
		names := append(slices.Collect(maps.Keys(st.roles)), rootName)
		slices.Sort(names)
		roles := []authRole{}
		for _, n := range slices.Compact(names) {
			r, _ := st.role(n)
			roles = append(roles, r.shown())
		}
		writeJSON(w, http.StatusOK, map[string]any{"roles": roles})
		return
	}
	if !a.authPrelude(w, r, true, http.MethodGet, http.MethodPut, http.MethodDelete) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.requestTimeout)
	defer cancel()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		st, err := a.authState(ctx)
		if err != nil {
			a.writeAuthError(w, err)
			return
		}
		role, ok := st.role(name)
		if !ok {
			a.writeAuthError(w, authErr(http.StatusNotFound, "Role %s does not exist.", name))
			return
		}
		writeJSON(w, http.StatusOK, role.shown())
	case http.MethodPut:
		a.putRole(ctx, w, r, name)
	case http.MethodDelete:
		if name == rootName {
			a.writeAuthError(w, authErr(http.StatusForbidden, "Cannot modify role %s: is root role.", name))
			return
		}
		err := a.authUpdate(ctx, func(st *authState) (*kv.Command, error) {
			old := st.roles[name]
			if old == nil {
				return nil, authErr(http.StatusNotFound, "Role %s doesn't exist.", name)
			}
			return &kv.Command{Method: kv.MethodDelete, Path: authRoleKey(name), PrevIndex: old.modified}, nil
		})
		a.answerChange(w, err)
	}
}

// putRole creates a role with its permissions, or grants and revokes
// permissions of an existing one (etcd: a body with grant or revoke is an
// update, anything else a create).
func (a *api) putRole(ctx context.Context, w http.ResponseWriter, r *http.Request, name string) {
	var in authRole
	if err := decodeBody(w, r, &in); err != nil {
		message(w, http.StatusBadRequest, "Invalid JSON in request body.")
		return
	}
	if in.Role != name {
		message(w, http.StatusBadRequest, "Role JSON name does not match the name in the URL")
		return
	}
	update := !in.Grant.isEmpty() || !in.Revoke.isEmpty()
	if update && !in.Permissions.isEmpty() {
		message(w, http.StatusBadRequest, "Role JSON contains both permissions and grant/revoke")
		return
	}
	if name == rootName {
		a.writeAuthError(w, authErr(http.StatusForbidden, "Cannot modify role %s: is root role.", name))
		return
	}
	var out authRole
	err := a.authUpdate(ctx, func(st *authState) (*kv.Command, error) {
		old := st.roles[name]
		if !update {
			if old != nil {
				return nil, authErr(http.StatusConflict, "Role %s already exists.", name)
			}
			out = authRole{Role: name, Permissions: in.Permissions}.shown()
			cmd := putJSON(authRoleKey(name), out)
			cmd.PrevExist = kv.Bool(false)
			return cmd, nil
		}
		if old == nil {
			return nil, authErr(http.StatusNotFound, "Role %s doesn't exist.", name)
		}
		next, err := old.merge(in)
		if err != nil {
			return nil, err
		}
		out = next
		cmd := putJSON(authRoleKey(name), next)
		cmd.PrevIndex = old.modified
		return cmd, nil
	})
	if err != nil {
		a.writeAuthError(w, err)
		return
	}
	status := http.StatusOK
	if !update {
		status = http.StatusCreated
	}
	writeJSON(w, status, out)
}

// merge applies a PUT's grants and revokes to the stored role: etcd's
// Role.merge. Granting a pattern the role has is a conflict; revoking one
// it lacks is ignored.
func (r *storedRole) merge(in authRole) (authRole, error) {
	cur := r.Permissions.KV
	read, write := slices.Clone(cur.Read), slices.Clone(cur.Write)
	if in.Grant != nil {
		for _, p := range in.Grant.KV.Read {
			if slices.Contains(read, p) {
				return authRole{}, authErr(http.StatusConflict, "Granting duplicate read permission %s", p)
			}
			read = append(read, p)
		}
		for _, p := range in.Grant.KV.Write {
			if slices.Contains(write, p) {
				return authRole{}, authErr(http.StatusConflict, "Granting duplicate write permission %s", p)
			}
			write = append(write, p)
		}
	}
	if in.Revoke != nil {
		read = slices.DeleteFunc(read, func(p string) bool { return slices.Contains(in.Revoke.KV.Read, p) })
		write = slices.DeleteFunc(write, func(p string) bool { return slices.Contains(in.Revoke.KV.Write, p) })
	}
	slices.Sort(read)
	slices.Sort(write)
	next := authRole{Role: r.Role, Permissions: authPermissions{KV: rwPermission{Read: read, Write: write}}}.shown()
	if slices.Equal(slices.Sorted(slices.Values(cur.Read)), next.Permissions.KV.Read) &&
		slices.Equal(slices.Sorted(slices.Values(cur.Write)), next.Permissions.KV.Write) {
		return authRole{}, authErr(http.StatusBadRequest, "Role not updated. Use grant/revoke to update the role.")
	}
	return next, nil
}
