package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/raftkv/raftkv/internal/plant"
	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/tracker"
	"github.com/raftkv/raftkv/storage"
	"github.com/raftkv/raftkv/vfs"
)

// Transport hands messages to peers. Send must not block: a message it
// cannot deliver is dropped (Raft retransmits).
type Transport interface {
	Send(msgs []raft.Message)
}

// Config configures a Node.
type Config struct {
	ID, ClusterID uint64
	// Peers are the initial voters, this member included. They are used to
	// bootstrap a brand-new data directory and, until the first snapshot
	// records membership, to restart one.
	Peers []uint64
	// Learners are the initial learners. A member joining an existing
	// cluster starts with the cluster's voters as Peers and itself here, so
	// that replaying the leader's log from its start yields the same
	// membership as everyone else's.
	Learners []uint64

	FS  vfs.FS
	Dir string

	// ElectionTick and HeartbeatTick are raft's timeouts in ticks;
	// TickInterval is how long a tick is meant to last. The node never reads
	// a clock: TickInterval only converts tick counts into the durations
	// that go into log entries (the TTL grace after a leader change).
	ElectionTick, HeartbeatTick int
	TickInterval                time.Duration
	// ElectionTickMax is passed to raft.Config (0: election timeouts are
	// drawn from [ElectionTick, 2*ElectionTick)).
	ElectionTickMax int
	// SyncInterval is how often a leader with TTL keys proposes a time
	// entry so that keys expire without client traffic (0: 500ms, as v2).
	SyncInterval time.Duration

	// Rand seeds raft's election timeouts and the numbering of this
	// life's proposals and reads: each start of a member needs a seed of
	// its own, or a late answer meant for an earlier life may be taken
	// for one of this life's.
	Rand *rand.Rand

	// MaxSizePerMsg, DisablePreVote and DisableCheckQuorum are passed to
	// raft.Config (zero values: raft's defaults). The simulator varies them;
	// MaxSizePerMsg 1 sends one entry per append.
	MaxSizePerMsg                      uint64
	DisablePreVote, DisableCheckQuorum bool
	// SnapshotChunkSize is the largest piece of a snapshot in one MsgSnap
	// (0: raft's default, 1 MiB). The simulator makes it small so that
	// transfers take many chunks.
	SnapshotChunkSize uint64

	KV          kv.Options
	SegmentSize int64
	// Preallocate fills WAL segments with zeros ahead of use
	// (log.Options.Preallocate): the real server's disks sync faster.
	Preallocate bool
	// ObserveSync, if set, is told how long each WAL or snapshot file
	// sync took (storage.Options.ObserveSync).
	ObserveSync func(time.Duration)
	// SnapshotCount: after this many entries applied since the last
	// snapshot, the member snapshots its key space and compacts its log
	// (etcd's --snapshot-count). 0 means 100000, etcd 3's default: each
	// snapshot encodes and writes the whole key space, and at 10000 (etcd
	// 2's) a busy member spent much of its time and disk doing so.
	SnapshotCount uint64
	// SnapshotStagger brings the member's first snapshot of a log that
	// has none this many entries earlier (below SnapshotCount; larger
	// values are capped). Members of a cluster started together would
	// otherwise all snapshot at the same index, at the same moment, and
	// writes stall while every member encodes and writes its key space at
	// once. Later snapshots follow every SnapshotCount entries, so the
	// members stay apart. 0 (the simulator): no stagger.
	SnapshotStagger uint64
	Transport       Transport
	Logger          *slog.Logger

	// LeaseReads turns on raft's read lease (raft.Config.
	// ReadOnlyLeaseBased): a leader answers ReadIndex from its lease while
	// it holds one. Correct only if ticks arrive on time and clocks drift
	// less than one tick per election timeout.
	LeaseReads bool

	// SerialLeaderWrites makes a leader persist its new entries before
	// sending them, like every other message, instead of in parallel with
	// replication (thesis §10.2.1). For comparison and tests.
	SerialLeaderWrites bool

	// Background, if set, takes the slow half of a snapshot (encoding the
	// key space and writing the file) off the Node's goroutine: the Node
	// calls Background(work) from HandleReady, work may run on any
	// goroutine, and the finish function it returns must then be called on
	// the Node's goroutine, like any Node method (it compacts the log).
	// Until then the Node keeps applying and starts no other snapshot. Nil
	// (the simulator): snapshots are taken whole inside HandleReady.
	Background func(work func() (finish func()))

	// DropSnapshotData keeps the newest snapshot's data in its file
	// rather than in memory (storage.Storage.DropSnapshotData) whenever
	// no follower is being sent one: the data is as large as the key
	// space, and needed only for such a transfer, which reads the file
	// back. The member's own snapshots are then encoded straight into
	// their file (storage.Storage.PrepareSnapshotStream), never whole in
	// memory. Off (the simulator), the storage keeps the data, and a
	// snapshot is encoded into a buffer and then written.
	DropSnapshotData bool

	// OnReady, if set, sees every Ready before it is handled (the
	// simulator's trace and checkers use it).
	OnReady func(rd raft.Ready)

	// bugs are deliberate defects, planted only by tests and the simulator
	// through package internal/plant (plant.Node.Plant).
	bugs plant.Node
}

func init() {
	plant.HookNode(func(cfg any, bugs plant.Node) bool {
		c, ok := cfg.(*Config)
		if ok {
			c.bugs = bugs
		}
		return ok
	})
}

// Result is the outcome of a proposed command, once its entry is applied
// (or known lost).
type Result struct {
	// Event is the v2 response body; nil when Err is set.
	Event *kv.Event
	// Err is a *kv.Error when the store refused the command, or
	// ErrProposalLost.
	Err error
	// Index and Term are the raft position of the entry.
	Index, Term uint64
}

// Errors of the node core.
var (
	// ErrProposalLost: another entry was committed at the index the
	// proposal was given (a leader change overwrote it). The command
	// certainly did not take effect; the client may retry.
	ErrProposalLost = errors.New("server: proposal lost to a leader change")
	// ErrCorruptEntry: a committed entry could not be decoded. The member
	// stops: skipping an entry would make it diverge.
	ErrCorruptEntry = errors.New("server: committed entry cannot be decoded")
)

type readyRead struct {
	index uint64
	done  func(index uint64)
}

type pending struct {
	done func(Result)
	// data is the entry as proposed and cmd its command. The entry applied
	// at the index is ours only if it has the same bytes (the envelope
	// names this member and a sequence number of this life), and then cmd
	// is applied instead of decoding them again. A membership change has
	// no cmd: its entry carries no envelope, and the index alone
	// identifies it (a leader change that overwrites it applies a
	// different entry there).
	data []byte
	cmd  *kv.Command
}

func (p pending) confChange() bool { return p.cmd == nil }

// Node is one member driven synchronously: the caller feeds it ticks,
// messages and proposals, and calls HandleReady until it returns false.
// It starts no goroutines and reads no clock (time comes in as arguments),
// so the simulator and the real-time server run exactly this code.
// A Node is not safe for concurrent use, except for its Store's read side.
type Node struct {
	cfg   Config
	raw   *raft.RawNode
	st    *storage.Storage
	store *kv.Store

	// waits[index] is the proposal this member made at that index.
	waits map[uint64]pending
	// seq numbers this member's proposals. It starts at a random point in
	// each life of the member, so an entry proposed before a restart is
	// never mistaken for one proposed after it.
	seq uint64

	// confState is the membership after the last applied change: what the
	// next snapshot records.
	confState raft.ConfState
	// snapIndex is the index of the newest snapshot.
	snapIndex uint64
	applied   uint64
	// reads waiting for their ReadIndex, keyed by request context, and
	// confirmed reads waiting for the apply index to reach theirs.
	readSeq    uint64
	readWaits  map[string]func(index uint64)
	readyReads []readyRead

	// snapshotting is set while a Background snapshot is being written;
	// bgErr is its failure, returned by the next HandleReady.
	snapshotting bool
	bgErr        error
	// snapLen is the length of the newest snapshot's data and sinceSnap
	// the bytes of the entries applied after it that created a key:
	// together (and a sixteenth more) an estimate of the next snapshot's
	// size, which its buffer is given at once instead of doubling its way
	// there (each doubling a copy, and the old and the new buffer held
	// together: the member's peak memory). Overwrites are not counted: a
	// key space rewritten in place does not grow, and a buffer sized by
	// every entry would be many times its size.
	snapLen, sinceSnap int

	lastSyncNs int64
	graceNs    int64
	syncNs     int64
	// bugSnap is the key space before the last batch was applied
	// (plant.Node.SnapshotBeforeApply).
	bugSnap []byte
}

// NewNode opens (or creates) the member's data directory and starts it: a
// fresh directory bootstraps a new cluster of cfg.Peers; an existing one
// resumes from its snapshot and log, re-applying committed entries.
func NewNode(cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SnapshotCount == 0 {
		cfg.SnapshotCount = 100000
	}
	if cfg.SnapshotStagger >= cfg.SnapshotCount {
		cfg.SnapshotStagger = cfg.SnapshotCount - 1
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = 500 * time.Millisecond
	}
	st, err := storage.Open(cfg.FS, cfg.Dir, storage.Options{
		ClusterID: cfg.ClusterID, MemberID: cfg.ID, SegmentSize: cfg.SegmentSize, Preallocate: cfg.Preallocate,
		ObserveSync: cfg.ObserveSync, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:       cfg,
		st:        st,
		store:     kv.New(cfg.KV),
		waits:     map[uint64]pending{},
		readWaits: map[string]func(uint64){},
		graceNs:   int64(cfg.ElectionTick) * int64(cfg.TickInterval),
		syncNs:    int64(cfg.SyncInterval),
	}
	n.seq = cfg.Rand.Uint64() >> 1
	// Read requests too are numbered from a random point in each life: an
	// answer to a read asked before a restart, arriving late, must not
	// answer one asked after it (its index may miss writes acknowledged in
	// between).
	n.readSeq = n.seq
	snap, err := st.Snapshot()
	if err != nil {
		return nil, err
	}
	if !snap.IsEmpty() {
		if err := n.store.Restore(bytes.NewReader(snap.Data)); err != nil {
			st.Close()
			return nil, fmt.Errorf("server: restoring snapshot %d: %w", snap.Metadata.Index, err)
		}
		if cfg.DropSnapshotData {
			st.DropSnapshotData()
		}
	}
	rc := &raft.Config{
		ID: cfg.ID, ElectionTick: cfg.ElectionTick, ElectionTickMax: cfg.ElectionTickMax,
		HeartbeatTick: cfg.HeartbeatTick, Storage: st, Applied: snap.Metadata.Index, Rand: cfg.Rand,
		MaxSizePerMsg: cfg.MaxSizePerMsg, DisablePreVote: cfg.DisablePreVote,
		DisableCheckQuorum: cfg.DisableCheckQuorum,
		SnapshotChunkSize:  cfg.SnapshotChunkSize,
		ReadOnlyLeaseBased: cfg.LeaseReads,
	}
	cfg.bugs.Raft.Plant(rc)
	n.snapIndex, n.applied = snap.Metadata.Index, snap.Metadata.Index
	n.snapLen = len(snap.Data)
	n.confState = snap.Metadata.ConfState
	if _, cs, _ := st.InitialState(); len(cs.Voters) == 0 {
		rc.Peers, rc.Learners = cfg.Peers, cfg.Learners
		n.confState = raft.ConfState{Voters: append([]uint64(nil), cfg.Peers...), Learners: append([]uint64(nil), cfg.Learners...)}
	}
	n.raw, err = raft.NewRawNode(rc)
	if err != nil {
		st.Close()
		return nil, err
	}
	return n, nil
}

// View is the node's position in the cluster at one moment: what the
// real-time layer publishes after each Ready for its other goroutines.
type View struct {
	State           raft.StateType
	Lead, Term      uint64
	Commit, Applied uint64
}

// View returns the node's current View, without the copying Status does.
func (n *Node) View() View {
	ss := n.raw.SoftState()
	hs := n.raw.HardState()
	return View{State: ss.RaftState, Lead: ss.Lead, Term: hs.Term, Commit: hs.Commit, Applied: n.applied}
}

// Store is the member's key space, for local reads and watches.
func (n *Node) Store() *kv.Store { return n.store }

// Storage is the member's durable state (read-only use).
func (n *Node) Storage() *storage.Storage { return n.st }

// Status is raft's view of the member.
func (n *Node) Status() raft.Status { return n.raw.Status() }

// VisitProgress calls visit with each member's replication progress, by
// increasing id, if this member leads: Status().Progress without the
// copying (raft.RawNode.VisitProgress).
func (n *Node) VisitProgress(visit func(id uint64, pr tracker.Progress)) {
	n.raw.VisitProgress(visit)
}

// ID is the member's id.
func (n *Node) ID() uint64 { return n.cfg.ID }

// Close closes the storage. A closed node must not be used.
func (n *Node) Close() error { return n.st.Close() }

// Tick advances raft's clock by one tick; nowNs is the caller's clock
// (wall or virtual), used to stamp the time entries a leader proposes.
func (n *Node) Tick(nowNs int64) {
	n.raw.Tick()
	st := n.raw.SoftState()
	if st.RaftState == raft.StateLeader && n.store.HasTTLs() && nowNs-n.lastSyncNs >= n.syncNs {
		n.lastSyncNs = nowNs
		cmd := &kv.Command{Method: kv.MethodSync, TimeUnixNano: nowNs}
		// A failure means leadership was just lost: nothing to do.
		_ = n.propose(cmd, nil)
	}
}

// Step hands the member a message from a peer.
func (n *Node) Step(m raft.Message) error { return n.raw.Step(m) }

// Campaign starts an election now (tests and tools).
func (n *Node) Campaign() { n.raw.Campaign() }

// Propose proposes a client command stamped with nowNs. done is called from
// HandleReady once the entry is applied or known lost; if the leader loses
// its leadership and the entry never reaches this member, done is never
// called and the caller's timeout decides (the outcome is then unknown).
// A member that does not lead returns *raft.NotLeaderError.
func (n *Node) Propose(cmd *kv.Command, nowNs int64, done func(Result)) error {
	if cmd.TimeUnixNano == 0 {
		cmd.TimeUnixNano = nowNs
	}
	return n.propose(cmd, done)
}

func (n *Node) propose(cmd *kv.Command, done func(Result)) error {
	b, err := cmd.Encode()
	if err != nil {
		return err
	}
	n.seq++
	data := encodeEnvelope(&envelope{From: n.cfg.ID, Seq: n.seq, Cmd: b})
	index, err := n.raw.Propose(data)
	if err != nil {
		return err
	}
	if done != nil {
		// An earlier proposal of ours at this index was cut from our log
		// by another leader. It is forgotten without an answer: another
		// member may still hold it and a later leader may commit it, so
		// its outcome is unknown (the caller's timeout says so).
		n.waits[index] = pending{done: done, data: data, cmd: cmd}
	}
	return nil
}

// ProposeConfChange proposes a membership change; done gets the result
// when it applies (Event is nil).
func (n *Node) ProposeConfChange(cc raft.ConfChange, done func(Result)) error {
	index, err := n.raw.ProposeConfChange(cc)
	if err != nil {
		return err
	}
	if done != nil {
		n.waits[index] = pending{done: done}
	}
	return nil
}

// TransferLeadership asks the leader to hand leadership to member to.
func (n *Node) TransferLeadership(to uint64) error { return n.raw.TransferLeadership(to) }

// ConfState is the membership after the last applied change.
func (n *Node) ConfState() raft.ConfState { return n.confState }

// ReadIndex asks for a linearizable read point (raft's ReadIndex, thesis
// §6.4). done is called from HandleReady with the read index once the
// leader has confirmed it and this member has applied up to it: a read of
// Store() at that moment is linearizable. Like a proposal, a read may get
// no answer (leader change, message loss); the caller's timeout decides.
func (n *Node) ReadIndex(done func(index uint64)) error {
	n.readSeq++
	ctx := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, n.cfg.ID), n.readSeq)
	if err := n.raw.ReadIndex(ctx); err != nil {
		return err
	}
	n.readWaits[string(ctx)] = done
	return nil
}

// HasReady reports whether HandleReady has work.
func (n *Node) HasReady() bool { return n.raw.HasReady() }

// HandleReady handles one Ready if there is one, in the order raft's
// contract requires: persist (one WAL batch, one fsync if raft says it
// must), send, apply, advance. It reports whether there was work. An error
// is fatal for the member (storage failure, corrupt entry): it must stop.
func (n *Node) HandleReady() (bool, error) {
	if n.bgErr != nil {
		return true, n.bgErr
	}
	if !n.raw.HasReady() {
		return false, nil
	}
	rd := n.raw.Ready()
	if n.cfg.OnReady != nil {
		n.cfg.OnReady(rd)
	}
	if rd.SoftState != nil {
		// Reads waiting on a leader that is gone will not be answered:
		// forget them (their callers time out and retry).
		clear(n.readWaits)
	}
	if err := n.persistAndSend(&rd); err != nil {
		return true, err
	}
	if err := n.applyReady(&rd); err != nil {
		return true, err
	}
	n.takeReadStates(rd.ReadStates)
	n.answerReads()
	n.raw.Advance(rd)
	if err := n.maybeSnapshot(); err != nil {
		return true, err
	}
	n.maybeDropSnapshotData()
	return true, nil
}

// maybeDropSnapshotData drops the storage's copy of the snapshot's data
// (Config.DropSnapshotData) unless this member, leading, is sending a
// snapshot: each chunk of a transfer reads the snapshot again.
func (n *Node) maybeDropSnapshotData() {
	if !n.cfg.DropSnapshotData {
		return
	}
	sending := false
	n.raw.VisitProgress(func(_ uint64, pr tracker.Progress) {
		sending = sending || pr.State == tracker.StateSnapshot
	})
	if !sending {
		n.st.DropSnapshotData()
	}
}

// persistAndSend makes the Ready's snapshot, hard state and entries durable
// and sends its messages: a leader's appends before its own write, every
// other message after it.
func (n *Node) persistAndSend(rd *raft.Ready) error {
	if !rd.Snapshot.IsEmpty() {
		if err := n.st.SaveSnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	msgs := rd.Messages
	if !n.cfg.SerialLeaderWrites && n.raw.SoftState().RaftState == raft.StateLeader {
		// A leader's appends may leave before its own write of the same
		// entries (thesis §10.2.1): its disk write then overlaps the
		// followers'. This is safe because the leader counts a follower's
		// acknowledgement only in a later HandleReady, after this one's
		// Save has returned, so an entry is committed only once a majority
		// including the leader holds it durably. Everything else (votes,
		// responses, heartbeats) still waits for persistence.
		var app []raft.Message
		app, msgs = splitAppends(msgs)
		n.cfg.Transport.Send(app)
		if len(app) > 0 && rd.MustSync {
			// Let the peer senders write the appends before this
			// goroutine blocks in the sync. Go readies a woken receiver
			// on this goroutine's own processor, where it would wait out
			// the sync: traced at concurrency 1, the appends reached the
			// followers about 70 µs later than with the yield, which
			// costs a microsecond. (A scheduler hint, not a goroutine:
			// in the simulator it does nothing.)
			runtime.Gosched()
		}
	}
	mustSync := rd.MustSync && !n.cfg.bugs.SkipSync
	if err := n.st.Save(rd.HardState, rd.Entries, mustSync); err != nil {
		return err
	}
	// Persist before you speak: only now may votes and acknowledgements
	// leave.
	n.cfg.Transport.Send(msgs)
	return nil
}

// applyReady installs the Ready's snapshot in the key space, then applies
// its committed entries in order, answering the proposals waiting on them.
func (n *Node) applyReady(rd *raft.Ready) error {
	if !rd.Snapshot.IsEmpty() {
		if err := n.store.Restore(bytes.NewReader(rd.Snapshot.Data)); err != nil {
			return fmt.Errorf("%w: snapshot %d: %v", ErrCorruptEntry, rd.Snapshot.Metadata.Index, err)
		}
		n.dropWaitsUpTo(rd.Snapshot.Metadata.Index)
		n.applied = rd.Snapshot.Metadata.Index
		n.snapIndex = n.applied
		n.snapLen, n.sinceSnap = len(rd.Snapshot.Data), 0
		n.confState = rd.Snapshot.Metadata.ConfState
	}
	if n.cfg.bugs.SnapshotBeforeApply && len(rd.CommittedEntries) > 0 {
		var buf bytes.Buffer
		_ = n.store.Save(&buf)
		n.bugSnap = buf.Bytes()
	}
	for _, e := range rd.CommittedEntries {
		if err := n.apply(e); err != nil {
			return err
		}
		n.applied = e.Index
	}
	return nil
}

// takeReadStates moves the reads the leader confirmed from waiting for
// their index to waiting for this member to apply it.
func (n *Node) takeReadStates(states []raft.ReadState) {
	for _, rs := range states {
		if done, ok := n.readWaits[string(rs.RequestCtx)]; ok {
			delete(n.readWaits, string(rs.RequestCtx))
			n.readyReads = append(n.readyReads, readyRead{index: rs.Index, done: done})
		}
	}
}

// answerReads answers confirmed reads whose index this member has applied,
// in order.
func (n *Node) answerReads() {
	kept := n.readyReads[:0]
	for _, r := range n.readyReads {
		if r.index <= n.applied {
			r.done(r.index)
		} else {
			kept = append(kept, r)
		}
	}
	n.readyReads = kept
}

// maybeSnapshot snapshots the key space and compacts the log once
// SnapshotCount entries were applied since the last snapshot: the store is
// frozen at the applied index, encoded and written by the work (in the
// background when Config.Background is set), and the log compacted by its
// finish, on the Node's goroutine.
func (n *Node) maybeSnapshot() error {
	next := n.snapIndex + n.cfg.SnapshotCount
	if n.snapIndex == 0 {
		next -= n.cfg.SnapshotStagger
	}
	if n.snapshotting || n.applied < next {
		return nil
	}
	// confState is replaced on every change, never modified: the work may
	// keep it.
	index, cs, frozen := n.applied, n.confState, n.store.Freeze()
	size, since := n.snapLen+n.sinceSnap, n.sinceSnap
	size += size / 16
	encode := func() ([]byte, error) {
		buf := bytes.NewBuffer(make([]byte, 0, size))
		err := frozen.Save(buf)
		return buf.Bytes(), err
	}
	bugs := n.cfg.bugs
	if bugs.SnapshotPastApplied {
		index, _ = n.st.LastIndex()
	}
	if bugs.SnapshotBeforeApply && n.bugSnap != nil {
		encode = func() ([]byte, error) { return n.bugSnap, nil }
	}
	st := n.st
	work := func() func() {
		data, err := encode()
		var p *storage.PreparedSnapshot
		if err == nil {
			p, err = st.PrepareSnapshot(index, cs, data)
		}
		return func() { n.finishSnapshot(index, len(data), since, p, err) }
	}
	if n.cfg.DropSnapshotData && !bugs.SnapshotPastApplied && !bugs.SnapshotBeforeApply {
		// The data is not kept in memory after it is written: it need not
		// be there while it is written either. The file is its only copy.
		work = func() func() {
			p, err := st.PrepareSnapshotStream(index, cs, frozen.Save)
			size := 0
			if err == nil {
				size = p.DataLen()
			}
			return func() { n.finishSnapshot(index, size, since, p, err) }
		}
	}
	n.snapshotting = true
	if n.cfg.Background == nil || bugs.SnapshotPastApplied || bugs.SnapshotBeforeApply {
		work()()
		return n.bgErr
	}
	n.cfg.Background(work)
	return nil
}

// finishSnapshot compacts the log to a prepared snapshot, or records why
// the snapshot failed.
func (n *Node) finishSnapshot(index uint64, size, since int, p *storage.PreparedSnapshot, err error) {
	n.snapshotting = false
	if err == nil {
		err = n.st.CommitSnapshot(p)
	}
	switch {
	case err == nil:
		n.snapIndex = index
		// The entries applied while it was written stay counted.
		n.snapLen, n.sinceSnap = size, max(n.sinceSnap-since, 0)
		n.maybeDropSnapshotData()
	case errors.Is(err, raft.ErrSnapOutOfDate):
		// The leader's snapshot overtook ours while it was written.
	default:
		n.bgErr = fmt.Errorf("server: saving snapshot at %d: %w", index, err)
	}
}

// dropWaitsUpTo forgets proposals at or below index: a snapshot from the
// leader replaced those entries, and whether each was in it is unknown
// here, so their outcome is left to the caller's timeout (ambiguous).
func (n *Node) dropWaitsUpTo(index uint64) {
	for i := range n.waits {
		if i <= index {
			delete(n.waits, i)
		}
	}
}

func (n *Node) apply(e raft.Entry) error {
	w, waiting := n.waits[e.Index]
	if waiting {
		delete(n.waits, e.Index)
	}
	if e.Type == raft.EntryConfChange {
		cc, err := raft.UnmarshalConfChange(e.Data)
		if err != nil {
			return fmt.Errorf("%w: index %d: %v", ErrCorruptEntry, e.Index, err)
		}
		n.confState = n.raw.ApplyConfChange(cc)
		if err := n.applyConfContext(e.Index, cc.Context); err != nil {
			return err
		}
		if waiting {
			if w.confChange() {
				w.done(Result{Index: e.Index, Term: e.Term})
			} else {
				w.done(Result{Err: ErrProposalLost, Index: e.Index, Term: e.Term})
			}
		}
		return nil
	}
	if waiting && w.confChange() {
		// Our membership change lost its index to another leader's entry.
		w.done(Result{Err: ErrProposalLost, Index: e.Index, Term: e.Term})
		waiting = false
	}
	if len(e.Data) == 0 {
		// The empty entry of a new leader's term: grant TTLs the grace of
		// an election (kv doc, "Leader-change grace").
		if waiting {
			w.done(Result{Err: ErrProposalLost, Index: e.Index, Term: e.Term})
		}
		_, err := n.store.Apply(&kv.Command{Method: kv.MethodSync, GraceNs: n.graceNs})
		if err != nil {
			return fmt.Errorf("server: applying grace at %d: %w", e.Index, err)
		}
		return nil
	}
	ours := waiting && bytes.Equal(e.Data, w.data)
	cmd := w.cmd
	if !ours {
		env, err := decodeEnvelope(e.Data)
		if err != nil {
			return fmt.Errorf("%w: index %d: %v", ErrCorruptEntry, e.Index, err)
		}
		if cmd, err = kv.DecodeCommand(env.Cmd); err != nil {
			return fmt.Errorf("%w: index %d: %v", ErrCorruptEntry, e.Index, err)
		}
	}
	ev, aerr := n.store.Apply(cmd)
	if aerr == nil && ev != nil && ev.PrevNode == nil {
		// A new key: the next snapshot grows by about its entry.
		n.sinceSnap += len(e.Data)
	}
	if !waiting {
		return nil
	}
	if !ours {
		w.done(Result{Err: ErrProposalLost, Index: e.Index, Term: e.Term})
		return nil
	}
	if aerr != nil {
		w.done(Result{Err: aerr, Index: e.Index, Term: e.Term})
	} else {
		w.done(Result{Event: ev, Index: e.Index, Term: e.Term})
	}
	return nil
}

// EncodeConfContext makes a conf change's Context from key-space commands:
// every member applies them to its store together with the change, so the
// records that describe members (their addresses, say) stay in step with
// the membership itself, in the log and in snapshots.
func EncodeConfContext(cmds []*kv.Command) ([]byte, error) {
	return msgpack.Marshal(cmds)
}

func (n *Node) applyConfContext(index uint64, ctx []byte) error {
	if len(ctx) == 0 {
		return nil
	}
	var cmds []*kv.Command
	if err := msgpack.Unmarshal(ctx, &cmds); err != nil {
		return fmt.Errorf("%w: conf change context at %d: %v", ErrCorruptEntry, index, err)
	}
	for _, c := range cmds {
		// A refused command (a record already gone, say) is the same
		// refusal on every member: nothing to do.
		_, _ = n.store.Apply(c)
	}
	return nil
}

// splitAppends separates a leader's MsgApp messages from the rest, keeping
// each group's order.
func splitAppends(msgs []raft.Message) (app, rest []raft.Message) {
	for _, m := range msgs {
		if m.Type == raft.MsgApp {
			app = append(app, m)
		} else {
			rest = append(rest, m)
		}
	}
	return app, rest
}
