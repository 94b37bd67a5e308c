package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// Version is the format version this package writes and reads.
const Version = 1

const (
	magic    = "RAFTKVSN"
	endMagic = "RKVSNEND"
	// prefixLen is magic, version and header length; trailerLen is the
	// data length, the checksum and the end marker.
	prefixLen  = 16
	trailerLen = 8 + sha256.Size + 8
	// MinSize is the size of a file with an empty header and no data.
	MinSize = prefixLen + trailerLen
	// maxHeaderLen bounds the header a reader accepts (a member list).
	maxHeaderLen = 16 << 20
)

// ErrCorrupt is wrapped by every error about a file that is not a whole,
// undamaged snapshot file.
var ErrCorrupt = errors.New("not a valid raftkv snapshot file")

// Member is one member of the cluster the snapshot was taken from.
type Member struct {
	ID         string   `json:"id"` // hex, as /v2/members
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	Learner    bool     `json:"isLearner,omitempty"`
}

// Header describes the snapshot.
type Header struct {
	// ClusterID is the source cluster's id (hex).
	ClusterID string `json:"clusterID"`
	// Index and Term are the raft position the key space was taken at:
	// every entry up to Index, and none after it, is in the data.
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	// StoreIndex is the key space's own index (X-Etcd-Index) at Index.
	StoreIndex uint64 `json:"storeIndex"`
	// Members are the source cluster's members at Index.
	Members []Member `json:"members"`
	// Member is the hex id of the member that wrote the snapshot.
	Member string `json:"member"`
	// Created is when the member wrote it (RFC 3339, the member's clock).
	Created string `json:"created"`
	// RaftkvVersion is the version of the member that wrote it.
	RaftkvVersion string `json:"raftkvVersion"`
}

// Writer writes a snapshot file as a stream: the header at once, the data
// through Write, the trailer on Close.
type Writer struct {
	w   io.Writer
	sum hash.Hash
	n   uint64
	err error
}

// NewWriter writes the file's prefix and header to w.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	bw := &Writer{w: w, sum: sha256.New()}
	prefix := make([]byte, 0, prefixLen+len(hb))
	prefix = append(prefix, magic...)
	prefix = binary.BigEndian.AppendUint32(prefix, Version)
	prefix = binary.BigEndian.AppendUint32(prefix, uint32(len(hb)))
	prefix = append(prefix, hb...)
	if err := bw.put(prefix); err != nil {
		return nil, err
	}
	return bw, nil
}

func (w *Writer) put(p []byte) error {
	if w.err != nil {
		return w.err
	}
	w.sum.Write(p)
	_, w.err = w.w.Write(p)
	return w.err
}

// Write writes data (the key space).
func (w *Writer) Write(p []byte) (int, error) {
	if err := w.put(p); err != nil {
		return 0, err
	}
	w.n += uint64(len(p))
	return len(p), nil
}

// Close writes the trailer. It does not close the underlying writer.
func (w *Writer) Close() error {
	n := binary.BigEndian.AppendUint64(nil, w.n)
	if err := w.put(n); err != nil {
		return err
	}
	t := append(w.sum.Sum(nil), endMagic...)
	if _, err := w.w.Write(t); err != nil {
		w.err = err
		return err
	}
	w.err = errors.New("backup: writer closed")
	return nil
}

// Snapshot is a decoded, verified snapshot file.
type Snapshot struct {
	Header Header
	// Data is the key space, for kv.Store.Restore.
	Data []byte
	// SHA256 is the file's checksum, hex.
	SHA256 string
	// Size is the file's size in bytes.
	Size int64
}

// Decode verifies and decodes a whole snapshot file. An error wraps
// ErrCorrupt and says what is wrong and where.
func Decode(b []byte) (*Snapshot, error) {
	size := len(b)
	if size >= 8 && string(b[:8]) != magic {
		return nil, fmt.Errorf("%w: it does not start with %q (it starts with %q)", ErrCorrupt, magic, b[:8])
	}
	if size < MinSize {
		return nil, fmt.Errorf("%w: truncated: %d bytes, less than the %d of the smallest snapshot file", ErrCorrupt, size, MinSize)
	}
	if v := binary.BigEndian.Uint32(b[8:12]); v != Version {
		return nil, fmt.Errorf("%w: format version %d, but this raftkv reads version %d", ErrCorrupt, v, Version)
	}
	if string(b[size-8:]) != endMagic {
		return nil, fmt.Errorf("%w: truncated or incomplete: it does not end with the end marker %q (was the save interrupted, or the file cut short?)", ErrCorrupt, endMagic)
	}
	hl := uint64(binary.BigEndian.Uint32(b[12:16]))
	if hl > maxHeaderLen || prefixLen+hl+trailerLen > uint64(size) {
		return nil, fmt.Errorf("%w: the header length at offset 12 (%d) does not fit in the file's %d bytes", ErrCorrupt, hl, size)
	}
	dataEnd := size - trailerLen
	d := binary.BigEndian.Uint64(b[dataEnd : dataEnd+8])
	if have := uint64(dataEnd) - prefixLen - hl; d != have {
		return nil, fmt.Errorf("%w: truncated or damaged: the trailer at offset %d records %d bytes of data, the file holds %d", ErrCorrupt, dataEnd, d, have)
	}
	sum := sha256.Sum256(b[:dataEnd+8])
	recorded := b[dataEnd+8 : dataEnd+8+sha256.Size]
	if !bytes.Equal(sum[:], recorded) {
		return nil, fmt.Errorf("%w: checksum mismatch, the file is damaged: SHA-256 recorded %x, computed %x", ErrCorrupt, recorded, sum)
	}
	s := &Snapshot{Data: b[prefixLen+hl : dataEnd], SHA256: hex.EncodeToString(sum[:]), Size: int64(size)}
	if err := json.Unmarshal(b[prefixLen:prefixLen+hl], &s.Header); err != nil {
		return nil, fmt.Errorf("%w: header at offset %d: %v", ErrCorrupt, prefixLen, err)
	}
	return s, nil
}

// ReadFile reads, verifies and decodes the snapshot file at path; errors
// name the file.
func ReadFile(path string) (*Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
