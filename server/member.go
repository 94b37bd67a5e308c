package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
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
	"golang.org/x/crypto/bcrypt"
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
	// ForceNewCluster is --force-new-cluster: on a restart, rewrite the
	// membership to this member alone before starting (forcenew.go), to
	// recover the survivor of a cluster that lost its majority for good.
	// An explicit InitialCluster is then not checked against the data
	// dir's cluster.
	ForceNewCluster bool

	// Discovery is --discovery: a directory URL of a v2 key space where
	// the members of a new cluster find each other (discovery.go). With
	// an empty data dir it replaces InitialCluster, and becomes the
	// token; with a data dir it is ignored.
	Discovery string
	// DiscoverySRV is --discovery-srv: a DNS domain whose SRV records
	// list the peer URLs of a new cluster; DiscoverySRVName is
	// --discovery-srv-name, a suffix of the service name
	// (discovery_srv.go).
	DiscoverySRV, DiscoverySRVName string
	// LookupSRV resolves SRV records for DiscoverySRV (nil:
	// net.LookupSRV). Tests hand in their own.
	LookupSRV func(service, proto, name string) (string, []*net.SRV, error)
	// DiscoveryProxy is --discovery-proxy: an HTTP proxy to reach the
	// discovery service through (empty: HTTPS_PROXY and friends).
	DiscoveryProxy string

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
	// BcryptCost is the bcrypt cost of the v2 auth passwords this member
	// hashes (etcd's --bcrypt-cost): 0 means bcrypt.DefaultCost (10);
	// otherwise from bcrypt.MinCost (4) to bcrypt.MaxCost (31). A password
	// keeps the cost it was hashed with.
	BcryptCost int
	// FaultInjection is --experimental-fault-injection. TEST ONLY: it
	// serves /debug/faults, which drops and delays this member's outbound
	// raft messages (faults.go); the nemesis uses it.
	FaultInjection bool

	CORS []string

	Logger *slog.Logger

	// EventHistory is how many events the key space keeps for watches
	// (0: 1000, as v2). Every member of a cluster must use the same.
	EventHistory int
	// WALSegmentSize is the size of a WAL segment (0: 64 MiB). Segments
	// are preallocated, so members on the in-memory disk keep them small.
	WALSegmentSize int64

	// FS is the disk the data dir is on (nil: the OS file system). Tests
	// and client/clienttest run members on the in-memory disk.
	FS vfs.FS

	// ClientTLS and PeerTLS are the two sides' TLS settings (see
	// TLSInfo). A side serves TLS when its listen URL is https; an https
	// URL without a certificate stops startup. Peer TLS covers every peer
	// path: the peer listener, the raft streams and forwarded writes this
	// member dials, and its membership look-ups.
	ClientTLS TLSInfo
	PeerTLS   TLSInfo
	// TLSMinVersion is --tls-min-version (0: tls.VersionTLS12);
	// CipherSuites is --cipher-suites (nil: Go's defaults). Both sides.
	TLSMinVersion uint16
	CipherSuites  []uint16

	// ClientListeners and PeerListener, if set, are used instead of
	// listening on the URLs (tests hand in listeners on free ports). They
	// serve TLS if ClientTLS or PeerTLS has a certificate.
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
	// publishedc is closed by housekeeping at the end of the round in
	// which this member's attributes reached the records (Published).
	publishedc chan struct{}
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
	fastSrvs   []*fastServer // the plain-HTTP client listeners' fast paths (fasthttp.go)
	peerSrv    *http.Server
	peerMux    *peerListener
	httpc      *http.Client // the peer port's HTTP API (membership on join)
	// clientTLS and peerTLS are the sides that serve TLS (nil: plain).
	clientTLS, peerTLS *tlsSide
	forwards           forwards
	// fwdServing counts the forwarded proposals being served (leader
	// side); once fwdStopping is set no more are taken.
	fwdMu       sync.Mutex
	fwdStopping bool
	fwdServing  sync.WaitGroup

	startTime time.Time
	// lock is the data dir's lock (lock.go), held from before the first
	// write to the data dir until Stop has closed the storage; nil on the
	// in-memory disk.
	lock *dirLock
	// backupCopy is the member file of a `raftkvctl backup` copy being
	// started with --force-new-cluster (bootstrap.go), nil otherwise.
	backupCopy *memberFile
	// handler is the client API, built at its first use (Handler).
	handler func() http.Handler
	// handedOver records that Stop handed leadership to another member.
	handedOver atomic.Bool
	stopOnce   sync.Once
	stopErr    error
	bg         sync.WaitGroup
	// lastTick is when the loop last ticked raft (loop only).
	lastTick time.Time
	// faults is the test-only fault injection (faults.go); nil unless
	// MemberConfig.FaultInjection.
	faults *faults
}

// StartMember opens (or bootstraps) the data dir, starts the transport, the
// loop and the HTTP listeners.
func StartMember(cfg MemberConfig) (m *Member, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	m = newMember(cfg)
	// An existing data dir is locked first, so a second raftkv on it is
	// told who holds it (rather than that its ports are taken); a new one
	// is locked by bootstrap once it makes the directory.
	if err := m.lockDataDir(false); err != nil {
		return nil, err
	}
	// Listen before touching the data dir: a port in use must not leave a
	// half-bootstrapped directory behind.
	if err := m.listen(); err != nil {
		_ = m.unlockDataDir()
		return nil, err
	}
	// m is passed in: by the time this runs, "return nil, err" has set the
	// named result to nil.
	defer func(m *Member) {
		if err != nil {
			m.closeListeners()
			_ = m.unlockDataDir()
		}
	}(m)
	peers, learners, err := m.loadOrBootstrap()
	if err != nil {
		return nil, err
	}
	if cfg.ForceNewCluster {
		if err := m.forceNewCluster(peers, learners); err != nil {
			return nil, err
		}
		if mf := m.backupCopy; mf != nil {
			// Now a cluster of its own: it restarts without the flag.
			mf.FromBackup = false
			if err := writeMemberFile(m.cfg.FS, filepath.Join(m.cfg.DataDir, "member.json"), mf); err != nil {
				return nil, err
			}
		}
	}
	if err := m.openNode(peers, learners); err != nil {
		return nil, err
	}
	rc := rpc.Config{
		ID: m.id, ClusterID: m.clusterID, Listener: m.peerMux.rpcListener(),
		Logger: m.log.With("component", "rpc"), OnApp: m.onApp,
	}
	if m.peerTLS != nil {
		// The peer listener does the accepting side's handshake; rpc
		// dials with this member's peer certificate.
		rc.GetClientTLS = m.peerTLS.clientConfig
	}
	m.tr, err = rpc.New(rc)
	if err != nil {
		m.node.Close()
		return nil, err
	}
	m.start()
	return m, nil
}

// setDefaults fills in the defaults of unset fields and checks the timing.
func (cfg *MemberConfig) setDefaults() error {
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
		return fmt.Errorf("server: --election-timeout (%v) must be at least 5 times --heartbeat-interval (%v)", cfg.ElectionTimeout, cfg.HeartbeatInterval)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5*time.Second + 2*cfg.ElectionTimeout
	}
	if cfg.InitialClusterToken == "" {
		cfg.InitialClusterToken = "raftkv-cluster"
	}
	switch cfg.InitialClusterState {
	case "", "new", "existing":
	default:
		// Checked here, not only when bootstrapping: a typo must not pass
		// silently on a restart, where the flag is otherwise ignored.
		return fmt.Errorf("server: --initial-cluster-state must be new or existing, not %q", cfg.InitialClusterState)
	}
	if cfg.FS == nil {
		cfg.FS = vfs.OS()
	}
	if cfg.TLSMinVersion == 0 {
		cfg.TLSMinVersion = tls.VersionTLS12
	}
	switch {
	case cfg.BcryptCost == 0:
		cfg.BcryptCost = bcrypt.DefaultCost
	case cfg.BcryptCost < bcrypt.MinCost || cfg.BcryptCost > bcrypt.MaxCost:
		return fmt.Errorf("server: --bcrypt-cost must be from %d to %d, not %d", bcrypt.MinCost, bcrypt.MaxCost, cfg.BcryptCost)
	}
	return nil
}

// newMember makes a member that has not opened anything yet.
func newMember(cfg MemberConfig) *Member {
	m := &Member{
		cfg:        cfg,
		log:        cfg.Logger,
		reqs:       make(chan func(), 1024),
		stopc:      make(chan struct{}),
		drainc:     make(chan struct{}),
		resync:     make(chan struct{}, 1),
		donec:      make(chan struct{}),
		publishedc: make(chan struct{}),
		changed:    make(chan struct{}),
		metrics:    newMetrics(),
		stats:      newMemberStats(),
		httpc:      &http.Client{Transport: &http.Transport{IdleConnTimeout: time.Minute}},
		startTime:  time.Now(),
	}
	m.stats.rtt = m.metrics.peerRTT
	m.handler = sync.OnceValue(m.newHandler)
	empty := map[uint64]*MemberInfo{}
	m.members.Store(&empty)
	m.view.Store(&view{})
	if cfg.FaultInjection {
		m.faults = newFaults(uint64(time.Now().UnixNano()), m.log)
	}
	return m
}

// openNode opens the node core on the data dir (bootstrapping a new log
// with the given voters and learners).
func (m *Member) openNode(voters, learners []uint64) error {
	cfg := m.cfg
	n, err := node.NewNode(node.Config{
		ID: m.id, ClusterID: m.clusterID, Peers: voters, Learners: learners,
		FS: cfg.FS, Dir: filepath.Join(cfg.DataDir, "member"),
		ElectionTick: int(cfg.ElectionTimeout / cfg.HeartbeatInterval), HeartbeatTick: 1, TickInterval: cfg.HeartbeatInterval,
		Rand:             rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), m.id)),
		SnapshotCount:    cfg.SnapshotCount,
		SnapshotStagger:  snapshotStagger(m.id, voters, cfg.SnapshotCount),
		SegmentSize:      cfg.WALSegmentSize,
		Preallocate:      true,
		ObserveSync:      m.metrics.observeSync,
		LeaseReads:       cfg.LeaseReads,
		KV:               kv.Options{HistorySize: cfg.EventHistory},
		Background:       m.background,
		DropSnapshotData: true,
		Transport:        m,
		Logger:           m.log,
	})
	if err != nil {
		return fmt.Errorf("server: opening data dir %s: %w", cfg.DataDir, err)
	}
	m.node = n
	return nil
}

// snapshotStagger spreads the first snapshots of a cluster's members over
// half of count (node.Config.SnapshotStagger): the member of rank r among
// the n voters, ordered by id, takes its first one r*count/(2n) entries
// early, so that they do not all encode and write their key space at the
// same moment. A member that is not among voters (a learner, one added
// later) is not staggered.
func snapshotStagger(id uint64, voters []uint64, count uint64) uint64 {
	if count == 0 {
		count = 100000 // node.Config's default
	}
	sorted := slices.Sorted(slices.Values(voters))
	r, ok := slices.BinarySearch(sorted, id)
	if !ok {
		return 0
	}
	return uint64(r) * count / uint64(2*len(sorted))
}

// start starts the member's goroutines: the loop, the HTTP servers, the
// peer syncer and housekeeping.
func (m *Member) start() {
	m.metrics.watchStore(func() (uint64, uint64) {
		st := m.node.Store()
		return st.Stats().Watchers, st.Index()
	})
	m.metrics.watchPeers(func() []rpc.PeerStats { return m.tr.Stats().Peers })
	m.syncPeers()
	m.publishView()
	go m.run()
	m.serve()
	m.bg.Add(2)
	go m.watchMembers()
	go m.housekeeping()
	m.log.Info("member started", "name", m.cfg.Name, "id", IDString(m.id), "cluster", IDString(m.clusterID),
		"client-urls", m.cfg.AdvertiseClientURLs, "peer-urls", m.cfg.InitialAdvertisePeerURLs)
}

// ID is the member's id.
func (m *Member) ID() uint64 { return m.id }

// ClusterID is the cluster's id.
func (m *Member) ClusterID() uint64 { return m.clusterID }

// Done is closed when the member has stopped (after Stop, or a fatal
// error: see Err).
func (m *Member) Done() <-chan struct{} { return m.donec }

// Published is closed once this member's name and client URLs are in the
// cluster's member records, at the end of the housekeeping round that put
// them there (on the leader, the round also records the peer URLs of the
// bootstrap members). A client that lists the members after it sees every
// published member's client URLs.
func (m *Member) Published() <-chan struct{} { return m.publishedc }

// Err is the fatal error that stopped the member, if any.
func (m *Member) Err() error {
	if p := m.fatal.Load(); p != nil {
		return *p
	}
	return nil
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
