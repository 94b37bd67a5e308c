package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/raftkv/raftkv/vfs"
)

// LockFileName is the data dir's lock file: a member holds an exclusive
// flock(2) on it from before it writes anything to the data dir until it
// stops, so a second raftkv on the same data dir (the same member started
// twice) refuses to start instead of joining under the same member id, as
// etcd refuses by the lock on its WAL. The file holds the owner's pid,
// name and start time for the refusal's message; the lock, not the file,
// is what counts, so a file left by a killed process locks nothing.
const LockFileName = "raftkv.lock"

// ErrDataDirInUse is the cause of a start refused because another process
// (or another member in this one) holds the data dir's lock.
var ErrDataDirInUse = errors.New("server: the data dir is in use")

// inUseError is ErrDataDirInUse with its message: who holds the lock and
// what to do, without the sentinel's words in front.
type inUseError struct{ msg string }

func (e *inUseError) Error() string        { return e.msg }
func (e *inUseError) Is(target error) bool { return target == ErrDataDirInUse }

// lockHolder is what the lock file says about its owner.
type lockHolder struct {
	PID int `json:"pid"`
	// Program is what holds it ("": raftkv, a member); Name is the
	// member's --name, if a member.
	Program string    `json:"program,omitempty"`
	Name    string    `json:"name,omitempty"`
	Started time.Time `json:"started"`
}

func (h lockHolder) String() string {
	prog := h.Program
	if prog == "" {
		prog = "raftkv"
	}
	if h.Name == "" {
		return fmt.Sprintf("%s pid %d (started %s)", prog, h.PID, h.Started.Format(time.RFC3339))
	}
	return fmt.Sprintf("%s pid %d (member %q, started %s)", prog, h.PID, h.Name, h.Started.Format(time.RFC3339))
}

// dirLock is a held data dir lock; Unlock releases it.
type dirLock struct{ f *os.File }

// Unlock releases the lock (closing the file descriptor drops the flock).
func (l *dirLock) Unlock() error { return l.f.Close() }

// lockDataDir takes the lock of m's data dir, if the data dir is on the OS
// file system and exists (or create is set: then it makes it first). It
// does nothing if m holds the lock already.
//
// The in-memory disk (vfs.MemFS) is not locked: it lives inside one test
// process whose members the test itself starts and stops, so there is no
// second operator to protect against, and vfs stays without a lock
// primitive the simulator would never use.
func (m *Member) lockDataDir(create bool) error {
	if m.lock != nil || m.cfg.FS != vfs.OS() {
		return nil
	}
	dir := m.cfg.DataDir
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) && !create {
		return nil
	}
	l, err := lockDir(dir, lockHolder{PID: os.Getpid(), Name: m.cfg.Name, Started: m.startTime})
	if err != nil {
		return err
	}
	m.lock = l
	return nil
}

// unlockDataDir releases the data dir lock, if m holds it.
func (m *Member) unlockDataDir() error {
	if m.lock == nil {
		return nil
	}
	err := m.lock.Unlock()
	m.lock = nil
	return err
}

// lockDir makes dir if needed and takes its lock without waiting,
// recording holder in the lock file. If another holds it, the error (an
// ErrDataDirInUse) names the holder and says what to do. Code that writes
// a data dir offline (a restore) should take it too.
func lockDir(dir string, holder lockHolder) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("server: creating --data-dir %s: %v", dir, err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("server: opening the data dir lock %s: %v", path, err)
	}
	if err := flockExclusive(f); err != nil {
		defer f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("server: locking %s: %v", path, err)
		}
		who := "another process"
		b, _ := io.ReadAll(io.LimitReader(f, 4096))
		var h lockHolder
		if json.Unmarshal(b, &h) == nil && h.PID != 0 {
			who = h.String()
		}
		return nil, &inUseError{fmt.Sprintf("data dir %s is in use by %s, which holds %s; stop it or choose another --data-dir", dir, who, path)}
	}
	// A failed write only makes a refused start's message vaguer: the
	// lock, not the file's content, excludes the others.
	b, _ := json.Marshal(holder)
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
	}
	return &dirLock{f: f}, nil
}

// flockExclusive takes an exclusive flock on f without waiting. flock
// locks belong to the open file, not the process, so two members in one
// process exclude each other as two processes do.
func flockExclusive(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
