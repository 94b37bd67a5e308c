// Package client is a Go client for the etcd v2 HTTP API as raftkv serves
// it (it works against etcd 2.x and 3.x's v2 API too).
//
//	c, err := client.New(client.Config{Endpoints: []string{"http://127.0.0.1:2379"}})
//	resp, err := c.Set(ctx, "/message", "Hello", nil)
//	resp, err = c.Get(ctx, "/message", nil)
//	fmt.Println(resp.Node.Value)
//
// # What it guarantees
//
//   - Every call takes a context; its deadline and cancellation end the call
//     and are returned as the context's error. Config.HeaderTimeoutPerRequest
//     bounds each attempt at one endpoint.
//   - Failover: a request goes first to the endpoint that answered last and
//     moves on when the connection fails. Reads (GET, HEAD, watches) also
//     move on after an attempt timeout or a 5xx answer (a member without a
//     leader). A write moves on only if the connection was never made: once
//     a member may have received it, a failure is returned as an
//     *EndpointError matching ErrUnknownOutcome and the write is not sent
//     again, because applying it twice can be wrong (an in-order create, a
//     compare-and-swap that then reports a false failure). When no endpoint
//     answers, the error is a *ClusterError naming every attempt.
//   - Errors the keys API answers are *Error values carrying the v2
//     errorCode, Message, Cause and Index; compare them with errors.Is and
//     the sentinels (ErrKeyNotFound, ErrNodeExist, ...) or the IsKeyNotFound
//     style helpers. Other endpoints answer *StatusError.
//   - Redirects: a member that answers 307 or 308 (raftkv's redirect mode,
//     etcd 0.4) is followed up to 10 times, keeping the method and body. A
//     redirect that would turn a write into a GET is refused.
//   - Watches resume: a Watcher asks for the events after the last one it
//     returned (waitIndex = modifiedIndex+1), and before the first event
//     after the index at which it registered (X-Etcd-Index+1). So a broken
//     connection, a member killed, or a leader change loses no event and
//     repeats none, as long as the events are still in the server's history
//     (the last 1000 events of the whole cluster). When they are not, Next
//     returns error 401 (IsEventIndexCleared): Get the key and start a new
//     watcher with AfterIndex set to the Get's Response.Index.
//
// # TLS and v2 auth
//
// Config.TLS configures https endpoints (TLSConfigFromFiles builds it from
// the PEM files of a client certificate, its key and the members' CA).
// A TLS failure before the member read the request (its certificate does
// not verify, or it refused the client's during the handshake) counts as
// a connection that was never made: the next endpoint is tried, even for a
// write, and no write is reported as of unknown outcome because of it.
// Config.Username and Password are sent as HTTP Basic credentials with
// every request. The auth API (EnableAuth, AddUser, GrantRoleKV, ...)
// answers errors as *StatusError carrying the server's message; errors.Is
// matches ErrNotFound, ErrConflict and ErrUnauthorized (which also matches
// the keys API's error 110).
//
// # Endpoint discovery
//
// Sync replaces the endpoints with the client URLs the members publish in
// /v2/members, the leader's first, and AutoSync repeats it. It is optional:
// skip it when members advertise URLs this program cannot reach.
//
// # Consistency
//
// A Get is answered by whichever member receives it. GetOptions.Quorum asks
// for a linearizable read through the Raft log. Writes are linearizable; a
// member forwards them to the leader.
package client
