package concurrency

import "sync"

// Fence is what a resource protected by a Mutex keeps: the highest fencing
// token it has admitted. It admits a token only if it is at least that
// high, so a holder that lost the lock without knowing it (paused past its
// TTL, partitioned) cannot act after a later holder has. A resource keeps
// one Fence per lock, and must check and act atomically: admit the token
// and apply the write under the same lock or transaction, and keep the
// highest token as durably as the data.
//
// The zero Fence is ready to use. It is safe for concurrent use.
type Fence struct {
	mu  sync.Mutex
	max uint64 // the highest token admitted
}

// Admit reports whether a request carrying token may act: token is not 0
// (the token of no lock) and no higher token has been admitted before. An
// admitted token becomes the new bar.
func (f *Fence) Admit(token uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if token == 0 || token < f.max {
		return false
	}
	f.max = token
	return true
}

// Max is the highest token admitted, 0 before the first.
func (f *Fence) Max() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.max
}
