package storage

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/raftkv/raftkv/log"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/vfs"
	"github.com/vmihailenco/msgpack/v5"
)

const (
	snapMagic   = "raftkv-snap"
	snapVersion = 1
)

// SnapshotError reports a damaged or foreign snapshot file.
// errors.Is(err, ErrCorrupt) holds, or ErrClusterMismatch/ErrMemberMismatch.
type SnapshotError struct {
	File string
	Err  error
}

func (e *SnapshotError) Error() string { return fmt.Sprintf("storage: snapshot %s: %v", e.File, e.Err) }
func (e *SnapshotError) Unwrap() error { return e.Err }

func snapshotName(index, term uint64) string { return fmt.Sprintf("%016x-%016x.snap", index, term) }

type snapFile struct {
	index, term uint64
	path        string
}

// listSnapshots returns the snapshot files, oldest first. With removeTmp
// (at Open only: later a PrepareSnapshot may be writing one) it removes
// leftover temporary files.
func (s *Storage) listSnapshots(removeTmp bool) ([]snapFile, error) {
	names, err := s.fsys.ReadDir(s.snapDir())
	if err != nil {
		return nil, err
	}
	var out []snapFile
	for _, n := range names {
		p := filepath.Join(s.snapDir(), n)
		if strings.HasSuffix(n, ".tmp") {
			if !removeTmp {
				continue
			}
			if err := s.fsys.Remove(p); err != nil && !notExist(err) {
				return nil, err
			}
			continue
		}
		var f snapFile
		if _, err := fmt.Sscanf(n, "%016x-%016x.snap", &f.index, &f.term); err != nil || snapshotName(f.index, f.term) != n {
			s.logger.Warn("storage: ignoring unknown file", "file", p)
			continue
		}
		f.path = p
		out = append(out, f)
	}
	return out, nil
}

// encodeSnapshot frames snap as a snapshot file's contents.
func encodeSnapshot(cluster, member uint64, snap raft.Snapshot) []byte {
	return bytes.Join(snapshotParts(cluster, member, snap), nil)
}

// snapshotParts is encodeSnapshot's bytes in pieces to be written in turn:
// the frame's head, the metadata, the data itself (snap.Data, not a copy)
// and the frame's padding. The data, the whole key space, is neither
// copied into a buffer nor framed in one: either would hold a second copy
// of it in memory while the file is written, the member's peak.
func snapshotParts(cluster, member uint64, snap raft.Snapshot) [][]byte {
	var b bytes.Buffer
	enc := msgpack.NewEncoder(&b)
	encodeSnapshotMetadata(enc, cluster, member, snap.Metadata)
	// Writes to a bytes.Buffer cannot fail.
	if snap.Data == nil {
		_ = enc.EncodeBytes(nil) // msgpack's nil, not an empty bin
	} else {
		_ = enc.EncodeBytesLen(len(snap.Data))
	}
	head, pad := log.FrameParts(log.RecordSnapshotFile, b.Bytes(), snap.Data)
	return [][]byte{head, b.Bytes(), snap.Data, pad}
}

// encodeSnapshotMetadata encodes a snapshot file's array up to its last
// element, the data, into enc, which writes to a bytes.Buffer (and so
// cannot fail).
func encodeSnapshotMetadata(enc *msgpack.Encoder, cluster, member uint64, md raft.SnapshotMetadata) {
	_ = enc.EncodeArrayLen(9)
	_ = enc.EncodeString(snapMagic)
	_ = enc.EncodeUint(snapVersion)
	_ = enc.EncodeUint(cluster)
	_ = enc.EncodeUint(member)
	_ = enc.EncodeUint(md.Index)
	_ = enc.EncodeUint(md.Term)
	for _, ids := range [][]uint64{md.ConfState.Voters, md.ConfState.Learners} {
		_ = enc.EncodeArrayLen(len(ids))
		for _, id := range ids {
			_ = enc.EncodeUint(id)
		}
	}
}

// keptData is the data a Storage keeps of a snapshot it wrote (raft sends
// it to followers that need it): data itself, or a copy at its exact size
// when data's buffer is more than an eighth larger (grown while the key
// space was encoded into it), so that the slack is not held until the
// next one.
func keptData(data []byte) []byte {
	if cap(data)-len(data) > len(data)/8 {
		return bytes.Clone(data)
	}
	return data
}

// decodeSnapshot parses a snapshot file's contents.
func decodeSnapshot(b []byte) (cluster, member uint64, snap raft.Snapshot, err error) {
	typ, p, n, err := log.DecodeFrame(b)
	if err != nil {
		return 0, 0, snap, err
	}
	if typ != log.RecordSnapshotFile || n != len(b) {
		return 0, 0, snap, fmt.Errorf("not a snapshot file (record %v, %d of %d bytes)", typ, n, len(b))
	}
	r := bytes.NewReader(p)
	dec := msgpack.NewDecoder(r)
	l, err := dec.DecodeArrayLen()
	if err != nil {
		return 0, 0, snap, err
	}
	if l < 9 {
		return 0, 0, snap, fmt.Errorf("array of %d elements", l)
	}
	magic, err := dec.DecodeString()
	if err != nil || magic != snapMagic {
		return 0, 0, snap, fmt.Errorf("bad magic %q (%v)", magic, err)
	}
	var version uint64
	md := &snap.Metadata
	for _, p := range []*uint64{&version, &cluster, &member, &md.Index, &md.Term} {
		if *p, err = dec.DecodeUint64(); err != nil {
			return 0, 0, snap, err
		}
	}
	if version != snapVersion {
		return 0, 0, snap, fmt.Errorf("unsupported version %d", version)
	}
	for _, ids := range []*[]uint64{&md.ConfState.Voters, &md.ConfState.Learners} {
		k, err := dec.DecodeArrayLen()
		if err != nil {
			return 0, 0, snap, err
		}
		for range max(k, 0) {
			id, err := dec.DecodeUint64()
			if err != nil {
				return 0, 0, snap, err
			}
			*ids = append(*ids, id)
		}
	}
	// The data is a piece of b, not a copy: a snapshot is as large as the
	// key space, and b is read for it alone. (A bytes.Reader is a
	// ByteScanner, so the Decoder reads no further ahead than it needs:
	// r.Len() is what follows the header.)
	k, err := dec.DecodeBytesLen()
	if err != nil {
		return 0, 0, snap, err
	}
	if k > r.Len() {
		return 0, 0, snap, fmt.Errorf("data of %d bytes, %d left: %w", k, r.Len(), io.ErrUnexpectedEOF)
	}
	if k > 0 {
		off := len(p) - r.Len()
		snap.Data = p[off : off+k : off+k]
	}
	return cluster, member, snap, nil
}

// readSnapshot loads the snapshot file for (index, term) and checks it.
func (s *Storage) readSnapshot(index, term uint64) (raft.Snapshot, error) {
	path := filepath.Join(s.snapDir(), snapshotName(index, term))
	b, err := vfs.ReadFile(s.fsys, path)
	if err != nil {
		if notExist(err) {
			return raft.Snapshot{}, fmt.Errorf("%w: %s (the WAL's newest marker is %d/%d)", ErrSnapshotMissing, path, index, term)
		}
		return raft.Snapshot{}, err
	}
	cluster, member, snap, err := decodeSnapshot(b)
	switch {
	case err != nil:
		return snap, &SnapshotError{File: path, Err: fmt.Errorf("%w: %w", ErrCorrupt, err)}
	case cluster != s.opts.ClusterID:
		return snap, &SnapshotError{File: path, Err: fmt.Errorf("%w: cluster %x, not %x", ErrClusterMismatch, cluster, s.opts.ClusterID)}
	case member != s.opts.MemberID:
		return snap, &SnapshotError{File: path, Err: fmt.Errorf("%w: member %x, not %x", ErrMemberMismatch, member, s.opts.MemberID)}
	case snap.Metadata.Index != index || snap.Metadata.Term != term:
		return snap, &SnapshotError{File: path, Err: fmt.Errorf("%w: holds %d/%d", ErrCorrupt, snap.Metadata.Index, snap.Metadata.Term)}
	}
	return snap, nil
}

// writeSnapshotFile makes parts, written in turn, durable as snap's file:
// temporary name, sync, rename, directory sync (vfs.WriteFileAtomic, with
// the sync timed). A failure leaves the temporary file for Open to remove.
func (s *Storage) writeSnapshotFile(snap raft.Snapshot, parts [][]byte) error {
	path := filepath.Join(s.snapDir(), snapshotName(snap.Metadata.Index, snap.Metadata.Term))
	p, err := vfs.CreatePending(s.fsys, path)
	if err != nil {
		return err
	}
	p.ObserveSync = s.opts.ObserveSync
	for _, b := range parts {
		if _, err := p.Write(b); err != nil {
			p.Close()
			return err
		}
	}
	return p.Commit()
}

// purgeSnapshots removes all but the newest SnapshotsKept snapshot files
// at or below index, the current snapshot's. Newer files are being
// prepared (or were left by a crash, which Open cleans up): counting them
// could remove the file the WAL's marker names.
func (s *Storage) purgeSnapshots(index uint64) error {
	files, err := s.listSnapshots(false)
	if err != nil {
		return err
	}
	files = slices.DeleteFunc(files, func(f snapFile) bool { return f.index > index })
	for len(files) > s.opts.SnapshotsKept {
		if err := s.fsys.Remove(files[0].path); err != nil && !notExist(err) {
			return err
		}
		files = files[1:]
	}
	return nil
}
