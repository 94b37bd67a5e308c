package server

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/rpc"
	"github.com/raftkv/raftkv/server/node"
	"github.com/raftkv/raftkv/vfs"
)

// MemberConfig configures a running member (the raftkv server). The flag
// names of cmd/raftkv are etcd's; each field says which.
type MemberConfig struct {
	Name    string // --name
	DataDir string // --data-dir

	ListenClientURLs         []string // --listen-client-urls
	AdvertiseClientURLs      []string // --advertise-client-urls
	ListenPeerURLs           []string // --listen-peer-urls
	InitialAdvertisePeerURLs []string // --initial-advertise-peer-urls
	InitialCluster           []InitialMember
	// InitialClusterSet says --initial-cluster was given explicitly: a
	// restart then checks that it still describes the data dir's cluster.
	InitialClusterSet   bool
	InitialClusterState string // --initial-cluster-state: new or existing
	InitialClusterToken string // --initial-cluster-token

	HeartbeatInterval time.Duration // --heartbeat-interval (also the tick)
	ElectionTimeout   time.Duration // --election-timeout
	SnapshotCount     uint64        // --snapshot-count
	// RequestTimeout bounds a write or linearizable read; past it the
	// outcome is unknown and the client gets error 300.
	RequestTimeout time.Duration
	// Redirect answers writes sent to a follower with a 307 to the leader's
	// client URL instead of forwarding them.
	Redirect bool
	// LeaseReads answers linearizable reads on the leader from its read
	// lease (raft.Config.ReadOnlyLeaseBased) instead of a heartbeat round
	// per batch of reads. Off by default: it is correct only while clocks
	// drift less than one heartbeat interval per election timeout, and
	// every member must run with it.
	LeaseReads  bool
	EnablePprof bool
	CORS        []string

	Logger *slog.Logger

	// ClientListeners and PeerListener, if set, are used instead of
	// listening on the URLs (tests hand in listeners on free ports).
	ClientListeners []net.Listener
	PeerListener    net.Listener
}

// Errors that stop a member from starting. Each message says what to do.
var (
	ErrNotInInitialCluster = errors.New("server: this member is not in --initial-cluster")
	ErrOtherCluster        = errors.New("server: the data dir belongs to another cluster")
	ErrOtherMember         = errors.New("server: the data dir belongs to another member")
	ErrJoin                = errors.New("server: cannot join the existing cluster")
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
}

// view is what the loop publishes after each Ready for other goroutines.
type view struct {
	state            raft.StateType
	lead, term       uint64
	commit, applied  uint64
	voters, learners []uint64
}

// Member is a running raftkv member: the node core in a real-time loop,
// the peer transport, and the HTTP API.
type Member struct {
	cfg       MemberConfig
	log       *slog.Logger
	id        uint64
	clusterID uint64
	token     string
	bootPeers map[uint64][]string

	node    *node.Node
	tr      *rpc.Transport
	metrics *metrics
	stats   *memberStats

	reqs chan func()
	// drainc is closed when Stop begins: open watches end so that the
	// HTTP servers can shut down without waiting for them.
	drainc chan struct{}
	stopc  chan struct{}
	// resync asks watchMembers to sync the transport's peers (buffered 1).
	resync chan struct{}
	donec  chan struct{}
	// fatal holds the error that stopped the loop, if any.
	fatal atomic.Pointer[error]

	view atomic.Pointer[view]
	// changed is closed and replaced whenever the view's role part
	// changes (state, leader, term, membership), so waiters for a leader
	// block on it instead of polling. Waiters for an applied index wait in
	// applied instead: waking every one of them after every Ready cost a
	// goroutine switch per request in flight per Ready.
	changedMu sync.Mutex
	changed   chan struct{}
	appliedMu sync.Mutex
	applied   appliedHeap

	members atomic.Pointer[map[uint64]*MemberInfo]

	clientSrvs []*http.Server
	peerSrv    *http.Server
	peerMux    *peerListener
	httpc      *http.Client // the peer port's HTTP API (membership on join)
	forwards   forwards
	// fwdServing counts the forwarded proposals being served (leader
	// side); once fwdStopping is set no more are taken.
	fwdMu       sync.Mutex
	fwdStopping bool
	fwdServing  sync.WaitGroup

	startTime time.Time
	// handedOver records that Stop handed leadership to another member.
	handedOver atomic.Bool
	stopOnce   sync.Once
	stopErr    error
	bg         sync.WaitGroup
	// lastTick is when the loop last ticked raft (loop only).
	lastTick time.Time
}

// StartMember opens (or bootstraps) the data dir, starts the transport, the
// loop and the HTTP listeners.
func StartMember(cfg MemberConfig) (m *Member, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 100 * time.Millisecond
	}
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = 1000 * time.Millisecond
	}
	if cfg.ElectionTimeout < 5*cfg.HeartbeatInterval {
		return nil, fmt.Errorf("server: --election-timeout (%v) must be at least 5 times --heartbeat-interval (%v)", cfg.ElectionTimeout, cfg.HeartbeatInterval)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5*time.Second + 2*cfg.ElectionTimeout
	}
	if cfg.InitialClusterToken == "" {
		cfg.InitialClusterToken = "raftkv-cluster"
	}
	m = &Member{
		cfg:       cfg,
		log:       cfg.Logger,
		reqs:      make(chan func(), 1024),
		stopc:     make(chan struct{}),
		drainc:    make(chan struct{}),
		resync:    make(chan struct{}, 1),
		donec:     make(chan struct{}),
		changed:   make(chan struct{}),
		metrics:   newMetrics(),
		stats:     newMemberStats(),
		httpc:     &http.Client{Transport: &http.Transport{IdleConnTimeout: time.Minute}},
		startTime: time.Now(),
	}
	m.stats.rtt = m.metrics.peerRTT
	empty := map[uint64]*MemberInfo{}
	m.members.Store(&empty)
	m.view.Store(&view{})

	// Listen before touching the data dir: a port in use must not leave a
	// half-bootstrapped directory behind.
	if err := m.listen(); err != nil {
		return nil, err
	}
	// m is passed in: by the time this runs, "return nil, err" has set the
	// named result to nil.
	defer func(m *Member) {
		if err != nil {
			m.closeListeners()
		}
	}(m)

	peers, learners, err := m.loadOrBootstrap()
	if err != nil {
		return nil, err
	}
	ticks := int(cfg.ElectionTimeout / cfg.HeartbeatInterval)
	m.node, err = node.NewNode(node.Config{
		ID: m.id, ClusterID: m.clusterID, Peers: peers, Learners: learners,
		FS: vfs.OS(), Dir: filepath.Join(cfg.DataDir, "member"),
		ElectionTick: ticks, HeartbeatTick: 1, TickInterval: cfg.HeartbeatInterval,
		Rand:          rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), m.id)),
		SnapshotCount: cfg.SnapshotCount,
		Preallocate:   true,
		ObserveSync:   m.metrics.observeSync,
		LeaseReads:    cfg.LeaseReads,
		Background:    m.background,
		Transport:     m,
		Logger:        m.log,
	})
	if err != nil {
		return nil, fmt.Errorf("server: opening data dir %s: %w", cfg.DataDir, err)
	}
	m.tr, err = rpc.New(rpc.Config{
		ID: m.id, ClusterID: m.clusterID, Listener: m.peerMux.rpcListener(),
		Logger: m.log.With("component", "rpc"), OnApp: m.onApp,
	})
	if err != nil {
		m.node.Close()
		return nil, err
	}
	m.metrics.watchStore(func() (uint64, uint64) {
		st := m.node.Store()
		return st.Stats().Watchers, st.Index()
	})
	m.syncPeers()
	m.publishView()
	go m.run()
	m.serve()
	m.bg.Add(2)
	go m.watchMembers()
	go m.housekeeping()
	m.log.Info("member started", "name", cfg.Name, "id", IDString(m.id), "cluster", IDString(m.clusterID),
		"client-urls", cfg.AdvertiseClientURLs, "peer-urls", cfg.InitialAdvertisePeerURLs)
	return m, nil
}

// ID is the member's id.
func (m *Member) ID() uint64 { return m.id }

// ClusterID is the cluster's id.
func (m *Member) ClusterID() uint64 { return m.clusterID }

// Done is closed when the member has stopped (after Stop, or a fatal
// error: see Err).
func (m *Member) Done() <-chan struct{} { return m.donec }

// Err is the fatal error that stopped the member, if any.
func (m *Member) Err() error {
	if p := m.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

func (m *Member) listen() error {
	if m.cfg.PeerListener == nil {
		if len(m.cfg.ListenPeerURLs) == 0 {
			return errors.New("server: --listen-peer-urls is empty")
		}
		ln, err := listenURL("listen-peer-urls", m.cfg.ListenPeerURLs[0])
		if err != nil {
			return err
		}
		m.cfg.PeerListener = ln
	}
	m.peerMux = newPeerListener(m.cfg.PeerListener)
	if m.cfg.ClientListeners == nil {
		for _, u := range m.cfg.ListenClientURLs {
			ln, err := listenURL("listen-client-urls", u)
			if err != nil {
				m.closeListeners()
				return err
			}
			m.cfg.ClientListeners = append(m.cfg.ClientListeners, ln)
		}
	}
	return nil
}

func listenURL(flag, s string) (net.Listener, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("server: --%s %q: %v", flag, s, err)
	}
	if u.Scheme == "https" {
		return nil, fmt.Errorf("server: --%s %q: TLS is not supported yet; use http://", flag, s)
	}
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("server: --%s %s: cannot listen (%v); is another raftkv or etcd running there? Stop it or choose another port", flag, s, err)
	}
	return ln, nil
}

func (m *Member) closeListeners() {
	if m.peerMux != nil {
		m.peerMux.Close()
	} else if m.cfg.PeerListener != nil {
		m.cfg.PeerListener.Close()
	}
	for _, ln := range m.cfg.ClientListeners {
		ln.Close()
	}
}

// loadOrBootstrap reads the member file of an existing data dir, or
// bootstraps a new one from the --initial-* settings. It returns the
// initial voters and learners for a brand-new log.
func (m *Member) loadOrBootstrap() (voters, learners []uint64, err error) {
	cfg := m.cfg
	path := filepath.Join(cfg.DataDir, "member.json")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
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
		if cfg.InitialClusterSet && cfg.InitialClusterState != "existing" {
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
	case !errors.Is(err, os.ErrNotExist):
		return nil, nil, fmt.Errorf("server: reading %s: %v", path, err)
	}
	if entries, err := os.ReadDir(filepath.Join(cfg.DataDir, "member")); err == nil && len(entries) > 0 {
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
		for _, im := range cfg.InitialCluster {
			id := MemberID(im.PeerURLs, cfg.InitialClusterToken, 0)
			voters = append(voters, id)
			mf.Peers[IDString(id)] = im.PeerURLs
		}
		mf.ID = IDString(MemberID(self.PeerURLs, cfg.InitialClusterToken, 0))
		mf.ClusterID = IDString(bootClusterID(cfg.InitialCluster, cfg.InitialClusterToken))
	case "existing":
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
	default:
		return nil, nil, fmt.Errorf("server: --initial-cluster-state must be new or existing, not %q", cfg.InitialClusterState)
	}
	mf.Voters, mf.Learners = idStrings(voters), idStrings(learners)
	if err := m.adopt(mf); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("server: creating --data-dir %s: %v", cfg.DataDir, err)
	}
	if err := writeFileSync(path, mf); err != nil {
		return nil, nil, err
	}
	m.log.Info("bootstrapping a new member", "data-dir", cfg.DataDir, "state", cfg.InitialClusterState)
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

// writeFileSync writes v as JSON to path durably: temp file, fsync,
// rename, directory fsync.
func writeFileSync(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("server: writing %s: %v", path, err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("server: writing %s: %v", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("server: syncing %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
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

// Send is the node's Transport: it notes heartbeats for the round-trip
// statistics and hands the messages to the peer transport.
func (m *Member) Send(msgs []raft.Message) {
	if len(msgs) == 0 {
		return
	}
	m.stats.sent(msgs)
	m.tr.Send(msgs)
}

// run is the member's loop: the only goroutine that touches the node.
func (m *Member) run() {
	defer close(m.donec)
	ticker := time.NewTicker(m.cfg.HeartbeatInterval)
	defer ticker.Stop()
	m.lastTick = time.Now()
	inbound := m.tr.Inbound()
	for {
		select {
		case now := <-ticker.C:
			if m.cfg.LeaseReads {
				m.catchUpTicks(now)
			} else {
				m.node.Tick(now.UnixNano())
			}
		case msg, ok := <-inbound:
			if !ok {
				return
			}
			m.leaseClock()
			m.step(msg)
			m.drain(inbound)
		case f := <-m.reqs:
			m.leaseClock()
			f()
			m.drain(inbound)
		case <-m.stopc:
			return
		}
		for {
			did, err := m.node.HandleReady()
			if err != nil {
				m.log.Error("member stops: storage or log failure", "err", err)
				m.fatal.Store(&err)
				return
			}
			if !did {
				break
			}
		}
		m.publishView()
	}
}

func (m *Member) step(msg raft.Message) {
	m.stats.received(msg)
	if err := m.node.Step(msg); err != nil {
		m.log.Debug("step", "err", err)
	}
}

// publishView publishes the node's state for other goroutines and wakes
// waiters when it changed.
func (m *Member) publishView() {
	nv := m.node.View()
	cs := m.node.ConfState()
	old := m.view.Load()
	v := &view{state: nv.State, lead: nv.Lead, term: nv.Term, commit: nv.Commit, applied: nv.Applied,
		voters: old.voters, learners: old.learners}
	membership := !slices.Equal(cs.Voters, old.voters) || !slices.Equal(cs.Learners, old.learners)
	if membership {
		v.voters, v.learners = slices.Clone(cs.Voters), slices.Clone(cs.Learners)
	}
	role := membership || v.state != old.state || v.lead != old.lead || v.term != old.term
	if !role && v.commit == old.commit && v.applied == old.applied {
		return
	}
	m.metrics.observeView(old, v, m.id)
	m.view.Store(v)
	if role {
		m.changedMu.Lock()
		close(m.changed)
		m.changed = make(chan struct{})
		m.changedMu.Unlock()
	}
	if v.applied != old.applied {
		m.appliedMu.Lock()
		for len(m.applied) > 0 && m.applied[0].index <= v.applied {
			close(heap.Pop(&m.applied).(appliedWaiter).ch)
		}
		m.appliedMu.Unlock()
	}
	if membership {
		select {
		case m.resync <- struct{}{}:
		default: // a resync is already pending
		}
		if m.wasRemoved(old, v) {
			m.stopRemoved("this member was removed from the cluster; stopping")
		}
	}
}

// askRemoved asks the other members whether this one was removed.
func (m *Member) askRemoved() bool {
	for id, urls := range m.bootPeersAndRecords() {
		if id == m.id {
			continue
		}
		for _, u := range urls {
			pm, err := m.getPeerMembers(u)
			if err != nil {
				continue
			}
			return slices.Contains(pm.Removed, IDString(m.id))
		}
	}
	return false
}

// bootPeersAndRecords maps every member this member knows of, from the
// bootstrap map or the records, to its peer URLs.
func (m *Member) bootPeersAndRecords() map[uint64][]string {
	out := map[uint64][]string{}
	for id := range m.bootPeers {
		out[id] = m.peerURLs(id)
	}
	for id := range *m.members.Load() {
		out[id] = m.peerURLs(id)
	}
	return out
}

// stopRemoved records ErrRemoved and stops the member in the background
// (Stop waits for the goroutines that call this).
func (m *Member) stopRemoved(msg string) {
	m.fatal.CompareAndSwap(nil, &ErrRemoved)
	m.log.Warn(msg)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
	}()
}

// ErrRemoved is the cause of a member's stop when the cluster removed it.
var ErrRemoved = errors.New("server: this member was removed from the cluster")

// wasRemoved reports whether the member belonged to the old membership but
// not to the new one.
func (m *Member) wasRemoved(old, v *view) bool {
	in := func(v *view) bool { return slices.Contains(v.voters, m.id) || slices.Contains(v.learners, m.id) }
	return in(old) && !in(v)
}

// waitChange returns the view and a channel closed at its next change.
func (m *Member) waitChange() (*view, <-chan struct{}) {
	m.changedMu.Lock()
	defer m.changedMu.Unlock()
	return m.view.Load(), m.changed
}

// errStopped is the cause of a request cut short by a stopping member.
var errStopped = errors.New("server: member is stopping")

// catchUpTicks gives raft every tick that real time has passed since the
// last one (under LeaseReads). A ticker drops the ticks a stalled process
// (SIGSTOP, a long pause) missed, and raft's lease counts ticks: without
// this, a leader resumed after an election elsewhere would think its
// lease still ran. Called on every tick, and through leaseClock whenever
// the loop wakes for a message or a request (a read among them).
func (m *Member) catchUpTicks(now time.Time) {
	for now.Sub(m.lastTick) >= m.cfg.HeartbeatInterval {
		m.lastTick = m.lastTick.Add(m.cfg.HeartbeatInterval)
		m.node.Tick(now.UnixNano())
	}
}

// leaseClock catches up raft's ticks under LeaseReads, before the loop
// handles what woke it.
func (m *Member) leaseClock() {
	if m.cfg.LeaseReads {
		m.catchUpTicks(time.Now())
	}
}

// drain takes what else has arrived, messages and requests alike (up to
// a bound, so ticks are not starved), so that one Ready answers it all:
// one WAL write and one fsync for every proposal and acknowledgement that
// arrived while the last one ran.
func (m *Member) drain(inbound <-chan raft.Message) {
	for range 512 {
		select {
		case msg, ok := <-inbound:
			if !ok {
				return
			}
			m.step(msg)
		case f := <-m.reqs:
			f()
		default:
			return
		}
	}
}

// background runs a node's snapshot work on its own goroutine and hands
// the finish back to the loop. Stop waits for it (m.bg) before it closes
// the storage; a finish that finds the loop gone is dropped, which leaves
// at most a snapshot file that no WAL marker names.
func (m *Member) background(work func() (finish func())) {
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		finish := work()
		select {
		case m.reqs <- finish:
		case <-m.donec:
		}
	}()
}

// do runs f on the loop goroutine.
func (m *Member) do(ctx context.Context, f func()) error {
	select {
	case m.reqs <- f:
		return nil
	case <-m.donec:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitLeader waits until the member knows a leader.
func (m *Member) waitLeader(ctx context.Context) (*view, error) {
	for {
		v, ch := m.waitChange()
		if v.lead != raft.None {
			return v, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, errNoLeader
		case <-m.donec:
			return nil, errStopped
		}
	}
}

// waitLeaderOtherThan waits until the view's leader is not lead (another
// member, or none).
func (m *Member) waitLeaderOtherThan(ctx context.Context, lead uint64) error {
	if v, ch := m.waitChange(); v.lead == lead {
		select {
		case <-ch:
		case <-ctx.Done():
			return errNoLeader
		case <-m.donec:
			return errStopped
		}
	}
	return nil
}

var errNoLeader = errors.New("server: no leader (election in progress or no quorum)")

// waitApplied waits until the member has applied index.
func (m *Member) waitApplied(ctx context.Context, index uint64) error {
	if m.view.Load().applied >= index {
		return nil
	}
	m.appliedMu.Lock()
	// Checked again under the lock: publishView stores the view before it
	// takes the lock to release waiters.
	if m.view.Load().applied >= index {
		m.appliedMu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	heap.Push(&m.applied, appliedWaiter{index: index, ch: ch})
	m.appliedMu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.donec:
		return errStopped
	}
}

// appliedWaiter is a waitApplied call; appliedHeap orders them by index.
type appliedWaiter struct {
	index uint64
	ch    chan struct{}
}

type appliedHeap []appliedWaiter

func (h appliedHeap) Len() int           { return len(h) }
func (h appliedHeap) Less(i, j int) bool { return h[i].index < h[j].index }
func (h appliedHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *appliedHeap) Push(x any)        { *h = append(*h, x.(appliedWaiter)) }
func (h *appliedHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	return w
}

// proposal is a command or a membership change to run through the log.
type proposal struct {
	Cmd []byte           `msgpack:"c,omitempty"`
	CC  *raft.ConfChange `msgpack:"cc,omitempty"`
	// cmd is the command itself, when the proposal was made here: the
	// leader then proposes it without an encode and decode, and a
	// follower encodes it into Cmd only to forward it.
	cmd *kv.Command
}

// encoded fills in p.Cmd from p.cmd, for sending.
func (p proposal) encoded() (proposal, error) {
	if p.cmd == nil || p.Cmd != nil {
		return p, nil
	}
	b, err := p.cmd.Encode()
	p.Cmd = b
	return p, err
}

// proposeLocal proposes on this member, which must lead. It returns the
// applied result, *raft.NotLeaderError (nothing was proposed), or another
// error whose outcome is unknown if the proposal was accepted.
func (m *Member) proposeLocal(ctx context.Context, p proposal) (node.Result, error) {
	var cmd *kv.Command
	switch {
	case p.CC != nil:
	case p.cmd != nil:
		// A copy: the node keeps the command until it applies it, and the
		// caller may propose the same one again.
		c := *p.cmd
		cmd = &c
	default:
		var err error
		if cmd, err = kv.DecodeCommand(p.Cmd); err != nil {
			return node.Result{}, err
		}
	}
	// One channel carries the outcome whichever way it goes: refused by
	// the node (nothing proposed), or applied. A second channel for the
	// refusal would wake this goroutine twice per write.
	type outcome struct {
		r       node.Result
		refused error
	}
	out := make(chan outcome, 1)
	done := func(r node.Result) { out <- outcome{r: r} }
	err := m.do(ctx, func() {
		var err error
		if p.CC != nil {
			err = m.node.ProposeConfChange(*p.CC, done)
		} else {
			err = m.node.Propose(cmd, time.Now().UnixNano(), done)
		}
		if err != nil {
			out <- outcome{refused: err}
			return
		}
		m.metrics.proposals.Inc()
	})
	if err != nil {
		return node.Result{}, err
	}
	// Counted from here, where the request starts waiting, until it stops.
	m.metrics.pending.Inc()
	defer m.metrics.pending.Dec()
	select {
	case o := <-out:
		if o.refused != nil {
			return node.Result{}, o.refused
		}
		if o.r.Err != nil && !isKVError(o.r.Err) {
			m.metrics.proposalsFailed.Inc()
		}
		return o.r, nil
	case <-ctx.Done():
		// The closure may not have run yet, or the proposal may be in the
		// log: either way the outcome is unknown.
		m.metrics.proposalsFailed.Inc()
		return node.Result{}, errTimeout
	case <-m.donec:
		return node.Result{}, errStopped
	}
}

var errTimeout = errors.New("server: request timed out (the outcome is unknown: it may still be applied)")

func isKVError(err error) bool {
	var ke *kv.Error
	return errors.As(err, &ke)
}

// propose runs p through the log from any member: locally on the leader,
// or forwarded over the peer port to the leader. The answer comes once
// this member has applied the entry too, so a client reads its own write
// on the member it wrote through.
func (m *Member) propose(ctx context.Context, p proposal) (node.Result, error) {
	for {
		v, err := m.waitLeader(ctx)
		if err != nil {
			return node.Result{}, err
		}
		var r node.Result
		if v.lead == m.id {
			r, err = m.proposeLocal(ctx, p)
		} else {
			r, err = m.forward(ctx, v.lead, p)
		}
		var nle *raft.NotLeaderError
		if errors.As(err, &nle) || errors.Is(err, errForwardNotLeader) {
			// Leadership moved before anything was proposed: try again
			// with the new leader (or wait for one).
			if err := m.waitLeaderOtherThan(ctx, v.lead); err != nil {
				return node.Result{}, err
			}
			continue
		}
		if err != nil {
			return node.Result{}, err
		}
		if r.Index > 0 {
			if err := m.waitApplied(ctx, r.Index); err != nil {
				// Applied by the cluster, but not yet here: answer anyway.
				m.log.Debug("answer before local apply", "index", r.Index)
			}
		}
		return r, nil
	}
}

// readIndex waits for a linearizable read point (raft's ReadIndex): once it
// returns, a read of the local store is linearizable.
func (m *Member) readIndex(ctx context.Context) error {
	for {
		v, err := m.waitLeader(ctx)
		if err != nil {
			return err
		}
		idxc := make(chan uint64, 1)
		errc := make(chan error, 1)
		if err := m.do(ctx, func() {
			errc <- m.node.ReadIndex(func(i uint64) { idxc <- i })
		}); err != nil {
			return err
		}
		if err := <-errc; err != nil {
			// Refused: no leader known to raft right now. Wait for a change.
			if err := m.waitLeaderOtherThan(ctx, v.lead); err != nil {
				return err
			}
			continue
		}
		// A read can be lost with a leader change; retry it on the next
		// view change rather than waiting out the whole timeout.
		for {
			_, ch := m.waitChange()
			select {
			case i := <-idxc:
				// Also wait for the view (membership, indexes) to show
				// what was applied up to the read index.
				return m.waitApplied(ctx, i)
			case <-ch:
				if nv := m.view.Load(); nv.lead != v.lead || nv.term != v.term {
					goto retry
				}
			case <-ctx.Done():
				return errTimeout
			case <-m.donec:
				return errStopped
			}
		}
	retry:
	}
}

// syncPeers makes the transport's peer set the current membership, with
// addresses from the member records (or the bootstrap map).
func (m *Member) syncPeers() {
	records := readMembers(m.node.Store())
	m.members.Store(&records)
	v := m.view.Load()
	want := map[uint64]string{}
	for _, id := range append(slices.Clone(v.voters), v.learners...) {
		if id == m.id {
			continue
		}
		urls := m.peerURLs(id)
		if len(urls) == 0 {
			m.log.Warn("no peer URL known for member", "id", IDString(id))
			continue
		}
		u, err := url.Parse(urls[0])
		if err != nil {
			continue
		}
		want[id] = u.Host
	}
	have := map[uint64]string{}
	for _, ps := range m.tr.Stats().Peers {
		have[ps.ID] = ps.Addr
	}
	for id, addr := range want {
		switch old, ok := have[id]; {
		case !ok:
			if err := m.tr.AddPeer(id, addr); err != nil {
				m.log.Warn("adding peer", "id", IDString(id), "err", err)
			}
		case old != addr:
			if err := m.tr.UpdatePeer(id, addr); err != nil {
				m.log.Warn("updating peer", "id", IDString(id), "err", err)
			}
		}
	}
	for id := range have {
		if _, ok := want[id]; !ok {
			_ = m.tr.RemovePeer(id)
		}
	}
}

// watchMembers is the one goroutine that syncs the transport's peers: when
// the member records in the store change, and when the loop signals a
// membership change (resync).
func (m *Member) watchMembers() {
	defer m.bg.Done()
	for {
		w, err := m.node.Store().Watch(membersDir, true, true, 0)
		if err != nil {
			m.log.Warn("watching member records", "err", err)
			return
		}
		m.syncPeers()
	events:
		for {
			select {
			case _, ok := <-w.Events():
				if !ok {
					break events
				}
				m.syncPeers()
			case <-m.resync:
				m.syncPeers()
			case <-m.stopc:
				w.Remove()
				return
			}
		}
	}
}

// housekeeping publishes this member's name and client URLs, and, on the
// leader, records the peer URLs of bootstrap members that have no record
// yet, so /v2/members is complete on every member.
func (m *Member) housekeeping() {
	defer m.bg.Done()
	t := time.NewTicker(m.cfg.HeartbeatInterval * 5)
	defer t.Stop()
	published := false
	leaderless := 0 // ticks of t without a leader
	for {
		select {
		case <-m.stopc:
			return
		case <-t.C:
		}
		v := m.view.Load()
		if v.lead == raft.None {
			leaderless++
			// A member cut off for several election timeouts asks its peers
			// whether it was removed (it cannot learn that from the log).
			if time.Duration(leaderless)*5*m.cfg.HeartbeatInterval >= 2*m.cfg.ElectionTimeout {
				leaderless = 0
				if m.askRemoved() {
					m.stopRemoved("the cluster removed this member; stopping")
					return
				}
			}
			continue
		}
		leaderless = 0
		records := *m.members.Load()
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.RequestTimeout)
		if !published {
			want := attributes{Name: m.cfg.Name, ClientURLs: m.cfg.AdvertiseClientURLs}
			if r := records[m.id]; r != nil && r.Name == want.Name && slices.Equal(r.ClientURLs, want.ClientURLs) {
				published = true
			} else if m.proposeCmd(ctx, putJSON(attrKey(m.id), want)) == nil {
				published = true
				m.log.Info("published member attributes", "name", want.Name, "client-urls", want.ClientURLs)
			}
		}
		if v.lead == m.id {
			for _, id := range v.voters {
				if r := records[id]; (r == nil || len(r.PeerURLs) == 0) && len(m.bootPeers[id]) > 0 {
					cmd := putJSON(raftAttrKey(id), raftAttributes{PeerURLs: m.bootPeers[id]})
					cmd.PrevExist = kv.Bool(false)
					_ = m.proposeCmd(ctx, cmd)
				}
			}
		}
		cancel()
	}
}

func (m *Member) proposeCmd(ctx context.Context, cmd *kv.Command) error {
	r, err := m.propose(ctx, proposal{cmd: cmd})
	if err != nil {
		return err
	}
	return r.Err
}

// Stop shuts the member down gracefully: it stops accepting requests,
// lets those in flight finish (up to the context), hands leadership to the
// most caught-up voter if it leads, syncs and closes its storage.
func (m *Member) Stop(ctx context.Context) error {
	// Once.Do returns to every caller only after the first call's stop has
	// finished, so a second Stop waits for the first.
	m.stopOnce.Do(func() { m.stopErr = m.stop(ctx) })
	return m.stopErr
}

func (m *Member) stop(ctx context.Context) error {
	close(m.drainc)
	for _, s := range m.clientSrvs {
		_ = s.Shutdown(ctx)
	}
	m.transferOnShutdown(ctx)
	if m.peerSrv != nil {
		_ = m.peerSrv.Shutdown(ctx)
	}
	m.drainForwards(ctx)
	close(m.stopc)
	<-m.donec
	m.bg.Wait()
	m.peerMux.Close()
	trErr := m.tr.Close()
	syncErr := m.node.Storage().Sync()
	closeErr := m.node.Close()
	m.log.Info("member stopped", "name", m.cfg.Name)
	return errors.Join(m.Err(), trErr, syncErr, closeErr)
}

// transferOnShutdown hands leadership over before a leader exits, so the
// cluster does not wait an election timeout for a new one (thesis §3.10).
func (m *Member) transferOnShutdown(ctx context.Context) {
	v := m.view.Load()
	if v.lead != m.id || len(v.voters) < 2 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ElectionTimeout)
	defer cancel()
	targetc := make(chan uint64, 1)
	if err := m.do(ctx, func() { t, _ := m.node.Stepdown(); targetc <- t }); err != nil {
		return
	}
	var target uint64
	select {
	case target = <-targetc:
	case <-m.donec:
		return
	}
	for {
		v, ch := m.waitChange()
		if v.lead != m.id && v.lead != raft.None {
			m.handedOver.Store(true)
			m.log.Info("handed leadership over before stopping", "to", IDString(v.lead))
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if v.lead != m.id {
				// Stepped down; the new leader is not known here yet.
				m.handedOver.Store(true)
				m.log.Info("stepped down before stopping", "transferee", IDString(target))
				return
			}
			m.log.Warn("leadership transfer did not finish before stopping", "transferee", IDString(target))
			return
		}
	}
}
