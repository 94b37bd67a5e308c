package server

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/storage"
	"github.com/raftkv/raftkv/vfs"
)

// BackupResult says what BackupDataDir wrote.
type BackupResult struct {
	Name                   string
	OldID, NewID           uint64
	OldCluster, NewCluster uint64
	SnapshotIndex          uint64
	Entries                int
}

// BackupDataDir is etcdctl v2's `backup --data-dir --backup-dir`: an
// offline copy of a stopped member's data dir (its newest snapshot and
// its log) under a new member id and a new cluster id, so the copy can be
// started with --force-new-cluster (which makes it the one member of a
// cluster of its own) without ever being mistaken by the old cluster's
// members for one of theirs. The copy keeps the member's name, token and
// peer URLs. Started without --force-new-cluster it is a member of no
// cluster and elects no leader.
//
// Nothing of the source is written but its lock file: its lock is taken
// (a running member holds it, and the backup is refused), its WAL and
// snapshot files are copied to a scratch directory, and the copy is read
// (and, if its tail was torn, repaired) there. An existing
// non-empty --backup-dir is refused, and it appears whole or not at all.
func BackupDataDir(dataDir, backupDir string) (*BackupResult, error) {
	if err := checkNewDir("--backup-dir", backupDir); err != nil {
		return nil, err
	}
	mfPath := filepath.Join(dataDir, "member.json")
	b, err := os.ReadFile(mfPath)
	if err != nil {
		return nil, fmt.Errorf("server: --data-dir %s is not a raftkv data dir: %v", dataDir, err)
	}
	var mf memberFile
	if err := json.Unmarshal(b, &mf); err != nil {
		return nil, fmt.Errorf("server: %s is damaged: %v", mfPath, err)
	}
	oldID, err := ParseID(mf.ID)
	if err != nil {
		return nil, fmt.Errorf("server: %s: %v", mfPath, err)
	}
	oldCluster, err := ParseID(mf.ClusterID)
	if err != nil {
		return nil, fmt.Errorf("server: %s: cluster %v", mfPath, err)
	}
	lock, err := lockDir(dataDir, lockHolder{PID: os.Getpid(), Name: "raftkvctl backup", Started: time.Now()})
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()

	scratch, err := os.MkdirTemp("", "raftkv-backup-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	for _, sub := range []string{"wal", "snap"} {
		if err := copyFiles(filepath.Join(dataDir, "member", sub), filepath.Join(scratch, sub)); err != nil {
			return nil, fmt.Errorf("server: copying %s: %v", dataDir, err)
		}
	}
	src, err := storage.Open(vfs.OS(), scratch, storage.Options{ClusterID: oldCluster, MemberID: oldID})
	if err != nil {
		return nil, fmt.Errorf("server: reading the copy of %s: %w", dataDir, err)
	}
	defer src.Close()
	snap, _ := src.Snapshot()
	hs, _, _ := src.InitialState()
	first, _ := src.FirstIndex()
	last, _ := src.LastIndex()
	var ents []raft.Entry
	if last >= first {
		if ents, err = src.Entries(first, last+1, math.MaxUint64); err != nil {
			return nil, err
		}
	}

	// New ids: random, as etcd's backup does; the member id is also
	// salted with the peer URLs and the token, like an added member's.
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), oldID))
	newID := MemberID(mf.Peers[mf.ID], mf.Token, time.Now().Unix()) ^ r.Uint64()
	newCluster := r.Uint64()
	if newID == 0 || newID == oldID {
		newID = oldID ^ 1
	}
	if newCluster == 0 || newCluster == oldCluster {
		newCluster = oldCluster ^ 1
	}
	nf := mf
	nf.ID, nf.ClusterID = IDString(newID), IDString(newCluster)
	// The bootstrap membership stays: with no snapshot, replaying the log
	// from its start needs it. The peer URLs are this member's own.
	nf.Voters, nf.Learners = mf.Voters, mf.Learners
	if len(nf.Voters) == 0 && len(nf.Learners) == 0 {
		vs, ls, err := mf.bootMembership()
		if err != nil {
			return nil, fmt.Errorf("server: %s: %v", mfPath, err)
		}
		nf.Voters, nf.Learners = idStrings(vs), idStrings(ls)
	}
	nf.Peers = map[string][]string{IDString(newID): mf.Peers[mf.ID]}
	nf.FromBackup = true

	err = buildDataDir(backupDir, func(tmp string) error {
		dst, err := storage.Open(vfs.OS(), filepath.Join(tmp, "member"), storage.Options{ClusterID: newCluster, MemberID: newID})
		if err != nil {
			return err
		}
		if !snap.IsEmpty() {
			if err := dst.SaveSnapshot(snap); err != nil {
				dst.Close()
				return err
			}
		}
		if err := dst.Save(hs, ents, true); err != nil {
			dst.Close()
			return err
		}
		if err := dst.Close(); err != nil {
			return err
		}
		return writeMemberFile(vfs.OS(), filepath.Join(tmp, "member.json"), &nf)
	})
	if err != nil {
		return nil, err
	}
	return &BackupResult{Name: mf.Name, OldID: oldID, NewID: newID, OldCluster: oldCluster, NewCluster: newCluster,
		SnapshotIndex: snap.Metadata.Index, Entries: len(ents)}, nil
}

// copyFiles copies the regular files of dir (if it exists) into to.
func copyFiles(dir, to string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(dir, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
