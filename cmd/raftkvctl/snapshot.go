package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/server"
	"github.com/raftkv/raftkv/storage/backup"
)

func snapshotCommand() *command {
	return &command{
		name:  "snapshot",
		usage: "save a consistent snapshot of the cluster, describe one, restore one into a new cluster",
		examples: []string{
			"raftkvctl snapshot save backup.db",
			"raftkvctl snapshot status backup.db",
			"raftkvctl snapshot restore backup.db --name n1 --data-dir n1.raftkv --initial-cluster-token restored \\\n      --initial-cluster n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380,n3=http://10.0.0.3:2380 \\\n      --initial-advertise-peer-urls http://10.0.0.1:2380",
		},
		sub: []*command{snapshotSaveCommand(), snapshotStatusCommand(), snapshotRestoreCommand()},
	}
}

func snapshotSaveCommand() *command {
	return &command{
		name:  "save",
		usage: "stream a consistent snapshot of the cluster into a file",
		args:  "<file>",
		desc: `Asks a member for a snapshot (GET /v2/raftkv/snapshot): the member takes a
linearizable read point, so every write acknowledged before the command
started is in it, and streams the key space and the membership at that
point, with a SHA-256 checksum at the end. The file is written as
<file>.part, checked (length, end marker, checksum), synced and only then
renamed to <file>, so an interrupted save never leaves a file that looks
whole. With v2 auth on, it needs the root user.`,
		examples: []string{"raftkvctl snapshot save backup.db", "raftkvctl -u root:secret --endpoints http://10.0.0.1:2379 snapshot save backup.db"},
		run: func(a *app, args []string) int {
			if len(args) != 1 {
				return a.badArgs("snapshot save needs one argument: the file to write")
			}
			path := args[0]
			c, code := a.newClient(true)
			if c == nil {
				return code
			}
			part := path + ".part"
			f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return a.fail(exitBadArgs, err)
			}
			discard := func() { f.Close(); os.Remove(part) }
			info, err := c.Snapshot(a.ctx, f)
			if err != nil {
				discard()
				return a.fail(exitServerError, err)
			}
			if err := f.Sync(); err != nil {
				discard()
				return a.fail(exitBadArgs, err)
			}
			if err := f.Close(); err != nil {
				os.Remove(part)
				return a.fail(exitBadArgs, err)
			}
			if _, err := backup.ReadFile(part); err != nil {
				os.Remove(part)
				return a.fail(exitServerError, fmt.Errorf("the snapshot received from %s is not whole, nothing was saved: %w", info.Endpoint, err))
			}
			if err := os.Rename(part, path); err != nil {
				os.Remove(part)
				return a.fail(exitBadArgs, err)
			}
			if d, err := os.Open(filepath.Dir(path)); err == nil {
				_ = d.Sync()
				d.Close()
			}
			fmt.Fprintf(a.out, "Snapshot saved at %s\n", path)
			if a.debug {
				fmt.Fprintf(a.err, "from %s: raft index %d, term %d, index %d, %d bytes\n", info.Endpoint, info.Index, info.Term, info.EtcdIndex, info.Bytes)
			}
			return exitSuccess
		},
	}
}

// snapshotStatus is what snapshot status prints, as -o json writes it.
type snapshotStatus struct {
	SHA256     string `json:"sha256"`
	Index      uint64 `json:"index"`
	Term       uint64 `json:"term"`
	EtcdIndex  uint64 `json:"etcdIndex"`
	TotalKeys  int    `json:"totalKeys"`
	TotalDirs  int    `json:"totalDirs"`
	TotalSize  int64  `json:"totalSize"`
	ClusterID  string `json:"clusterID"`
	Members    int    `json:"members"`
	TakenBy    string `json:"takenBy"`
	Created    string `json:"created"`
	Version    string `json:"raftkvVersion"`
	FileFormat int    `json:"fileFormat"`
}

func snapshotStatusCommand() *command {
	return &command{
		name:  "status",
		usage: "check a snapshot file and describe it",
		args:  "<file>",
		desc: `Checks the file (length, end marker, SHA-256 checksum, the key space's
encoding) and prints its hash (the first 8 hex digits of its SHA-256; all of
it with -o json or extended), the raft index it was taken at, the number of
keys (files; directories apart) outside the hidden /_raftkv directory, and
its size. A damaged or truncated file is named with what is wrong, exit 1.`,
		examples: []string{"raftkvctl snapshot status backup.db", "raftkvctl -o json snapshot status backup.db"},
		run: func(a *app, args []string) int {
			if len(args) != 1 {
				return a.badArgs("snapshot status needs one argument: the snapshot file")
			}
			snap, err := backup.ReadFile(args[0])
			if err != nil {
				return a.fail(exitBadArgs, err)
			}
			store := kv.New(kv.Options{})
			if err := store.Restore(bytes.NewReader(snap.Data)); err != nil {
				return a.fail(exitBadArgs, fmt.Errorf("%s: the key space in the file cannot be decoded: %v", args[0], err))
			}
			st := snapshotStatus{SHA256: snap.SHA256, Index: snap.Header.Index, Term: snap.Header.Term,
				EtcdIndex: snap.Header.StoreIndex, TotalSize: snap.Size, ClusterID: snap.Header.ClusterID,
				Members: len(snap.Header.Members), TakenBy: snap.Header.Member, Created: snap.Header.Created,
				Version: snap.Header.RaftkvVersion, FileFormat: backup.Version}
			if ev, err := store.Get("/", true, false); err == nil {
				st.TotalKeys, st.TotalDirs = countNodes(ev.Node)
			}
			a.printSnapshotStatus(st)
			return exitSuccess
		},
	}
}

// countNodes counts the files and directories below n.
func countNodes(n *kv.Node) (files, dirs int) {
	for _, c := range n.Nodes {
		if c.Dir {
			f, d := countNodes(c)
			files, dirs = files+f, dirs+d+1
		} else {
			files++
		}
	}
	return files, dirs
}

func (a *app) printSnapshotStatus(st snapshotStatus) {
	switch a.output {
	case "json":
		a.printJSON(st)
	case "extended":
		fmt.Fprintln(a.out, "SHA256:", st.SHA256)
		fmt.Fprintln(a.out, "Raft-Index:", st.Index)
		fmt.Fprintln(a.out, "Raft-Term:", st.Term)
		fmt.Fprintln(a.out, "Index:", st.EtcdIndex)
		fmt.Fprintln(a.out, "Total-Keys:", st.TotalKeys)
		fmt.Fprintln(a.out, "Total-Dirs:", st.TotalDirs)
		fmt.Fprintln(a.out, "Total-Size:", humanBytes(st.TotalSize))
		fmt.Fprintln(a.out, "Cluster-ID:", st.ClusterID)
		fmt.Fprintln(a.out, "Members:", st.Members)
		fmt.Fprintln(a.out, "Taken-By:", st.TakenBy)
		fmt.Fprintln(a.out, "Created:", st.Created)
	default:
		tw := tabwriter.NewWriter(a.out, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "HASH\tRAFT INDEX\tTOTAL KEYS\tTOTAL SIZE")
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", st.SHA256[:8], st.Index, st.TotalKeys, humanBytes(st.TotalSize))
		tw.Flush()
	}
}

// humanBytes writes a size as etcdctl does (decimal units).
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

func snapshotRestoreCommand() *command {
	var name, dataDir, cluster, token, peerURLs string
	return &command{
		name:  "restore",
		usage: "make a new cluster's member data dir from a snapshot file",
		args:  "<file>",
		desc: `Writes --data-dir for one member of a new cluster holding the snapshot's key
space. Run it once per member, each with its own --name, --data-dir and
--initial-advertise-peer-urls, all with the same file, --initial-cluster and
--initial-cluster-token; then start each member with
  raftkv --name <name> --data-dir <dir> --listen-peer-urls ... --listen-client-urls ...
(the --initial-* flags are read from the data dir, as on any restart).
The new cluster's id comes from --initial-cluster and the token, and must
differ from the snapshot's cluster: give a new token. The old cluster's member
records are replaced by the new members'. A damaged or truncated file, or an
existing non-empty --data-dir, is refused and nothing is written.`,
		flags: func(fs *flagSet) {
			name, dataDir, cluster, token, peerURLs = "default", "", "", "raftkv-cluster", ""
			fs.stringVar(&name, "name", "name", "the member's name in --initial-cluster")
			fs.stringVar(&dataDir, "data-dir", "dir", "the data dir to write (default: <name>.raftkv); must not exist or be empty")
			fs.stringVar(&cluster, "initial-cluster", "name=url,...", "the new cluster's members (default: <name>=<initial-advertise-peer-urls>)")
			fs.stringVar(&token, "initial-cluster-token", "token", "the new cluster's token")
			fs.stringVar(&peerURLs, "initial-advertise-peer-urls", "urls", "this member's peer URLs (default: its entry in --initial-cluster, or http://127.0.0.1:2380)")
		},
		run: func(a *app, args []string) int {
			if len(args) != 1 {
				return a.badArgs("snapshot restore needs one argument: the snapshot file")
			}
			if peerURLs == "" && cluster == "" {
				peerURLs = "http://127.0.0.1:2380"
			}
			var urls []string
			if peerURLs != "" {
				var err error
				if urls, err = server.ParseURLs("initial-advertise-peer-urls", peerURLs, false); err != nil {
					return a.badArgs(err.Error())
				}
			}
			if cluster == "" {
				for _, u := range urls {
					if cluster != "" {
						cluster += ","
					}
					cluster += name + "=" + u
				}
			}
			ic, err := server.ParseInitialCluster(cluster)
			if err != nil {
				return a.badArgs(err.Error())
			}
			res, err := server.RestoreSnapshot(server.RestoreConfig{
				SnapshotPath: args[0], Name: name, DataDir: dataDir,
				InitialCluster: ic, InitialClusterToken: token, InitialAdvertisePeerURLs: urls,
			})
			if err != nil {
				return a.fail(exitBadArgs, err)
			}
			h := res.Snapshot.Header
			fmt.Fprintf(a.out, "Restored %s (cluster %s at raft index %d) into %s as member %s of new cluster %s (members: %d)\n",
				args[0], h.ClusterID, h.Index, res.DataDir, server.IDString(res.MemberID), server.IDString(res.ClusterID), len(res.Voters))
			fmt.Fprintf(a.out, "Start it with: raftkv --name %s --data-dir %s --initial-cluster %s --initial-cluster-token %s \\\n    --initial-advertise-peer-urls %s --listen-peer-urls <peer URL> --listen-client-urls <client URL> --advertise-client-urls <client URL>\n",
				name, res.DataDir, cluster, token, strings.Join(res.PeerURLs, ","))
			return exitSuccess
		},
	}
}
