package plant_test

import (
	"fmt"
	"testing"

	"github.com/raftkv/raftkv/internal/plant"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/server/node"
)

// A set goes only into the configuration type it is for, by pointer;
// anything else is a mistake in a test, reported at once.
func TestPlantWants(t *testing.T) {
	plant.Raft{DoubleVote: true}.Plant(&raft.Config{})
	plant.Node{SkipSync: true}.Plant(&node.Config{})
	for _, c := range []struct {
		plant func()
		want  string
	}{
		{func() { plant.Raft{}.Plant(raft.Config{}) }, "plant: plant.Raft is planted in a *raft.Config, not a raft.Config"},
		{func() { plant.Raft{}.Plant(&node.Config{}) }, "plant: plant.Raft is planted in a *raft.Config, not a *node.Config"},
		{func() { plant.Node{}.Plant(&raft.Config{}) }, "plant: plant.Node is planted in a *node.Config, not a *raft.Config"},
		{func() { plant.Node{}.Plant(nil) }, "plant: plant.Node is planted in a *node.Config, not a <nil>"},
	} {
		got := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			c.plant()
			return ""
		}()
		if got != c.want {
			t.Errorf("panic %q, want %q", got, c.want)
		}
	}
}
