// Package log is raftkv's write-ahead log: the durable record of a member's
// raft log entries, hard state and snapshot markers, in segment files of
// CRC-checked records. (The name shadows the standard library's log; raftkv
// logs with log/slog.)
//
// # Using it
//
// Open recovers the WAL in a directory and returns its State: the last
// HardState, the last snapshot Marker and the entries after it. Then, for
// every raft Ready, call Save(hs, entries, mustSync) once: the batch is one
// write, and at most one file sync when mustSync is set (group commit).
// Entries whose index is already in the log replace it and everything after
// it (the truncation is recorded by appending; nothing is rewritten in
// place). After a snapshot file has been made durable, SaveSnapshot records
// a marker and removes the segments wholly below it. A failed write or sync
// fails the WAL for good (ErrFailed): after fsync fails, the state of the
// file is unknown, so the member must reopen (recover) instead of retrying.
// A WAL is not safe for concurrent use.
//
// # On-disk format
//
// A WAL is a directory of segment files named
//
//	<seq>-<firstIndex>.wal
//
// with seq and firstIndex as 16 lower-case hex digits. seq numbers segments
// from 0 with no gaps; firstIndex is the WAL's last index plus one at the
// time the segment was created (entries that truncate the log may have lower
// indexes). Lexical order of names is seq order. Files ending in ".tmp" are
// segments that were never completed, or a spare (see Preallocation), and
// are deleted on open.
//
// A segment is a sequence of frames. Every frame starts at an offset that is
// a multiple of 8, so its length word never straddles a disk sector:
//
//	offset 0  uint32 little-endian  length L = 1 + len(payload), 1 <= L <= 2^28
//	offset 4  uint32 little-endian  CRC-32C (Castagnoli) of the L bytes below
//	offset 8  uint8                 record type
//	offset 9  payload               L-1 bytes of MessagePack
//	          padding               zero bytes up to the next multiple of 8
//
// A length word of zero is never written. Every payload is one MessagePack
// array; a decoder must accept more elements than listed (a later version
// may append some) and skip them. Integers may use any MessagePack integer
// encoding. Record types and their arrays:
//
//	1 header     [magic "raftkv-wal" (str), version 1, clusterID, memberID, seq, firstIndex]
//	2 entry      [term, index, entryType, data (bin, possibly empty)]
//	3 hardstate  [term, vote, commit]
//	4 snapshot   [index, term, discardLog (bool)]
//
// (Type 5 frames snapshot files in package storage and never appears in a
// segment.) Each segment begins with a header record and holds exactly one.
// A new segment then repeats the current hardstate and the last snapshot
// marker (with discardLog false), so a segment never depends on removed
// ones for them.
//
// # Reading a WAL (replay)
//
// Read segments in seq order; consecutive segments must have consecutive
// seqs and each firstIndex must equal the last index after replaying the
// previous segment plus one. Keep a log of entries after a base index, and
// the last index; both start at firstIndex-1 of the first segment (what the
// removed segments held up to there is covered by a marker further on).
// Then for each record:
//
//   - entry e: it is an error if e.index is more than the last index + 1.
//     If e.index <= base, drop every entry and set the last index to
//     e.index (e truncated the log below base). Otherwise drop the entries
//     at e.index and after, and append e.
//   - hardstate: it replaces the previous one.
//   - snapshot marker m: the newest marker is the member's snapshot. If
//     m.index < base: if discardLog, drop every entry and set the last index
//     to m.index; nothing else. Otherwise, if discardLog, drop every entry;
//     if not, drop the entries up to m.index (it is an error if the log ends
//     before m.index). Then base and the last index (if no entry is left)
//     are m.index.
//
// If the first segment's firstIndex is above 1, the newest marker must be at
// firstIndex-1 or later (the segments it made redundant were removed); the
// hardstate's commit must not exceed the last index.
//
// # Recovery
//
// A crash can tear the batch being written when it struck. On open, the
// last segment may therefore end in a torn tail, which is cut off (the file
// truncated and synced) and logged. A tail starting at a bad frame is torn
// when no valid frame starts at any 8-aligned offset after it, and the bad
// frame either runs past the end of the file, or has a zero length word with
// only zero bytes after it, or fails its CRC with only zero bytes from a
// 512-byte sector boundary inside it to the end of the file (the file grew
// but the sector never landed). Any other bad frame, in any segment, stops
// Open with a *CorruptError naming the file and byte offset, and nothing is
// modified: a zeroed record followed by others, a flipped bit, a truncated
// or missing segment. (The newest segments missing entirely cannot be told
// from a crash before they were created, unless the hard state left commits
// an entry that is gone, which is reported. A bit flip in the very last record that makes its
// length run past the end of the file is indistinguishable from a torn write
// and is cut.) Segment headers for another cluster or member stop Open with
// a *MismatchError.
//
// # Durability order
//
// A batch is one write; Save(…, true) syncs the segment once. A new segment
// starts before the first write that finds the current one at SegmentSize:
// the full segment is synced, the new one is written under a .tmp name,
// synced, renamed, and the directory synced, so a segment exists under its
// final name only once complete. Removed segments are removed oldest first
// and the directory synced.
//
// # Preallocation
//
// With Options.Preallocate a new segment is filled with zeros up to
// SegmentSize before its rename, and records are written over the zeros
// (WriteAt at the logical end) instead of growing the file. A sync then
// changes no block map and no file size, which on ext4 spares a journal
// commit and halves its cost (fdatasync, see vfs). The zero tail of the
// last segment is where replay stops, as for a torn tail, but it is kept
// on open rather than cut; any other bad tail is still cut. A segment is
// cut to its written length when the next one starts, so only the last
// segment ever ends in zeros.
//
// The zeros are written ahead of need: once the last segment is half full,
// a goroutine fills a file named spare.wal.tmp, syncing it in 4 MiB steps
// so that its writeback does not come in one burst, and the roll
// writes the new segment's header over its start and renames it into
// place (synced, then the directory), instead of writing SegmentSize bytes
// on the caller's path. A spare not ready yet is waited for; one that
// failed is logged and the roll creates the segment itself. Close removes
// an unused spare, and Open removes one a crash left (it is a .tmp file).
// Without Preallocate no goroutine is started, so a WAL on a MemFS stays
// deterministic for the simulator.
package log
