package vfs

import (
	"io/fs"
	"path/filepath"
	"time"
)

// TempName is the name under which CreatePending, and so WriteFileAtomic,
// writes name until the new contents are committed: name + ".tmp". A crash
// or a failure can leave such a file behind; the owner of a directory
// removes leftover ".tmp" files when it opens it, or lets the next write of
// the same name truncate it.
func TempName(name string) string { return name + ".tmp" }

// WriteFileAtomic replaces the contents of name with data, atomically and
// durably: a crash at any point leaves name holding either its old contents
// (or no file, if there was none) or data, never a mix, and once
// WriteFileAtomic returns nil a crash leaves data. It writes data to
// TempName(name) in one Write, syncs and closes that file, renames it over
// name and syncs name's directory; that order, one operation each, is part
// of the contract (a MemFS's seeded faults are drawn per operation, so the
// simulator's runs depend on it).
//
// On failure the temporary file may remain (see TempName; the callers this
// replaced did not remove it either, and PendingFile.Discard does); name is
// untouched unless the failure is the directory sync after the rename, in
// which case name holds data but may lose it to a crash. Either way the
// caller should treat the error as it treats a failed Sync.
//
// It is the simplest use of PendingFile, which a caller needs to time its
// sync, to write the new contents in pieces, or to commit a file it has
// already filled.
func WriteFileAtomic(fsys FS, name string, data []byte) error {
	p, err := CreatePending(fsys, name)
	if err != nil {
		return err
	}
	if _, err := p.Write(data); err != nil {
		p.Close()
		return err
	}
	return p.Commit()
}

// PendingFile is the new contents of a file, written under a temporary name
// and put in place by Commit: sync, close, rename over the final name, sync
// the directory. Until Commit has renamed it, a crash or failure leaves the
// final name as it was.
//
// The recipe is split between creating and committing, rather than taking
// the contents as one byte slice, because its callers differ in the middle:
// the WAL writes a new segment as a header followed by megabytes of zeros in
// bounded writes, or takes over a file filled in the background
// (NewPendingFile), and removes the file if it fails (Discard); a snapshot
// file is one write, and both time the sync (ObserveSync); a small
// settings file is one write and nothing else (WriteFileAtomic).
//
// Write to it through the embedded File; close it only with its own Close
// (or Commit or Discard), which keep track of the state.
type PendingFile struct {
	File
	// ObserveSync, if set, is told how long Commit's sync of the file
	// took (see SyncTimed). The directory sync is not timed.
	ObserveSync func(time.Duration)

	fsys    FS
	name    string // the final name; File.Name() is the temporary one
	closed  bool   // the File is closed
	renamed bool   // the File's name is now name
}

// CreatePending creates TempName(name), truncating a leftover, as the new
// contents of name.
func CreatePending(fsys FS, name string) (*PendingFile, error) {
	f, err := fsys.Create(TempName(name))
	if err != nil {
		return nil, err
	}
	return &PendingFile{File: f, fsys: fsys, name: name}, nil
}

// NewPendingFile makes f, a file open for writing under a temporary name
// (f.Name(), in name's directory), the new contents of name. The WAL uses
// it for a segment file zero-filled ahead of need under a name of its own.
func NewPendingFile(fsys FS, f File, name string) *PendingFile {
	return &PendingFile{File: f, fsys: fsys, name: name}
}

// Close closes the file without committing it: the temporary file stays,
// and name is untouched. Closing twice is a no-op.
func (p *PendingFile) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	return p.File.Close()
}

// Commit syncs the file, closes it, renames it over name and syncs name's
// directory, stopping at the first failure and returning it (a failed
// sync still closes the file). When it returns nil, name durably holds
// what was written. After a failure before the rename, Discard removes the
// temporary file; a failure of the directory sync leaves name renamed but
// perhaps not durably.
func (p *PendingFile) Commit() error {
	if p.closed {
		return &fs.PathError{Op: "commit", Path: p.Name(), Err: fs.ErrClosed}
	}
	err := SyncTimed(p.File, p.ObserveSync)
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := p.fsys.Rename(p.Name(), p.name); err != nil {
		return err
	}
	p.renamed = true
	return p.fsys.SyncDir(filepath.Dir(p.name))
}

// Discard gives up on the new contents: it closes the file if Commit has
// not, and removes the temporary file unless Commit renamed it. It returns
// the error of the removal, if any.
func (p *PendingFile) Discard() error {
	_ = p.Close()
	if p.renamed {
		return nil
	}
	return p.fsys.Remove(p.Name())
}
