package server

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/server/node"
	"github.com/raftkv/raftkv/storage"
)

// forceNewCluster is --force-new-cluster, etcd's recovery of a cluster that
// lost a majority for good: before the node starts, this member's log is
// rewritten so that it restarts as the only member of its cluster, with
// every committed entry it holds. As etcd does (restartAsStandaloneNode),
// it
//
//  1. reads the membership at its commit index (the snapshot's, then the
//     committed membership changes after it);
//  2. drops the entries after its commit index: nobody can commit them now;
//  3. appends, in its current term, one membership change per other member
//     removing it (with the key-space commands of DELETE /v2/members/<id>:
//     its records go, it is marked removed) and, if it is not a voter
//     itself (a learner, or a copy made by `raftkvctl backup` under a new
//     id), one adding itself as a voter with its peer URLs;
//  4. persists those entries as committed (hard state commit = the last).
//
// The node then starts as usual: raft replays the committed changes, the
// member is the only voter, elects itself and serves. The cluster id is
// kept. A data dir that is already a one-member cluster with nothing past
// its commit index is left as it is, so the flag may stay on a restart.
//
// Risks (README, "Backup and restore"): writes the old leader acknowledged
// that had not reached this member, or that it had not yet learnt were
// committed, are lost; a removed member that comes back is refused by the
// new cluster (it was marked removed) and must be wiped and re-added.
// Never use it while the other members may still be running: two clusters
// that both believe they are the one would diverge.
func (m *Member) forceNewCluster(bootVoters, bootLearners []uint64) error {
	cfg := m.cfg
	dir := filepath.Join(cfg.DataDir, "member")
	if names, err := cfg.FS.ReadDir(filepath.Join(dir, "wal")); errors.Is(err, fs.ErrNotExist) || (err == nil && len(names) == 0) {
		m.log.Warn("--force-new-cluster: the data dir has no log yet; starting as a new member as usual", "data-dir", cfg.DataDir)
		return nil
	}
	st, err := storage.Open(cfg.FS, dir, storage.Options{ClusterID: m.clusterID, MemberID: m.id, Logger: m.log})
	if err != nil {
		return fmt.Errorf("server: --force-new-cluster: opening %s: %w", dir, err)
	}
	defer st.Close()
	ents, hs, members, err := committedLog(st, bootVoters, bootLearners)
	if err != nil {
		return fmt.Errorf("server: --force-new-cluster: %s: %w", dir, err)
	}
	last, _ := st.LastIndex()
	term := hs.Term
	if n := len(ents); n > 0 && ents[n-1].Term > term {
		term = ents[n-1].Term
	}
	var ccs []raft.ConfChange
	var others []uint64
	for id := range members {
		if id != m.id {
			others = append(others, id)
		}
	}
	slices.Sort(others)
	for _, id := range others {
		ctx, err := node.EncodeConfContext([]*kv.Command{
			{Method: kv.MethodDelete, Path: membersDir + "/" + IDString(id), Dir: true, Recursive: true},
			{Method: kv.MethodPut, Path: removedKey(id), Value: "removed"},
		})
		if err != nil {
			return err
		}
		ccs = append(ccs, raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: id, Context: ctx})
	}
	if learner, ok := members[m.id]; !ok || learner {
		urls := m.bootPeers[m.id]
		if len(urls) == 0 {
			urls = cfg.InitialAdvertisePeerURLs
		}
		ctx, err := node.EncodeConfContext([]*kv.Command{putJSON(raftAttrKey(m.id), raftAttributes{PeerURLs: urls})})
		if err != nil {
			return err
		}
		ccs = append(ccs, raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: m.id, Context: ctx})
	}
	if len(ccs) == 0 && last == hs.Commit {
		m.log.Info("--force-new-cluster: already a one-member cluster; nothing to change", "member", IDString(m.id))
		return nil
	}
	index := hs.Commit
	var add []raft.Entry
	for _, cc := range ccs {
		data, err := cc.Marshal()
		if err != nil {
			return err
		}
		index++
		add = append(add, raft.Entry{Index: index, Term: term, Type: raft.EntryConfChange, Data: data})
	}
	if len(add) == 0 {
		// Only the uncommitted tail to drop: an empty entry replaces it.
		index++
		add = append(add, raft.Entry{Index: index, Term: term})
	}
	if err := st.Save(raft.HardState{Term: term, Vote: hs.Vote, Commit: index}, add, true); err != nil {
		return fmt.Errorf("server: --force-new-cluster: writing %s: %w", dir, err)
	}
	m.log.Warn("--force-new-cluster: this member is now the only member of its cluster",
		"member", IDString(m.id), "cluster", IDString(m.clusterID), "removed", idStrings(others),
		"commit", hs.Commit, "dropped-uncommitted", last-hs.Commit)
	return st.Close()
}

// committedLog reads st's committed entries after its snapshot, its hard
// state, and the membership at its commit index (id → learner): the
// snapshot's, or with none the bootstrap membership, changed by the
// committed membership changes.
func committedLog(st *storage.Storage, bootVoters, bootLearners []uint64) ([]raft.Entry, raft.HardState, map[uint64]bool, error) {
	hs, cs, err := st.InitialState()
	if err != nil {
		return nil, hs, nil, err
	}
	if len(cs.Voters) == 0 {
		cs = raft.ConfState{Voters: bootVoters, Learners: bootLearners}
	}
	members := map[uint64]bool{}
	for _, id := range cs.Voters {
		members[id] = false
	}
	for _, id := range cs.Learners {
		members[id] = true
	}
	first, _ := st.FirstIndex()
	last, _ := st.LastIndex()
	if hs.Commit > last {
		return nil, hs, nil, fmt.Errorf("the hard state commits %d but the log ends at %d", hs.Commit, last)
	}
	var ents []raft.Entry
	if hs.Commit >= first {
		if ents, err = st.Entries(first, hs.Commit+1, math.MaxUint64); err != nil {
			return nil, hs, nil, err
		}
	}
	for _, e := range ents {
		if e.Type != raft.EntryConfChange {
			continue
		}
		cc, err := raft.UnmarshalConfChange(e.Data)
		if err != nil {
			return nil, hs, nil, fmt.Errorf("membership change at %d cannot be decoded: %v", e.Index, err)
		}
		switch cc.Type {
		case raft.ConfChangeAddLearner:
			if _, ok := members[cc.NodeID]; !ok {
				members[cc.NodeID] = true
			}
		case raft.ConfChangeAddVoter:
			members[cc.NodeID] = false
		case raft.ConfChangeRemove:
			delete(members, cc.NodeID)
		}
	}
	return ents, hs, members, nil
}
