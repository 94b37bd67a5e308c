// Package storage is a member's durable state: the write-ahead log from
// package log, the hard state, and snapshot files, with the in-memory log
// index that raft reads through raft.Storage.
//
// # What the node core does
//
// At start:
//
//	st, err := storage.Open(fsys, dataDir, storage.Options{ClusterID: c, MemberID: m})
//
// Open recovers the directory (below) or creates it. st.Fresh() says a new
// member (bootstrap) rather than a restart. st is the raft.Storage given to
// raft: InitialState (hard state, membership of the snapshot), Snapshot,
// FirstIndex/LastIndex, Term and Entries are answered from memory. The
// snapshot's data is the exception a member may choose: DropSnapshotData
// leaves it in its file, and Snapshot reads it back when raft needs it.
//
// For every Ready, in this order (Raft's "persist before you speak"):
//
//  1. if rd.Snapshot is not empty: st.SaveSnapshot(rd.Snapshot);
//  2. st.Save(rd.HardState, rd.Entries, rd.MustSync) — one WAL batch, one
//     write and, if MustSync, exactly one fsync;
//  3. only now send rd.Messages (a leader may send its MsgApps before step 2
//     completes, thesis §10.2.1, if the node core makes that explicit);
//  4. apply committed entries, then Advance.
//
// Save and SaveSnapshot make what they persisted visible through
// raft.Storage when they return, never before. To compact its own log after
// applying up to index i, a member calls st.CreateSnapshot(i, confState,
// data), or PrepareSnapshot then CommitSnapshot to write the file in the
// background. PrepareSnapshotStream is PrepareSnapshot for a member that
// never holds the snapshot's data in memory: a function writes it straight
// into the file (a kv.Frozen's Save), and once committed the Storage is as
// after DropSnapshotData. Any write or sync error fails the Storage for good (ErrFailed):
// after a failed fsync the data's state is unknown, so the member must stop,
// Close, and Open again (as after a crash) rather than retry.
//
// Concurrency: reads (the raft.Storage methods) may run concurrently with
// each other and with one writer; writers are serialised, and reads do not
// wait for a writer's fsync.
//
// # Layout of a data directory
//
//	<dir>/wal/<seq>-<firstIndex>.wal   WAL segments (format in package log)
//	<dir>/snap/<index>-<term>.snap     snapshot files, 16 hex digits each
//
// A snapshot file is one log frame (see package log) of record type 5 whose
// payload is the MessagePack array
//
//	[magic "raftkv-snap", version 1, clusterID, memberID, index, term,
//	 [voter ids...], [learner ids...], data (bin)]
//
// so it is CRC-checked like WAL records, and at most log.MaxRecordLen bytes.
// The data's bin may use any MessagePack bin header. PrepareSnapshot writes
// the shortest; PrepareSnapshotStream, which does not know the length until
// the data has streamed, always writes a bin 32 (0xc6, 4-byte length) and
// leaves the frame's length and CRC words and that length zero until then:
// it patches them in place (the CRC computed as the data streams, never by
// reading the file back) and appends the padding before the file is synced
// and renamed, so a crash or failure leaves only a temporary file. For data
// of 64 KiB or more both write the same bytes.
//
// # Durability and recovery
//
// SaveSnapshot writes the snapshot file under "<name>.tmp", syncs it,
// renames it and syncs the directory; only then does it write and sync the
// WAL's snapshot marker. The marker records whether the log after the
// snapshot was kept (the log held the snapshot's last entry with the same
// term) or discarded, so replay reproduces the same log. Then WAL segments
// wholly below the snapshot are removed, and all but the newest
// SnapshotsKept snapshot files up to this one (a newer file may be a
// snapshot still being prepared).
//
// Open replays the WAL (torn tails cut, anything else damaged refused; see
// package log), then loads the snapshot file named by the WAL's newest
// marker and checks its CRC, cluster, member, index and term. Snapshot files
// newer than that marker come from a SaveSnapshot that crashed before its
// marker was durable: the snapshot was never acknowledged, and the file is
// removed. A missing marked snapshot is ErrSnapshotMissing; snapshot files
// with no WAL at all is ErrWALMissing (starting empty would forget votes).
// A directory of another cluster or member is ErrClusterMismatch or
// ErrMemberMismatch, checked in every segment header and snapshot file.
package storage
