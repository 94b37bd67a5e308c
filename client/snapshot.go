package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// SnapshotPath is the member's snapshot endpoint, a raftkv extension of
// the v2 API.
const SnapshotPath = "/v2/raftkv/snapshot"

// SnapshotInfo describes a snapshot streamed by Snapshot.
type SnapshotInfo struct {
	// Endpoint is the member that took it.
	Endpoint string
	// Index and Term are the raft position it was taken at; EtcdIndex is
	// the key space's index there.
	Index, Term, EtcdIndex uint64
	// Bytes is how many bytes were written.
	Bytes int64
}

// Snapshot asks a member for a consistent snapshot of the cluster (GET
// /v2/raftkv/snapshot: a linearizable read point, then the key space and
// membership there, in the snapshot file format of raftkv's storage/backup)
// and streams it into w. The first member that answers is used; an answer
// cut short (the member stopped mid-way) is an error, but the bytes
// already written stay in w: write to a temporary file and check it
// before keeping it. With v2 auth on, only root may take snapshots.
func (c *Client) Snapshot(ctx context.Context, w io.Writer) (*SnapshotInfo, error) {
	rep, err := c.send(ctx, &request{method: http.MethodGet, path: SnapshotPath, watch: true, retry5xx: true})
	if err != nil {
		return nil, err
	}
	defer rep.stream.Close()
	if rep.status != http.StatusOK {
		return nil, decodeError(rep)
	}
	info := &SnapshotInfo{Endpoint: rep.endpoint, Index: headerUint(rep.header, "X-Raft-Index"),
		Term: headerUint(rep.header, "X-Raft-Term"), EtcdIndex: headerUint(rep.header, "X-Etcd-Index")}
	info.Bytes, err = io.Copy(w, rep.stream)
	if err != nil {
		return info, fmt.Errorf("client: snapshot from %s broke off after %d bytes: %w", rep.endpoint, info.Bytes, err)
	}
	return info, nil
}
