package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// SelfStats is a member's /v2/stats/self: who it is and what it sees.
type SelfStats struct {
	Name       string     `json:"name"`
	ID         string     `json:"id"`
	State      string     `json:"state"` // StateLeader, StateFollower, ...
	StartTime  time.Time  `json:"startTime"`
	LeaderInfo LeaderInfo `json:"leaderInfo"`

	RecvAppendRequestCnt uint64  `json:"recvAppendRequestCnt"`
	RecvPkgRate          float64 `json:"recvPkgRate,omitempty"`
	RecvBandwidthRate    float64 `json:"recvBandwidthRate,omitempty"`
	SendAppendRequestCnt uint64  `json:"sendAppendRequestCnt"`
	SendPkgRate          float64 `json:"sendPkgRate,omitempty"`
	SendBandwidthRate    float64 `json:"sendBandwidthRate,omitempty"`

	// RaftTerm, RaftIndex (the commit index) and RaftApplied are raftkv's
	// additions; an etcd member leaves them 0.
	RaftTerm    uint64 `json:"raftTerm,omitempty"`
	RaftIndex   uint64 `json:"raftIndex,omitempty"`
	RaftApplied uint64 `json:"raftApplied,omitempty"`
}

// LeaderInfo is the leader a member follows, and since when.
type LeaderInfo struct {
	Leader    string    `json:"leader"` // hex ID
	Uptime    string    `json:"uptime"` // a Go duration
	StartTime time.Time `json:"startTime"`
}

// IsLeader reports whether the member is the leader.
func (s *SelfStats) IsLeader() bool { return s.State == "StateLeader" || s.State == "leader" }

// LeaderStats is the leader's /v2/stats/leader: its view of each follower.
type LeaderStats struct {
	Leader    string                    `json:"leader"`
	Followers map[string]*FollowerStats `json:"followers"` // by hex ID
}

// FollowerStats is the leader's record of one follower.
type FollowerStats struct {
	Latency LatencyStats `json:"latency"`
	Counts  struct {
		Fail    uint64 `json:"fail"`
		Success uint64 `json:"success"`
	} `json:"counts"`
}

// LatencyStats are round-trip times to a follower, in milliseconds.
type LatencyStats struct {
	Current           float64 `json:"current"`
	Average           float64 `json:"average"`
	StandardDeviation float64 `json:"standardDeviation"`
	Minimum           float64 `json:"minimum"`
	Maximum           float64 `json:"maximum"`
}

// StoreStats is /v2/stats/store: a member's counts of key operations since
// it started.
type StoreStats struct {
	GetsSuccess             uint64 `json:"getsSuccess"`
	GetsFail                uint64 `json:"getsFail"`
	SetsSuccess             uint64 `json:"setsSuccess"`
	SetsFail                uint64 `json:"setsFail"`
	DeleteSuccess           uint64 `json:"deleteSuccess"`
	DeleteFail              uint64 `json:"deleteFail"`
	UpdateSuccess           uint64 `json:"updateSuccess"`
	UpdateFail              uint64 `json:"updateFail"`
	CreateSuccess           uint64 `json:"createSuccess"`
	CreateFail              uint64 `json:"createFail"`
	CompareAndSwapSuccess   uint64 `json:"compareAndSwapSuccess"`
	CompareAndSwapFail      uint64 `json:"compareAndSwapFail"`
	CompareAndDeleteSuccess uint64 `json:"compareAndDeleteSuccess"`
	CompareAndDeleteFail    uint64 `json:"compareAndDeleteFail"`
	ExpireCount             uint64 `json:"expireCount"`
	Watchers                uint64 `json:"watchers"`
}

// Version is /version.
type Version struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
}

// SelfStats returns the answering member's /v2/stats/self; use ForEndpoint
// to choose the member.
func (c *Client) SelfStats(ctx context.Context) (*SelfStats, error) {
	return getJSON[SelfStats](ctx, c, "/v2/stats/self")
}

// LeaderStats returns the leader's /v2/stats/leader, asking the leader
// whichever endpoint is tried first (followers answer 403).
func (c *Client) LeaderStats(ctx context.Context) (*LeaderStats, error) {
	l, err := c.Leader(ctx)
	if err != nil {
		return nil, err
	}
	if len(l.ClientURLs) == 0 {
		return nil, fmt.Errorf("client: the leader %s publishes no client URL", l.ID)
	}
	lc, err := c.ForEndpoint(l.ClientURLs[0])
	if err != nil {
		return nil, err
	}
	return getJSON[LeaderStats](ctx, lc, "/v2/stats/leader")
}

// StoreStats returns the answering member's /v2/stats/store.
func (c *Client) StoreStats(ctx context.Context) (*StoreStats, error) {
	return getJSON[StoreStats](ctx, c, "/v2/stats/store")
}

// Version returns the answering member's /version.
func (c *Client) Version(ctx context.Context) (*Version, error) {
	return getJSON[Version](ctx, c, "/version")
}

// Health asks the answering member's /health: true when it has a leader and
// its log advances. An unhealthy member answers (503) and gives false with
// a nil error; the error is for no answer at all.
func (c *Client) Health(ctx context.Context) (bool, error) {
	rep, err := c.send(ctx, &request{method: http.MethodGet, path: "/health"})
	if err != nil {
		return false, err
	}
	// v2 writes "true"/"false" as strings; accept booleans too.
	var body struct {
		Health json.RawMessage `json:"health"`
	}
	if err := json.Unmarshal(rep.body, &body); err != nil || body.Health == nil {
		if rep.status != http.StatusOK && rep.status != http.StatusServiceUnavailable {
			return false, decodeError(rep)
		}
		return false, fmt.Errorf("client: %s/health: bad answer %q", rep.endpoint, rep.body)
	}
	h := string(body.Health)
	return rep.status == http.StatusOK && (h == `"true"` || h == "true"), nil
}

// Status is one member's view of the cluster, as the endpoint status
// command prints it.
type Status struct {
	Endpoint  string
	Name      string
	ID        string // hex
	State     string // StateLeader, StateFollower, ...
	Leader    string // hex ID of the leader it follows
	IsLeader  bool
	RaftTerm  uint64        // X-Raft-Term
	RaftIndex uint64        // X-Raft-Index: its commit index
	EtcdIndex uint64        // X-Etcd-Index: its store index
	ClusterID string        // X-Etcd-Cluster-Id
	Latency   time.Duration // round trip of a HEAD of the key space
}

// Status asks the first endpoint that answers for its status: a HEAD of
// /v2/keys/ (timed, for its X-Raft-* and X-Etcd-Index headers) and its
// /v2/stats/self. Use ForEndpoint to choose the member.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	rep, err := c.send(ctx, &request{method: http.MethodHead, path: "/v2/keys/", retry5xx: true})
	if err != nil {
		return nil, err
	}
	// A user that may not read / (v2 auth) gets 401 for the HEAD: the
	// member answered, so its status comes from /v2/stats/self alone (no
	// store index: EtcdIndex stays 0).
	restricted := rep.status == http.StatusUnauthorized
	if rep.status/100 != 2 && !restricted {
		return nil, &StatusError{StatusCode: rep.status, Message: fmt.Sprintf("%s: HEAD /v2/keys/: %s", rep.endpoint, http.StatusText(rep.status))}
	}
	st := &Status{
		Endpoint:  rep.endpoint,
		RaftTerm:  headerUint(rep.header, "X-Raft-Term"),
		RaftIndex: headerUint(rep.header, "X-Raft-Index"),
		EtcdIndex: headerUint(rep.header, "X-Etcd-Index"),
		ClusterID: rep.header.Get("X-Etcd-Cluster-Id"),
		Latency:   rep.latency,
	}
	one, err := c.ForEndpoint(rep.endpoint)
	if err != nil {
		return nil, err
	}
	self, err := one.SelfStats(ctx)
	if err != nil {
		return nil, err
	}
	st.Name, st.ID, st.State, st.Leader = self.Name, self.ID, self.State, self.LeaderInfo.Leader
	if restricted {
		st.RaftTerm, st.RaftIndex, st.EtcdIndex = self.RaftTerm, self.RaftIndex, 0
	}
	st.IsLeader = self.IsLeader()
	return st, nil
}
