package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Response is the answer to a keys request, or one watch event.
//
// Its JSON is the shape etcd's Go client (and so etcdctl -o json) writes:
// action, node, prevNode (null when there was none); the header fields are
// not part of it.
type Response struct {
	// Action is what happened: get, set, create, update, compareAndSwap,
	// delete, compareAndDelete, or (in watches) expire.
	Action string `json:"action"`
	// Node is the node after the action (for delete and expire: its key
	// and indexes, without a value). Nil only with NoValueOnSuccess.
	Node *Node `json:"node"`
	// PrevNode is the node before a write, if there was one.
	PrevNode *Node `json:"prevNode"`

	// Index is X-Etcd-Index: the store index after the request; for a
	// watch, the index when the watch was registered (the event's own index
	// is Node.ModifiedIndex).
	Index uint64 `json:"-"`
	// RaftIndex and RaftTerm are X-Raft-Index and X-Raft-Term: the
	// answering member's commit index and term.
	RaftIndex uint64 `json:"-"`
	RaftTerm  uint64 `json:"-"`
	// ClusterID is X-Etcd-Cluster-Id (hex).
	ClusterID string `json:"-"`
	// Endpoint is the endpoint that answered.
	Endpoint string `json:"-"`
}

// Node is a file or directory. Value is "" for directories.
type Node struct {
	Key   string `json:"key"`
	Dir   bool   `json:"dir,omitempty"`
	Value string `json:"value"`
	// Nodes are a directory's children when it was listed (all descendants
	// with GetOptions.Recursive).
	Nodes         []*Node `json:"nodes"`
	CreatedIndex  uint64  `json:"createdIndex"`
	ModifiedIndex uint64  `json:"modifiedIndex"`
	// Expiration and TTL (seconds left, rounded up) are set on nodes with a
	// time to live.
	Expiration *time.Time `json:"expiration,omitempty"`
	TTL        int64      `json:"ttl,omitempty"`
}

// TTLDuration is TTL as a time.Duration.
func (n *Node) TTLDuration() time.Duration { return time.Duration(n.TTL) * time.Second }

func (n *Node) String() string {
	return fmt.Sprintf("{Key: %s, CreatedIndex: %d, ModifiedIndex: %d, TTL: %d}", n.Key, n.CreatedIndex, n.ModifiedIndex, n.TTL)
}

// PrevExistType is the prevExist condition of a Set.
type PrevExistType string

const (
	PrevIgnore  PrevExistType = ""      // no condition: set
	PrevExist   PrevExistType = "true"  // the node must exist: update
	PrevNoExist PrevExistType = "false" // the node must not exist: create
)

// GetOptions are the options of Get. The zero value reads one key or lists
// one directory level, from the answering member's state.
type GetOptions struct {
	// Recursive lists every descendant of a directory.
	Recursive bool
	// Sort orders the nodes of a listing by key.
	Sort bool
	// Quorum asks for a linearizable read (quorum=true): it fails without
	// a quorum. raftkv reads this way by default; etcd v2 reads locally
	// unless asked.
	Quorum bool
	// Local asks for the answering member's own state (quorum=false):
	// fast, available in a minority partition, possibly stale. It is
	// raftkv's opt-out of its linearizable default, and etcd's default.
	Local bool
}

// SetOptions are the options of Set. The zero value sets the key
// unconditionally and makes it permanent.
type SetOptions struct {
	// PrevValue, if not empty, makes the set a compare-and-swap: it
	// succeeds only if the current value is PrevValue (else error 101).
	PrevValue string
	// PrevIndex, if not 0, makes the set a compare-and-swap on the node's
	// ModifiedIndex.
	PrevIndex uint64
	// PrevExist requires the node to exist (update) or not (create).
	PrevExist PrevExistType
	// TTL gives the node a time to live, rounded up to whole seconds. Zero
	// makes it permanent: an update or compare-and-swap without TTL removes
	// the node's TTL.
	TTL time.Duration
	// Refresh resets the TTL of an existing node and keeps its value,
	// without notifying watchers. TTL is required; the value is not sent.
	Refresh bool
	// Dir creates a directory (the value is not sent).
	Dir bool
	// NoValueOnSuccess asks for a response with only the action.
	NoValueOnSuccess bool
}

// CreateInOrderOptions are the options of CreateInOrder.
type CreateInOrderOptions struct {
	// TTL of the created node, rounded up to whole seconds; zero is none.
	TTL time.Duration
}

// DeleteOptions are the options of Delete. The zero value deletes a file.
type DeleteOptions struct {
	// PrevValue, if not empty, makes the delete a compare-and-delete on the
	// value.
	PrevValue string
	// PrevIndex, if not 0, makes the delete a compare-and-delete on the
	// ModifiedIndex.
	PrevIndex uint64
	// Dir allows deleting an empty directory.
	Dir bool
	// Recursive deletes a directory and everything below it.
	Recursive bool
}

// keyPath is the URL path of key: keys always start with "/"; the server
// cleans the rest.
func keyPath(key string) string { return "/v2/keys/" + strings.TrimPrefix(key, "/") }

func ttlSeconds(d time.Duration) string {
	s := (d + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(s), 10)
}

// Get reads a key, or lists a directory.
func (c *Client) Get(ctx context.Context, key string, opts *GetOptions) (*Response, error) {
	if opts == nil {
		opts = &GetOptions{}
	}
	q := url.Values{}
	if opts.Recursive {
		q.Set("recursive", "true")
	}
	if opts.Sort {
		q.Set("sorted", "true")
	}
	switch {
	case opts.Quorum && opts.Local:
		return nil, errors.New("client: GetOptions: Quorum and Local exclude each other")
	case opts.Quorum:
		q.Set("quorum", "true")
	case opts.Local:
		q.Set("quorum", "false")
	}
	return c.keys(ctx, &request{method: http.MethodGet, path: keyPath(key), query: q, retry5xx: true})
}

// Set writes value to key. With the zero SetOptions (or nil) it creates or
// replaces the key; the options turn it into a create, an update, a
// compare-and-swap, a TTL refresh or a directory.
func (c *Client) Set(ctx context.Context, key, value string, opts *SetOptions) (*Response, error) {
	if opts == nil {
		opts = &SetOptions{}
	}
	switch opts.PrevExist {
	case PrevIgnore, PrevExist, PrevNoExist:
	default:
		return nil, fmt.Errorf("client: bad PrevExist %q", opts.PrevExist)
	}
	f := url.Values{}
	if !opts.Dir && !opts.Refresh {
		f.Set("value", value)
	}
	if opts.Dir {
		f.Set("dir", "true")
	}
	if opts.TTL > 0 {
		f.Set("ttl", ttlSeconds(opts.TTL))
	}
	if opts.PrevValue != "" {
		f.Set("prevValue", opts.PrevValue)
	}
	if opts.PrevIndex != 0 {
		f.Set("prevIndex", strconv.FormatUint(opts.PrevIndex, 10))
	}
	if opts.PrevExist != PrevIgnore {
		f.Set("prevExist", string(opts.PrevExist))
	}
	if opts.Refresh {
		f.Set("refresh", "true")
	}
	if opts.NoValueOnSuccess {
		f.Set("noValueOnSuccess", "true")
	}
	return c.keys(ctx, &request{method: http.MethodPut, path: keyPath(key), form: f})
}

// Create creates key with value; it fails with error 105 (IsNodeExist) if
// the key exists.
func (c *Client) Create(ctx context.Context, key, value string) (*Response, error) {
	return c.Set(ctx, key, value, &SetOptions{PrevExist: PrevNoExist})
}

// Update replaces the value of an existing key (error 100 if it is
// missing) and removes its TTL.
func (c *Client) Update(ctx context.Context, key, value string) (*Response, error) {
	return c.Set(ctx, key, value, &SetOptions{PrevExist: PrevExist})
}

// CreateInOrder creates a new key in directory dir, named after the store
// index (20 digits, zero-padded, so names sort in creation order): the
// building block of queues and of lock and election recipes.
func (c *Client) CreateInOrder(ctx context.Context, dir, value string, opts *CreateInOrderOptions) (*Response, error) {
	if opts == nil {
		opts = &CreateInOrderOptions{}
	}
	f := url.Values{"value": {value}}
	if opts.TTL > 0 {
		f.Set("ttl", ttlSeconds(opts.TTL))
	}
	return c.keys(ctx, &request{method: http.MethodPost, path: keyPath(dir), form: f})
}

// Delete deletes a key, or a directory with Dir or Recursive.
func (c *Client) Delete(ctx context.Context, key string, opts *DeleteOptions) (*Response, error) {
	if opts == nil {
		opts = &DeleteOptions{}
	}
	q := url.Values{}
	if opts.PrevValue != "" {
		q.Set("prevValue", opts.PrevValue)
	}
	if opts.PrevIndex != 0 {
		q.Set("prevIndex", strconv.FormatUint(opts.PrevIndex, 10))
	}
	if opts.Dir {
		q.Set("dir", "true")
	}
	if opts.Recursive {
		q.Set("recursive", "true")
	}
	return c.keys(ctx, &request{method: http.MethodDelete, path: keyPath(key), query: q})
}

// keys sends a keys request and decodes the answer.
func (c *Client) keys(ctx context.Context, r *request) (*Response, error) {
	rep, err := c.sendOK(ctx, r)
	if err != nil {
		return nil, err
	}
	resp := &Response{}
	if err := json.Unmarshal(rep.body, resp); err != nil {
		return nil, fmt.Errorf("client: %s: bad keys response: %w", rep.endpoint, err)
	}
	fillHeaders(resp, rep)
	return resp, nil
}

func fillHeaders(resp *Response, rep *reply) {
	resp.Index = headerUint(rep.header, "X-Etcd-Index")
	resp.RaftIndex = headerUint(rep.header, "X-Raft-Index")
	resp.RaftTerm = headerUint(rep.header, "X-Raft-Term")
	resp.ClusterID = rep.header.Get("X-Etcd-Cluster-Id")
	resp.Endpoint = rep.endpoint
}
