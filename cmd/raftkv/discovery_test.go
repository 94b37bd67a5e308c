package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDiscoveryFlagErrors: contradictory or unknown discovery and proxy
// flags stop raftkv before it listens, with exit 2 and a message.
func TestDiscoveryFlagErrors(t *testing.T) {
	d := "http://127.0.0.1:2379/v2/keys/_etcd/registry/abc"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--discovery", d, "--initial-cluster", "default=http://127.0.0.1:2380"}, "give only one of --discovery, --discovery-srv and --initial-cluster"},
		{[]string{"--discovery", d, "--discovery-srv", "example.com"}, "give only one of"},
		{[]string{"--discovery-fallback", "wait"}, `--discovery-fallback "wait": want proxy or exit`},
		{[]string{"--proxy", "yes"}, `--proxy "yes": want off, on or readonly`},
		{[]string{"--discovery-srv-name", "blue"}, "--discovery-srv-name needs --discovery-srv"},
		{[]string{"--proxy", "on"}, "--proxy needs the cluster's members"},
	} {
		var stderr bytes.Buffer
		if code := run(tc.args, nil, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("raftkv %v: exit %d, %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
