package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/internal/testcluster"
)

// startCluster starts a 3-member cluster and waits until the members'
// own records are written: every member publishes its name, and the leader
// records the bootstrap members' peer URLs, each a write to the key space
// (under /_raftkv, docs/divergence.md) that would otherwise move the store
// index under the transcripts.
func startCluster(t *testing.T) (*testcluster.Cluster, *client.Client, []client.Member) {
	t.Helper()
	// Elections are slower than testcluster's default, so that a loaded
	// machine does not start one in the middle of a transcript. Followers
	// answer writes with a 307 to the leader, which the client follows (the
	// client's own cluster tests use the default forwarding).
	c := testcluster.New(t, 3, "--heartbeat-interval", "100", "--election-timeout", "1500", "--redirect")
	cl, err := client.New(client.Config{Endpoints: c.ClientURLs(), HeaderTimeoutPerRequest: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		ms, err := cl.Members(ctx)
		settled := err == nil && len(ms) == len(c.Members)
		if settled {
			recs, err := cl.Get(ctx, "/_raftkv/members", &client.GetOptions{Recursive: true, Quorum: true})
			have := map[string]bool{}
			if err == nil {
				for _, m := range recs.Node.Nodes {
					for _, r := range m.Nodes {
						have[r.Key] = true
					}
				}
			}
			for _, m := range ms {
				for _, r := range []string{"attributes", "raftAttributes"} {
					settled = settled && have["/_raftkv/members/"+m.ID+"/"+r]
				}
			}
		}
		if settled {
			return c, cl, ms
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the members' records were not written: %v %v", ms, err)
		case <-time.After(20 * time.Millisecond):
			// Polling other processes: no event to wait on.
		}
	}
}

// clusterVars names each member's URLs and ID: $C1, $P1, $ID1 for m1.
func clusterVars(c *testcluster.Cluster, ms []client.Member) []subst {
	var vars []subst
	for i, m := range c.Members {
		n := fmt.Sprint(i + 1)
		vars = append(vars, subst{"$C" + n, m.ClientURL}, subst{"$P" + n, m.PeerURL})
		for _, mm := range ms {
			if mm.Name == m.Name {
				vars = append(vars, subst{"$ID" + n, mm.ID})
			}
		}
	}
	return vars
}

var (
	reLeaderFlag = regexp.MustCompile(`(isLeader=|"isLeader":)(true|false)`)
	reStatusRow  = regexp.MustCompile(`(?m)^(\$C\d+ \$ID\d+ m\d+) (true|false) (\d+) (\d+) (\d+) [\d.]+ms$`)
	reNewID      = regexp.MustCompile(`with ID ([0-9a-f]+) to cluster`)
	reRaftFields = regexp.MustCompile(`"(raftTerm|raftIndex)":\d+|"latencyMs":[\d.]+`)
)

// TestClusterTranscripts runs testdata/cluster/*.txt with the raftkvctl
// binary against a real 3-member cluster.
func TestClusterTranscripts(t *testing.T) {
	bin := buildCtl(t)
	c, cl, ms := startCluster(t)
	vars := clusterVars(c, ms)
	datadriven.Walk(t, "testdata/cluster", func(t *testing.T, path string) {
		resp, err := cl.Get(context.Background(), "/", &client.GetOptions{Quorum: true})
		if err != nil {
			t.Fatal(err)
		}
		s := &script{
			r:    &runner{bin: bin, env: map[string]string{"RAFTKVCTL_ENDPOINTS": strings.Join(c.ClientURLs(), ",")}},
			vars: vars,
			base: resp.Index,
		}
		s.normalise = func(out string) string {
			// Which member leads depends on the election: the transcripts
			// show <leader>, and here exactly one member must lead.
			if n := len(reLeaderFlag.FindAllString(out, -1)); n > 0 {
				if leaders := strings.Count(out, "isLeader=true") + strings.Count(out, `"isLeader":true`); leaders != 1 {
					out += fmt.Sprintf("!! %d members say they lead\n", leaders)
				}
				out = reLeaderFlag.ReplaceAllString(out, "${1}<bool>")
			}
			// A member added gets a new random ID: $NEW from then on.
			if g := reNewID.FindStringSubmatch(out); g != nil {
				s.vars = append(s.vars, subst{"$NEW", g[1]})
				out = strings.ReplaceAll(out, g[1], "$NEW")
			}
			out = reRaftFields.ReplaceAllStringFunc(out, func(m string) string {
				k, _, _ := strings.Cut(m, ":")
				return k + ":<n>"
			})
			return out
		}
		s.options = map[string]func(string) string{"status": func(out string) string { return normaliseStatus(s, out) }}
		s.run(t, path)
	})

	r := &runner{bin: bin, env: map[string]string{"RAFTKVCTL_ENDPOINTS": strings.Join(c.ClientURLs(), ",")}}
	ctl := func(args ...string) result { return r.start(t, args, "", nil).wait(t) }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A write sent to a follower is redirected (307) to the leader and
	// followed, with its method and body: --debug shows both requests.
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := c.Members[(leader+1)%len(c.Members)].ClientURL
	res := ctl("--no-sync", "--debug", "--endpoints", follower, "set", "/redirected", "yes")
	wantDebug := fmt.Sprintf("Cluster-Endpoints: %s\ncurl -X PUT %q -d %q\ncurl -X PUT %q -d %q\n",
		follower, follower+"/v2/keys/redirected", "value=yes", c.Members[leader].ClientURL+"/v2/keys/redirected", "value=yes")
	if res.code != 0 || res.stdout != "yes\n" || res.stderr != wantDebug {
		t.Errorf("a write through a follower: %+v\nwant stderr:\n%s", res, wantDebug)
	}

	// Failover, with the last members of the same cluster.
	c.Kill(0)
	if _, err := c.WaitLeader(ctx, 0); err != nil {
		t.Fatal(err)
	}
	// The first endpoint refuses connections: the next one answers, with
	// and without the startup sync.
	if res := ctl("--no-sync", "set", "/failover", "ok"); res.code != 0 || res.stdout != "ok\n" {
		t.Errorf("set with the first member down: %+v", res)
	}
	if res := ctl("get", "--quorum", "/failover"); res.code != 0 || res.stdout != "ok\n" {
		t.Errorf("get with the first member down: %+v", res)
	}
	res = ctl("cluster-health")
	if res.code != exitClusterNotHealthy || !strings.Contains(res.stdout, "cluster is degraded\n") ||
		!strings.Contains(res.stdout, "is unreachable: ["+c.Members[0].ClientURL+"] are all unreachable") {
		t.Errorf("cluster-health with a member down: %+v", res)
	}
	// No member left: exit 2, naming every endpoint tried.
	c.Kill(1)
	c.Kill(2)
	res = ctl("get", "/failover")
	want := "Error:  client: cluster is unavailable or misconfigured; tried " + strings.Join(c.ClientURLs(), ", ") + "\n"
	if res.code != exitBadConnection || !strings.HasPrefix(res.stderr, want) || strings.Count(res.stderr, "connection refused") != 3 {
		t.Errorf("get with every member down: %+v", res)
	}
}

// normaliseStatus rewrites "endpoint status" rows (after squash): the
// term, raft index and latency vary; exactly one member must lead and all
// agree on the term, else a line says so.
func normaliseStatus(s *script, out string) string {
	leaders, terms := 0, map[string]bool{}
	out = reStatusRow.ReplaceAllStringFunc(out, func(m string) string {
		g := reStatusRow.FindStringSubmatch(m)
		if g[2] == "true" {
			leaders++
		}
		terms[g[3]] = true
		return g[1] + " <bool> <term> <raft-index> " + s.rel(g[5]) + " <latency>"
	})
	if leaders != 1 || len(terms) != 1 {
		out += fmt.Sprintf("!! %d leaders, %d terms\n", leaders, len(terms))
	}
	return out
}
