package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/client/clienttest"
)

// The examples run against clienttest, a one-member raftkv in the test's
// process; point Endpoints at real members ("http://127.0.0.1:2379", ...) instead.
func newExampleServer() *clienttest.Server { return clienttest.NewServer() }

func Example() {
	srv := newExampleServer()
	defer srv.Close()

	c, err := client.New(client.Config{
		Endpoints:               []string{srv.URL},
		HeaderTimeoutPerRequest: 2 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	if _, err := c.Set(ctx, "/message", "Hello", nil); err != nil {
		log.Fatal(err)
	}
	resp, err := c.Get(ctx, "/message", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s = %s (modified at index %d)\n", resp.Node.Key, resp.Node.Value, resp.Node.ModifiedIndex)

	_, err = c.Get(ctx, "/missing", nil)
	fmt.Println(client.IsKeyNotFound(err), err)
	// Output:
	// /message = Hello (modified at index 3)
	// true 100: Key not found (/missing) [3]
}

// A compare-and-swap: the write succeeds only if nobody changed the key
// since it was read, so concurrent read-modify-write loops do not lose
// updates.
func ExampleClient_Set_compareAndSwap() {
	srv := newExampleServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})
	ctx := context.Background()

	c.Set(ctx, "/counter", "1", nil)
	resp, _ := c.Get(ctx, "/counter", nil)

	// Swap on the index we read: succeeds.
	_, err := c.Set(ctx, "/counter", "2", &client.SetOptions{PrevIndex: resp.Node.ModifiedIndex})
	fmt.Println("first swap:", err)

	// The same swap again: the key has moved on, so it fails with 101.
	_, err = c.Set(ctx, "/counter", "3", &client.SetOptions{PrevIndex: resp.Node.ModifiedIndex})
	fmt.Println("second swap:", client.IsCompareFailed(err))
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Message, e.Cause)
	}
	// Output:
	// first swap: <nil>
	// second swap: true
	// 101 Compare failed [3 != 4]
}

func ExampleClient_Create() {
	srv := newExampleServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})
	ctx := context.Background()

	_, err := c.Create(ctx, "/lock", "owner-a")
	fmt.Println("a:", err)
	_, err = c.Create(ctx, "/lock", "owner-b")
	fmt.Println("b:", client.IsNodeExist(err))
	// Output:
	// a: <nil>
	// b: true
}

func ExampleClient_Get_directory() {
	srv := newExampleServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})
	ctx := context.Background()

	c.Set(ctx, "/config/db/host", "10.0.0.7", nil)
	c.Set(ctx, "/config/db/port", "5432", nil)
	c.Set(ctx, "/config/debug", "false", nil)

	resp, err := c.Get(ctx, "/config", &client.GetOptions{Recursive: true, Sort: true})
	if err != nil {
		log.Fatal(err)
	}
	var walk func(n *client.Node)
	walk = func(n *client.Node) {
		for _, child := range n.Nodes {
			if child.Dir {
				fmt.Println(child.Key + "/")
				walk(child)
			} else {
				fmt.Println(child.Key, "=", child.Value)
			}
		}
	}
	walk(resp.Node)
	// Output:
	// /config/db/
	// /config/db/host = 10.0.0.7
	// /config/db/port = 5432
	// /config/debug = false
}

// In-order keys make a queue: names are the creation index, zero-padded, so
// they sort in the order the keys were made.
func ExampleClient_CreateInOrder() {
	srv := newExampleServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})
	ctx := context.Background()

	for _, job := range []string{"resize", "upload"} {
		resp, err := c.CreateInOrder(ctx, "/queue", job, nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(resp.Node.Key, resp.Node.Value)
	}
	// Output:
	// /queue/00000000000000000003 resize
	// /queue/00000000000000000004 upload
}

func ExampleClient_Delete() {
	srv := newExampleServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})
	ctx := context.Background()

	c.Set(ctx, "/jobs/a", "1", nil)
	_, err := c.Delete(ctx, "/jobs", nil)
	fmt.Println(errors.Is(err, client.ErrNotFile))

	resp, err := c.Delete(ctx, "/jobs", &client.DeleteOptions{Recursive: true})
	fmt.Println(resp.Action, resp.Node.Key, resp.Node.Dir, err)
	// Output:
	// true
	// delete /jobs true <nil>
}

// A watcher returns the changes in index order. With AfterIndex it starts
// from the server's history, so events made before the watch are seen too.
func ExampleClient_Watcher() {
	srv := newExampleServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})
	ctx := context.Background()

	before, _ := c.Set(ctx, "/app/name", "shop", nil)
	c.Set(ctx, "/app/mode", "blue", nil)
	c.Set(ctx, "/app/mode", "green", nil)
	c.Delete(ctx, "/app/mode", nil)

	w := c.Watcher("/app", &client.WatcherOptions{Recursive: true, AfterIndex: before.Index})
	for range 3 {
		ev, err := w.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("[%s] %s %q at %d\n", ev.Action, ev.Node.Key, ev.Node.Value, ev.Node.ModifiedIndex)
	}
	// Output:
	// [set] /app/mode "blue" at 4
	// [set] /app/mode "green" at 5
	// [delete] /app/mode "" at 6
}

// When the events a watcher needs have left the server's history (the last
// 1000 events of the whole cluster), Next fails with error 401. Recover by
// reading the current state and watching from the index of that read.
func ExampleIsEventIndexCleared() {
	srv := clienttest.NewServerHistory(2)
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})
	ctx := context.Background()

	for _, v := range []string{"a", "b", "c", "d"} {
		c.Set(ctx, "/k", v, nil)
	}
	w := c.Watcher("/k", &client.WatcherOptions{AfterIndex: 1})
	_, err := w.Next(ctx)
	fmt.Println(client.IsEventIndexCleared(err))

	resp, _ := c.Get(ctx, "/k", nil)
	fmt.Println("current:", resp.Node.Value)
	w = c.Watcher("/k", &client.WatcherOptions{AfterIndex: resp.Index})
	c.Set(ctx, "/k", "e", nil)
	ev, _ := w.Next(ctx)
	fmt.Println("next:", ev.Node.Value)
	// Output:
	// true
	// current: d
	// next: e
}

func ExampleClusterError() {
	// Nothing listens on these ports.
	c, _ := client.New(client.Config{Endpoints: []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}})
	_, err := c.Get(context.Background(), "/message", nil)
	fmt.Println(errors.Is(err, client.ErrClusterUnavailable))
	fmt.Println(err)
	// Output:
	// true
	// client: cluster is unavailable or misconfigured; tried http://127.0.0.1:1, http://127.0.0.1:2
}

func ExampleClient_Members() {
	srv := newExampleServer()
	defer srv.Close()
	c, _ := client.New(client.Config{Endpoints: []string{srv.URL}})

	ms, err := c.Members(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range ms {
		fmt.Println(m.ID, m.Name, m.PeerURLs)
	}
	// Output:
	// 8e9e05c52164694d default [http://localhost:2380]
}

// Setting up v2 auth: a root user, auth on, a role that may read and
// write /app/*, and a user with that role. Run it with credentials
// (Config.Username and Password), and over https with Config.TLS (see
// TLSConfigFromFiles) on a real network.
func ExampleClient_EnableAuth() {
	srv := newExampleServer()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	root, err := client.New(client.Config{Endpoints: []string{srv.URL}, Username: "root", Password: "rootpw"})
	if err != nil {
		log.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	must(root.AddUser(ctx, "root", "rootpw")) // enabling auth needs a root user
	must(root.EnableAuth(ctx))
	must(root.AddRole(ctx, "app"))
	role, err := root.GrantRoleKV(ctx, "app", []string{"/app/*"}, client.ReadWritePermission)
	must(err)
	fmt.Printf("role %s reads %v, writes %v\n", role.Name, role.Permissions.KV.Read, role.Permissions.KV.Write)
	must(root.AddUser(ctx, "alice", "s3cret"))
	user, err := root.GrantUser(ctx, "alice", []string{"app"})
	must(err)
	fmt.Printf("user %s has roles %v\n", user.Name, user.Roles)

	alice, err := client.New(client.Config{Endpoints: []string{srv.URL}, Username: "alice", Password: "s3cret"})
	must(err)
	_, err = alice.Set(ctx, "/app/config", "v1", nil)
	fmt.Println("alice writes /app/config:", err)
	_, err = alice.Set(ctx, "/other", "v1", nil)
	fmt.Println("alice writes /other:", client.IsUnauthorized(err), err)
	_, err = alice.ListUsers(ctx)
	fmt.Println("alice lists the users:", client.IsUnauthorized(err), err)
	err = root.AddRole(ctx, "app")
	fmt.Println("root adds app again:", errors.Is(err, client.ErrConflict), err)
	// Output:
	// role app reads [/app/*], writes [/app/*]
	// user alice has roles [app]
	// alice writes /app/config: <nil>
	// alice writes /other: true 110: The request requires user authentication (Insufficient credentials) [0]
	// alice lists the users: true Insufficient credentials
	// root adds app again: true auth: Role app already exists.
}
