package server

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/storage"
	"github.com/raftkv/raftkv/storage/backup"
	"github.com/raftkv/raftkv/vfs"
)

// RestoreConfig is `raftkvctl snapshot restore`: which snapshot file, and
// the new cluster's member it becomes, in raftkv's (etcd's) flag names.
type RestoreConfig struct {
	SnapshotPath             string
	Name                     string // --name
	DataDir                  string // --data-dir (default: <name>.raftkv)
	InitialCluster           []InitialMember
	InitialClusterToken      string   // --initial-cluster-token
	InitialAdvertisePeerURLs []string // --initial-advertise-peer-urls (default: the name's entry in InitialCluster)
}

// ErrDataDirExists: restore and backup write a new data dir and never
// touch an existing one.
var ErrDataDirExists = errors.New("server: the target data dir exists")

// RestoreResult says what RestoreSnapshot wrote.
type RestoreResult struct {
	DataDir            string
	PeerURLs           []string // this member's
	MemberID           uint64
	ClusterID          uint64
	Snapshot           *backup.Snapshot
	Index, Term        uint64
	Voters             []uint64
	SourceMembersCount int
}

// RestoreSnapshot makes a data dir from a snapshot file for one member of a
// new cluster. Every member of the new cluster is restored from the same
// file with the same --initial-cluster and --initial-cluster-token, and
// then started with `raftkv --name ... --data-dir ...`: each comes up with
// the snapshot's key space, as a member of a cluster of exactly the
// --initial-cluster members, with ids derived as a bootstrap derives them.
//
// What is written: member.json (as a bootstrap writes it), a storage
// snapshot at the source's raft index and term whose membership is the new
// cluster's voters, and a WAL holding only its marker and a hard state
// that commits it. In the key space the old cluster's member records
// (/_raftkv/members, /_raftkv/removed) are replaced by the new members'
// peer URLs; everything else, users and roles of v2 auth included, is kept.
//
// Nothing is overwritten: an existing non-empty --data-dir is refused, a
// damaged or truncated snapshot file is refused before anything is
// written, and the data dir is built under a temporary name and renamed
// into place only once it is complete and synced.
func RestoreSnapshot(cfg RestoreConfig) (*RestoreResult, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = cfg.Name + ".raftkv"
	}
	if cfg.InitialClusterToken == "" {
		cfg.InitialClusterToken = "raftkv-cluster"
	}
	var self *InitialMember
	for i := range cfg.InitialCluster {
		if cfg.InitialCluster[i].Name == cfg.Name {
			self = &cfg.InitialCluster[i]
		}
	}
	if self == nil {
		return nil, fmt.Errorf("%w: --name is %q but --initial-cluster lists only %s; add %s=<its peer URL> to --initial-cluster", ErrNotInInitialCluster, cfg.Name, names(cfg.InitialCluster), cfg.Name)
	}
	if len(cfg.InitialAdvertisePeerURLs) > 0 && !sameURLs(self.PeerURLs, cfg.InitialAdvertisePeerURLs) {
		return nil, fmt.Errorf("server: --initial-cluster gives %q the peer URLs %v but --initial-advertise-peer-urls is %v; make them the same", cfg.Name, self.PeerURLs, cfg.InitialAdvertisePeerURLs)
	}
	if err := checkNewDir("--data-dir", cfg.DataDir); err != nil {
		return nil, err
	}
	snap, err := backup.ReadFile(cfg.SnapshotPath)
	if err != nil {
		return nil, fmt.Errorf("server: refusing to restore: %w", err)
	}
	clusterID := bootClusterID(cfg.InitialCluster, cfg.InitialClusterToken)
	if IDString(clusterID) == snap.Header.ClusterID {
		return nil, fmt.Errorf("server: %s was taken from cluster %s, and --initial-cluster with --initial-cluster-token %q describe that same cluster id; give the restored cluster a new --initial-cluster-token, so that members of the old cluster can never mistake it for theirs", cfg.SnapshotPath, snap.Header.ClusterID, cfg.InitialClusterToken)
	}

	store := kv.New(kv.Options{})
	if err := store.Restore(bytes.NewReader(snap.Data)); err != nil {
		return nil, fmt.Errorf("server: refusing to restore: %s: the key space in the file cannot be decoded: %v", cfg.SnapshotPath, err)
	}
	mf := &memberFile{Name: cfg.Name, Token: cfg.InitialClusterToken, Peers: map[string][]string{}}
	var voters []uint64
	for _, im := range cfg.InitialCluster {
		voters = append(voters, MemberID(im.PeerURLs, cfg.InitialClusterToken, 0))
	}
	// Every member writes the same key space: the same commands in the
	// same order, at the store clock the snapshot had (time 0 never moves
	// it).
	cmds := []*kv.Command{
		{Method: kv.MethodDelete, Path: membersDir, Dir: true, Recursive: true},
		{Method: kv.MethodDelete, Path: removedDir, Dir: true, Recursive: true},
	}
	for i, im := range cfg.InitialCluster {
		mf.Peers[IDString(voters[i])] = im.PeerURLs
		cmds = append(cmds, putJSON(raftAttrKey(voters[i]), raftAttributes{PeerURLs: im.PeerURLs}))
	}
	for _, c := range cmds {
		// A delete of a directory the snapshot lacks is refused: fine.
		if _, err := store.Apply(c); err != nil && c.Method != kv.MethodDelete {
			return nil, fmt.Errorf("server: rewriting the member records: %v", err)
		}
	}
	var data bytes.Buffer
	if err := store.Save(&data); err != nil {
		return nil, err
	}
	id := MemberID(self.PeerURLs, cfg.InitialClusterToken, 0)
	mf.ID, mf.ClusterID = IDString(id), IDString(clusterID)
	mf.Voters = idStrings(voters)

	index, term := snap.Header.Index, snap.Header.Term
	if index == 0 {
		index = 1
	}
	if term == 0 {
		term = 1
	}
	rs := raft.Snapshot{
		Metadata: raft.SnapshotMetadata{Index: index, Term: term, ConfState: raft.ConfState{Voters: voters}},
		Data:     data.Bytes(),
	}
	err = buildDataDir(cfg.DataDir, func(tmp string) error {
		st, err := storage.Open(vfs.OS(), filepath.Join(tmp, "member"), storage.Options{ClusterID: clusterID, MemberID: id})
		if err != nil {
			return err
		}
		if err := st.SaveSnapshot(rs); err != nil {
			st.Close()
			return err
		}
		// The snapshot is committed: raft starts with it applied.
		if err := st.Save(raft.HardState{Term: term, Commit: index}, nil, true); err != nil {
			st.Close()
			return err
		}
		if err := st.Close(); err != nil {
			return err
		}
		return writeMemberFile(vfs.OS(), filepath.Join(tmp, "member.json"), mf)
	})
	if err != nil {
		return nil, err
	}
	return &RestoreResult{DataDir: cfg.DataDir, PeerURLs: self.PeerURLs, MemberID: id, ClusterID: clusterID, Snapshot: snap,
		Index: index, Term: term, Voters: voters, SourceMembersCount: len(snap.Header.Members)}, nil
}

// checkNewDir refuses a target directory that exists and is not empty.
func checkNewDir(flag, dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("server: %s %s: %v", flag, dir, err)
	case len(entries) > 0:
		return fmt.Errorf("%w: %s %s exists and is not empty; it is never overwritten: remove it or choose another directory", ErrDataDirExists, flag, dir)
	}
	return nil
}

// buildDataDir has fill write a data dir under a new temporary name next
// to dir (<dir>.partial-*), then renames it into place and syncs the parent: dir appears whole
// or not at all. A failure removes the temporary directory.
func buildDataDir(dir string, fill func(tmp string) error) error {
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("server: creating %s: %v", filepath.Dir(dir), err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".partial-")
	if err != nil {
		return fmt.Errorf("server: creating a temporary directory next to %s: %v", dir, err)
	}
	if err := fill(tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("server: writing %s: %w", dir, err)
	}
	if err := vfs.OS().SyncDir(tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	// An empty dir left in place (allowed by checkNewDir) goes first.
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return vfs.OS().SyncDir(filepath.Dir(dir))
}
