package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/client"
	"github.com/raftkv/raftkv/client/clienttest"
)

// deadURL is an endpoint that refuses connections.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// counting is a handler that counts its requests.
type counting struct {
	n atomic.Int32
	h http.HandlerFunc
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.n.Add(1); c.h(w, r) }

func serve(t *testing.T, h http.HandlerFunc) (*httptest.Server, *counting) {
	t.Helper()
	c := &counting{h: h}
	s := httptest.NewServer(c)
	t.Cleanup(s.Close)
	return s, c
}

func okEvent(w http.ResponseWriter, action, key, value string, index uint64) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("X-Etcd-Index") == "" {
		w.Header().Set("X-Etcd-Index", fmt.Sprint(index))
	}
	fmt.Fprintf(w, `{"action":%q,"node":{"key":%q,"value":%q,"modifiedIndex":%d,"createdIndex":%d}}`+"\n", action, key, value, index, index)
}

func v2Error(w http.ResponseWriter, status, code int, cause string, index uint64) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", fmt.Sprint(index))
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errorCode":%d,"message":"msg %d","cause":%q,"index":%d}`+"\n", code, code, cause, index)
}

func TestNewRejectsBadEndpoints(t *testing.T) {
	for _, eps := range [][]string{nil, {""}, {"ftp://x:1"}, {"http://"}} {
		if _, err := client.New(client.Config{Endpoints: eps}); err == nil {
			t.Errorf("New(%q) succeeded", eps)
		}
	}
	c := newClient(t, client.Config{Endpoints: []string{"127.0.0.1:2379", "http://127.0.0.1:2379/", " https://h:1 "}})
	if got, want := strings.Join(c.Endpoints(), ","), "http://127.0.0.1:2379,https://h:1"; got != want {
		t.Errorf("Endpoints() = %s, want %s", got, want)
	}
}

func TestErrorDecoding(t *testing.T) {
	tests := []struct {
		name   string
		h      http.HandlerFunc
		check  func(error) bool
		errStr string
	}{
		{
			name:   "v2 error",
			h:      func(w http.ResponseWriter, r *http.Request) { v2Error(w, 404, 100, "/foo", 38) },
			check:  client.IsKeyNotFound,
			errStr: "100: msg 100 (/foo) [38]",
		},
		{
			name:   "compare failed",
			h:      func(w http.ResponseWriter, r *http.Request) { v2Error(w, 412, 101, "[a != b]", 9) },
			check:  client.IsCompareFailed,
			errStr: "101: msg 101 ([a != b]) [9]",
		},
		{
			name:   "node exists",
			h:      func(w http.ResponseWriter, r *http.Request) { v2Error(w, 412, 105, "/foo", 9) },
			check:  client.IsNodeExist,
			errStr: "105: msg 105 (/foo) [9]",
		},
		{
			name: "message body",
			h: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, `{"message":"not current leader"}`)
			},
			check: func(err error) bool {
				var se *client.StatusError
				return errors.As(err, &se) && se.StatusCode == 403
			},
			errStr: "not current leader",
		},
		{
			name: "not JSON",
			h: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, "404 page not found\n")
			},
			check: func(err error) bool {
				var se *client.StatusError
				return errors.As(err, &se) && se.StatusCode == 404
			},
			errStr: "404 404 page not found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := serve(t, tt.h)
			c := newClient(t, client.Config{Endpoints: []string{s.URL}})
			_, err := c.Get(context.Background(), "/foo", nil)
			if err == nil || !tt.check(err) {
				t.Fatalf("err = %#v, check failed", err)
			}
			if err.Error() != tt.errStr {
				t.Errorf("err = %q, want %q", err, tt.errStr)
			}
		})
	}
}

func TestErrorFields(t *testing.T) {
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		v2Error(w, 400, 401, "the requested history has been cleared [5/2]", 1010)
	})
	c := newClient(t, client.Config{Endpoints: []string{s.URL}})
	_, err := c.Get(context.Background(), "/foo", nil)
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %#v, want *client.Error", err)
	}
	want := client.Error{Code: 401, Message: "msg 401", Cause: "the requested history has been cleared [5/2]", Index: 1010}
	if *e != want {
		t.Errorf("error = %+v, want %+v", *e, want)
	}
	if !client.IsEventIndexCleared(err) || client.IsKeyNotFound(err) {
		t.Error("sentinel matching is wrong")
	}
	b, _ := json.Marshal(e)
	if got := string(b); got != `{"errorCode":401,"message":"msg 401","cause":"the requested history has been cleared [5/2]","index":1010}` {
		t.Errorf("JSON = %s", got)
	}
}

func TestResponseJSONShape(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	c := newClient(t, client.Config{Endpoints: []string{srv.URL}})
	index := srv.Index() + 1
	resp, err := c.Set(context.Background(), "/a", "1", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(resp)
	// etcd's client writes value, nodes and both indexes always, and a null
	// prevNode: etcdctl -o json prints this.
	want := fmt.Sprintf(`{"action":"set","node":{"key":"/a","value":"1","nodes":null,"createdIndex":%d,"modifiedIndex":%d},"prevNode":null}`, index, index)
	if string(b) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", b, want)
	}
	st := srv.Member().Status()
	if resp.Index != index || resp.RaftTerm != st.Term || resp.RaftIndex != st.Commit || resp.ClusterID == "" || resp.Endpoint != srv.URL {
		t.Errorf("headers not decoded: %+v", resp)
	}
}

// TestRequests checks the HTTP each call sends, against the v2 API table.
func TestRequests(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	c := newClient(t, client.Config{Endpoints: []string{srv.URL}})
	ctx := context.Background()
	c.Set(ctx, "/a b?", "v 1", &client.SetOptions{TTL: 1500 * time.Millisecond})
	c.Set(ctx, "/a b?", "v2", &client.SetOptions{PrevValue: "v 1", PrevIndex: 1, PrevExist: client.PrevExist})
	c.Set(ctx, "/a b?", "ignored", &client.SetOptions{Refresh: true, TTL: time.Second, NoValueOnSuccess: true})
	c.Set(ctx, "dir", "ignored", &client.SetOptions{Dir: true, PrevExist: client.PrevNoExist})
	c.Create(ctx, "/c", "x")
	c.Update(ctx, "/c", "y")
	c.CreateInOrder(ctx, "/q", "job", &client.CreateInOrderOptions{TTL: 10 * time.Second})
	c.Get(ctx, "/q", &client.GetOptions{Recursive: true, Sort: true, Quorum: true})
	c.Get(ctx, "/", nil)
	c.Get(ctx, "/c", &client.GetOptions{Local: true})
	c.Delete(ctx, "/c", &client.DeleteOptions{PrevValue: "y", PrevIndex: 6})
	c.Delete(ctx, "/q", &client.DeleteOptions{Dir: true, Recursive: true})
	want := []string{
		"PUT /v2/keys/a b? ttl=2&value=v+1",
		"PUT /v2/keys/a b? prevExist=true&prevIndex=1&prevValue=v+1&value=v2",
		"PUT /v2/keys/a b? noValueOnSuccess=true&refresh=true&ttl=1",
		"PUT /v2/keys/dir dir=true&prevExist=false",
		"PUT /v2/keys/c prevExist=false&value=x",
		"PUT /v2/keys/c prevExist=true&value=y",
		"POST /v2/keys/q ttl=10&value=job",
		"GET /v2/keys/q quorum=true&recursive=true&sorted=true",
		"GET /v2/keys/",
		"GET /v2/keys/c quorum=false",
		"DELETE /v2/keys/c prevIndex=6&prevValue=y",
		"DELETE /v2/keys/q dir=true&recursive=true",
	}
	got := srv.Requests()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := c.Set(ctx, "/x", "", &client.SetOptions{PrevExist: "maybe"}); err == nil {
		t.Error("a bad PrevExist was sent")
	}
	if _, err := c.Get(ctx, "/x", &client.GetOptions{Quorum: true, Local: true}); err == nil {
		t.Error("Quorum and Local were sent together")
	}
	if n := len(srv.Requests()); n != len(want) {
		t.Errorf("%d requests, want %d", n, len(want))
	}
}

func TestFailoverOnConnectionRefused(t *testing.T) {
	srv := clienttest.NewServer()
	defer srv.Close()
	dead := deadURL(t)
	c := newClient(t, client.Config{Endpoints: []string{dead, srv.URL}})
	ctx := context.Background()
	// A write may move on too: a refused connection never reached a member.
	if _, err := c.Set(ctx, "/k", "v", nil); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if got := c.Endpoints()[0]; got != srv.URL {
		t.Errorf("the endpoint that answered is not tried first: %v", c.Endpoints())
	}
	resp, err := c.Get(ctx, "/k", nil)
	if err != nil || resp.Node.Value != "v" {
		t.Fatalf("Get = %v, %v", resp, err)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestAllEndpointsDown(t *testing.T) {
	d1, d2 := deadURL(t), deadURL(t)
	c := newClient(t, client.Config{Endpoints: []string{d1, d2}})
	_, err := c.Set(context.Background(), "/k", "v", nil)
	var ce *client.ClusterError
	if !errors.As(err, &ce) || !errors.Is(err, client.ErrClusterUnavailable) {
		t.Fatalf("err = %#v, want *ClusterError", err)
	}
	if len(ce.Errors) != 2 || ce.Errors[0].Endpoint != d1 || ce.Errors[1].Endpoint != d2 {
		t.Errorf("attempts = %v", ce.Errors)
	}
	if errors.Is(err, client.ErrUnknownOutcome) {
		t.Error("a refused write is reported as maybe applied")
	}
	if want := "tried " + d1 + ", " + d2; !strings.HasSuffix(err.Error(), want) {
		t.Errorf("err = %q, want it to end with %q", err, want)
	}
	detail := ce.Detail()
	if !strings.Contains(detail, "error #1: "+d2+": ") || !strings.Contains(detail, "connection refused") {
		t.Errorf("Detail() = %q", detail)
	}
}

// hangUp reads the request and closes the connection without answering:
// the member may have applied it.
func hangUp(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func TestWriteNotResentAfterSend(t *testing.T) {
	a, _ := serve(t, hangUp)
	b, bn := serve(t, func(w http.ResponseWriter, r *http.Request) { okEvent(w, "get", "/k", "v", 3) })
	c := newClient(t, client.Config{Endpoints: []string{a.URL, b.URL}})
	_, err := c.Set(context.Background(), "/k", "v", nil)
	if !errors.Is(err, client.ErrUnknownOutcome) {
		t.Fatalf("err = %v, want ErrUnknownOutcome", err)
	}
	var ee *client.EndpointError
	if !errors.As(err, &ee) || ee.Endpoint != a.URL || !ee.Sent {
		t.Errorf("err = %#v", err)
	}
	if bn.n.Load() != 0 {
		t.Fatal("the write was sent to a second member")
	}
	// A read is safe to repeat: it moves on.
	if _, err := c.Get(context.Background(), "/k", nil); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if bn.n.Load() != 1 {
		t.Error("the read did not move on")
	}
}

func TestHeaderTimeoutPerRequest(t *testing.T) {
	release := make(chan struct{})
	a, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	b, _ := serve(t, func(w http.ResponseWriter, r *http.Request) { okEvent(w, "get", "/k", "v", 3) })
	c := newClient(t, client.Config{Endpoints: []string{a.URL, b.URL}, HeaderTimeoutPerRequest: 100 * time.Millisecond})
	resp, err := c.Get(context.Background(), "/k", nil)
	if err != nil || resp.Endpoint != b.URL {
		t.Fatalf("Get = %+v, %v; want an answer from %s", resp, err, b.URL)
	}
	c2 := newClient(t, client.Config{Endpoints: []string{a.URL, b.URL}, HeaderTimeoutPerRequest: 100 * time.Millisecond})
	_, err = c2.Set(context.Background(), "/k", "v", nil)
	if !errors.Is(err, client.ErrUnknownOutcome) || !strings.Contains(err.Error(), "no response within 100ms") {
		t.Errorf("Set err = %v, want an unknown outcome after the timeout", err)
	}
}

func TestServerErrorsFailOverForReadsOnly(t *testing.T) {
	a, an := serve(t, func(w http.ResponseWriter, r *http.Request) {
		v2Error(w, 500, 300, "etcdserver: request timed out", 0)
	})
	b, bn := serve(t, func(w http.ResponseWriter, r *http.Request) { okEvent(w, "get", "/k", "v", 3) })
	c := newClient(t, client.Config{Endpoints: []string{a.URL, b.URL}})
	ctx := context.Background()
	if _, err := c.Get(ctx, "/k", &client.GetOptions{Quorum: true}); err != nil {
		t.Fatalf("Get: %v", err)
	}
	c.SetEndpoints(a.URL, b.URL)
	_, err := c.Set(ctx, "/k", "v", nil)
	if !errors.Is(err, client.ErrRaftInternal) {
		t.Fatalf("Set err = %v, want error 300", err)
	}
	if an.n.Load() != 2 || bn.n.Load() != 1 {
		t.Errorf("requests a=%d b=%d, want 2 and 1", an.n.Load(), bn.n.Load())
	}
	// Every member without a leader: the v2 error, not a cluster error.
	c.SetEndpoints(a.URL)
	_, err = c.Get(ctx, "/k", &client.GetOptions{Quorum: true})
	var e *client.Error
	if !errors.As(err, &e) || e.Code != 300 || e.Cause != "etcdserver: request timed out" {
		t.Errorf("err = %#v", err)
	}
}

func TestRedirect307KeepsMethodAndBody(t *testing.T) {
	leader, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.Method != http.MethodPut || r.PostForm.Get("value") != "v" || r.URL.Query().Get("x") != "" {
			t.Errorf("redirected request: %s %s form=%v", r.Method, r.URL, r.PostForm)
		}
		w.WriteHeader(http.StatusCreated)
		okEvent(w, "set", "/k", "v", 4)
	})
	follower, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, leader.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	c := newClient(t, client.Config{Endpoints: []string{follower.URL}})
	resp, err := c.Set(context.Background(), "/k", "v", nil)
	if err != nil || resp.Node.Value != "v" {
		t.Fatalf("Set = %+v, %v", resp, err)
	}
}

func TestRedirectThatChangesMethodIsRefused(t *testing.T) {
	target, tn := serve(t, func(w http.ResponseWriter, r *http.Request) { okEvent(w, "get", "/k", "old", 3) })
	a, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusFound)
	})
	c := newClient(t, client.Config{Endpoints: []string{a.URL}})
	_, err := c.Set(context.Background(), "/k", "v", nil)
	if err == nil || !strings.Contains(err.Error(), "turns PUT into GET") {
		t.Fatalf("err = %v", err)
	}
	if tn.n.Load() != 0 {
		t.Error("the redirect was followed")
	}
}

func TestTooManyRedirects(t *testing.T) {
	var self string
	a, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, self+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})
	self = a.URL
	c := newClient(t, client.Config{Endpoints: []string{a.URL}})
	if _, err := c.Get(context.Background(), "/k", nil); !errors.Is(err, client.ErrTooManyRedirects) {
		t.Errorf("err = %v", err)
	}
}

func TestContextEndsTheCall(t *testing.T) {
	entered := make(chan struct{}, 1)
	a, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-r.Context().Done()
	})
	b, bn := serve(t, func(w http.ResponseWriter, r *http.Request) { okEvent(w, "get", "/k", "v", 3) })
	c := newClient(t, client.Config{Endpoints: []string{a.URL, b.URL}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-entered; cancel() }()
	if _, err := c.Get(ctx, "/k", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if bn.n.Load() != 0 {
		t.Error("a cancelled call moved on to the next endpoint")
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := c.Get(ctx, "/k", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestBasicAuth(t *testing.T) {
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "root" || p != "pw" {
			v2Error(w, 401, 110, "Insufficient credentials", 0)
			return
		}
		okEvent(w, "get", "/k", "v", 3)
	})
	c := newClient(t, client.Config{Endpoints: []string{s.URL}, Username: "root", Password: "pw"})
	if _, err := c.Get(context.Background(), "/k", nil); err != nil {
		t.Fatal(err)
	}
	c = newClient(t, client.Config{Endpoints: []string{s.URL}})
	if _, err := c.Get(context.Background(), "/k", nil); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("err = %v, want error 110", err)
	}
}

func TestSyncPutsLeaderFirst(t *testing.T) {
	var mu sync.Mutex
	var urls []string
	h := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		m := func(i int) string {
			return fmt.Sprintf(`{"id":"%d","name":"n%d","peerURLs":["http://p%d"],"clientURLs":[%q]}`, i, i, i, urls[i])
		}
		switch r.URL.Path {
		case "/v2/members":
			fmt.Fprintf(w, `{"members":[%s,%s,%s]}`, m(0), m(1), m(2))
		case "/v2/members/leader":
			io.WriteString(w, m(2))
		}
	}
	for range 3 {
		s, _ := serve(t, h)
		urls = append(urls, s.URL)
	}
	c := newClient(t, client.Config{Endpoints: []string{urls[0]}})
	if err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(c.Endpoints(), ","), strings.Join([]string{urls[2], urls[0], urls[1]}, ","); got != want {
		t.Errorf("Endpoints() = %s, want %s", got, want)
	}
}

func TestMembers(t *testing.T) {
	var got []string
	var mu sync.Mutex
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, fmt.Sprintf("%s %s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"), b))
		mu.Unlock()
		switch {
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"a1","name":"","peerURLs":["http://10.0.0.9:2380"],"clientURLs":[]}`)
		case strings.HasSuffix(r.URL.Path, "/nope"):
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"No such member: nope"}`)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	c := newClient(t, client.Config{Endpoints: []string{s.URL}})
	ctx := context.Background()
	m, err := c.AddMember(ctx, []string{"http://10.0.0.9:2380"})
	if err != nil || m.ID != "a1" || m.Name != "" {
		t.Fatalf("AddMember = %+v, %v", m, err)
	}
	if err := c.UpdateMember(ctx, "a1", []string{"http://10.0.0.9:2381"}); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveMember(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	err = c.RemoveMember(ctx, "nope")
	var se *client.StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 || err.Error() != "No such member: nope" {
		t.Errorf("err = %#v", err)
	}
	want := []string{
		`POST /v2/members application/json {"peerURLs":["http://10.0.0.9:2380"]}`,
		`PUT /v2/members/a1 application/json {"peerURLs":["http://10.0.0.9:2381"]}`,
		`DELETE /v2/members/a1  `,
		`DELETE /v2/members/nope  `,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestHealth(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		want   bool
	}{
		{200, `{"health":"true"}`, true},
		{200, `{"health":true}`, true},
		{503, `{"health":"false"}`, false},
	} {
		s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tt.status)
			io.WriteString(w, tt.body)
		})
		c := newClient(t, client.Config{Endpoints: []string{s.URL}})
		if got, err := c.Health(context.Background()); err != nil || got != tt.want {
			t.Errorf("%d %s: Health = %v, %v", tt.status, tt.body, got, err)
		}
	}
}

func TestStatus(t *testing.T) {
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodHead && r.URL.Path == "/v2/keys/":
			w.Header().Set("X-Etcd-Index", "12")
			w.Header().Set("X-Raft-Index", "40")
			w.Header().Set("X-Raft-Term", "3")
			w.Header().Set("X-Etcd-Cluster-Id", "abc")
		case r.URL.Path == "/v2/stats/self":
			io.WriteString(w, `{"name":"n2","id":"b2","state":"StateFollower","leaderInfo":{"leader":"a1","uptime":"5s"}}`)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
		}
	})
	c := newClient(t, client.Config{Endpoints: []string{s.URL}})
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.Latency = 0
	want := client.Status{Endpoint: s.URL, Name: "n2", ID: "b2", State: "StateFollower", Leader: "a1", RaftTerm: 3, RaftIndex: 40, EtcdIndex: 12, ClusterID: "abc"}
	if *st != want {
		t.Errorf("Status = %+v, want %+v", *st, want)
	}
}
