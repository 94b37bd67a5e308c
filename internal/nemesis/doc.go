// Package nemesis runs real raftkv processes on a real network and breaks
// it: partitions, crashes, pauses, message delay and loss, while clients
// record a history that Porcupine checks and a lock workload writes to a
// fenced register. cmd/raftkv-nemesis (`make nemesis`) runs it; its test
// runs a short run in `make test`.
//
// # The network
//
// Run needs root, ip (iproute2) and iptables-restore. It makes, per run:
//
//	namespace rkvnem-<pid>r<n>-c   the clients: bridge br0, 10.77.0.1/24,
//	                               and one veth end per member (vm1...)
//	namespace rkvnem-<pid>r<n>-mI  member I: eth0, 10.77.0.(10+I)/24
//
// Nothing is configured in the root namespace. Members run under
// `ip netns exec` (which execs raftkv, so the process and its signals are
// the member's), started and restarted by internal/testcluster with
// Options.Hosts, Wrap and Dial. The clients run in this process: every
// dial runs on a fresh OS thread that enters the clients' namespace with
// setns and dies with its goroutine (see inNamespace), so each socket
// belongs to that namespace and no thread of another namespace returns to
// Go's pool. The namespaces are deleted at the end of a run, and those of
// runs whose process has died (the pid in the name) at the start of the
// next, after killing the members still running in them.
//
// # Faults
//
// One at a time, drawn from the seed: a kind (Fault), its targets (the
// member last seen leading, or others), and how long it lasts (1.5 to 6 s),
// with 0.5 to 3 s of calm between two; with Options.Compose, a share of
// them get delay or loss layered on for their duration. Partitions are iptables rules in
// the members' namespaces that drop packets from the other side's
// addresses (never the clients'): a cut in both directions, or in one
// (one-way). SIGKILL, SIGSTOP and SIGCONT go to the members' processes.
// Delay and loss go through the members' fault hooks: they run with the
// test-only --experimental-fault-injection, and the nemesis sets
// /debug/faults (server/faults.go). At the end every fault is healed.
//
// # Checks
//
//   - The KV clients' history (linearizability.History, one Recorder per
//     client, unique values, unknown outcomes as the package prescribes;
//     each operation is linearizability/v2workload's Step, as in
//     server/clustertest's TestLinearizableUnderFaults),
//     with the final quorum reads of every key from every member appended,
//     is checked by Porcupine: an acknowledged write that a member lost
//     fails it. Keys change every 10 s, so that each key's history, which
//     Porcupine checks on its own, stays short.
//   - The members must agree on every key after healing (read again up to
//     three times, a second apart, while a late apply may land).
//   - The lock workload (lock.go): checkLocks on the fenced register's
//     writes and the acquisitions.
//
// A run's Result has the verdict (ok, violation, unknown, liveness), the
// table of operations and faults, leader changes, the lock workload's
// numbers, the seed and the command that replays the schedule. A seed
// fixes the schedule and the clients' choices, not the interleaving of
// real processes.
package nemesis
