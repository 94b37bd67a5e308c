package linearizability

import (
	"fmt"
	"testing"
)

// BenchmarkCheck10000 checks a 10,000-operation history of 10 clients doing
// mixed operations with 1% lost responses, from a sequential simulation of
// a correct store with overlapping timings (about 8 operations in flight at
// any moment). keys=10 is the usual shape; keys=1 puts all contention on
// one partition.
func BenchmarkCheck10000(b *testing.B) {
	for _, keys := range []int{10, 1} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			ops := generate(genOptions{seed: 42, clients: 10, keys: keys, ops: 10_000, ambiguousPct: 1})
			b.ReportMetric(float64(len(ops)), "ops/history")
			for b.Loop() {
				res, err := Check(ops, CheckOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if res.Verdict != VerdictOK {
					b.Fatalf("%v", res)
				}
			}
		})
	}
}
