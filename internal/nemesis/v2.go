package nemesis

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// v2Node is a node of a v2 response.
type v2Node struct {
	Key           string  `json:"key"`
	Value         *string `json:"value"`
	ModifiedIndex uint64  `json:"modifiedIndex"`
	CreatedIndex  uint64  `json:"createdIndex"`
}

func (n *v2Node) value() string {
	if n == nil || n.Value == nil {
		return ""
	}
	return *n.Value
}

// v2Resp is a /v2/keys response: an event or an error.
type v2Resp struct {
	Status int
	Header http.Header

	Action    string  `json:"action"`
	Node      *v2Node `json:"node"`
	PrevNode  *v2Node `json:"prevNode"`
	ErrorCode int     `json:"errorCode"`
	Message   string  `json:"message"`
	Cause     string  `json:"cause"`
}

func (r *v2Resp) String() string {
	if r.ErrorCode != 0 {
		return fmt.Sprintf("%d errorCode %d %q (cause %q)", r.Status, r.ErrorCode, r.Message, r.Cause)
	}
	if r.Node == nil {
		return fmt.Sprintf("%d %s (no node)", r.Status, r.Action)
	}
	return fmt.Sprintf("%d %s %s=%q (modifiedIndex %d)", r.Status, r.Action, r.Node.Key, r.Node.value(), r.Node.ModifiedIndex)
}

// keys sends one /v2/keys request: form values go in the body of a PUT or
// POST and in the query otherwise.
func keys(ctx context.Context, hc *http.Client, method, base, key string, form url.Values) (*v2Resp, error) {
	u := base + "/v2/keys" + key
	var body io.Reader
	if method == http.MethodPut || method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	} else if len(form) > 0 {
		u += "?" + form.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := &v2Resp{Status: resp.StatusCode, Header: resp.Header}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("%s %s: %s: body %q is not v2 JSON: %v", method, u, resp.Status, b, err)
		}
	}
	return out, nil
}

// getJSON GETs u and decodes its 200 answer into v.
func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// selfStats is the part of /v2/stats/self the nemesis reads.
type selfStats struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	State    string `json:"state"`
	RaftTerm uint64 `json:"raftTerm"`
}
