package main

import (
	"fmt"

	"github.com/raftkv/raftkv/server"
)

func backupCommand() *command {
	var dataDir, backupDir string
	return &command{
		name:  "backup",
		usage: "copy a stopped member's data dir for a --force-new-cluster restart (offline)",
		desc: `etcdctl v2's backup: copies the data dir of a stopped member (its newest
snapshot and its log) into --backup-dir under a new member id and a new
cluster id, so that the copy, started with
  raftkv --name <name> --data-dir <backup-dir> --force-new-cluster ...
becomes the one member of a cluster of its own, which no member of the old
cluster will mistake for theirs. Grow it again with member add. It works on
files only: no member is contacted, and the member must be stopped (its
data dir lock is taken; a running member holds it). The source is never
written; an existing non-empty --backup-dir is refused.`,
		examples: []string{"raftkvctl backup --data-dir n1.raftkv --backup-dir /backups/n1.raftkv"},
		flags: func(fs *flagSet) {
			fs.stringVar(&dataDir, "data-dir", "dir", "the stopped member's data dir")
			fs.stringVar(&backupDir, "backup-dir", "dir", "where to write the copy (must not exist, or be empty)")
		},
		run: func(a *app, args []string) int {
			if len(args) != 0 {
				return a.badArgs("backup takes no arguments, only --data-dir and --backup-dir")
			}
			if dataDir == "" || backupDir == "" {
				return a.badArgs("backup needs --data-dir and --backup-dir")
			}
			res, err := server.BackupDataDir(dataDir, backupDir)
			if err != nil {
				return a.fail(exitBadArgs, err)
			}
			fmt.Fprintf(a.out, "Backed up member %s (%s, cluster %s) from %s into %s as member %s of cluster %s (snapshot at %d, %d log entries after it)\n",
				res.Name, server.IDString(res.OldID), server.IDString(res.OldCluster), dataDir, backupDir,
				server.IDString(res.NewID), server.IDString(res.NewCluster), res.SnapshotIndex, res.Entries)
			fmt.Fprintf(a.out, "Start it with: raftkv --name %s --data-dir %s --force-new-cluster ...\n", res.Name, backupDir)
			return exitSuccess
		},
	}
}
