package tracker

// Inflights is a bounded FIFO of the last index of each append sent to a
// member and not yet acknowledged. It is what limits how far ahead of a
// follower the leader streams in Replicate state.
type Inflights struct {
	start, count int
	buffer       []uint64 // ring, allocated lazily up to capacity
	capacity     int
}

// NewInflights returns an empty window of the given capacity (at least 1).
func NewInflights(capacity int) *Inflights {
	return &Inflights{capacity: max(capacity, 1)}
}

// Add records an append whose last entry is index. Indexes must increase.
// Adding to a full window panics: callers check Full first.
func (in *Inflights) Add(index uint64) {
	if in.Full() {
		panic("tracker: Add to a full Inflights")
	}
	next := in.start + in.count
	if next >= in.capacity {
		next -= in.capacity
	}
	if next >= len(in.buffer) {
		in.grow()
	}
	in.buffer[next] = index
	in.count++
}

func (in *Inflights) grow() {
	size := min(max(2*len(in.buffer), 1), in.capacity)
	b := make([]uint64, size)
	copy(b, in.buffer)
	in.buffer = b
}

// FreeLE frees every append whose last index is <= to (they were acknowledged).
func (in *Inflights) FreeLE(to uint64) {
	for in.count > 0 && in.buffer[in.start] <= to {
		in.start++
		if in.start >= in.capacity {
			in.start -= in.capacity
		}
		in.count--
	}
	if in.count == 0 {
		in.start = 0
	}
}

// FreeFirstOne frees the oldest append (used when a heartbeat response shows
// the member alive although the window is full).
func (in *Inflights) FreeFirstOne() {
	if in.count > 0 {
		in.FreeLE(in.buffer[in.start])
	}
}

// Full reports whether no further append may be sent.
func (in *Inflights) Full() bool { return in.count == in.capacity }

// Count returns the number of appends in flight.
func (in *Inflights) Count() int { return in.count }

// Reset empties the window.
func (in *Inflights) Reset() { in.start, in.count = 0, 0 }
