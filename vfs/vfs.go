package vfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"
)

// FS is the file-system interface the storage layers use.
type FS interface {
	// Create creates name for reading and writing, truncating it if it
	// exists. Writes go at the file offset, which starts at zero.
	Create(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// OpenAppend opens an existing file for reading and writing; every
	// Write goes at the current end of the file.
	OpenAppend(name string) (File, error)
	// OpenWrite opens an existing file for reading and writing at an
	// offset (WriteAt), without truncating it.
	OpenWrite(name string) (File, error)
	// Rename atomically replaces newname with oldname (a file).
	Rename(oldname, newname string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// ReadDir returns the names (not paths) in dir, sorted.
	ReadDir(dir string) ([]string, error)
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string) error
	// SyncDir makes the names in dir durable (creates, renames, removes).
	SyncDir(dir string) error
}

// File is an open file.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	// WriteAt writes at off and leaves the file offset alone. A file from
	// OpenAppend refuses it.
	io.WriterAt
	io.Closer
	// Sync makes every write to the file durable.
	Sync() error
	// Truncate changes the size of the file (durable after Sync).
	Truncate(size int64) error
	// Size returns the current size of the file.
	Size() (int64, error)
	// Name returns the name the file was opened with.
	Name() string
}

// ErrInjected is returned by an operation that failed because a fault was
// injected into a MemFS.
var ErrInjected = errors.New("vfs: injected fault")

// ErrStaleHandle is returned by a MemFS file handle opened before a Crash.
var ErrStaleHandle = errors.New("vfs: stale file handle (opened before a crash)")

// ReadFile reads the whole of name.
func ReadFile(fs FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	n, err := f.ReadAt(b, 0)
	if err == io.EOF && int64(n) == size {
		err = nil
	}
	return b[:n], err
}

// WriteFile creates (or truncates) name and writes data to it, without
// syncing anything. It is meant for tests and tools, not for durable state.
func WriteFile(fs FS, name string, data []byte) error {
	f, err := fs.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// SyncTimed syncs f and, if observe is set, tells it how long that took.
func SyncTimed(f File, observe func(time.Duration)) error {
	if observe == nil {
		return f.Sync()
	}
	start := time.Now()
	err := f.Sync()
	observe(time.Since(start))
	return err
}

// A member's data is its own: the OS file system makes files and
// directories readable by their owner only, as etcd does (its
// PrivateFileMode and PrivateDirMode). The data dir holds every key.
const (
	privateFileMode = 0o600
	privateDirMode  = 0o700
)

// OS returns the operating system's file system.
func OS() FS { return osFS{} }

type osFS struct{}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, privateFileMode)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenAppend(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) MkdirAll(dir string) error            { return os.MkdirAll(dir, privateDirMode) }

func (osFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
