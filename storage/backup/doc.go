// Package backup is the format of a raftkv snapshot file: what
// `raftkvctl snapshot save` writes, `snapshot status` describes and
// `snapshot restore` turns into a new member's data dir. It holds one
// cluster's key space at one raft index, the members it had, and a
// checksum, and it can be written as a stream (the member encodes its key
// space straight into the HTTP response).
//
// # Layout
//
// All integers are big-endian.
//
//	offset     size  field
//	0          8     magic "RAFTKVSN"
//	8          4     version, uint32 (1)
//	12         4     header length H, uint32
//	16         H     header: JSON (Header)
//	16+H       D     data: the key space as kv.Store.Save writes it
//	16+H+D     8     D, uint64
//	24+H+D     32    SHA-256 of every byte before it (offsets 0 to 24+H+D)
//	56+H+D     8     end marker "RKVSNEND"
//
// A file is whole only if it ends with the end marker, the trailer's D
// agrees with the file's length, and the checksum matches. A save cut
// short (the member stopped, the connection broke, the disk filled) lacks
// the end marker; a damaged one fails the checksum. Decode names which.
//
// Readers take the whole file in memory (Decode, ReadFile): the key space
// it holds is restored into memory anyway (kv.Store.Restore), and a
// checksum checked before anything is used means a damaged file is refused
// before a single byte of it reaches a data dir.
package backup
