package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/raftkv/raftkv/vfs"
)

// memberFile is what a member records about itself in its data dir, next
// to the WAL and snapshots, before it writes anything else.
type memberFile struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	ClusterID string `json:"clusterID"`
	Token     string `json:"token"`
	// Peers are the peer URLs known at bootstrap, by hex id: how to reach
	// members until the replicated member records say otherwise.
	Peers map[string][]string `json:"peers"`
	// Voters and Learners (hex ids) are the membership the member
	// bootstrapped with. A restart needs them until a snapshot records the
	// membership: the log only holds the changes made since bootstrap.
	Voters   []string `json:"voters,omitempty"`
	Learners []string `json:"learners,omitempty"`
	// FromBackup marks a copy made by `raftkvctl backup`: its member id is
	// new and no other member knows it, so it can only start with
	// --force-new-cluster, which clears the mark.
	FromBackup bool `json:"fromBackup,omitempty"`
}

// loadOrBootstrap reads the member file of an existing data dir, or
// bootstraps a new one from the --initial-* settings. It returns the
// initial voters and learners for a brand-new log.
func (m *Member) loadOrBootstrap() (voters, learners []uint64, err error) {
	path := filepath.Join(m.cfg.DataDir, "member.json")
	b, err := vfs.ReadFile(m.cfg.FS, path)
	switch {
	case err == nil:
		if m.cfg.Discovery != "" || m.cfg.DiscoverySRV != "" {
			m.log.Warn("discovery token ignored: the data dir already holds a member, which restarts as it was", "data-dir", m.cfg.DataDir)
		}
		return m.restart(path, b)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("server: reading %s: %v", path, err)
	}
	if err := m.discover(); err != nil {
		return nil, nil, err
	}
	return m.bootstrap(path)
}

// restart adopts the member file b read from path: the member comes back
// as what its data dir says it is, and the --initial-* flags only get
// checked against it.
func (m *Member) restart(path string, b []byte) (voters, learners []uint64, err error) {
	cfg := m.cfg
	var mf memberFile
	if err := json.Unmarshal(b, &mf); err != nil {
		return nil, nil, fmt.Errorf("server: %s is damaged (%v); restore the data dir from a backup or remove it and re-add the member", path, err)
	}
	if err := m.adopt(&mf); err != nil {
		return nil, nil, err
	}
	if mf.Name != cfg.Name {
		return nil, nil, fmt.Errorf("%w: %s was created by member %q, but --name is %q; give the right --name or --data-dir", ErrOtherMember, cfg.DataDir, mf.Name, cfg.Name)
	}
	if mf.FromBackup {
		if !cfg.ForceNewCluster {
			return nil, nil, fmt.Errorf("server: %s is a copy made by `raftkvctl backup`, whose member no other member knows; start it with --force-new-cluster to make it a one-member cluster", cfg.DataDir)
		}
		m.backupCopy = &mf
	}
	// --force-new-cluster makes a cluster of this data dir whatever the
	// flags say: a `raftkvctl backup` copy has a cluster id of its own,
	// and is started with the old member's flags.
	if cfg.InitialClusterSet && cfg.InitialClusterState != "existing" && !cfg.ForceNewCluster {
		// The flags' token, not the data dir's (m.token): the check is
		// whether the flags describe the data dir's cluster.
		if want := bootClusterID(cfg.InitialCluster, cfg.InitialClusterToken); want != m.clusterID {
			return nil, nil, fmt.Errorf("%w: %s holds cluster %s, but --initial-cluster and --initial-cluster-token describe cluster %s; point --data-dir at this cluster's member, or move the old data dir away", ErrOtherCluster, cfg.DataDir, IDString(m.clusterID), IDString(want))
		}
	}
	voters, learners, err = mf.bootMembership()
	if err != nil {
		return nil, nil, fmt.Errorf("server: %s is damaged (%v); restore the data dir from a backup or remove it and re-add the member", path, err)
	}
	m.log.Info("restarting from the data dir; --initial-* flags are ignored", "data-dir", cfg.DataDir)
	return voters, learners, nil
}

// bootstrap makes a new member from the --initial-* settings and writes
// its member file at path, before anything else goes into the data dir.
func (m *Member) bootstrap(path string) (voters, learners []uint64, err error) {
	cfg := m.cfg
	if entries, err := cfg.FS.ReadDir(filepath.Join(cfg.DataDir, "member")); err == nil && len(entries) > 0 {
		return nil, nil, fmt.Errorf("server: %s has a member directory but no member.json; it was not written by this raftkv, or is damaged", cfg.DataDir)
	}
	var self *InitialMember
	for i := range cfg.InitialCluster {
		if cfg.InitialCluster[i].Name == cfg.Name {
			self = &cfg.InitialCluster[i]
		}
	}
	if self == nil {
		return nil, nil, fmt.Errorf("%w: --name is %q but --initial-cluster lists only %s; add %s=<its peer URL> to --initial-cluster", ErrNotInInitialCluster, cfg.Name, names(cfg.InitialCluster), cfg.Name)
	}
	if !sameURLs(self.PeerURLs, cfg.InitialAdvertisePeerURLs) {
		return nil, nil, fmt.Errorf("server: --initial-cluster gives %q the peer URLs %v but --initial-advertise-peer-urls is %v; make them the same", cfg.Name, self.PeerURLs, cfg.InitialAdvertisePeerURLs)
	}
	mf := &memberFile{Name: cfg.Name, Token: cfg.InitialClusterToken, Peers: map[string][]string{}}
	switch cfg.InitialClusterState {
	case "", "new":
		voters = m.bootstrapNew(mf, self)
	case "existing":
		if voters, learners, err = m.joinExisting(mf); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("server: --initial-cluster-state must be new or existing, not %q", cfg.InitialClusterState)
	}
	mf.Voters, mf.Learners = idStrings(voters), idStrings(learners)
	if err := m.adopt(mf); err != nil {
		return nil, nil, err
	}
	if err := cfg.FS.MkdirAll(cfg.DataDir); err != nil {
		return nil, nil, fmt.Errorf("server: creating --data-dir %s: %v", cfg.DataDir, err)
	}
	// Before the member file: of two members bootstrapping one new data
	// dir at once, only the lock's holder writes it.
	if err := m.lockDataDir(true); err != nil {
		return nil, nil, err
	}
	if err := writeMemberFile(cfg.FS, path, mf); err != nil {
		return nil, nil, err
	}
	m.log.Info("bootstrapping a new member", "data-dir", cfg.DataDir, "state", cfg.InitialClusterState)
	return voters, learners, nil
}

// bootstrapNew fills in mf for a member of a new cluster: every member of
// --initial-cluster is a voter, and the ids come from the peer URLs and
// the token, so every member derives the same ones.
func (m *Member) bootstrapNew(mf *memberFile, self *InitialMember) (voters []uint64) {
	cfg := m.cfg
	for _, im := range cfg.InitialCluster {
		id := MemberID(im.PeerURLs, cfg.InitialClusterToken, 0)
		voters = append(voters, id)
		mf.Peers[IDString(id)] = im.PeerURLs
	}
	mf.ID = IDString(MemberID(self.PeerURLs, cfg.InitialClusterToken, 0))
	mf.ClusterID = IDString(bootClusterID(cfg.InitialCluster, cfg.InitialClusterToken))
	return voters
}

// joinExisting fills in mf for a member joining a running cluster, which
// must already list it (added through /v2/members): its id and the
// membership come from the cluster.
func (m *Member) joinExisting(mf *memberFile) (voters, learners []uint64, err error) {
	cfg := m.cfg
	joined, err := m.fetchMembers()
	if err != nil {
		return nil, nil, err
	}
	for _, mi := range joined.Members {
		if sameURLs(mi.PeerURLs, cfg.InitialAdvertisePeerURLs) {
			mf.ID = IDString(mi.ID)
		}
		mf.Peers[IDString(mi.ID)] = mi.PeerURLs
		if mi.Learner {
			learners = append(learners, mi.ID)
		} else {
			voters = append(voters, mi.ID)
		}
	}
	if mf.ID == "" {
		return nil, nil, fmt.Errorf("%w: no member of cluster %s has the peer URLs %v; add this member first with `raftkvctl member add %s %s` (or POST /v2/members)", ErrJoin, joined.ClusterID, cfg.InitialAdvertisePeerURLs, cfg.Name, cfg.InitialAdvertisePeerURLs[0])
	}
	mf.ClusterID = joined.ClusterID
	return voters, learners, nil
}

func (m *Member) adopt(mf *memberFile) error {
	id, err := ParseID(mf.ID)
	if err != nil {
		return fmt.Errorf("server: member.json: %v", err)
	}
	cid, err := ParseID(mf.ClusterID)
	if err != nil {
		return fmt.Errorf("server: member.json: cluster %v", err)
	}
	m.id, m.clusterID, m.token = id, cid, mf.Token
	m.bootPeers = map[uint64][]string{}
	for k, urls := range mf.Peers {
		if pid, err := ParseID(k); err == nil {
			m.bootPeers[pid] = urls
		}
	}
	return nil
}

// bootMembership is the membership the member bootstrapped with. A member
// file that does not record it (written before it did) is taken to be from
// a new cluster, whose voters were exactly its bootstrap peers.
func (mf *memberFile) bootMembership() (voters, learners []uint64, err error) {
	vs, ls := mf.Voters, mf.Learners
	if len(vs) == 0 && len(ls) == 0 {
		for k := range mf.Peers {
			vs = append(vs, k)
		}
		slices.Sort(vs)
	}
	if voters, err = parseIDs(vs); err == nil {
		learners, err = parseIDs(ls)
	}
	return voters, learners, err
}

func idStrings(ids []uint64) []string {
	var out []string
	for _, id := range ids {
		out = append(out, IDString(id))
	}
	return out
}

func parseIDs(ss []string) ([]uint64, error) {
	var out []uint64
	for _, s := range ss {
		id, err := ParseID(s)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

func bootClusterID(ims []InitialMember, token string) uint64 {
	var ids []uint64
	for _, im := range ims {
		ids = append(ids, MemberID(im.PeerURLs, token, 0))
	}
	return ClusterID(ids, token)
}

func names(ims []InitialMember) []string {
	var out []string
	for _, im := range ims {
		out = append(out, im.Name)
	}
	return out
}

func sameURLs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// writeMemberFile writes mf as JSON to path durably (vfs.WriteFileAtomic:
// temp file, fsync, rename, directory fsync).
func writeMemberFile(fsys vfs.FS, path string, mf *memberFile) error {
	b, err := json.MarshalIndent(mf, "", "  ")
	if err != nil {
		return err
	}
	if err := vfs.WriteFileAtomic(fsys, path, append(b, '\n')); err != nil {
		return fmt.Errorf("server: writing %s: %w", path, err)
	}
	return nil
}

// fetchMembers asks the other members listed in --initial-cluster for the
// cluster's membership (a member joining an existing cluster).
func (m *Member) fetchMembers() (*peerMembers, error) {
	var errs []error
	for _, im := range m.cfg.InitialCluster {
		if im.Name == m.cfg.Name {
			continue
		}
		for _, u := range im.PeerURLs {
			pm, err := m.getPeerMembers(u)
			if err == nil {
				return pm, nil
			}
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: --initial-cluster names no other member to ask", ErrJoin)
	}
	return nil, fmt.Errorf("%w: no member in --initial-cluster answered (%v); check that the cluster runs and the peer URLs are right", ErrJoin, errors.Join(errs...))
}

func (m *Member) getPeerMembers(peerURL string) (*peerMembers, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL+peerPathMembers, nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.httpc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s: %s", peerURL, resp.Status, b)
	}
	var pm peerMembers
	if err := json.NewDecoder(resp.Body).Decode(&pm); err != nil {
		return nil, fmt.Errorf("%s: %v", peerURL, err)
	}
	return &pm, nil
}
