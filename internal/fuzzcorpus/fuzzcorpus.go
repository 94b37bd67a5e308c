// Package fuzzcorpus writes and reads the committed seed corpora of fuzz
// targets (testdata/fuzz/<target>/seed<i>, in go test's file format), for
// the packages whose tests regenerate their corpora with -update-corpus.
// It is test support only.
package fuzzcorpus

import (
	"fmt"
	"os"
	"path/filepath"
)

// Path is the file of seed i of a fuzz target.
func Path(target string, i int) string {
	return filepath.Join("testdata", "fuzz", target, fmt.Sprintf("seed%d", i))
}

// Encode is the corpus file body go test reads for a []byte seed.
func Encode(seed []byte) string {
	return fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed)
}

// Write writes seeds as the corpus of target.
func Write(target string, seeds [][]byte) error {
	if err := os.MkdirAll(filepath.Dir(Path(target, 0)), 0o755); err != nil {
		return err
	}
	for i, s := range seeds {
		if err := os.WriteFile(Path(target, i), []byte(Encode(s)), 0o644); err != nil {
			return err
		}
	}
	return nil
}
