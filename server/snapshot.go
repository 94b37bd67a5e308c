package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/storage/backup"
)

// pathSnapshot is the client API's snapshot endpoint, a raftkv extension
// (etcd v2 has none; etcd v3's is Maintenance.Snapshot): GET streams a
// consistent snapshot of the cluster in package backup's file format.
const pathSnapshot = "/v2/raftkv/snapshot"

// snapshotter is the optional capability of a Backend that can take a
// consistent snapshot; Member has it.
type snapshotter interface {
	snapshot(ctx context.Context) (*snapshotPoint, error)
}

// snapshotPoint is the key space frozen at one applied index, with what
// the snapshot file's header says about it.
type snapshotPoint struct {
	header backup.Header
	frozen *kv.Frozen
}

// snapshot takes a consistent snapshot: a linearizable read point first
// (so every write acknowledged before the request is in it), then, on the
// loop, the key space frozen at the applied index together with that
// index's term and the membership there. Encoding the frozen copy is left
// to the caller, off the loop, while the member keeps applying.
func (m *Member) snapshot(ctx context.Context) (*snapshotPoint, error) {
	if err := m.readIndex(ctx); err != nil {
		return nil, err
	}
	type result struct {
		p   *snapshotPoint
		err error
	}
	ch := make(chan result, 1)
	if err := m.do(ctx, func() {
		n := m.node
		applied := n.View().Applied
		term, err := n.Storage().Term(applied)
		if err != nil {
			ch <- result{err: err}
			return
		}
		st := n.Store()
		p := &snapshotPoint{frozen: st.Freeze()}
		p.header = backup.Header{
			ClusterID: IDString(m.clusterID), Index: applied, Term: term, StoreIndex: p.frozen.Index(),
			Members: snapshotMembers(n.ConfState(), readMembers(st)),
			Member:  IDString(m.id), Created: time.Now().UTC().Format(time.RFC3339), RaftkvVersion: Version,
		}
		ch <- result{p: p}
	}); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.p, r.err
	case <-ctx.Done():
		return nil, errTimeout
	case <-m.donec:
		return nil, errStopped
	}
}

// snapshotMembers lists the voters and learners of cs with what the member
// records say about them.
func snapshotMembers(cs raft.ConfState, records map[uint64]*MemberInfo) []backup.Member {
	var out []backup.Member
	add := func(id uint64, learner bool) {
		bm := backup.Member{ID: IDString(id), PeerURLs: []string{}, ClientURLs: []string{}, Learner: learner}
		if r := records[id]; r != nil {
			bm.Name, bm.PeerURLs, bm.ClientURLs = r.Name, r.PeerURLs, r.ClientURLs
		}
		out = append(out, bm)
	}
	for _, id := range cs.Voters {
		add(id, false)
	}
	for _, id := range cs.Learners {
		add(id, true)
	}
	return out
}

// serveSnapshot is GET /v2/raftkv/snapshot. With v2 auth on, only root may
// take a snapshot (it holds every key). The body is streamed: the key
// space is encoded into the response as it is written, so a large one is
// never held twice in memory. A failure after the first byte aborts the
// connection, and the client sees a body without the end marker, which
// package backup refuses.
func (a *api) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	a.metrics.httpRequests.WithLabelValues(r.Method).Inc()
	if !a.auth.allowRoot(r) {
		writeNoAuth(w)
		return
	}
	s, ok := a.b.(snapshotter)
	if !ok {
		message(w, http.StatusNotImplemented, "this member cannot take snapshots")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.requestTimeout)
	p, err := s.snapshot(ctx)
	cancel()
	if err != nil {
		message(w, http.StatusInternalServerError, "Internal Server Error: taking a snapshot: %v", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("X-Etcd-Cluster-Id", p.header.ClusterID)
	h.Set("X-Raft-Index", strconv.FormatUint(p.header.Index, 10))
	h.Set("X-Raft-Term", strconv.FormatUint(p.header.Term, 10))
	h.Set("X-Etcd-Index", strconv.FormatUint(p.header.StoreIndex, 10))
	w.WriteHeader(http.StatusOK)
	bw, err := backup.NewWriter(w, p.header)
	if err == nil {
		if err = p.frozen.Save(bw); err == nil {
			err = bw.Close()
		}
	}
	if err != nil {
		// The status is gone already: break the stream so the client
		// cannot take a partial body for a snapshot.
		panic(http.ErrAbortHandler)
	}
}
