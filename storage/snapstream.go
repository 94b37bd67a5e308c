package storage

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"path/filepath"

	"github.com/raftkv/raftkv/log"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/vfs"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// PrepareSnapshotStream is PrepareSnapshot with the data written by write
// straight into the snapshot file rather than handed over in memory: a
// member whose snapshot is as large as its key space then never holds it
// whole. The PreparedSnapshot carries no data (DataLen says how much was
// written), and once committed the Storage is as after DropSnapshotData:
// Snapshot reads the file when raft asks for it.
//
// The file is the one PrepareSnapshot writes for the same data, except that
// the data's MessagePack header is always a bin 32 (written before the
// length is known, then patched): for data of 64 KiB or more, the bytes are
// identical; smaller data is a valid file that only differs in that header.
//
// Like PrepareSnapshot, it is safe concurrently with the one writer.
// write must write the data to its io.Writer and return; it runs on the
// caller's goroutine. An error of the file (while write runs or after) fails
// the Storage as PrepareSnapshot's does. Data that would make the file
// larger than log.MaxRecordLen stops write at that point (its writes fail)
// and returns ErrSnapshotTooLarge; an error of write's own is returned as
// is. Neither fails the Storage. Every failure removes the temporary file
// if it can (Open removes any left behind).
func (s *Storage) PrepareSnapshotStream(i uint64, cs raft.ConfState, write func(io.Writer) error) (*PreparedSnapshot, error) {
	md, err := s.newSnapshotMetadata(i, cs)
	if err != nil {
		return nil, err
	}
	s.wmu.Lock()
	err = s.err
	s.wmu.Unlock()
	if err != nil {
		return nil, err
	}
	snap := raft.Snapshot{Metadata: md}
	n, fileErr, err := s.streamSnapshotFile(snap, write)
	switch {
	case err == nil:
		return &PreparedSnapshot{snap: snap, dataLen: n, onDisk: true}, nil
	case !fileErr:
		return nil, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return nil, s.failed(err)
}

// streamSnapshotFile writes snap's file with the data that write produces,
// durably (PendingFile, like writeSnapshotFile), and returns the data's
// length. fileErr says that err is the file's (not write's own, nor
// ErrSnapshotTooLarge). The frame's head and the data's bin 32 length are written as
// placeholders and patched once the data has streamed; its CRC is computed
// while it streams (the head's part combined with the data's afterwards),
// never by reading the file back.
func (s *Storage) streamSnapshotFile(snap raft.Snapshot, write func(io.Writer) error) (n int, fileErr bool, err error) {
	prefix := streamPrefix(s.opts.ClusterID, s.opts.MemberID, snap.Metadata)
	limit := s.snapshotLimit()
	if len(prefix) > limit {
		return 0, false, ErrSnapshotTooLarge
	}
	path := filepath.Join(s.snapDir(), snapshotName(snap.Metadata.Index, snap.Metadata.Term))
	p, err := vfs.CreatePending(s.fsys, path)
	if err != nil {
		return 0, true, err
	}
	p.ObserveSync = s.opts.ObserveSync
	done := false
	defer func() {
		if !done {
			_ = p.Discard() // a best effort: Open removes what is left
		}
	}()
	if _, err := p.Write(prefix); err != nil {
		return 0, true, err
	}
	fw := &fileWriter{w: p}
	// No buffer of its own: the writer buffers (kv's encoder writes 64 KiB
	// at a time), and a second one would copy the whole key space again.
	sw := &streamWriter{w: fw, room: limit - len(prefix)}
	werr := write(sw)
	switch {
	case fw.err != nil:
		return 0, true, fw.err
	case sw.tooLarge:
		return 0, false, ErrSnapshotTooLarge
	case werr != nil:
		return 0, false, werr
	}
	n = sw.n
	bodyLen := len(prefix) - log.FrameHeaderSize + n // type byte, metadata, data
	pad := log.FrameSize(bodyLen) - log.FrameHeaderSize - bodyLen
	if len(prefix)+n+pad > limit {
		return 0, false, ErrSnapshotTooLarge
	}
	binary.BigEndian.PutUint32(prefix[len(prefix)-4:], uint32(n))
	binary.LittleEndian.PutUint32(prefix, uint32(bodyLen))
	crc := crc32.Update(0, castagnoli, prefix[log.FrameHeaderSize:])
	binary.LittleEndian.PutUint32(prefix[4:], crc32Combine(crc, sw.crc, int64(n)))
	if pad > 0 {
		if _, err := p.Write(make([]byte, pad)); err != nil {
			return 0, true, err
		}
	}
	if _, err := p.WriteAt(prefix, 0); err != nil {
		return 0, true, err
	}
	if err := p.Commit(); err != nil {
		return 0, true, err
	}
	done = true
	return n, false, nil
}

// streamPrefix is a snapshot file's bytes before the data, with the frame's
// length and CRC words and the data's bin 32 length left zero: the frame's
// head (length, CRC, type byte), the metadata, and the bin 32 header (its
// last 4 bytes).
func streamPrefix(cluster, member uint64, md raft.SnapshotMetadata) []byte {
	var b bytes.Buffer
	b.Write(make([]byte, log.FrameHeaderSize))
	b.WriteByte(byte(log.RecordSnapshotFile))
	encodeSnapshotMetadata(msgpack.NewEncoder(&b), cluster, member, md)
	b.Write([]byte{msgpcode.Bin32, 0, 0, 0, 0})
	return b.Bytes()
}

// fileWriter remembers the first error of the file under a stream, so that
// it fails the Storage whatever the write function makes of it.
type fileWriter struct {
	w   io.Writer
	err error
}

func (f *fileWriter) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	n, err := f.w.Write(p)
	if err != nil {
		f.err = err
	}
	return n, err
}

// streamWriter is what PrepareSnapshotStream's write function writes to:
// it counts the data and computes its CRC on the way to the file, and
// refuses data past room (the file would be too large).
type streamWriter struct {
	w        io.Writer
	n, room  int
	crc      uint32
	tooLarge bool
}

func (w *streamWriter) Write(p []byte) (int, error) {
	if w.tooLarge || len(p) > w.room-w.n {
		w.tooLarge = true
		return 0, ErrSnapshotTooLarge
	}
	n, err := w.w.Write(p)
	w.crc = crc32.Update(w.crc, castagnoli, p[:n])
	w.n += n
	return n, err
}

// crc32Combine is the CRC-32C of a‖b from crcA, crcB and len(b): crcA
// carried through len(b) zero bytes' worth of shifts (x^(8·len(b)) mod P),
// plus crcB. (zlib's crc32_combine, for the Castagnoli polynomial.)
func crc32Combine(crcA, crcB uint32, lenB int64) uint32 {
	return crcMulModP(crcX8nModP(uint64(lenB)), crcA) ^ crcB
}

// crcMulModP is a·b modulo the Castagnoli polynomial, in the reflected bit
// order the CRC uses (bit 31 is x^0).
func crcMulModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ crc32.Castagnoli
		} else {
			b >>= 1
		}
	}
	return p
}

// crcX8nModP is x^(8n) modulo the Castagnoli polynomial: n bytes' shift,
// by squaring.
func crcX8nModP(n uint64) uint32 {
	p := uint32(1) << 31  // x^0
	sq := uint32(1) << 23 // x^8
	for ; n != 0; n >>= 1 {
		if n&1 != 0 {
			p = crcMulModP(sq, p)
		}
		sq = crcMulModP(sq, sq)
	}
	return p
}
