package run

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

func TestParallelRunsEveryIndexOnce(t *testing.T) {
	for _, jobs := range []int{0, 1, 3} {
		seen := make([]atomic.Int32, 50)
		var out strings.Builder
		bar := NewBar(&out, "test", 50)
		if err := Parallel(50, jobs, bar, func(i int) error { seen[i].Add(1); return nil }); err != nil {
			t.Fatal(err)
		}
		bar.Done()
		for i := range seen {
			if n := seen[i].Load(); n != 1 {
				t.Fatalf("jobs=%d: index %d ran %d times", jobs, i, n)
			}
		}
		if !strings.Contains(out.String(), "50/50 100%") {
			t.Errorf("jobs=%d: the bar never showed the end: %q", jobs, out.String())
		}
	}
}

func TestParallelReportsAnError(t *testing.T) {
	boom := errors.New("boom")
	err := Parallel(20, 2, nil, func(i int) error {
		if i == 7 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
}
