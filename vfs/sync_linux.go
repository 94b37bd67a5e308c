package vfs

import (
	"errors"
	"os"
	"syscall"
)

// Sync is fdatasync on Linux: it makes the data durable and the metadata
// needed to read it back (the size), but not the times fsync would also
// write, which saves a journal commit when a write did not grow the file
// (a preallocated WAL segment).
func (f osFile) Sync() error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if !errors.Is(serr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
