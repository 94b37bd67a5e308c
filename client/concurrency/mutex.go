package concurrency

import (
	"context"
	"time"

	"github.com/raftkv/raftkv/client"
)

// Mutex is a distributed lock over a directory of the v2 key space. Lock
// creates an in-order key in the directory (POST) with a TTL that a
// background refresh keeps alive, and holds the lock once its key is the
// lowest there; Token is that key's createdIndex, the fencing token.
//
// A Mutex may be locked again after Unlock or after losing the lock. Its
// methods are safe for concurrent use, but only one Lock or TryLock runs
// at a time (another gets ErrHeld).
type Mutex struct {
	holder
}

// NewMutex returns a mutex on dir (such as "/_locks/db") whose key lives
// ttl without a refresh. ttl is rounded up to whole seconds; zero or
// negative means DefaultTTL. It makes no request.
func NewMutex(c *client.Client, dir string, ttl time.Duration) *Mutex {
	return &Mutex{holder: newHolder(c, dir, ttl)}
}

// Lock waits until the lock is held, ctx ends (ctx's error), or the key is
// lost while waiting (an error matching ErrLost); errors the keys API
// answers (other than 300) end it too. Unavailability (no member, no
// leader) only makes it try again. On failure the key is deleted. If the
// create has an unknown outcome (ErrUnknownOutcome, error 300), Lock looks
// for the key it may have made (its value is a random id) and carries on
// with it if it is there.
func (m *Mutex) Lock(ctx context.Context) error {
	return m.acquire(ctx, newID(), true, false)
}

// TryLock takes the lock if no one else holds it or waits for it ahead of
// this caller, and otherwise returns ErrLocked at once.
func (m *Mutex) TryLock(ctx context.Context) error {
	return m.acquire(ctx, newID(), true, true)
}

// Unlock gives the lock up: Done is closed first (Err is then nil, or the
// loss if the lock had been lost), then the key is deleted. A key already
// gone is no error. If the delete fails, the key expires after its TTL.
func (m *Mutex) Unlock(ctx context.Context) error { return m.release(ctx) }

// Token is the fencing token of the held lock: its key's createdIndex,
// higher for every later holder of the lock. It is 0 when the lock is not
// held (never taken, unlocked, or lost).
func (m *Mutex) Token() uint64 { return m.token() }

// Key is the lock's key (the last one taken), "" before the first Lock.
func (m *Mutex) Key() string { return m.key() }

// Done is closed as soon as the lock is lost (see Err) or unlocked. It is
// closed already when the lock is not held.
func (m *Mutex) Done() <-chan struct{} { return m.done() }

// Err is why Done was closed: an error matching ErrLost (ErrLostDeleted,
// ErrLostExpired, ErrLostNotFound or ErrLostTimeout), or nil after Unlock
// and while the lock is held.
func (m *Mutex) Err() error { return m.err() }

// Context returns a child of parent that is cancelled when the lock is
// lost or released, with context.Cause the loss (or ErrNotHeld). Work done
// under the lock should run under this context.
func (m *Mutex) Context(parent context.Context) (context.Context, context.CancelFunc) {
	return m.context(parent)
}
