package main

import (
	"bytes"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// applyEnvFor parses args, applies env and returns the options with the
// warnings and infos it logged.
func applyEnvFor(t *testing.T, args, env []string) (*options, []string, []string) {
	t.Helper()
	var o options
	fs := newFlagSet(&o, io.Discard)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	var warns, infos []string
	if err := applyEnv(fs, env, func(s string) { warns = append(warns, s) }, func(s string) { infos = append(infos, s) }); err != nil {
		t.Fatal(err)
	}
	return &o, warns, infos
}

func containing(ss []string, sub string) bool {
	return slices.ContainsFunc(ss, func(s string) bool { return strings.Contains(s, sub) })
}

// TestEtcdEnvAliases: an etcd systemd unit's environment configures
// raftkv; RAFTKV_ wins over ETCD_, the command line over both, and each
// of these is said once in the log.
func TestEtcdEnvAliases(t *testing.T) {
	t.Run("etcd's variables alone", func(t *testing.T) {
		o, warns, infos := applyEnvFor(t, nil, []string{
			"ETCD_NAME=infra1", "ETCD_DATA_DIR=/var/lib/etcd",
			"ETCD_LISTEN_CLIENT_URLS=http://10.0.0.1:2379", "ETCD_HEARTBEAT_INTERVAL=200",
			"ETCD_ELECTION_TIMEOUT=2000", "ETCD_ENABLE_PPROF=true", "ETCD_BCRYPT_COST=6",
			"ETCDCTL_API=2", // etcdctl's, not etcd's: no warning
		})
		if o.name != "infra1" || o.dataDir != "/var/lib/etcd" || o.listenClient != "http://10.0.0.1:2379" ||
			o.heartbeatMs != 200 || o.electionMs != 2000 || !o.pprof || o.bcryptCost != 6 {
			t.Errorf("options %+v", o)
		}
		if len(warns) != 0 {
			t.Errorf("warnings %q, want none", warns)
		}
		if len(infos) != 1 || !strings.Contains(infos[0], "ETCD_DATA_DIR") || !strings.Contains(infos[0], "ETCD_NAME") {
			t.Errorf("infos %q, want one naming the ETCD_ variables used", infos)
		}
	})
	t.Run("RAFTKV_ wins", func(t *testing.T) {
		o, warns, _ := applyEnvFor(t, nil, []string{"ETCD_NAME=from-etcd", "RAFTKV_NAME=from-raftkv", "ETCD_CORS=*", "RAFTKV_CORS=*"})
		if o.name != "from-raftkv" || o.cors != "*" {
			t.Errorf("name %q cors %q", o.name, o.cors)
		}
		if len(warns) != 1 || !strings.Contains(warns[0], "ETCD_NAME by RAFTKV_NAME") || strings.Contains(warns[0], "CORS") {
			t.Errorf("warnings %q, want one naming ETCD_NAME (ETCD_CORS agrees)", warns)
		}
	})
	t.Run("command line wins", func(t *testing.T) {
		o, warns, infos := applyEnvFor(t, []string{"--name", "flag"}, []string{"ETCD_NAME=e", "RAFTKV_NAME=r"})
		if o.name != "flag" {
			t.Errorf("name %q", o.name)
		}
		if !containing(warns, "ETCD_NAME is shadowed by --name") || !containing(warns, "RAFTKV_NAME is shadowed by --name") || len(infos) != 0 {
			t.Errorf("warnings %q infos %q", warns, infos)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		_, warns, _ := applyEnvFor(t, nil, []string{"ETCD_ENABLE_V2=true", "RAFTKV_NO_SUCH=1"})
		if !containing(warns, "unknown environment variable ETCD_ENABLE_V2") || !containing(warns, "unknown environment variable RAFTKV_NO_SUCH") {
			t.Errorf("warnings %q", warns)
		}
	})
	t.Run("bad value names the variable", func(t *testing.T) {
		var stderr bytes.Buffer
		if code := run(nil, []string{"ETCD_HEARTBEAT_INTERVAL=fast"}, &stderr); code != 2 || !strings.Contains(stderr.String(), `ETCD_HEARTBEAT_INTERVAL="fast"`) {
			t.Errorf("exit %d, %q", code, stderr.String())
		}
	})
}

// TestVersionAndHelp: --version and --help answer on stdout and exit 0;
// the help shows each flag's value type, never a word of its description.
func TestVersionAndHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runIO([]string{"--version"}, nil, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "raftkv ") || stderr.Len() != 0 {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := runIO([]string{"--help"}, nil, &stdout, &stderr); code != 0 || stderr.Len() != 0 {
		t.Fatalf("--help: exit %d, stderr %q", code, stderr.String())
	}
	help := stdout.String()
	for _, want := range []string{
		"--name string\n", "--heartbeat-interval uint\n", "--request-timeout duration\n",
		"--redirect bool\n", "--initial-cluster-state string\n", "ETCD_<FLAG>",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	var o options
	newFlagSet(&o, io.Discard).VisitAll(func(f *flag.Flag) {
		if typ := flagType(f); !slices.Contains([]string{"string", "uint", "uint64", "int", "duration", "bool", "value"}, typ) {
			t.Errorf("--%s shows type %q", f.Name, typ)
		}
	})
	// A mistake is still a diagnostic: stderr, exit 2.
	stdout.Reset()
	stderr.Reset()
	if code := runIO([]string{"--no-such-flag"}, nil, &stdout, &stderr); code != 2 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "no-such-flag") {
		t.Errorf("bad flag: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

// TestListenURLWithoutScheme: the classic slip gets a hint to add http://.
func TestListenURLWithoutScheme(t *testing.T) {
	for _, u := range []string{"127.0.0.1:2379", "localhost:2379"} {
		var stderr bytes.Buffer
		code := run([]string{"--listen-client-urls", u}, nil, &stderr)
		if want := "add http://"; code != 2 || !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "http://"+u) {
			t.Errorf("--listen-client-urls %s: exit %d, %q; want 2 and %q", u, code, stderr.String(), want)
		}
	}
}
