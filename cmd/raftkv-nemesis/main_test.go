package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestBadFlags: bad input gets exit code 2 and a message naming the flag,
// before anything is built or any namespace made.
func TestBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-members", "4"}, "-members 4: 3 or 5"},
		{[]string{"-faults", "split,netem"}, `unknown fault "netem"`},
		{[]string{"-runs", "0"}, "must be positive"},
		{[]string{"-locks", "-1"}, "not negative"},
		{[]string{"-compose", "2"}, "-compose 2: a share between 0 and 1"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"-duration", "soon"}, "invalid value"},
	} {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}
