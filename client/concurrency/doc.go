// Package concurrency holds distributed locks and leader elections with
// fencing tokens, built on the v2 API of package client (like etcd's
// clientv3/concurrency, which does the same on v3 leases and revisions).
//
//	m := concurrency.NewMutex(c, "/_locks/db", 10*time.Second)
//	if err := m.Lock(ctx); err != nil { ... }
//	defer m.Unlock(context.Background())
//	work, cancel := m.Context(ctx) // cancelled the moment the lock is lost
//	defer cancel()
//	err := store.Write(work, m.Token(), data) // the store rejects old tokens
//
// # The mechanism
//
// A Mutex or an Election owns a directory. Taking it creates an in-order
// key there (POST, so the key is named after the store index and sorts in
// creation order) with a TTL, so the key of a holder that crashed expires.
// A background goroutine refreshes the TTL every third of it (PUT
// refresh=true&prevExist=true&ttl=, which wakes no watcher). The key whose
// createdIndex is the lowest in the directory holds the lock, or leads.
// A waiter reads the directory linearizably (quorum=true), then watches the
// key just before its own from the index after that read (waitIndex =
// X-Etcd-Index+1), so a delete that falls between the read and the watch is
// still seen; when that key is deleted or expires it reads the directory
// again. If the watch falls out of the server's event history (error 401),
// or nothing happens for a TTL (the watched member may be cut off), it reads
// the directory again too. Waiters are thus served in the order they came,
// each woken only by its predecessor's end.
//
// # Fencing tokens
//
// The createdIndex of the holder's key is its fencing token: every later
// holder's key was created later, so its token is higher. A lock alone does
// not make a resource safe: a holder can be paused (a GC pause, SIGSTOP, a
// slow disk) or cut off past its TTL, the key expires, another holder takes
// the lock, and the first one wakes up and acts, still believing it holds
// the lock (Jepsen found exactly this in etcd 3.4.3's lock). The resource
// itself must refuse it: it keeps the highest token it has seen (Fence) and
// rejects any request that carries a lower one.
//
// # Losing the lock
//
// The holder learns of a loss at once, through Done (and Context): Err then
// says why, as one of the errors that match ErrLost.
//
//   - ErrLostTimeout: no refresh has succeeded for the TTL minus a safety
//     margin of a fifth of it, counted by the local clock from the moment
//     the last successful refresh was sent (the server's expiry, counted
//     from when it received it, cannot come sooner unless the members'
//     clocks disagree). Refreshes that fail are retried at once with
//     backoff, each at the next endpoint.
//   - ErrLostDeleted, ErrLostExpired: a watch of the key saw it deleted (by
//     someone else: an operator's rm) or expired.
//   - ErrLostNotFound: a refresh or a read found the key missing.
//
// Unlock and Resign close Done too, before deleting the key, with Err nil.
//
// # What it needs from the cluster
//
// The v2 API with TTL refresh (etcd 2.3+, raftkv) and quorum reads. TTLs are
// whole seconds: ttl is rounded up. Keep the client's
// Config.HeaderTimeoutPerRequest well under a third of the TTL, so reads and
// watches move to another member in time when one is cut off. Keys the
// package makes are files of the directory; other files there take part
// in the queue as if they were holders.
//
// # Against etcd v3's concurrency package
//
// etcd's Mutex keys are "<prefix>/<lease id>" in the v3 key space with the
// lease's TTL, and the token is the key's create revision. Here the key is
// "<dir>/<20-digit index>" with its own TTL, and the token its createdIndex:
// both are positions in the one totally ordered history of the cluster.
package concurrency
