package server

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/raftkv/raftkv/log"
	"github.com/raftkv/raftkv/vfs"
)

// The WAL sync histogram times the syncs a write waits for: those of
// segments, not those of a spare filled in the background.
func TestTimedFSLeavesOutTheSpare(t *testing.T) {
	var observed int
	fsys := timedFS{FS: vfs.NewMem(rand.New(rand.NewPCG(1, 1))), observe: func(time.Duration) { observed++ }}
	for _, c := range []struct {
		name string
		want int
	}{
		{"/" + log.SpareName, 0},
		{"/0000000000000001-0000000000000010.wal.tmp", 1},
	} {
		observed = 0
		f, err := fsys.Create(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if observed != c.want {
			t.Errorf("%s: %d syncs timed; want %d", c.name, observed, c.want)
		}
	}
}
