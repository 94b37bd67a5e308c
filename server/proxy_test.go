package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// startProxy starts a proxy in front of the in-process cluster c (from
// its peer URLs, as --initial-cluster gives them) and waits until it
// knows the members' client URLs.
func startProxy(t *testing.T, c *inproc, readOnly bool) (*Proxy, string) {
	t.Helper()
	// Every member's client URL in the records first, so that the list the
	// proxy reads is complete.
	for _, m := range c.members {
		select {
		case <-m.Published():
		case <-time.After(10 * time.Second):
			t.Fatal("a member did not publish its client URLs within 10s")
		}
	}
	ln := listen(t)
	p, err := StartProxy(ProxyConfig{
		ClientListeners: []net.Listener{ln}, PeerURLs: PeerURLsOf(c.cfgs[0].InitialCluster),
		ReadOnly: readOnly, Logger: testLogger(t).With("member", "proxy"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Stop(ctx)
	})
	select {
	case <-p.Known():
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not learn the members' client URLs within 10s")
	}
	return p, "http://" + ln.Addr().String()
}

type v2Event struct {
	Action string `json:"action"`
	Node   struct {
		Key           string `json:"key"`
		Value         string `json:"value"`
		ModifiedIndex uint64 `json:"modifiedIndex"`
	} `json:"node"`
}

func putVia(t *testing.T, base, key, value string) v2Event {
	t.Helper()
	resp, body := do(t, http.MethodPut, base+"/v2/keys"+key, url.Values{"value": {value}})
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s through the proxy: %s %s", key, resp.Status, body)
	}
	var ev v2Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestProxyForwards writes, reads, lists the members and watches (a long
// poll and a stream) through a proxy.
func TestProxyForwards(t *testing.T) {
	c := startInproc(t, 3)
	c.waitLeader()
	p, base := startProxy(t, c, false)
	if got := len(p.Endpoints()); got != 3 {
		t.Errorf("proxy endpoints %v, want the 3 members' client URLs", p.Endpoints())
	}
	ev := putVia(t, base, "/a", "1")
	resp, body := do(t, http.MethodGet, base+"/v2/keys/a?quorum=true", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"value":"1"`) {
		t.Fatalf("GET through the proxy: %s %s", resp.Status, body)
	}
	if resp.Header.Get("X-Etcd-Index") == "" {
		t.Error("the proxy dropped the X-Etcd-Index header")
	}
	resp, body = do(t, http.MethodGet, base+"/v2/members", nil)
	if resp.StatusCode != http.StatusOK || strings.Count(body, `"peerURLs"`) != 3 {
		t.Errorf("GET /v2/members through the proxy: %s %s", resp.Status, body)
	}

	// A long-poll watch from the next index sees the next write.
	watch := make(chan string, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("%s/v2/keys/a?wait=true&waitIndex=%d", base, ev.Node.ModifiedIndex+1))
		if err != nil {
			watch <- err.Error()
			return
		}
		defer resp.Body.Close()
		var got v2Event
		_ = json.NewDecoder(resp.Body).Decode(&got)
		watch <- got.Node.Value
	}()
	// A streaming watch gets each event as it happens: the proxy flushes.
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	sreq, _ := http.NewRequestWithContext(sctx, http.MethodGet, fmt.Sprintf("%s/v2/keys/s?wait=true&stream=true&waitIndex=%d", base, ev.Node.ModifiedIndex+1), nil)
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	putVia(t, base, "/a", "2")
	select {
	case v := <-watch:
		if v != "2" {
			t.Errorf("long-poll watch through the proxy got %q, want 2", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long-poll watch through the proxy saw nothing within 10s")
	}
	dec := json.NewDecoder(bufio.NewReader(sresp.Body))
	for i := range 2 {
		putVia(t, base, "/s", fmt.Sprint(i))
		var got v2Event
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("stream watch through the proxy, event %d: %v", i, err)
		}
		if got.Node.Value != fmt.Sprint(i) {
			t.Errorf("stream watch event %d: value %q, want %d", i, got.Node.Value, i)
		}
	}
}

// TestProxyReadOnly: a readonly proxy answers GET and refuses the rest
// with 501, as etcd's.
func TestProxyReadOnly(t *testing.T) {
	c := startInproc(t, 1)
	c.waitLeader()
	_, base := startProxy(t, c, true)
	resp, body := do(t, http.MethodPut, base+"/v2/keys/a", url.Values{"value": {"1"}})
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(body, "read-only") {
		t.Errorf("PUT through a readonly proxy: %s %s, want 501", resp.Status, body)
	}
	resp, body = do(t, http.MethodGet, base+"/v2/keys/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET through a readonly proxy: %s %s", resp.Status, body)
	}
}

// TestProxyFailover: with the member it last used gone, the proxy sends
// requests to another (a refused connection never reached a member).
func TestProxyFailover(t *testing.T) {
	c := startInproc(t, 3)
	lead := c.waitLeader()
	p, base := startProxy(t, c, false)
	gone := c.follower(lead)
	p.mu.Lock()
	p.pin = c.url(gone)
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gone.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	putVia(t, base, "/after", "1")
	p.mu.Lock()
	_, marked := p.failed[c.url(gone)]
	pin := p.pin
	p.mu.Unlock()
	if !marked || pin == c.url(gone) {
		t.Errorf("after a refused connection: failed %v, pin %s; want %s skipped", p.failed, pin, c.url(gone))
	}
}

// TestProxyNoMembers: until a member answers, requests get a 503 that
// says why.
func TestProxyNoMembers(t *testing.T) {
	dead := listen(t)
	peer := "http://" + dead.Addr().String()
	dead.Close()
	ln := listen(t)
	p, err := StartProxy(ProxyConfig{ClientListeners: []net.Listener{ln}, PeerURLs: []string{peer}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	resp, body := do(t, http.MethodGet, "http://"+ln.Addr().String()+"/v2/keys/", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "no member's client URL is known") {
		t.Errorf("GET with no member known: %s %s, want 503", resp.Status, body)
	}
}

// TestProxyFollowsMembership: after a member is removed, the proxy's next
// reading of the member list drops its client URL. The removal is sent to
// the leader, not through the proxy: the proxy may pass it to the member
// being removed, which stops as it applies its removal and answers 500
// ("member is stopping") although the removal took effect.
func TestProxyFollowsMembership(t *testing.T) {
	c := startInproc(t, 3)
	lead := c.waitLeader()
	p, base := startProxy(t, c, false)
	gone := c.follower(lead)
	resp, body := do(t, http.MethodDelete, c.url(lead)+"/v2/members/"+IDString(gone.ID()), nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /v2/members/%s on the leader: %s %s", IDString(gone.ID()), resp.Status, body)
	}
	// The removed member may answer the first reading with the list it
	// still has (it never learns of its own removal if the leader stops
	// talking to it first); a later reading, from another member, has it
	// right. The proxy reads again every refresh interval; here, at once.
	deadline := time.Now().Add(10 * time.Second)
	var eps []string
	for {
		p.refresh()
		eps = p.Endpoints()
		if len(eps) == 2 && !slices.Contains(eps, c.url(gone)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoints 10s after the removal: %v, want the 2 remaining members", eps)
		}
	}
	putVia(t, base, "/after-removal", "1")
}
