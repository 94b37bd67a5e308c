package vfs

import (
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"sync"
)

// MemFS is an in-memory FS that models durability and crashes (see the
// package documentation). It is safe for concurrent use.
type MemFS struct {
	mu  sync.Mutex
	rng *rand.Rand
	// generation counts crashes; a handle from an older generation is stale.
	generation uint64
	dirs       map[string]*memDir // keyed by cleaned path

	failSyncs  int
	failWrites int
	flipReads  int
	rates      FaultRates
}

// SectorSize is the unit in which MemFS tears unsynced writes at a crash.
const SectorSize = 512

// FaultRates are probabilities, drawn from the MemFS's random source, that
// an operation fails or is corrupted. The zero value injects nothing.
type FaultRates struct {
	SyncError   float64 // a File.Sync or SyncDir fails with ErrInjected
	WriteError  float64 // a Write fails with ErrInjected and writes nothing
	ReadBitFlip float64 // a Read or ReadAt returns data with one bit flipped
}

type memDir struct {
	live    map[string]*inode
	durable map[string]*inode
}

// inode is a file's contents.
//
// invariant: data[:dirtyFrom] == synced[:dirtyFrom], and
// dirtyFrom <= min(len(data), len(synced)). The file is clean when
// dirtyFrom == len(data) == len(synced). data and synced never share memory.
// When len(data) == len(synced), they also agree from dirtyTo on: writes
// in place (a preallocated WAL segment's) then cost a sync only the bytes
// they changed, not the rest of the file.
type inode struct {
	data      []byte
	synced    []byte
	dirtyFrom int
	dirtyTo   int
}

func (n *inode) clean() bool { return n.dirtyFrom == len(n.data) && len(n.data) == len(n.synced) }

// markDirty records a change of data from off to the end of the file.
func (n *inode) markDirty(off int) {
	n.markDirtyRange(off, math.MaxInt)
}

// markDirtyRange records a change of data[off:end] (end may be past the end).
func (n *inode) markDirtyRange(off, end int) {
	n.dirtyFrom = min(n.dirtyFrom, off, len(n.data), len(n.synced))
	n.dirtyTo = max(n.dirtyTo, end)
}

func (n *inode) sync() {
	if len(n.synced) == len(n.data) {
		if to := min(n.dirtyTo, len(n.data)); n.dirtyFrom < to {
			copy(n.synced[n.dirtyFrom:to], n.data[n.dirtyFrom:to])
		}
	} else {
		n.synced = append(n.synced[:n.dirtyFrom], n.data[n.dirtyFrom:]...)
	}
	n.dirtyFrom, n.dirtyTo = len(n.data), 0
}

// NewMem returns an empty in-memory file system whose every random choice
// (torn writes, fault rates, which bit flips) comes from rng. The root
// directory "/" and "." exist.
func NewMem(rng *rand.Rand) *MemFS {
	m := &MemFS{rng: rng, dirs: map[string]*memDir{}}
	m.dirs["/"] = newMemDir()
	m.dirs["."] = newMemDir()
	return m
}

func newMemDir() *memDir {
	return &memDir{live: map[string]*inode{}, durable: map[string]*inode{}}
}

// FailSyncs makes the next n Sync or SyncDir calls fail with ErrInjected.
func (m *MemFS) FailSyncs(n int) { m.mu.Lock(); m.failSyncs += n; m.mu.Unlock() }

// FailWrites makes the next n Write calls fail with ErrInjected.
func (m *MemFS) FailWrites(n int) { m.mu.Lock(); m.failWrites += n; m.mu.Unlock() }

// FlipReadBits makes the next n Read or ReadAt calls that return data flip
// one (seeded) bit of the data returned.
func (m *MemFS) FlipReadBits(n int) { m.mu.Lock(); m.flipReads += n; m.mu.Unlock() }

// SetFaultRates sets the probabilities of random faults.
func (m *MemFS) SetFaultRates(r FaultRates) { m.mu.Lock(); m.rates = r; m.mu.Unlock() }

// Crash simulates a power loss and reboot; see the package documentation.
func (m *MemFS) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.generation++
	seen := map[*inode]bool{}
	for _, dname := range sortedKeys(m.dirs) {
		d := m.dirs[dname]
		d.live = make(map[string]*inode, len(d.durable))
		for _, name := range sortedKeys(d.durable) {
			n := d.durable[name]
			d.live[name] = n
			if !seen[n] {
				seen[n] = true
				m.crashInode(n)
			}
		}
	}
}

// crashInode replaces n's contents with what a disk could hold after power
// loss. Caller holds m.mu.
func (m *MemFS) crashInode(n *inode) {
	if n.clean() {
		return
	}
	var after []byte
	switch m.rng.IntN(3) {
	case 0: // every unsynced write lost
		after = slices.Clone(n.synced)
	default:
		// A prefix of the unsynced bytes reached the disk. Disks write whole
		// sectors, so the surviving prefix ends on a sector boundary (or at
		// the end of what was written).
		end := n.dirtyFrom + m.rng.IntN(len(n.data)-n.dirtyFrom+1)
		if end < len(n.data) {
			end = max(n.dirtyFrom, end/SectorSize*SectorSize)
		}
		after = slices.Clone(n.data[:end])
		if len(n.synced) > len(after) {
			after = append(after, n.synced[len(after):]...)
		} else if len(after) < len(n.data) && m.rng.IntN(2) == 0 {
			// The file's size grew but its data did not land: whole
			// sectors of zeros, up to at most the size written.
			zeroEnd := min(len(n.data), (len(after)/SectorSize+1+m.rng.IntN(4))*SectorSize)
			after = append(after, make([]byte, zeroEnd-len(after))...)
		}
	}
	n.data = after
	n.synced = slices.Clone(after)
	n.dirtyFrom, n.dirtyTo = len(after), 0
}

func sortedKeys[V any](mp map[string]V) []string {
	keys := make([]string, 0, len(mp))
	for k := range mp {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func clean(name string) string { return filepath.Clean(name) }

// lookupDir returns the directory holding name and name's base. Caller holds m.mu.
func (m *MemFS) lookupDir(op, name string) (*memDir, string, error) {
	dir, base := filepath.Split(clean(name))
	dir = clean(dir)
	if dir == "" {
		dir = "."
	}
	d, ok := m.dirs[dir]
	if !ok {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return d, base, nil
}

// Create implements FS.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, isDir := m.dirs[clean(name)]; isDir {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	}
	d, base, err := m.lookupDir("create", name)
	if err != nil {
		return nil, err
	}
	n, ok := d.live[base]
	if ok {
		n.data = n.data[:0]
		n.markDirty(0)
	} else {
		n = &inode{}
		d.live[base] = n
	}
	return &memFile{fs: m, n: n, name: name, gen: m.generation, writable: true}, nil
}

func (m *MemFS) open(op, name string, writable, appendOnly bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.lookupDir(op, name)
	if err != nil {
		return nil, err
	}
	n, ok := d.live[base]
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{fs: m, n: n, name: name, gen: m.generation, writable: writable, appendOnly: appendOnly}, nil
}

// Open implements FS.
func (m *MemFS) Open(name string) (File, error) { return m.open("open", name, false, false) }

// OpenAppend implements FS.
func (m *MemFS) OpenAppend(name string) (File, error) { return m.open("open", name, true, true) }

// OpenWrite implements FS.
func (m *MemFS) OpenWrite(name string) (File, error) { return m.open("open", name, true, false) }

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	od, obase, err := m.lookupDir("rename", oldname)
	if err != nil {
		return err
	}
	n, ok := od.live[obase]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	nd, nbase, err := m.lookupDir("rename", newname)
	if err != nil {
		return err
	}
	delete(od.live, obase)
	nd.live[nbase] = n
	return nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.dirs[clean(name)]; ok {
		if len(d.live) > 0 || len(m.children(clean(name))) > 0 {
			return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrExist}
		}
		delete(m.dirs, clean(name))
		return nil
	}
	d, base, err := m.lookupDir("remove", name)
	if err != nil {
		return err
	}
	if _, ok := d.live[base]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(d.live, base)
	return nil
}

// children returns the names of the subdirectories of dir. Caller holds m.mu.
func (m *MemFS) children(dir string) []string {
	var out []string
	for p := range m.dirs {
		if p != dir && clean(filepath.Dir(p)) == dir {
			out = append(out, filepath.Base(p))
		}
	}
	return out
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.dirs[clean(dir)]
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	names := append(sortedKeys(d.live), m.children(clean(dir))...)
	sort.Strings(names)
	return names, nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = clean(dir)
	for p := dir; ; p = clean(filepath.Dir(p)) {
		if _, ok := m.dirs[p]; ok {
			break
		}
		if d, base, err := m.lookupDir("mkdir", p); err == nil {
			if _, isFile := d.live[base]; isFile {
				return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrExist}
			}
		}
		m.dirs[p] = newMemDir()
	}
	return nil
}

// SyncDir implements FS.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.dirs[clean(dir)]
	if !ok {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: fs.ErrNotExist}
	}
	if m.injectSyncFault() {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: ErrInjected}
	}
	d.durable = make(map[string]*inode, len(d.live))
	for k, v := range d.live {
		d.durable[k] = v
	}
	return nil
}

// injectSyncFault reports whether this sync must fail. Caller holds m.mu.
func (m *MemFS) injectSyncFault() bool {
	if m.failSyncs > 0 {
		m.failSyncs--
		return true
	}
	return m.rates.SyncError > 0 && m.rng.Float64() < m.rates.SyncError
}

type memFile struct {
	fs         *MemFS
	n          *inode
	name       string
	gen        uint64
	off        int64
	writable   bool
	appendOnly bool
	closed     bool
}

// check reports why the handle cannot be used. Caller holds f.fs.mu.
func (f *memFile) check(op string) error {
	switch {
	case f.closed:
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	case f.gen != f.fs.generation:
		return &fs.PathError{Op: op, Path: f.name, Err: ErrStaleHandle}
	}
	return nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	n, err := f.readAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return f.readAt(p, off)
}

// readAt reads and maybe corrupts what it returns. Caller holds f.fs.mu.
func (f *memFile) readAt(p []byte, off int64) (int, error) {
	if err := f.check("read"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: fs.ErrInvalid}
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n > 0 {
		m := f.fs
		flip := false
		if m.flipReads > 0 {
			m.flipReads--
			flip = true
		} else if m.rates.ReadBitFlip > 0 && m.rng.Float64() < m.rates.ReadBitFlip {
			flip = true
		}
		if flip {
			bit := m.rng.IntN(n * 8)
			p[bit/8] ^= 1 << (bit % 8)
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	off := int(f.off)
	if f.appendOnly {
		off = len(f.n.data)
	}
	n, err := f.writeAt(p, off)
	if err == nil {
		f.off = int64(off + n)
	}
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.appendOnly || off < 0 {
		return 0, &fs.PathError{Op: "writeat", Path: f.name, Err: fs.ErrInvalid}
	}
	return f.writeAt(p, int(off))
}

// writeAt writes p at off. Caller holds f.fs.mu.
func (f *memFile) writeAt(p []byte, off int) (int, error) {
	if err := f.check("write"); err != nil {
		return 0, err
	}
	if !f.writable {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrPermission}
	}
	m := f.fs
	if m.failWrites > 0 || (m.rates.WriteError > 0 && m.rng.Float64() < m.rates.WriteError) {
		if m.failWrites > 0 {
			m.failWrites--
		}
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: ErrInjected}
	}
	n := f.n
	end := off + len(p)
	grows := end > len(n.data)
	if off > len(n.data) {
		n.data = append(n.data, make([]byte, off-len(n.data))...)
	}
	if grows {
		n.markDirty(off) // to the end
	} else {
		n.markDirtyRange(off, end)
	}
	if end > len(n.data) {
		n.data = append(n.data[:off], p...)
	} else {
		copy(n.data[off:], p)
	}
	return len(p), nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync"); err != nil {
		return err
	}
	if f.fs.injectSyncFault() {
		return &fs.PathError{Op: "sync", Path: f.name, Err: ErrInjected}
	}
	f.n.sync()
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate"); err != nil {
		return err
	}
	if !f.writable || size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrInvalid}
	}
	n := f.n
	if int(size) <= len(n.data) {
		n.data = n.data[:size]
		n.markDirty(int(size))
	} else {
		n.markDirty(len(n.data))
		n.data = append(n.data, make([]byte, int(size)-len(n.data))...)
	}
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat"); err != nil {
		return 0, err
	}
	return int64(len(f.n.data)), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}
