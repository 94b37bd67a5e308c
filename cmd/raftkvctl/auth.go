package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"reflect"
	"sort"
	"strings"

	"github.com/raftkv/raftkv/client"
)

// The v2 auth commands: user, role and auth, as etcdctl v2's. Their errors
// are the server's message alone on stderr, with exit 1; a cluster that
// cannot be reached at all exits 2 as the key commands do.

// authFail ends an auth command that got err.
func (a *app) authFail(err error) int {
	if isConnectionError(err) {
		return a.fail(exitBadConnection, err)
	}
	return a.memberError(err.Error())
}

// authCall runs fn with a synced client, after checking that args is one
// name (or none, when what is ""); missing is the message for a bad count.
func (a *app) authCall(args []string, missing string, fn func(ctx context.Context, c *client.Client, name string) int) int {
	name := ""
	if missing == "" {
		if len(args) != 0 {
			return a.memberError("No arguments accepted")
		}
	} else {
		if len(args) != 1 {
			return a.memberError(missing)
		}
		name = args[0]
	}
	return a.withClient(func(ctx context.Context, c *client.Client) int { return fn(ctx, c, name) })
}

const (
	needUser = "Please provide a username"
	needRole = "Please provide a role name"
)

func userCommand() *command {
	return &command{
		name:  "user",
		usage: "add, list and remove users; grant and revoke their roles",
		examples: []string{
			"raftkvctl user add root",
			"raftkvctl -u root user add alice:s3cret",
			"raftkvctl -u root user grant alice --roles app-reader,app-writer",
			"raftkvctl -u root user get alice",
		},
		sub: []*command{userAddCommand(), userGetCommand(), userListCommand(), userRemoveCommand(),
			userGrantCommand(), userRevokeCommand(), userPasswdCommand()},
	}
}

func userAddCommand() *command {
	return &command{
		name:  "add",
		usage: "add a user",
		args:  "<user>[:<password>]",
		desc: `Creates a user with no roles and prints "User <user> created". Without
":<password>" it asks for the password ("New password: "): on the terminal
without echo, or as the next line of stdin when stdin is not a terminal.
An existing user is an error (the v2 API would change its password).`,
		examples: []string{"raftkvctl user add root", "echo s3cret | raftkvctl -u root:pw user add alice"},
		run: func(a *app, args []string) int {
			return a.authCall(args, needUser, func(ctx context.Context, c *client.Client, arg string) int {
				name, pw, hasPW := strings.Cut(arg, ":")
				if _, err := c.GetUser(ctx, name); err == nil {
					return a.memberError(fmt.Sprintf("User %s already exists", name))
				} else if !errors.Is(err, client.ErrNotFound) {
					return a.authFail(err)
				}
				if !hasPW {
					var err error
					if pw, err = a.readSecret("New password: "); err != nil {
						return a.memberError("Error reading password: " + err.Error())
					}
				}
				if err := c.AddUser(ctx, name, pw); err != nil {
					return a.authFail(err)
				}
				fmt.Fprintf(a.out, "User %s created\n", name)
				return exitSuccess
			})
		},
	}
}

func userGetCommand() *command {
	return &command{
		name:     "get",
		usage:    "show a user and its roles",
		args:     "<user>",
		desc:     `Prints "User: <user>" and "Roles: <role> <role>...".`,
		examples: []string{"raftkvctl -u root user get alice"},
		run: func(a *app, args []string) int {
			return a.authCall(args, needUser, func(ctx context.Context, c *client.Client, name string) int {
				u, err := c.GetUser(ctx, name)
				if err != nil {
					return a.authFail(err)
				}
				fmt.Fprintf(a.out, "User: %s\nRoles: %s\n", u.Name, strings.Join(u.Roles, " "))
				return exitSuccess
			})
		},
	}
}

func userListCommand() *command {
	return &command{
		name:     "list",
		usage:    "list the users",
		desc:     "Prints the name of every user, one a line, in order.",
		examples: []string{"raftkvctl -u root user list"},
		run: func(a *app, args []string) int {
			return a.authCall(args, "", func(ctx context.Context, c *client.Client, _ string) int {
				users, err := c.ListUsers(ctx)
				if err != nil {
					return a.authFail(err)
				}
				sort.Strings(users)
				for _, u := range users {
					fmt.Fprintln(a.out, u)
				}
				return exitSuccess
			})
		},
	}
}

func userRemoveCommand() *command {
	return &command{
		name:     "remove",
		usage:    "remove a user",
		args:     "<user>",
		examples: []string{"raftkvctl -u root user remove alice"},
		run: func(a *app, args []string) int {
			return a.authCall(args, needUser, func(ctx context.Context, c *client.Client, name string) int {
				if err := c.RemoveUser(ctx, name); err != nil {
					return a.authFail(err)
				}
				fmt.Fprintf(a.out, "User %s removed\n", name)
				return exitSuccess
			})
		},
	}
}

func userGrantCommand() *command  { return userRolesCommand(true) }
func userRevokeCommand() *command { return userRolesCommand(false) }

// userRolesCommand is user grant and user revoke.
func userRolesCommand(grant bool) *command {
	var roles []string
	cmd := &command{
		name:  "grant",
		usage: "grant roles to a user",
		args:  "<user>",
		desc:  `Gives the user the roles of --roles and prints "User <user> updated".`,
		flags: func(fs *flagSet) {
			fs.listVar(&roles, "roles", "role[,role...]", "the roles to grant or revoke (the flag may be repeated)")
		},
		examples: []string{"raftkvctl -u root user grant alice --roles app-reader,app-writer"},
	}
	if !grant {
		cmd.name, cmd.usage = "revoke", "revoke roles from a user"
		cmd.desc = `Takes the roles of --roles from the user and prints "User <user> updated".`
		cmd.examples = []string{"raftkvctl -u root user revoke alice --roles app-writer"}
	}
	cmd.run = func(a *app, args []string) int {
		if len(roles) == 0 {
			return a.memberError("No roles specified; please use `--roles`")
		}
		return a.authCall(args, needUser, func(ctx context.Context, c *client.Client, name string) int {
			if _, err := c.GetUser(ctx, name); err != nil {
				return a.authFail(err)
			}
			var err error
			if grant {
				_, err = c.GrantUser(ctx, name, roles)
			} else {
				_, err = c.RevokeUser(ctx, name, roles)
			}
			if err != nil {
				return a.authFail(err)
			}
			fmt.Fprintf(a.out, "User %s updated\n", name)
			return exitSuccess
		})
	}
	return cmd
}

func userPasswdCommand() *command {
	return &command{
		name:  "passwd",
		usage: "change a user's password",
		args:  "<user>",
		desc: `Asks for the new password ("New password: ", on the terminal without
echo, or the next line of stdin), sets it and prints "Password updated".`,
		examples: []string{"raftkvctl -u root user passwd alice"},
		run: func(a *app, args []string) int {
			return a.authCall(args, needUser, func(ctx context.Context, c *client.Client, name string) int {
				if _, err := c.GetUser(ctx, name); err != nil {
					return a.authFail(err)
				}
				pw, err := a.readSecret("New password: ")
				if err != nil {
					return a.memberError("Error reading password: " + err.Error())
				}
				if _, err := c.ChangePassword(ctx, name, pw); err != nil {
					return a.authFail(err)
				}
				fmt.Fprintln(a.out, "Password updated")
				return exitSuccess
			})
		},
	}
}

func roleCommand() *command {
	return &command{
		name:  "role",
		usage: "add, list and remove roles; grant and revoke their permissions",
		examples: []string{
			"raftkvctl -u root role add app-reader",
			"raftkvctl -u root role grant app-reader --path '/app/*' --read",
			"raftkvctl -u root role get app-reader",
		},
		sub: []*command{roleAddCommand(), roleGetCommand(), roleListCommand(), roleRemoveCommand(),
			roleGrantCommand(), roleRevokeCommand()},
	}
}

func roleAddCommand() *command {
	return &command{
		name:     "add",
		usage:    "add a role",
		args:     "<role>",
		desc:     `Creates a role with no permissions and prints "Role <role> created".`,
		examples: []string{"raftkvctl -u root role add app-reader"},
		run: func(a *app, args []string) int {
			return a.authCall(args, needRole, func(ctx context.Context, c *client.Client, name string) int {
				if _, err := c.GetRole(ctx, name); err == nil {
					return a.memberError(fmt.Sprintf("Role %s already exists", name))
				} else if !errors.Is(err, client.ErrNotFound) {
					return a.authFail(err)
				}
				if err := c.AddRole(ctx, name); err != nil {
					return a.authFail(err)
				}
				fmt.Fprintf(a.out, "Role %s created\n", name)
				return exitSuccess
			})
		},
	}
}

func roleGetCommand() *command {
	return &command{
		name:  "get",
		usage: "show a role and its permissions",
		args:  "<role>",
		desc: `Prints "Role: <role>", then "KV Read:" and "KV Write:", each followed by
its key patterns, one a line, indented by a tab.`,
		examples: []string{"raftkvctl -u root role get app-reader"},
		run: func(a *app, args []string) int {
			return a.authCall(args, needRole, func(ctx context.Context, c *client.Client, name string) int {
				r, err := c.GetRole(ctx, name)
				if err != nil {
					return a.authFail(err)
				}
				fmt.Fprintf(a.out, "Role: %s\nKV Read:\n", r.Name)
				for _, p := range r.Permissions.KV.Read {
					fmt.Fprintf(a.out, "\t%s\n", p)
				}
				fmt.Fprintln(a.out, "KV Write:")
				for _, p := range r.Permissions.KV.Write {
					fmt.Fprintf(a.out, "\t%s\n", p)
				}
				return exitSuccess
			})
		},
	}
}

func roleListCommand() *command {
	return &command{
		name:     "list",
		usage:    "list the roles",
		desc:     "Prints the name of every role, one a line, in order; root and guest included.",
		examples: []string{"raftkvctl -u root role list"},
		run: func(a *app, args []string) int {
			return a.authCall(args, "", func(ctx context.Context, c *client.Client, _ string) int {
				roles, err := c.ListRoles(ctx)
				if err != nil {
					return a.authFail(err)
				}
				sort.Strings(roles)
				for _, r := range roles {
					fmt.Fprintln(a.out, r)
				}
				return exitSuccess
			})
		},
	}
}

func roleRemoveCommand() *command {
	return &command{
		name:     "remove",
		usage:    "remove a role",
		args:     "<role>",
		examples: []string{"raftkvctl -u root role remove app-reader"},
		run: func(a *app, args []string) int {
			return a.authCall(args, needRole, func(ctx context.Context, c *client.Client, name string) int {
				if err := c.RemoveRole(ctx, name); err != nil {
					return a.authFail(err)
				}
				fmt.Fprintf(a.out, "Role %s removed\n", name)
				return exitSuccess
			})
		},
	}
}

func roleGrantCommand() *command  { return rolePermsCommand(true) }
func roleRevokeCommand() *command { return rolePermsCommand(false) }

// rolePermsCommand is role grant and role revoke.
func rolePermsCommand(grant bool) *command {
	var pattern string
	var read, write, rw bool
	verb, done := "grant", "granted"
	if !grant {
		verb, done = "revoke", "revoked"
	}
	cmd := &command{
		name:  verb,
		usage: "grant a role read or write access to keys",
		args:  "<role>",
		desc: `Lets the role read (--read), write (--write) or both (--readwrite) the
keys --path matches: an exact key, or a prefix ending in "*" ("/app/*" is
/app/ and everything below it). Prints "Role <role> updated".`,
		flags: func(fs *flagSet) {
			fs.stringVar(&pattern, "path", "pattern", "the key, or the prefix ending in *, to "+verb)
			fs.boolVar(&read, "read", verb+" read access")
			fs.boolVar(&write, "write", verb+" write access")
			fs.boolVar(&rw, "readwrite,rw", verb+" read and write access")
		},
		examples: []string{
			"raftkvctl -u root role grant app-reader --path '/app/*' --read",
			"raftkvctl -u root role grant app-writer --path /app/config --readwrite",
		},
	}
	if !grant {
		cmd.usage = "revoke a role's access to keys"
		cmd.desc = `Takes back the read (--read), write (--write) or both (--readwrite)
permission on the pattern --path names, written as it was granted, and
prints "Role <role> updated". A role that had none of it is an error.`
		cmd.examples = []string{"raftkvctl -u root role revoke app-reader --path '/app/*' --read"}
	}
	cmd.run = func(a *app, args []string) int {
		if pattern == "" {
			return a.memberError("No path specified; please use `--path`")
		}
		if p := canonicalPath(pattern); p != pattern {
			return a.memberError(fmt.Sprintf("Not canonical path; please use `--path=%s`", p))
		}
		var perm client.PermissionType
		n := 0
		for _, f := range []struct {
			set  bool
			perm client.PermissionType
		}{{read, client.ReadPermission}, {write, client.WritePermission}, {rw, client.ReadWritePermission}} {
			if f.set {
				n++
				perm = f.perm
			}
		}
		if n != 1 {
			return a.memberError("Please specify exactly one of --read, --write or --readwrite")
		}
		return a.authCall(args, needRole, func(ctx context.Context, c *client.Client, name string) int {
			before, err := c.GetRole(ctx, name)
			if err != nil {
				return a.authFail(err)
			}
			var after *client.Role
			if grant {
				after, err = c.GrantRoleKV(ctx, name, []string{pattern}, perm)
			} else {
				after, err = c.RevokeRoleKV(ctx, name, []string{pattern}, perm)
			}
			if err != nil {
				return a.authFail(err)
			}
			if reflect.DeepEqual(before, after) {
				fmt.Fprintf(a.out, "Role unchanged; already %s\n", done)
			}
			fmt.Fprintf(a.out, "Role %s updated\n", name)
			return exitSuccess
		})
	}
	return cmd
}

// canonicalPath is p as etcdctl wants a --path: rooted, cleaned, with a
// trailing slash kept.
func canonicalPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

func authCommand() *command {
	return &command{
		name:  "auth",
		usage: "turn v2 auth on or off",
		examples: []string{
			"raftkvctl user add root",
			"raftkvctl auth enable",
			"raftkvctl -u root auth disable",
		},
		sub: []*command{authEnableCommand(), authDisableCommand()},
	}
}

func authEnableCommand() *command {
	return &command{
		name:  "enable",
		usage: "turn auth on",
		desc: `Turns v2 auth on and prints "Authentication Enabled". The root user must
exist (user add root). From then on a request without credentials acts as
the guest role, which may read and write everything until its
permissions are revoked.`,
		examples: []string{"raftkvctl auth enable"},
		run:      func(a *app, args []string) int { return a.authSwitch(args, true) },
	}
}

func authDisableCommand() *command {
	return &command{
		name:     "disable",
		usage:    "turn auth off",
		desc:     `Turns v2 auth off (it needs root) and prints "Authentication Disabled".`,
		examples: []string{"raftkvctl -u root auth disable"},
		run:      func(a *app, args []string) int { return a.authSwitch(args, false) },
	}
}

func (a *app) authSwitch(args []string, on bool) int {
	return a.authCall(args, "", func(ctx context.Context, c *client.Client, _ string) int {
		var err error
		if on {
			err = c.EnableAuth(ctx)
		} else {
			err = c.DisableAuth(ctx)
		}
		if err != nil {
			return a.authFail(err)
		}
		if on {
			fmt.Fprintln(a.out, "Authentication Enabled")
		} else {
			fmt.Fprintln(a.out, "Authentication Disabled")
		}
		return exitSuccess
	})
}
