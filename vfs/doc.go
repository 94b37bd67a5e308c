// Package vfs is the disk seam: the small set of file-system operations the
// write-ahead log and the snapshot store need, with two implementations.
//
//   - OS() is the operating system's file system. Sync is fsync(2); SyncDir
//     opens the directory and fsyncs it.
//   - NewMem(rng) is an in-memory file system for tests and the
//     deterministic simulator. It models durability honestly (below), can
//     inject faults on demand, and is a pure function of its random source:
//     it never reads the clock or the global random source, and every
//     iteration whose order could leak into behaviour is over sorted names.
//
// # Contract (what callers may rely on, on both implementations)
//
// Names are slash-separated paths; a file's directory is filepath.Dir(name).
// Errors for a missing or already-existing name satisfy
// errors.Is(err, fs.ErrNotExist) / errors.Is(err, fs.ErrExist).
//
// A write is durable only after a successful File.Sync of that file. The
// existence of a name (after Create or Rename) and the absence of one (after
// Remove or Rename) are durable only after a successful SyncDir of the
// directory holding the name. A failed Sync or SyncDir makes nothing durable
// and must not be retried as if it had succeeded: the data may be gone
// (Linux marks failed pages clean). Callers treat it as fatal.
//
// # Replacing a file
//
// Following the contract, WriteFileAtomic (and PendingFile, for callers
// that need more control) replaces a file so that a crash leaves its old
// contents or its new ones, whole: the new contents are written under a
// temporary name (TempName), synced, renamed over the name, and the
// directory synced. Snapshot files and WAL segments are written this way.
//
// # The in-memory file system and crashes
//
// MemFS keeps, for every file, its live contents and its durable contents,
// and for every directory its live and durable name tables. Crash simulates
// power loss followed by a reboot:
//
//   - each directory's names revert to the durable table (unsynced creates,
//     renames and removes are undone);
//   - each file's contents revert to what was last synced, except that, by a
//     seeded choice per file, a prefix of the unsynced writes may survive (a
//     torn write; the prefix ends on a SectorSize boundary unless it is the
//     whole of what was written), optionally followed by whole sectors of
//     zero bytes where the file had grown but the data never reached the
//     disk;
//   - every File handle opened before the crash becomes stale: its methods
//     return ErrStaleHandle, so code from the "previous life" cannot write
//     into the new one.
//
// After Crash the same *MemFS is handed to a fresh open of the storage, which
// is how the simulator restarts a member. Directories are simplified: once
// created by MkdirAll they are durable and survive a crash.
//
// Faults are injected on demand (FailSyncs, FailWrites, FlipReadBits) or at
// seeded rates (SetFaultRates). A failed write writes nothing. A flipped bit
// on read corrupts the bytes returned, not the stored data, like a transient
// media or bus error.
package vfs
