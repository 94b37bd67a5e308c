package testcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// V2Node is a node of a v2 response.
type V2Node struct {
	Key           string  `json:"key"`
	Value         *string `json:"value"`
	Dir           bool    `json:"dir"`
	ModifiedIndex uint64  `json:"modifiedIndex"`
	CreatedIndex  uint64  `json:"createdIndex"`
}

// Val is the node's value, "" for a nil node or one without a value.
func (n *V2Node) Val() string {
	if n == nil || n.Value == nil {
		return ""
	}
	return *n.Value
}

// V2Resp is a /v2/keys response: an event or an error.
type V2Resp struct {
	Status int
	Header http.Header

	Action   string  `json:"action"`
	Node     *V2Node `json:"node"`
	PrevNode *V2Node `json:"prevNode"`

	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
	Cause     string `json:"cause"`
	Index     uint64 `json:"index"`
}

// EtcdIndex is the X-Etcd-Index header.
func (r *V2Resp) EtcdIndex() uint64 {
	i, _ := strconv.ParseUint(r.Header.Get("X-Etcd-Index"), 10, 64)
	return i
}

func (r *V2Resp) String() string {
	if r.ErrorCode != 0 {
		return fmt.Sprintf("%d errorCode %d %q (cause %q, index %d)", r.Status, r.ErrorCode, r.Message, r.Cause, r.Index)
	}
	if r.Node == nil {
		return fmt.Sprintf("%d %s (no node)", r.Status, r.Action)
	}
	return fmt.Sprintf("%d %s %s=%q (modifiedIndex %d)", r.Status, r.Action, r.Node.Key, r.Node.Val(), r.Node.ModifiedIndex)
}

// Keys sends one /v2/keys request with a plain net/http client, as curl
// and v2 client libraries do: form values go in the body of a PUT or POST
// (as curl -d sends them) and in the query otherwise. A non-2xx answer is
// not an error: it is in the response's Status and ErrorCode.
func Keys(ctx context.Context, hc *http.Client, method, base, key string, form url.Values) (*V2Resp, error) {
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
	out := &V2Resp{Status: resp.StatusCode, Header: resp.Header}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("%s %s: %s: body %q is not v2 JSON: %v", method, u, resp.Status, b, err)
		}
	}
	return out, nil
}

// GetJSON GETs u and decodes its 200 answer into v.
func GetJSON(ctx context.Context, hc *http.Client, u string, v any) error {
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
