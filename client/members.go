package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Member is a member of the cluster as /v2/members lists it. A member that
// was added but has not started yet has no Name and no ClientURLs.
type Member struct {
	ID         string   `json:"id"` // hex
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
}

// Members lists the members of the cluster.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	type list struct {
		Members []Member `json:"members"`
	}
	out, err := getJSON[list](ctx, c, "/v2/members")
	if err != nil {
		return nil, err
	}
	return out.Members, nil
}

// Leader returns the member the answering member believes is the leader.
// During an election it fails with a *StatusError of status 503.
func (c *Client) Leader(ctx context.Context) (*Member, error) {
	return getJSON[Member](ctx, c, "/v2/members/leader")
}

// AddMember adds a member with the given peer URLs and returns it, with the
// ID the cluster gave it; start the new member with --initial-cluster-state
// existing. Errors come as *StatusError (409 for a peer URL in use).
func (c *Client) AddMember(ctx context.Context, peerURLs []string) (*Member, error) {
	rep, err := c.send(ctx, &request{method: http.MethodPost, path: "/v2/members", json: peerURLsBody(peerURLs)})
	if err != nil {
		return nil, err
	}
	if rep.status != http.StatusCreated && rep.status != http.StatusOK {
		return nil, decodeError(rep)
	}
	m := &Member{}
	if err := json.Unmarshal(rep.body, m); err != nil {
		return nil, fmt.Errorf("client: %s: bad member: %w", rep.endpoint, err)
	}
	return m, nil
}

// RemoveMember removes the member with the given hex ID. Errors come as
// *StatusError (404 for an unknown member, 410 for one already removed).
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	_, err := c.sendOK(ctx, &request{method: http.MethodDelete, path: "/v2/members/" + url.PathEscape(id)})
	return err
}

// UpdateMember replaces the peer URLs of the member with the given hex ID.
func (c *Client) UpdateMember(ctx context.Context, id string, peerURLs []string) error {
	_, err := c.sendOK(ctx, &request{method: http.MethodPut, path: "/v2/members/" + url.PathEscape(id), json: peerURLsBody(peerURLs)})
	return err
}

// peerURLsBody is the JSON body of a member add or update.
func peerURLsBody(peerURLs []string) []byte {
	// A struct of one []string always marshals.
	b, _ := json.Marshal(struct {
		PeerURLs []string `json:"peerURLs"`
	}{peerURLs})
	return b
}
