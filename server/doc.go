// Package server is one raftkv member's real-time side: the node core
// (package server/node, the same code the simulator runs) in a loop with a
// ticker, the peer transport (package rpc) and the HTTP API.
//
// One goroutine, the loop, owns the node core. It takes ticks, peer
// messages and client work from channels and handles everything that has
// arrived before each Ready, so that one fsync covers a batch. Other
// goroutines hand it closures (do) and wait on the view of the node it
// publishes after each Ready. The files, by concern:
//
//   - member.go: MemberConfig, Member, StartMember and the small accessors.
//   - bootstrap.go: the member file (member.json, written through vfs),
//     bootstrapping a new cluster, joining an existing one, restarting.
//   - listen.go: the client and peer listeners.
//   - tls.go: TLS for both sides (TLSInfo, --tls-min-version,
//     --cipher-suites): checking the certificate flags at startup, the
//     certificate, CA and CRL files re-read when they change (rotation
//     without a restart), --auto-tls, the client listeners' handshakes,
//     and the logging and counting of refused handshakes.
//   - loop.go: the loop (run, drain, do, background snapshots) and
//     publishView, which wakes the waiters.
//   - wait.go: the published view and the waits on it (a leader, a leader
//     change, an applied index).
//   - propose.go: proposals and linearizable reads from any member: local
//     on the leader, forwarded otherwise.
//   - forward.go: followers hand writes to the leader as app frames on the
//     peer transport, and the leader answers them.
//   - peers.go: keeping the transport's peers in step with the membership,
//     publishing this member's attributes, learning of its own removal.
//   - stop.go: graceful shutdown and the leadership hand-over.
//   - backend.go: Backend, the narrow interface the HTTP API is written
//     against (propose, read index, the store, status, members, stats),
//     and Member's implementation of it.
//   - http.go: the client API (the etcd v2 HTTP API) over a Backend.
//   - fasthttp.go: the fast path of plain-HTTP client listeners: key
//     requests that are not watches are read and answered by a small
//     HTTP/1.1 server of ours (same handler, one writev per answer);
//     anything else hands the connection to net/http. form.go and
//     v2json.go read the form and write events without reflection or maps.
//   - auth.go: v2 auth's records in the key space, the authorizer (who is
//     asking, may they), and its cache of verified passwords.
//   - auth_api.go: the /v2/auth API (enable, users, roles).
//   - peerport.go: the peer port, which carries the raft streams and a
//     small HTTP API (membership, for joining members); with peer TLS it
//     does the handshake before telling the two apart.
//   - membership.go: member ids, --initial-cluster, URLs, and the member
//     records in the key space under the hidden directory /_raftkv.
//   - discovery.go: --discovery, etcd 2's discovery protocol against any
//     v2 key space (register, wait for the directory to fill, boot with
//     the first size registrations); discovery_srv.go: --discovery-srv,
//     the initial cluster from DNS SRV records.
//   - proxy.go: --proxy, a member-less reverse proxy to the members'
//     client URLs with endpoint failover (also what a member started
//     through a full discovery directory becomes).
//   - metrics.go: Prometheus metrics and the /v2/stats counters.
//   - dashboard.go: /dashboard/ (the page of server/dashboard) and its
//     event stream: one snapshot a second of the members' and the
//     leader's stats, built once for every open page.
//   - snapshot.go: GET /v2/raftkv/snapshot, a consistent snapshot of the
//     cluster (a read index, then the key space frozen on the loop)
//     streamed in storage/backup's file format.
//   - restore.go: RestoreSnapshot, a new cluster's data dir made from a
//     snapshot file (raftkvctl snapshot restore), written whole or not at
//     all.
//   - backup.go: BackupDataDir, etcdctl v2's offline backup of a stopped
//     member's data dir under new ids.
//   - forcenew.go: --force-new-cluster, the log of a survivor rewritten
//     before start so that it is the one member of its cluster.
//
// docs/architecture.md lists every goroutine of a running member and
// follows a write and a read through the packages.
package server
