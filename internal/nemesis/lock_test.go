package nemesis

import (
	"strings"
	"testing"

	"github.com/raftkv/raftkv/client/concurrency"
)

// TestLockCheckerCatches proves the lock checker live: a register whose
// fence is broken, and histories with a stale holder, interleaved
// holders, a holder refused while it held the lock and a token given
// twice, are each caught; a correct history passes.
func TestLockCheckerCatches(t *testing.T) {
	good := []fencedWrite{
		{client: 0, token: 10, believed: true, accepted: true},
		{client: 0, token: 10, believed: true, accepted: true},
		{client: 1, token: 12, believed: true, accepted: true},
		{client: 0, token: 10, believed: true, paused: true, accepted: false}, // paused past its TTL: refused
		{client: 2, token: 15, believed: true, accepted: true},
	}
	acqs := []acquisition{{0, 10, "/l/10"}, {1, 12, "/l/12"}, {2, 15, "/l/15"}}
	if v := checkLocks(good, acqs); len(v) != 0 {
		t.Fatalf("a correct history: %v", v)
	}
	for _, c := range []struct {
		name   string
		writes []fencedWrite
		acqs   []acquisition
		want   string
	}{
		{"stale write accepted", []fencedWrite{
			{client: 1, token: 12, believed: true, accepted: true},
			{client: 0, token: 10, believed: true, paused: true, accepted: true},
		}, acqs, "a stale holder acted"},
		{"fence refused a newer token", []fencedWrite{
			{client: 0, token: 10, believed: true, accepted: true},
			{client: 1, token: 12, believed: true, accepted: false},
		}, acqs, "rejected though no higher token"},
		{"holder refused while it held the lock", []fencedWrite{
			{client: 1, token: 12, believed: true, accepted: true},
			{client: 0, token: 10, believed: true, accepted: false},
		}, acqs, "the lock was not exclusive"},
		{"token given twice", good, append(acqs, acquisition{1, 15, "/l/15b"}), "token 15 given to two acquisitions"},
	} {
		v := checkLocks(c.writes, c.acqs)
		if !strings.Contains(strings.Join(v, "\n"), c.want) {
			t.Errorf("%s: checker said %q, want %q", c.name, v, c.want)
		}
	}

	// The register with a broken fence (admits everything): a paused
	// holder's stale write gets through and the checker says so.
	reg := newFencedRegister()
	reg.admit = func(f *concurrency.Fence, token uint64) bool { f.Admit(token); return true }
	reg.write(fencedWrite{client: 1, token: 12}, func() bool { return true })
	reg.write(fencedWrite{client: 0, token: 10, believed: true, paused: true}, nil)
	if v := checkLocks(reg.writes, acqs); !strings.Contains(strings.Join(v, "\n"), "stale holder") {
		t.Errorf("a register that admits every token: checker said %q", v)
	}
	// The real fence refuses it.
	reg = newFencedRegister()
	reg.write(fencedWrite{client: 1, token: 12}, func() bool { return true })
	if reg.write(fencedWrite{client: 0, token: 10, believed: true, paused: true}, nil) {
		t.Error("concurrency.Fence admitted token 10 after 12")
	}
	if v := checkLocks(reg.writes, acqs); len(v) != 0 {
		t.Errorf("the real fence: %v", v)
	}
}
