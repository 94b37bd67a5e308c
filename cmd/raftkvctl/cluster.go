package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/raftkv/raftkv/client"
)

func memberCommand() *command {
	return &command{
		name:  "member",
		usage: "list, add, remove and update members",
		examples: []string{
			"raftkvctl member list",
			"raftkvctl member add n4 http://10.0.0.4:2380",
			"raftkvctl member remove 8e9e05c52164694d",
			"raftkvctl member update 8e9e05c52164694d http://10.0.0.5:2380",
		},
		sub: []*command{memberListCommand(), memberAddCommand(), memberRemoveCommand(), memberUpdateCommand()},
	}
}

func memberListCommand() *command {
	return &command{
		name:  "list",
		usage: "list the members",
		desc: `Prints one line per member: "<id>: name=<name> peerURLs=<urls>
clientURLs=<urls> isLeader=<bool>"; a member added but not started yet
prints "<id>[unstarted]: peerURLs=<urls>". -o json prints the members as
JSON, each with isLeader.`,
		examples: []string{"raftkvctl member list"},
		run: func(a *app, args []string) int {
			if len(args) != 0 {
				return a.memberError("No arguments accepted")
			}
			return a.withClient(func(ctx context.Context, c *client.Client) int {
				members, err := c.Members(ctx)
				if err != nil {
					return a.memberError(err.Error())
				}
				sortMembers(members)
				leader, err := c.Leader(ctx)
				if err != nil {
					return a.memberError("Failed to get leader: " + err.Error())
				}
				if a.output == "json" {
					type member struct {
						client.Member
						IsLeader bool `json:"isLeader"`
					}
					out := []member{}
					for _, m := range members {
						out = append(out, member{m, m.ID == leader.ID})
					}
					a.printJSON(map[string]any{"members": out})
					return exitSuccess
				}
				for _, m := range members {
					if m.Name == "" {
						fmt.Fprintf(a.out, "%s[unstarted]: peerURLs=%s\n", m.ID, strings.Join(m.PeerURLs, ","))
						continue
					}
					fmt.Fprintf(a.out, "%s: name=%s peerURLs=%s clientURLs=%s isLeader=%v\n",
						m.ID, m.Name, strings.Join(m.PeerURLs, ","), strings.Join(m.ClientURLs, ","), m.ID == leader.ID)
				}
				return exitSuccess
			})
		},
	}
}

// sortMembers orders members by name, then the unstarted ones by ID, so
// the output is the same whatever order the server lists them in.
func sortMembers(ms []client.Member) {
	sort.Slice(ms, func(i, j int) bool {
		a, b := ms[i], ms[j]
		if (a.Name == "") != (b.Name == "") {
			return a.Name != ""
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
}

// memberError ends a member command as etcdctl does: the message alone on
// stderr, exit 1.
func (a *app) memberError(msg string) int {
	fmt.Fprintln(a.err, msg)
	return exitBadArgs
}

func memberAddCommand() *command {
	return &command{
		name:  "add",
		usage: "add a member",
		args:  "<name> <peerURL>",
		desc: `Adds a member that will listen for peers on <peerURL>, and prints its ID
and the settings to start it with (as environment variables, and as flags).
Start the new member promptly: until it runs, it counts towards the quorum
without voting.`,
		examples: []string{"raftkvctl member add n4 http://10.0.0.4:2380"},
		run: func(a *app, args []string) int {
			if len(args) != 2 {
				return a.memberError("Provide a name and a single member peerURL")
			}
			name, peerURL := args[0], args[1]
			return a.withClient(func(ctx context.Context, c *client.Client) int {
				m, err := c.AddMember(ctx, []string{peerURL})
				if err != nil {
					return a.memberError(err.Error())
				}
				fmt.Fprintf(a.out, "Added member named %s with ID %s to cluster\n", name, m.ID)
				members, err := c.Members(ctx)
				if err != nil {
					return a.memberError(err.Error())
				}
				var conf []string
				for _, mm := range members {
					n := mm.Name
					if mm.ID == m.ID {
						n = name
					}
					for _, u := range mm.PeerURLs {
						conf = append(conf, n+"="+u)
					}
				}
				sort.Strings(conf)
				cluster := strings.Join(conf, ",")
				fmt.Fprintf(a.out, "\nRAFTKV_NAME=%q\nRAFTKV_INITIAL_CLUSTER=%q\nRAFTKV_INITIAL_CLUSTER_STATE=\"existing\"\n", name, cluster)
				fmt.Fprintf(a.out, "\nor, as flags:\n  raftkv --name %s --initial-advertise-peer-urls %s --listen-peer-urls %s \\\n    --initial-cluster %s --initial-cluster-state existing\n", name, peerURL, peerURL, cluster)
				return exitSuccess
			})
		},
	}
}

func memberRemoveCommand() *command {
	return &command{
		name:     "remove",
		usage:    "remove a member",
		args:     "<memberID>",
		desc:     "Removes the member with the hex ID <memberID> (see member list). Given a name, it names the ID to use.",
		examples: []string{"raftkvctl member remove 8e9e05c52164694d"},
		run: func(a *app, args []string) int {
			if len(args) != 1 {
				return a.memberError("Provide a single member ID")
			}
			id := args[0]
			return a.withClient(func(ctx context.Context, c *client.Client) int {
				members, err := c.Members(ctx)
				if err != nil {
					return a.memberError("Error while verifying ID against known members: " + err.Error())
				}
				found := false
				for _, m := range members {
					if m.ID == id {
						found = true
					}
					if m.Name == id {
						fmt.Fprintf(a.err, "Found a member named %s; if this is correct, please use its ID, eg:\n\traftkvctl member remove %s\n\n", m.Name, m.ID)
					}
				}
				if !found {
					return a.memberError(fmt.Sprintf("Couldn't find a member in the cluster with an ID of %s.", id))
				}
				if err := c.RemoveMember(ctx, id); err != nil {
					return a.memberError(fmt.Sprintf("Received an error trying to remove member %s: %s", id, err))
				}
				fmt.Fprintf(a.out, "Removed member %s from cluster\n", id)
				return exitSuccess
			})
		},
	}
}

func memberUpdateCommand() *command {
	return &command{
		name:     "update",
		usage:    "update a member's peer URLs",
		args:     "<memberID> <peerURLs>",
		desc:     "Replaces the peer URLs (comma-separated) of the member with the hex ID <memberID>.",
		examples: []string{"raftkvctl member update 8e9e05c52164694d http://10.0.0.5:2380"},
		run: func(a *app, args []string) int {
			if len(args) != 2 {
				return a.memberError("Provide an ID and a list of comma separated peerURL (0xabcd http://example.com,http://example1.com)")
			}
			return a.withClient(func(ctx context.Context, c *client.Client) int {
				if err := c.UpdateMember(ctx, args[0], strings.Split(args[1], ",")); err != nil {
					return a.memberError(err.Error())
				}
				fmt.Fprintf(a.out, "Updated member with ID %s in cluster\n", args[0])
				return exitSuccess
			})
		},
	}
}

func clusterHealthCommand() *command {
	var forever bool
	return &command{
		name:  "cluster-health",
		usage: "check the health of every member",
		desc: `Lists the members, asks each one's /health, and prints a line per
member and a summary: "cluster is healthy" (exit 0), "cluster is degraded"
(some members unhealthy or unreachable) or "cluster is unavailable" (none
healthy); both exit 5. --forever checks again every 10 seconds until
Ctrl-C.`,
		examples: []string{"raftkvctl cluster-health", "raftkvctl cluster-health --forever"},
		flags:    func(fs *flagSet) { fs.boolVar(&forever, "forever,f", "check every 10 seconds until Ctrl-C") },
		run: func(a *app, args []string) int {
			c, code := a.newClient(false)
			if c == nil {
				return code
			}
			ctx, cancel := a.commandContext()
			members, err := c.Members(ctx)
			cancel()
			if err != nil {
				fmt.Fprintln(a.out, "cluster may be unhealthy: failed to list members")
				return a.fail(exitServerError, err)
			}
			sortMembers(members)
			for {
				healthy := 0
				for _, m := range members {
					if a.memberHealth(c, m) {
						healthy++
					}
				}
				switch healthy {
				case len(members):
					fmt.Fprintln(a.out, "cluster is healthy")
				case 0:
					fmt.Fprintln(a.out, "cluster is unavailable")
				default:
					fmt.Fprintln(a.out, "cluster is degraded")
				}
				if !forever {
					if healthy == len(members) {
						return exitSuccess
					}
					return exitClusterNotHealthy
				}
				fmt.Fprintf(a.out, "\nnext check after 10 second...\n\n")
				select {
				case <-a.ctx.Done():
					return exitSuccess
				case <-time.After(10 * time.Second):
				}
			}
		},
	}
}

// memberHealth checks one member through its client URLs and prints the
// result line.
func (a *app) memberHealth(c *client.Client, m client.Member) bool {
	if len(m.ClientURLs) == 0 {
		fmt.Fprintf(a.out, "member %s is unreachable: no available published client urls\n", m.ID)
		return false
	}
	for _, u := range m.ClientURLs {
		one, err := c.ForEndpoint(u)
		if err != nil {
			fmt.Fprintf(a.out, "failed to check the health of member %s on %s: %v\n", m.ID, u, err)
			continue
		}
		ctx, cancel := a.commandContext()
		ok, err := one.Health(ctx)
		cancel()
		if err != nil {
			fmt.Fprintf(a.out, "failed to check the health of member %s on %s: %v\n", m.ID, u, reason(err))
			continue
		}
		if ok {
			fmt.Fprintf(a.out, "member %s is healthy: got healthy result from %s\n", m.ID, u)
			return true
		}
		fmt.Fprintf(a.out, "member %s is unhealthy: got unhealthy result from %s\n", m.ID, u)
		return false
	}
	fmt.Fprintf(a.out, "member %s is unreachable: %v are all unreachable\n", m.ID, m.ClientURLs)
	return false
}

func endpointCommand() *command {
	return &command{
		name:     "endpoint",
		usage:    "per-member status: leader, term, index, latency",
		examples: []string{"raftkvctl endpoint status", "raftkvctl -o json endpoint status"},
		sub:      []*command{endpointStatusCommand()},
	}
}

// endpointStatus is one line of endpoint status, as -o json writes it.
type endpointStatus struct {
	Endpoint  string  `json:"endpoint"`
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	State     string  `json:"state"`
	Leader    string  `json:"leader"`
	IsLeader  bool    `json:"isLeader"`
	RaftTerm  uint64  `json:"raftTerm"`
	RaftIndex uint64  `json:"raftIndex"`
	Index     uint64  `json:"index"`
	LatencyMs float64 `json:"latencyMs"`
	Error     string  `json:"error,omitempty"`
}

func endpointStatusCommand() *command {
	return &command{
		name:  "status",
		usage: "show each member's view: leader, term, indexes, latency",
		desc: `Asks every endpoint (the members' client URLs unless --no-sync) for its
/v2/stats/self and the X-Raft-Term, X-Raft-Index and X-Etcd-Index headers
of a HEAD of the key space, and prints one row per endpoint: its ID, name,
whether it is the leader, its term, its raft (commit) index, its store
index, and the round trip of the HEAD. Members that disagree on the term or
lag in the index stand out. Exits 4 if an endpoint did not answer.`,
		examples: []string{"raftkvctl endpoint status", "raftkvctl --no-sync --endpoints http://127.0.0.1:2379 endpoint status"},
		run: func(a *app, args []string) int {
			if len(args) != 0 {
				return a.badArgs("no arguments accepted")
			}
			c, code := a.newClient(true)
			if c == nil {
				return code
			}
			eps := c.Endpoints()
			sort.Strings(eps)
			var rows []endpointStatus
			failed := false
			for _, ep := range eps {
				row, err := a.endpointStatus(c, ep)
				if err != nil {
					failed = true
					row = endpointStatus{Endpoint: ep, Error: reason(err).Error()}
					fmt.Fprintf(a.err, "Failed to get the status of endpoint %s: %v\n", ep, reason(err))
				}
				rows = append(rows, row)
			}
			a.printStatus(rows)
			if failed {
				return exitServerError
			}
			return exitSuccess
		},
	}
}

// endpointStatus asks ep alone for its status, under --total-timeout.
func (a *app) endpointStatus(c *client.Client, ep string) (endpointStatus, error) {
	one, err := c.ForEndpoint(ep)
	if err != nil {
		return endpointStatus{}, err
	}
	ctx, cancel := a.commandContext()
	defer cancel()
	st, err := one.Status(ctx)
	if err != nil {
		return endpointStatus{}, err
	}
	return endpointStatus{Endpoint: ep, ID: st.ID, Name: st.Name, State: st.State, Leader: st.Leader,
		IsLeader: st.IsLeader, RaftTerm: st.RaftTerm, RaftIndex: st.RaftIndex, Index: st.EtcdIndex,
		LatencyMs: float64(st.Latency.Microseconds()) / 1000}, nil
}

func (a *app) printStatus(rows []endpointStatus) {
	switch a.output {
	case "json":
		a.printJSON(rows)
	case "extended":
		for i, r := range rows {
			if i > 0 {
				fmt.Fprintln(a.out)
			}
			fmt.Fprintln(a.out, "Endpoint:", r.Endpoint)
			if r.Error != "" {
				fmt.Fprintln(a.out, "Error:", r.Error)
				continue
			}
			fmt.Fprintln(a.out, "ID:", r.ID)
			fmt.Fprintln(a.out, "Name:", r.Name)
			fmt.Fprintln(a.out, "State:", r.State)
			fmt.Fprintln(a.out, "Leader:", r.Leader)
			fmt.Fprintln(a.out, "Raft-Term:", r.RaftTerm)
			fmt.Fprintln(a.out, "Raft-Index:", r.RaftIndex)
			fmt.Fprintln(a.out, "Index:", r.Index)
			fmt.Fprintf(a.out, "Latency: %.3fms\n", r.LatencyMs)
		}
	default:
		tw := tabwriter.NewWriter(a.out, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ENDPOINT\tID\tNAME\tLEADER\tTERM\tRAFT INDEX\tINDEX\tLATENCY")
		for _, r := range rows {
			if r.Error != "" {
				fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\tunreachable\n", r.Endpoint)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%d\t%d\t%.3fms\n", r.Endpoint, r.ID, r.Name, r.IsLeader, r.RaftTerm, r.RaftIndex, r.Index, r.LatencyMs)
		}
		tw.Flush()
	}
}
