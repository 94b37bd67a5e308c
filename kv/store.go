package kv

import (
	"fmt"
	"math"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"
)

// Options configures a Store. The zero value gives the v2 defaults.
type Options struct {
	// HistorySize is how many events the watch history keeps (v2: 1000).
	// Every member must use the same size: it shapes snapshots and 401s.
	HistorySize int
	// WatcherBuffer is how many undelivered events a watcher may hold
	// before it is closed with an overflow error (v2: 100).
	WatcherBuffer int
}

const (
	defaultHistorySize   = 1000
	defaultWatcherBuffer = 100
	btreeDegree          = 32
)

// Store is the replicated key space. All mutations come through Apply, in
// log order; Get, Watch, Index, Stats and Save may be called concurrently
// from other goroutines.
type Store struct {
	opts Options

	mu sync.RWMutex
	// index is the store index (X-Etcd-Index): the number of modifications
	// and expiries applied. invariant: every node's modifiedIndex <= index,
	// and index equals the Index of the newest event in hist.
	index uint64
	// clockNs is the store clock: the max TimeUnixNano of applied commands.
	// invariant: no node in ttls has expireNs <= clockNs after Apply returns.
	clockNs int64
	// graceNs is a pending leader-change grace, granted at the next forward
	// move of clockNs. invariant: >= 0.
	graceNs int64
	// tree holds every node but the root, ordered by (parent, name): a
	// directory's children are one contiguous, sorted range.
	// invariant: every node's parent exists and is a directory.
	tree *btree.BTreeG[node]
	// ttls orders the nodes that have a TTL by (expiration, path).
	// invariant: holds exactly one entry per node with hasTTL.
	ttls *btree.BTreeG[ttlEntry]
	// lastDir is the parent of the last node create made, kept so that a
	// run of writes into one directory skips the search for it.
	// invariant: "" or the path of a directory in tree; so it is cleared
	// wherever a directory can leave tree (removeTree, reset, Restore).
	lastDir string
	hist    history
	hub     hub

	stats counters
}

// node is one file or directory. Nodes are values: a change replaces the
// node in the tree, so a cloned tree (Save) never sees later writes.
type node struct {
	// path is the full cleaned path; path[nameAt:] is the name and
	// path[:nameAt-1] the parent key ("" for children of the root).
	path     string
	nameAt   int32
	dir      bool
	hasTTL   bool
	value    string
	created  uint64
	modified uint64
	expireNs int64
}

func (n *node) parentKey() string { return n.path[:n.nameAt-1] }
func (n *node) name() string      { return n.path[n.nameAt:] }
func (n *node) hidden() bool      { return strings.HasPrefix(n.name(), "_") }

// nodeLess orders nodes by (parent key, name). Every path (pivots too) has
// a '/' at nameAt-1, so when the parent keys have the same length, comparing
// the whole paths compares the parent keys and then, past the same '/', the
// names: one string comparison instead of an equality test and a comparison.
// Parent keys of different lengths are never equal.
func nodeLess(a, b node) bool {
	if a.nameAt == b.nameAt {
		return a.path < b.path
	}
	return a.parentKey() < b.parentKey()
}

// keyNode is a pivot for tree lookups of the cleaned, non-root path p.
func keyNode(p string) node {
	return node{path: p, nameAt: int32(strings.LastIndexByte(p, '/') + 1)}
}

// childPivot is the smallest possible child of directory dir.
func childPivot(dir string) node {
	if dir == "/" {
		return node{path: "/", nameAt: 1}
	}
	return node{path: dir + "/", nameAt: int32(len(dir) + 1)}
}

func childParentKey(dir string) string {
	if dir == "/" {
		return ""
	}
	return dir
}

type ttlEntry struct {
	expireNs int64
	path     string
}

func ttlLess(a, b ttlEntry) bool {
	if a.expireNs != b.expireNs {
		return a.expireNs < b.expireNs
	}
	return a.path < b.path
}

var rootNode = node{path: "/", nameAt: 1, dir: true}

// New returns an empty store at index 0 with its clock at 0.
func New(opts Options) *Store {
	if opts.HistorySize <= 0 {
		opts.HistorySize = defaultHistorySize
	}
	if opts.WatcherBuffer <= 0 {
		opts.WatcherBuffer = defaultWatcherBuffer
	}
	s := &Store{opts: opts}
	s.reset()
	return s
}

func (s *Store) reset() {
	s.index, s.clockNs, s.graceNs = 0, 0, 0
	s.tree = btree.NewG(btreeDegree, nodeLess)
	s.lastDir = ""
	s.ttls = btree.NewG(btreeDegree, ttlLess)
	s.hist = newHistory(s.opts.HistorySize)
	if s.hub.watchers == nil {
		s.hub = newHub()
	}
}

// cleanPath is v2's path.Clean(path.Join("/", p)). Clean folds the
// leading "//" of "/"+p into one '/', so a p that is rooted already (every
// real request's) is cleaned as it is, without building "/"+p; and Clean
// returns a clean path itself, without copying it.
func cleanPath(p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Clean("/" + p)
}

// Index returns the store index.
func (s *Store) Index() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index
}

// ClockUnixNano returns the store clock.
func (s *Store) ClockUnixNano() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.clockNs
}

// HasTTLs reports whether any node has a TTL; the leader proposes time-only
// MethodSync commands only while this is true (as v2 does).
func (s *Store) HasTTLs() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ttls.Len() > 0
}

// Apply runs one committed command. It first moves the store clock to
// max(clock, cmd.TimeUnixNano) and expires every node due by then, then runs
// the command. A successful write returns its event (Event.Index is the new
// store index); a quorum get returns the read without changing the index; a
// MethodSync returns (nil, nil). Errors are always *Error. Apply is
// deterministic: the same commands in the same order give the same results,
// events and snapshots on every member.
func (s *Store) Apply(c *Command) (*Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(c.TimeUnixNano, c.GraceNs)
	ev, err := s.apply(c)
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// apply returns a typed nil-able *Error so Apply can convert it to a nil
// error interface.
func (s *Store) apply(c *Command) (*Event, *Error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := cleanPath(c.Path)
	switch c.Method {
	case MethodQuorumGet:
		ev, err := s.get(p, c.Recursive)
		s.stats.count(ActionGet, err)
		return ev, err
	case MethodPut:
		var ev *Event
		var err *Error
		var action string
		switch {
		case c.PrevExist != nil && *c.PrevExist && c.PrevIndex == 0 && c.PrevValue == "":
			action = ActionUpdate
			ev, err = s.update(p, c.Value, c.TTLSec, c.Refresh)
		case c.PrevExist != nil && *c.PrevExist, c.PrevExist == nil && (c.PrevIndex > 0 || c.PrevValue != ""):
			action = ActionCompareAndSwap
			ev, err = s.compareAndSwap(p, c.PrevValue, c.PrevIndex, c.Value, c.TTLSec, c.Refresh)
		case c.PrevExist != nil:
			action = ActionCreate
			ev, err = s.create(p, c.Dir, c.Value, false, false, c.TTLSec, ActionCreate)
		default:
			action = ActionSet
			ev, err = s.set(p, c.Dir, c.Value, c.TTLSec, c.Refresh)
		}
		s.stats.count(action, err)
		return ev, err
	case MethodPost:
		ev, err := s.create(p, c.Dir, c.Value, true, false, c.TTLSec, ActionCreate)
		s.stats.count(ActionCreate, err)
		return ev, err
	case MethodDelete:
		if c.PrevIndex > 0 || c.PrevValue != "" {
			ev, err := s.compareAndDelete(p, c.PrevValue, c.PrevIndex)
			s.stats.count(ActionCompareAndDelete, err)
			return ev, err
		}
		ev, err := s.delete(p, c.Dir, c.Recursive)
		s.stats.count(ActionDelete, err)
		return ev, err
	case MethodSync:
		return nil, nil
	}
	panic("unreachable: Validate accepted an unknown method")
}

// Get is a local (non-quorum) read of path: the node, and for a directory
// its children (recursively with recursive). Children are always in key
// order, so sorted is accepted for the v2 signature and has no further
// effect. Hidden children (names starting with "_") are left out. TTLs are
// computed against the store clock.
func (s *Store) Get(p string, recursive, sorted bool) (*Event, error) {
	_ = sorted
	s.mu.RLock()
	ev, err := s.get(cleanPath(p), recursive)
	s.mu.RUnlock()
	s.stats.count(ActionGet, err)
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// advance moves the clock and expires what is due; see Command.GraceNs.
func (s *Store) advance(t, grace int64) {
	if grace > s.graceNs {
		s.graceNs = grace
	}
	if t > s.clockNs {
		s.clockNs = t
		if s.graceNs > 0 {
			s.extendTTLs(addSat(s.clockNs, s.graceNs))
			s.graceNs = 0
		}
	}
	s.expire()
}

func addSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// extendTTLs pushes every expiration before until out to until, without
// changing the index or telling watchers: the leader-change grace.
func (s *Store) extendTTLs(until int64) {
	var due []ttlEntry
	s.ttls.Ascend(func(e ttlEntry) bool {
		if e.expireNs >= until {
			return false
		}
		due = append(due, e)
		return true
	})
	for _, e := range due {
		s.ttls.Delete(e)
		n, _ := s.tree.Get(keyNode(e.path))
		n.expireNs = until
		s.tree.ReplaceOrInsert(n)
		s.ttls.ReplaceOrInsert(ttlEntry{until, e.path})
	}
}

// expire removes every node whose expiration is at or before the clock, in
// (expiration, path) order, one index and one expire event each.
func (s *Store) expire() {
	for {
		e, ok := s.ttls.Min()
		if !ok || e.expireNs > s.clockNs {
			return
		}
		n, _ := s.tree.Get(keyNode(e.path))
		s.index++
		ev := &Event{
			Action:   ActionExpire,
			Node:     &Node{Key: n.path, Dir: n.dir, CreatedIndex: n.created, ModifiedIndex: s.index},
			PrevNode: s.repr(n, false),
			Index:    s.index,
		}
		s.removeTree(n)
		s.stats.expire.Add(1)
		s.publish(ev)
	}
}

// lookup finds the cleaned path p, or returns v2's 100 (cause: the path up
// to the missing component) or 104 (cause: the file in the way).
func (s *Store) lookup(p string) (node, *Error) {
	if p == "/" {
		return rootNode, nil
	}
	if n, ok := s.tree.Get(keyNode(p)); ok {
		return n, nil
	}
	// Walk from the root to name the first missing component or file.
	cur := rootNode
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		if !cur.dir {
			return node{}, NewError(EcodeNotDir, cur.path, s.index)
		}
		n, ok := s.tree.Get(keyNode(p[:i]))
		if !ok {
			return node{}, NewError(EcodeKeyNotFound, p[:i], s.index)
		}
		cur = n
	}
	return cur, nil // not reached: the full path was not in the tree
}

// children calls fn for each direct child of directory dir, in key order.
func (s *Store) children(dir string, fn func(node) bool) {
	pk := childParentKey(dir)
	s.tree.AscendGreaterOrEqual(childPivot(dir), func(n node) bool {
		if n.parentKey() != pk {
			return false
		}
		return fn(n)
	})
}

func (s *Store) hasChildren(dir string) bool {
	has := false
	s.children(dir, func(node) bool { has = true; return false })
	return has
}

// repr is v2's NodeExtern of n; a directory lists its non-hidden children
// only when recursive.
func (s *Store) repr(n node, recursive bool) *Node {
	if !n.dir {
		fn := &fileNode{}
		fn.value = n.value
		fn.Node = Node{Key: n.path, Value: &fn.value, CreatedIndex: n.created, ModifiedIndex: n.modified}
		s.setTTL(&fn.Node, n)
		return &fn.Node
	}
	out := &Node{Key: n.path, Dir: true, CreatedIndex: n.created, ModifiedIndex: n.modified}
	s.setTTL(out, n)
	if recursive {
		out.Nodes = s.list(n.path, true)
	}
	return out
}

// fileNode puts a file's Node and its value in one allocation.
type fileNode struct {
	Node
	value string
}

func (s *Store) setTTL(out *Node, n node) {
	if n.hasTTL {
		out.Expiration = expirationTime(n.expireNs)
		out.TTL = ttlAt(n.expireNs, s.clockNs)
	}
}

func (s *Store) list(dir string, recursive bool) []*Node {
	var out []*Node
	s.children(dir, func(c node) bool {
		if !c.hidden() {
			out = append(out, s.repr(c, recursive))
		}
		return true
	})
	return out
}

func (s *Store) get(p string, recursive bool) (*Event, *Error) {
	n, err := s.lookup(p)
	if err != nil {
		return nil, err
	}
	var out *Node
	if n.dir {
		out = &Node{Key: n.path, Dir: true, CreatedIndex: n.created, ModifiedIndex: n.modified}
		if p == "/" {
			out.Key = "" // v2 2.x: the root carries no key
		}
		s.setTTL(out, n)
		out.Nodes = s.list(p, recursive)
	} else {
		out = s.repr(n, false)
	}
	return &Event{Action: ActionGet, Node: out, Index: s.index}, nil
}

func (s *Store) expireAt(ttlSec *uint64) (int64, bool) {
	if ttlSec == nil {
		return 0, false
	}
	return addSat(s.clockNs, int64(*ttlSec)*int64(time.Second)), true
}

// put inserts or replaces n in the tree and keeps the TTL index in step.
func (s *Store) put(n node) {
	old, replaced := s.tree.ReplaceOrInsert(n)
	s.retime(old, replaced, n)
}

// retime keeps the TTL index in step with a tree change that put n in
// place of old (replaced) or inserted it.
func (s *Store) retime(old node, replaced bool, n node) {
	if replaced && old.hasTTL {
		s.ttls.Delete(ttlEntry{old.expireNs, old.path})
	}
	if n.hasTTL {
		s.ttls.ReplaceOrInsert(ttlEntry{n.expireNs, n.path})
	}
}

// removeTree deletes n and, for a directory, everything below it.
func (s *Store) removeTree(n node) {
	if n.dir {
		s.lastDir = ""
		var kids []node
		s.children(n.path, func(c node) bool { kids = append(kids, c); return true })
		for _, c := range kids {
			s.removeTree(c)
		}
	}
	s.tree.Delete(n)
	if n.hasTTL {
		s.ttls.Delete(ttlEntry{n.expireNs, n.path})
	}
}

func (s *Store) set(p string, dir bool, value string, ttl *uint64, refresh bool) (*Event, *Error) {
	// Only a refresh needs the node first. Otherwise create finds the
	// same errors (a file in the way, a directory at p) on its own walk,
	// and a set, the commonest write, searches the tree once less for
	// each component of p.
	if refresh {
		prev, err := s.lookup(p)
		if err != nil {
			return nil, err
		}
		value = prev.value
	}
	ev, cerr := s.create(p, dir, value, false, true, ttl, ActionSet)
	if cerr != nil {
		return nil, cerr
	}
	ev.Refresh = refresh
	s.publish(ev)
	return ev, nil
}

// create is v2's internalCreate: Set (replace) and Create (unique for POST).
// It publishes the event itself except for set, which marks refreshes.
func (s *Store) create(p string, dir bool, value string, unique, replace bool, ttl *uint64, action string) (*Event, *Error) {
	next := s.index + 1
	if unique {
		p = cleanPath(p + "/" + fmt.Sprintf("%020d", next))
	}
	if p == "/" {
		return nil, NewError(EcodeRootROnly, "/", s.index)
	}
	parent := path.Dir(p)
	// Find the missing parent directories (or the file in the way) before
	// changing anything.
	var missing []string
	if parent != "/" && parent != s.lastDir {
		if pn, ok := s.tree.Get(keyNode(parent)); ok {
			if !pn.dir {
				return nil, NewError(EcodeNotDir, parent, s.index)
			}
		} else {
			for i := 1; i <= len(parent); i++ {
				if i < len(parent) && parent[i] != '/' {
					continue
				}
				if len(missing) > 0 {
					missing = append(missing, parent[:i])
					continue
				}
				n, ok := s.tree.Get(keyNode(parent[:i]))
				if !ok {
					missing = append(missing, parent[:i])
				} else if !n.dir {
					return nil, NewError(EcodeNotDir, n.path, s.index)
				}
			}
		}
	}
	n := node{path: p, nameAt: keyNode(p).nameAt, dir: dir, created: next, modified: next}
	if !dir {
		n.value = value
	}
	n.expireNs, n.hasTTL = s.expireAt(ttl)
	// One search both finds the node at p and puts n in its place. The
	// refusals below are the rare case: they put the old node back, so the
	// tree is as it was (the lock keeps anyone from seeing it meanwhile).
	old, replaced := s.tree.ReplaceOrInsert(n)
	var prevNode *Node
	if replaced {
		if !replace || old.dir {
			s.tree.ReplaceOrInsert(old)
			if !replace {
				return nil, NewError(EcodeNodeExist, p, s.index)
			}
			return nil, NewError(EcodeNotFile, p, s.index)
		}
		prevNode = s.repr(old, false)
	}
	s.retime(old, replaced, n)
	// An existing node has its parents, so missing is empty when replaced.
	for _, d := range missing {
		s.put(node{path: d, nameAt: keyNode(d).nameAt, dir: true, created: next, modified: next})
	}
	if parent != "/" {
		s.lastDir = parent
	}
	s.index = next
	ev := &Event{Action: action, Node: s.repr(n, false), PrevNode: prevNode, Index: s.index}
	if action != ActionSet {
		s.publish(ev)
	}
	return ev, nil
}

func (s *Store) update(p, value string, ttl *uint64, refresh bool) (*Event, *Error) {
	if p == "/" {
		return nil, NewError(EcodeRootROnly, "/", s.index)
	}
	n, err := s.lookup(p)
	if err != nil {
		return nil, err
	}
	if n.dir && value != "" {
		return nil, NewError(EcodeNotFile, p, s.index)
	}
	if refresh {
		value = n.value
	}
	prev := s.repr(n, false)
	s.index++
	n.modified = s.index
	if !n.dir {
		n.value = value
	}
	n.expireNs, n.hasTTL = s.expireAt(ttl)
	s.put(n)
	ev := &Event{Action: ActionUpdate, Node: s.repr(n, false), PrevNode: prev, Index: s.index, Refresh: refresh}
	s.publish(ev)
	return ev, nil
}

// compare is v2's node comparison: "" and 0 match anything.
func compare(n node, prevValue string, prevIndex uint64) *string {
	indexOK := prevIndex == 0 || n.modified == prevIndex
	valueOK := prevValue == "" || n.value == prevValue
	var cause string
	switch {
	case indexOK && valueOK:
		return nil
	case indexOK:
		cause = fmt.Sprintf("[%v != %v]", prevValue, n.value)
	case valueOK:
		cause = fmt.Sprintf("[%v != %v]", prevIndex, n.modified)
	default:
		cause = fmt.Sprintf("[%v != %v] [%v != %v]", prevValue, n.value, prevIndex, n.modified)
	}
	return &cause
}

// compareFile finds the file at p and checks the compare-and-swap /
// compare-and-delete conditions on it: the shared first half of both.
func (s *Store) compareFile(p, prevValue string, prevIndex uint64) (node, *Error) {
	n, err := s.lookup(p)
	if err != nil {
		return node{}, err
	}
	if n.dir {
		return node{}, NewError(EcodeNotFile, p, s.index)
	}
	if cause := compare(n, prevValue, prevIndex); cause != nil {
		return node{}, NewError(EcodeTestFailed, *cause, s.index)
	}
	return n, nil
}

func (s *Store) compareAndSwap(p, prevValue string, prevIndex uint64, value string, ttl *uint64, refresh bool) (*Event, *Error) {
	if p == "/" {
		return nil, NewError(EcodeRootROnly, "/", s.index)
	}
	n, err := s.compareFile(p, prevValue, prevIndex)
	if err != nil {
		return nil, err
	}
	if refresh {
		value = n.value
	}
	prev := s.repr(n, false)
	s.index++
	n.modified = s.index
	n.value = value
	n.expireNs, n.hasTTL = s.expireAt(ttl)
	s.put(n)
	ev := &Event{Action: ActionCompareAndSwap, Node: s.repr(n, false), PrevNode: prev, Index: s.index, Refresh: refresh}
	s.publish(ev)
	return ev, nil
}

func (s *Store) delete(p string, dir, recursive bool) (*Event, *Error) {
	if p == "/" {
		return nil, NewError(EcodeRootROnly, "/", s.index)
	}
	if recursive {
		dir = true
	}
	n, err := s.lookup(p)
	if err != nil {
		return nil, err
	}
	if n.dir {
		if !dir {
			return nil, NewError(EcodeNotFile, p, s.index)
		}
		if !recursive && s.hasChildren(p) {
			return nil, NewError(EcodeDirNotEmpty, p, s.index)
		}
	}
	prev := s.repr(n, false)
	s.index++
	ev := &Event{
		Action:   ActionDelete,
		Node:     &Node{Key: p, Dir: n.dir, CreatedIndex: n.created, ModifiedIndex: s.index},
		PrevNode: prev,
		Index:    s.index,
	}
	s.removeTree(n)
	s.publish(ev)
	return ev, nil
}

func (s *Store) compareAndDelete(p, prevValue string, prevIndex uint64) (*Event, *Error) {
	n, err := s.compareFile(p, prevValue, prevIndex)
	if err != nil {
		return nil, err
	}
	prev := s.repr(n, false)
	s.index++
	ev := &Event{
		Action:   ActionCompareAndDelete,
		Node:     &Node{Key: p, CreatedIndex: n.created, ModifiedIndex: s.index},
		PrevNode: prev,
		Index:    s.index,
	}
	s.removeTree(n)
	s.publish(ev)
	return ev, nil
}

// publish records ev in the history and, unless it is a refresh, hands it
// to the matching watchers.
func (s *Store) publish(ev *Event) {
	s.hist.add(ev)
	if !ev.Refresh {
		s.hub.notify(ev, &s.stats)
	}
}

// counters are the /v2/stats/store counters; atomics because local Gets
// count under the read lock.
type counters struct {
	getsSuccess, getsFail     atomic.Uint64
	setsSuccess, setsFail     atomic.Uint64
	deleteSuccess, deleteFail atomic.Uint64
	updateSuccess, updateFail atomic.Uint64
	createSuccess, createFail atomic.Uint64
	casSuccess, casFail       atomic.Uint64
	cadSuccess, cadFail       atomic.Uint64
	expire                    atomic.Uint64
	watchers                  atomic.Int64
}

func (c *counters) count(action string, err *Error) {
	var ok, fail *atomic.Uint64
	switch action {
	case ActionGet:
		ok, fail = &c.getsSuccess, &c.getsFail
	case ActionSet:
		ok, fail = &c.setsSuccess, &c.setsFail
	case ActionDelete:
		ok, fail = &c.deleteSuccess, &c.deleteFail
	case ActionUpdate:
		ok, fail = &c.updateSuccess, &c.updateFail
	case ActionCreate:
		ok, fail = &c.createSuccess, &c.createFail
	case ActionCompareAndSwap:
		ok, fail = &c.casSuccess, &c.casFail
	case ActionCompareAndDelete:
		ok, fail = &c.cadSuccess, &c.cadFail
	default:
		return
	}
	if err != nil {
		fail.Add(1)
	} else {
		ok.Add(1)
	}
}

// Stats is the /v2/stats/store body.
type Stats struct {
	GetSuccess              uint64 `json:"getsSuccess"`
	GetFail                 uint64 `json:"getsFail"`
	SetSuccess              uint64 `json:"setsSuccess"`
	SetFail                 uint64 `json:"setsFail"`
	DeleteSuccess           uint64 `json:"deleteSuccess"`
	DeleteFail              uint64 `json:"deleteFail"`
	UpdateSuccess           uint64 `json:"updateSuccess"`
	UpdateFail              uint64 `json:"updateFail"`
	CreateSuccess           uint64 `json:"createSuccess"`
	CreateFail              uint64 `json:"createFail"`
	CompareAndSwapSuccess   uint64 `json:"compareAndSwapSuccess"`
	CompareAndSwapFail      uint64 `json:"compareAndSwapFail"`
	CompareAndDeleteSuccess uint64 `json:"compareAndDeleteSuccess"`
	CompareAndDeleteFail    uint64 `json:"compareAndDeleteFail"`
	ExpireCount             uint64 `json:"expireCount"`
	Watchers                uint64 `json:"watchers"`
}

// Stats returns the store counters. Write counters are the same on every
// member that applied the same log since it started; get counters count this
// member's reads. None survive a restart.
func (s *Store) Stats() Stats {
	c := &s.stats
	return Stats{
		GetSuccess: c.getsSuccess.Load(), GetFail: c.getsFail.Load(),
		SetSuccess: c.setsSuccess.Load(), SetFail: c.setsFail.Load(),
		DeleteSuccess: c.deleteSuccess.Load(), DeleteFail: c.deleteFail.Load(),
		UpdateSuccess: c.updateSuccess.Load(), UpdateFail: c.updateFail.Load(),
		CreateSuccess: c.createSuccess.Load(), CreateFail: c.createFail.Load(),
		CompareAndSwapSuccess: c.casSuccess.Load(), CompareAndSwapFail: c.casFail.Load(),
		CompareAndDeleteSuccess: c.cadSuccess.Load(), CompareAndDeleteFail: c.cadFail.Load(),
		ExpireCount: c.expire.Load(),
		Watchers:    uint64(max(c.watchers.Load(), 0)),
	}
}
