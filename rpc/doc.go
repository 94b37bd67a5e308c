// Package rpc is raftkv's peer transport: it carries raft.Messages between
// members over long-lived TCP streams (optionally mutual TLS).
//
// # Using it
//
// New(Config) listens for peers and returns a Transport. AddPeer,
// UpdatePeer and RemovePeer keep its peer set in step with the cluster's
// membership; only peers in the set may send to it. The member hands every
// Ready's messages to Send, which never blocks: each message is queued for
// its recipient, and dropped and counted if the recipient is unknown or its
// queue is full (raft retransmits). Received messages come out of
// Inbound(), which the member's loop drains; a member that falls behind
// slows its peers' streams (TCP back-pressure), never their Send. Stats and
// PeerStats return counters for /v2/stats; SetFilter installs a fault
// hook (drop or delay) on a peer's outbound messages for tests. Close stops
// every goroutine, waits for them, then closes Inbound.
//
// Send keeps references to messages' entries and snapshot data until they
// are written: the caller must not modify them afterwards.
//
// # TLS
//
// Config.ServerTLS makes the transport run the server side of a TLS
// handshake on every accepted connection; Config.ClientTLS, or
// GetClientTLS called afresh for each dial (so that the caller can reload
// certificates and CAs), the client side on every dialled one, with the
// peer's host as the server name unless the configuration sets one. For
// mutual TLS the client configuration carries this member's certificate
// and the server one requires and verifies the peer's. A caller whose
// Listener terminates TLS itself (the server's peer port does, to tell
// raft streams from HTTP after the handshake) sets the client side only.
// A failed handshake on either side is a failed stream: the dialler backs
// off and redials; the acceptor logs it and counts it in RefusedStreams.
//
// # Streams and lanes
//
// Streams are one-way: member A sends to B on streams A dialled, and B
// answers on streams B dialled. Each member keeps three outbound streams
// per peer, one per lane, each with its own bounded queue and writer:
//
//   - the control lane carries votes, pre-votes, heartbeats, all responses
//     and MsgTimeoutNow: small messages that must not wait;
//   - the bulk lane carries MsgApp and MsgSnap in the order sent, so
//     appends are pipelined (written back to back, never waiting for
//     responses) and a snapshot is never overtaken by later appends;
//   - the app lane carries application frames: opaque bytes the member
//     exchanges beside raft (SendApp to send, Config.OnApp to receive),
//     such as client writes a follower forwards to the leader and the
//     leader's answers. They are as pipelined as appends, and neither
//     waits behind the other.
//
// Separate TCP connections rather than priorities inside one keep a
// heartbeat out of the kernel's send buffer behind megabytes of appends or
// snapshot chunks. A lane's writer writes every queued message and flushes
// when the queue runs empty. When a stream fails, or the peer closes it,
// the writer redials with capped exponential backoff: the n-th consecutive
// wait is uniform in [d/2, d] with d = min(MaxBackoff, MinBackoff·2^n),
// the jitter drawn from Config.Rand. Messages queued meanwhile wait for the new stream;
// those in a batch lost with a stream are counted as failed. Streams carry
// no acknowledgements, so messages written before the writer learns that
// the peer closed the stream (its FIN not yet read) are lost unnoticed and
// counted as sent; raft retransmits. A receiver that accepts a second
// stream for the same sender and lane closes the older one.
//
// # Wire format (version 1)
//
// All integers in the fixed-size parts are big-endian. A stream opens with
// a 32-byte header written by the dialler:
//
//	offset 0   4 bytes  magic "RKVP"
//	offset 4   uint8    version (1)
//	offset 5   uint8    lane: 1 control, 2 bulk, 3 app
//	offset 6   2 bytes  reserved: written as zero, ignored by receivers
//	offset 8   uint64   cluster id
//	offset 16  uint64   sender member id
//	offset 24  uint64   receiver member id
//
// (over TLS, after the handshake). The receiver answers with 8 bytes:
//
//	offset 0   4 bytes  magic "RKVP"
//	offset 4   uint8    the version the receiver speaks
//	offset 5   uint8    status: 0 accepted, 1 unsupported version,
//	                    2 cluster id mismatch, 3 unknown sender,
//	                    4 wrong receiver, 5 unknown lane
//	offset 6   2 bytes  reserved (zero)
//
// and on any status but 0 logs the refusal and closes the stream. A
// receiver that does not find the magic closes without answering. After
// status 0 the receiver never writes again; the dialler writes frames:
//
//	uint32  length L of the body, 1 <= L <= the maximum frame size
//	L bytes body: one MessagePack array [frame type, ...]
//
// A receiver closes the stream on a length word of zero or above its
// maximum frame size (default 16 MiB) before reading the body, and on any
// malformed body. A decoder must accept more array elements than listed
// below (a later version may append some) and skip them; bytes after the
// array are an error. Integers may use any MessagePack integer encoding.
// Frame types:
//
//	1 message         [1, message]
//	2 snapshot begin  [2, message, total]
//	3 snapshot chunk  [3, offset, data (bin)]
//	4 app             [4, data (bin)]
//
// Frame types 1 to 3 travel on the control and bulk lanes, type 4 on the
// app lane only; a frame on the wrong lane is dropped and counted.
//
// A message is a raft.Message as a MessagePack map keyed by its field tags
// (see raft/types.go): "y" type (1 MsgApp … 13 MsgSnapResp, see
// raft.MessageType), "to", "fr" from, "t" term, "lt" log term, "i" index,
// "e" entries (array of maps "t" term, "i" index, "y" entry type, "d" data
// bin), "c" commit, "r" reject, "rh" reject hint, "s" snapshot (map "m"
// metadata {"i" index, "t" term, "c" conf state {"v" voters, "l"
// learners}}, "d" data), "x" context. Keys may be absent (zero value) and
// unknown keys are ignored. A message's "fr" and "to" must be the stream's
// sender and receiver and its type must belong to the stream's lane, or
// the receiver drops it (and counts it).
//
// A MsgSnap is sent as a snapshot stream so that its data, which may be
// far larger than a frame, never has to fit one: a begin frame carries the
// message with the snapshot's data left out ("d" absent or empty) and the
// data's length total; chunk frames follow immediately on the same stream,
// their offsets 0, then each the previous offset plus the previous chunk's
// length, the chunks' lengths summing to total (no chunk frame when total
// is 0). The sender cuts the data into ChunkBytes pieces (default 1 MiB);
// the receiver accepts any sizes that fit its frames. When the last byte
// has arrived the receiver delivers the message with the data put back. A
// begin announcing more than the receiver's MaxSnapshotBytes, a chunk out
// of sequence or outside a snapshot, and any other frame in the middle of
// a snapshot close the stream; so does a stream ending mid-snapshot, and
// the partial data is discarded. The receiver buffers the data it has
// received, never more than the announced total or its limit; the sender
// buffers nothing beyond a frame (it writes slices of the snapshot).
//
// # Versioning
//
// A change that older receivers could misread bumps the version byte. A
// receiver refuses a version it does not speak with status 1 and its own
// version in the reply, so a dialler that speaks several can redial with
// that one. Additions that old receivers safely ignore (map keys, trailing
// array elements, frame types only sent when the receiver's version is
// known to have them) do not need a new version. The app lane and frame
// type 4 joined version 1 before any release: a member built before them
// refuses lane 3 (status 5), so such members cannot forward to or from
// newer ones and a cluster of them is upgraded all at once.
package rpc
