package kv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/google/btree"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// snapshotVersion is the first value of every snapshot (see doc.go).
const snapshotVersion = 1

// ErrBadSnapshot is wrapped by every Restore error about the snapshot's
// content (as opposed to a read error).
var ErrBadSnapshot = errors.New("kv: bad snapshot")

type snapHeader struct {
	//lint:ignore U1000 msgpack reads this field's tag (encode as an array)
	_msgpack struct{} `msgpack:",as_array"`
	Version  uint8
	Index    uint64
	ClockNs  int64
	GraceNs  int64
	Nodes    uint64
	Events   uint64
}

type snapNode struct {
	//lint:ignore U1000 msgpack reads this field's tag (encode as an array)
	_msgpack      struct{} `msgpack:",as_array"`
	Key           string
	Value         *string
	Dir           bool
	HasTTL        bool
	ExpireNs      int64
	TTL           int64
	CreatedIndex  uint64
	ModifiedIndex uint64
}

type snapEvent struct {
	//lint:ignore U1000 msgpack reads this field's tag (encode as an array)
	_msgpack struct{} `msgpack:",as_array"`
	Action   string
	Node     *snapNode
	PrevNode *snapNode
	Index    uint64
	Refresh  bool
}

const (
	flagDir = 1 << iota
	flagTTL
)

// Save writes a snapshot of the store: a function of the applied history
// only, so members that applied the same log write the same bytes. It holds
// the store lock only to take a copy-on-write clone of the index, so Apply
// continues while the snapshot streams out.
func (s *Store) Save(w io.Writer) error { return s.Freeze().Save(w) }

// Frozen is the store as it was when Freeze was called, which Apply on the
// live store no longer changes. It is cheap to take (a copy-on-write clone
// of the index and a copy of the watch history) and may be saved on
// another goroutine.
type Frozen struct {
	tree   *btree.BTreeG[node]
	hdr    snapHeader
	events []*Event
}

// Freeze takes a Frozen copy of the store.
func (s *Store) Freeze() *Frozen {
	s.mu.Lock()
	defer s.mu.Unlock()
	tree := s.tree.Clone()
	return &Frozen{
		tree: tree,
		hdr: snapHeader{Version: snapshotVersion, Index: s.index, ClockNs: s.clockNs, GraceNs: s.graceNs,
			Nodes: uint64(tree.Len()), Events: uint64(s.hist.n)},
		events: s.hist.events(),
	}
}

// Index is the store index the frozen copy was taken at.
func (f *Frozen) Index() uint64 { return f.hdr.Index }

// Save writes the frozen store as a snapshot, in Store.Save's format.
func (f *Frozen) Save(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := msgpack.NewEncoder(bw)
	if err := enc.Encode(&f.hdr); err != nil {
		return err
	}
	// The nodes, the bulk of a snapshot, are appended by hand to a chunk
	// that goes to bw whenever it holds 32 KiB: the same bytes as the
	// Encoder's calls in saveNodeReference (tested), at a fraction of the
	// cost of one call through the Encoder per field.
	chunk := make([]byte, 0, 40<<10)
	var err error
	f.tree.Ascend(func(n node) bool {
		chunk = appendSnapNode(chunk, &n)
		if len(chunk) >= 32<<10 {
			_, err = bw.Write(chunk)
			chunk = chunk[:0]
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	if _, err := bw.Write(chunk); err != nil {
		return err
	}
	for _, ev := range f.events {
		se := snapEvent{Action: ev.Action, Node: toSnapNode(ev.Node), PrevNode: toSnapNode(ev.PrevNode),
			Index: ev.Index, Refresh: ev.Refresh}
		if err := enc.Encode(&se); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// appendSnapNode appends n's snapshot record: the array [path, value,
// flags, created, modified, expireNs] as msgpack.Encoder writes it with
// EncodeArrayLen(6), EncodeString, EncodeString, EncodeUint8, EncodeUint,
// EncodeUint and EncodeInt (shortest forms, but the flags' uint 8).
func appendSnapNode(b []byte, n *node) []byte {
	var flags uint8
	if n.dir {
		flags |= flagDir
	}
	if n.hasTTL {
		flags |= flagTTL
	}
	b = append(b, msgpcode.FixedArrayLow|6)
	b = appendMsgpString(b, n.path)
	b = appendMsgpString(b, n.value)
	b = append(b, msgpcode.Uint8, flags)
	b = appendMsgpUint(b, n.created)
	b = appendMsgpUint(b, n.modified)
	return appendMsgpInt(b, n.expireNs)
}

// appendMsgpString is Encoder.EncodeString: the shortest str header.
func appendMsgpString(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, msgpcode.FixedStrLow|byte(n))
	case n < 1<<8:
		b = append(b, msgpcode.Str8, byte(n))
	case n < 1<<16:
		b = binary.BigEndian.AppendUint16(append(b, msgpcode.Str16), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, msgpcode.Str32), uint32(n))
	}
	return append(b, s...)
}

// appendMsgpUint is Encoder.EncodeUint: the shortest form.
func appendMsgpUint(b []byte, n uint64) []byte {
	switch {
	case n <= math.MaxInt8:
		return append(b, byte(n))
	case n <= math.MaxUint8:
		return append(b, msgpcode.Uint8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Uint16), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Uint32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, msgpcode.Uint64), n)
}

// appendMsgpInt is Encoder.EncodeInt: the shortest form.
func appendMsgpInt(b []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendMsgpUint(b, uint64(n))
	case n >= int64(int8(msgpcode.NegFixedNumLow)):
		return append(b, byte(n))
	case n >= math.MinInt8:
		return append(b, msgpcode.Int8, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, msgpcode.Int16), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, msgpcode.Int32), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, msgpcode.Int64), uint64(n))
}

func toSnapNode(n *Node) *snapNode {
	if n == nil {
		return nil
	}
	sn := &snapNode{Key: n.Key, Value: n.Value, Dir: n.Dir, TTL: n.TTL,
		CreatedIndex: n.CreatedIndex, ModifiedIndex: n.ModifiedIndex}
	if n.Expiration != nil {
		sn.HasTTL = true
		sn.ExpireNs = n.Expiration.UnixNano()
	}
	return sn
}

func fromSnapNode(sn *snapNode) *Node {
	if sn == nil {
		return nil
	}
	n := &Node{Key: sn.Key, Value: sn.Value, Dir: sn.Dir, TTL: sn.TTL,
		CreatedIndex: sn.CreatedIndex, ModifiedIndex: sn.ModifiedIndex}
	if sn.HasTTL {
		n.Expiration = expirationTime(sn.ExpireNs)
	}
	return n
}

// Restore replaces the store's content with a snapshot written by Save,
// rebuilding the TTL index and the watch history. It checks the snapshot's
// structure and leaves the store unchanged on error. Registered watchers are
// closed with error 400 (they cannot know what changed); their clients
// resume from the index in the error. Stats are kept.
func (s *Store) Restore(r io.Reader) error {
	dec := msgpack.NewDecoder(r)
	var hdr snapHeader
	if err := dec.Decode(&hdr); err != nil {
		return fmt.Errorf("%w: header: %v", ErrBadSnapshot, err)
	}
	if hdr.Version != snapshotVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrBadSnapshot, hdr.Version, snapshotVersion)
	}
	tree := btree.NewG(btreeDegree, nodeLess)
	ttls := btree.NewG(btreeDegree, ttlLess)
	var prev node
	for i := uint64(0); i < hdr.Nodes; i++ {
		n, err := decodeNode(dec)
		if err != nil {
			return fmt.Errorf("%w: node %d: %v", ErrBadSnapshot, i, err)
		}
		if n.created > hdr.Index || n.modified > hdr.Index || n.created > n.modified {
			return fmt.Errorf("%w: node %q: indexes %d/%d beyond %d", ErrBadSnapshot, n.path, n.created, n.modified, hdr.Index)
		}
		if i > 0 && !nodeLess(prev, n) {
			return fmt.Errorf("%w: node %q out of order", ErrBadSnapshot, n.path)
		}
		if pk := n.parentKey(); pk != "" {
			// The parent sorts before its children (its parent key is a
			// proper prefix of theirs), so it must already be here.
			parent, ok := tree.Get(keyNode(pk))
			if !ok || !parent.dir {
				return fmt.Errorf("%w: node %q has no parent directory", ErrBadSnapshot, n.path)
			}
		}
		tree.ReplaceOrInsert(n)
		if n.hasTTL {
			ttls.ReplaceOrInsert(ttlEntry{n.expireNs, n.path})
		}
		prev = n
	}
	hist := newHistory(s.opts.HistorySize)
	for i := uint64(0); i < hdr.Events; i++ {
		var se snapEvent
		if err := dec.Decode(&se); err != nil {
			return fmt.Errorf("%w: event %d: %v", ErrBadSnapshot, i, err)
		}
		if se.Node == nil || se.Index != hdr.Index-hdr.Events+1+i {
			return fmt.Errorf("%w: event %d: index %d out of sequence", ErrBadSnapshot, i, se.Index)
		}
		hist.add(&Event{Action: se.Action, Node: fromSnapNode(se.Node), PrevNode: fromSnapNode(se.PrevNode),
			Index: se.Index, Refresh: se.Refresh})
	}
	if hdr.GraceNs < 0 {
		return fmt.Errorf("%w: negative grace", ErrBadSnapshot)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.hub.closeAll(&s.stats, "snapshot restored")
	s.index, s.clockNs, s.graceNs = hdr.Index, hdr.ClockNs, hdr.GraceNs
	s.tree, s.ttls, s.hist = tree, ttls, hist
	s.lastDir = ""
	return nil
}

func decodeNode(dec *msgpack.Decoder) (node, error) {
	l, err := dec.DecodeArrayLen()
	if err != nil {
		return node{}, err
	}
	if l != 6 {
		return node{}, fmt.Errorf("array of %d, want 6", l)
	}
	var n node
	if n.path, err = dec.DecodeString(); err != nil {
		return node{}, err
	}
	if n.value, err = dec.DecodeString(); err != nil {
		return node{}, err
	}
	flags, err := dec.DecodeUint8()
	if err != nil {
		return node{}, err
	}
	if n.created, err = dec.DecodeUint64(); err != nil {
		return node{}, err
	}
	if n.modified, err = dec.DecodeUint64(); err != nil {
		return node{}, err
	}
	if n.expireNs, err = dec.DecodeInt64(); err != nil {
		return node{}, err
	}
	if n.path == "/" || cleanPath(n.path) != n.path {
		return node{}, fmt.Errorf("bad path %q", n.path)
	}
	n.nameAt = keyNode(n.path).nameAt
	n.dir = flags&flagDir != 0
	n.hasTTL = flags&flagTTL != 0
	if flags&^(flagDir|flagTTL) != 0 || (n.dir && n.value != "") || (!n.hasTTL && n.expireNs != 0) {
		return node{}, fmt.Errorf("node %q: bad flags %#x", n.path, flags)
	}
	return n, nil
}
