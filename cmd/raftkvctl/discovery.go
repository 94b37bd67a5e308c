package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/raftkv/raftkv/client"
)

// discoveryCommand is raftkvctl's discovery service: any running cluster
// (raftkv or etcd) can hold the directories through which the members of
// new clusters find each other (raftkv --discovery), as
// discovery.etcd.io does for etcd.
func discoveryCommand() *command {
	return &command{
		name:     "discovery",
		usage:    "make discovery URLs for bootstrapping new clusters (raftkv --discovery)",
		examples: []string{"raftkv ... --discovery $(raftkvctl discovery new --size 3)"},
		sub:      []*command{discoveryNewCommand()},
	}
}

func discoveryNewCommand() *command {
	size := "3"
	return &command{
		name:  "new",
		usage: "create a discovery token for a new cluster and print its URL",
		desc: `Creates a new token directory /_etcd/registry/<random token> on the cluster
it talks to, with _config/size set to --size (the number of members of the
new cluster), and prints the discovery URL: the member that answered +
/v2/keys/_etcd/registry/<token>. Give that URL as --discovery to each of
the new cluster's members. A token bootstraps one cluster, once; members
beyond --size become proxies (or exit, with --discovery-fallback=exit).`,
		examples: []string{
			"raftkvctl discovery new --size 3",
			"DISCOVERY_URL=$(raftkvctl --endpoints http://10.0.0.9:2379 discovery new --size 5)",
		},
		flags: func(fs *flagSet) {
			fs.stringVar(&size, "size", "N", "number of members of the new cluster (default 3)")
		},
		run: func(a *app, args []string) int {
			if len(args) != 0 {
				return a.badArgs("discovery new takes no arguments (the size is --size)")
			}
			n, err := strconv.Atoi(size)
			if err != nil || n < 1 {
				return a.badArgs(fmt.Sprintf("--size %q: want the number of members, 1 or more", size))
			}
			b := make([]byte, 16)
			if _, err := rand.Read(b); err != nil {
				return a.fail(exitBadArgs, err)
			}
			token := hex.EncodeToString(b)
			dir := "/_etcd/registry/" + token
			return a.withClient(func(ctx context.Context, c *client.Client) int {
				resp, err := c.Set(ctx, dir+"/_config/size", strconv.Itoa(n), &client.SetOptions{PrevExist: client.PrevNoExist})
				if err != nil {
					return a.fail(exitServerError, err)
				}
				fmt.Fprintf(a.out, "%s/v2/keys%s\n", resp.Endpoint, dir)
				return exitSuccess
			})
		},
	}
}
