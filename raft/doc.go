// Package raft implements the Raft consensus protocol as a pure,
// deterministic state machine.
package raft
