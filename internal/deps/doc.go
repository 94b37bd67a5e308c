// Package deps holds no code: its test enforces the import rules of the
// module, from `go list` and the sources.
//
//   - No package imports one above it in the README's layout table (a
//     package belongs to the row naming the longest prefix of its path;
//     packages of the same row may import each other).
//   - The packages below the real-time server (raft, kv, log, vfs, storage,
//     the node core server/node, and the internal leaves) import no net,
//     net/http, os/exec or Prometheus, directly or through anything else,
//     so the simulator and its WebAssembly build carry none of them.
//   - The pure core (raft and server/node) starts no goroutine, reads no
//     clock and opens no file: their non-test sources hold no go statement,
//     no call of time.Now, time.Since, time.Sleep, time.After, time.Tick or
//     a timer, and no import of os.
package deps
