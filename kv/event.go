package kv

import "time"

// Actions as they appear in the "action" field of v2 responses and events.
const (
	ActionGet              = "get"
	ActionSet              = "set"
	ActionCreate           = "create"
	ActionUpdate           = "update"
	ActionCompareAndSwap   = "compareAndSwap"
	ActionDelete           = "delete"
	ActionCompareAndDelete = "compareAndDelete"
	ActionExpire           = "expire"
)

// Event is a v2 response body and watch event. Marshalled with encoding/json
// it is exactly the etcd v2 wire JSON. Events handed out by the store (from
// Apply, Get and watchers) are shared and must be treated as read-only.
type Event struct {
	Action   string `json:"action"`
	Node     *Node  `json:"node,omitempty"`
	PrevNode *Node  `json:"prevNode,omitempty"`

	// Index is the store index after the operation: the X-Etcd-Index header
	// of the response to the request that produced it. For a watch, the
	// header is Watcher.Index instead.
	Index uint64 `json:"-"`

	// Refresh marks a TTL refresh (refresh=true): kept in the history for
	// the index sequence but never delivered to watchers.
	Refresh bool `json:"-"`
}

// Node is a v2 node (etcd's NodeExtern): the "node", "prevNode" and "nodes"
// entries of the wire JSON. Field order follows etcd so marshalled bytes
// match.
type Node struct {
	Key           string     `json:"key,omitempty"`
	Value         *string    `json:"value,omitempty"`
	Dir           bool       `json:"dir,omitempty"`
	Expiration    *time.Time `json:"expiration,omitempty"`
	TTL           int64      `json:"ttl,omitempty"`
	Nodes         []*Node    `json:"nodes,omitempty"`
	ModifiedIndex uint64     `json:"modifiedIndex,omitempty"`
	CreatedIndex  uint64     `json:"createdIndex,omitempty"`
}

// ttlAt is v2's ttl field: ceil((expiration-now)/1s). It is 0 or negative
// only for a node at or past its expiration (such as the prevNode of an
// expire event).
func ttlAt(expireNs, nowNs int64) int64 {
	d := expireNs - nowNs
	ttl := d / int64(time.Second)
	if d%int64(time.Second) > 0 {
		ttl++
	}
	return ttl
}

func expirationTime(expireNs int64) *time.Time {
	t := time.Unix(0, expireNs).UTC()
	return &t
}
