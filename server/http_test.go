package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// v2 is one request and what the v2 API answers it with.
type v2 struct {
	method, path string
	form         url.Values
	status       int
	code         int    // errorCode, 0 for a success
	contains     string // a fragment the body must contain
}

func (tc v2) run(t *testing.T, base string) {
	t.Helper()
	u := base + tc.path
	var resp *http.Response
	var body string
	if tc.method == http.MethodDelete || tc.method == http.MethodGet {
		if tc.form != nil {
			u += "?" + tc.form.Encode()
		}
		resp, body = do(t, tc.method, u, nil)
	} else {
		resp, body = do(t, tc.method, u, tc.form)
	}
	if resp.StatusCode != tc.status {
		t.Fatalf("%s %s %v: status %s, want %d: %s", tc.method, tc.path, tc.form, resp.Status, tc.status, body)
	}
	if tc.code != 0 {
		var e struct {
			ErrorCode int `json:"errorCode"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.ErrorCode != tc.code {
			t.Fatalf("%s %s %v: body %s, want errorCode %d", tc.method, tc.path, tc.form, body, tc.code)
		}
		if resp.Header.Get("X-Etcd-Index") == "" {
			t.Fatalf("%s %s: error without X-Etcd-Index", tc.method, tc.path)
		}
	}
	if !strings.Contains(body, tc.contains) {
		t.Fatalf("%s %s %v: body %s lacks %q", tc.method, tc.path, tc.form, body, tc.contains)
	}
	if !strings.HasSuffix(body, "\n") && resp.StatusCode != http.StatusNoContent {
		t.Fatalf("%s %s: body does not end with a newline", tc.method, tc.path)
	}
}

type vals = url.Values

// TestKeysAPI walks every /v2/keys action and error code over HTTP on a
// one-member cluster, in order (each row sees the state the rows above
// left).
func TestKeysAPI(t *testing.T) {
	c := startInproc(t, 1)
	m := c.waitLeader()
	base := c.url(m)
	rows := []v2{
		{"PUT", "/v2/keys/message", vals{"value": {"Hello"}}, 201, 0, `"action":"set"`},
		{"PUT", "/v2/keys/message", vals{"value": {"World"}}, 200, 0, `"prevNode":{"key":"/message","value":"Hello"`},
		{"GET", "/v2/keys/message", nil, 200, 0, `"value":"World"`},
		{"GET", "/v2/keys/message", vals{"quorum": {"false"}}, 200, 0, `"value":"World"`},
		{"GET", "/v2/keys/missing", nil, 404, 100, `"cause":"/missing"`},
		{"PUT", "/v2/keys/message", vals{"value": {"x"}, "prevExist": {"false"}}, 412, 105, ""},
		{"PUT", "/v2/keys/nothere", vals{"value": {"x"}, "prevExist": {"true"}}, 404, 100, ""},
		{"PUT", "/v2/keys/message", vals{"value": {"x"}, "prevValue": {"Hello"}}, 412, 101, `[Hello != World]`},
		{"PUT", "/v2/keys/message", vals{"value": {"CAS"}, "prevValue": {"World"}}, 200, 0, `"action":"compareAndSwap"`},
		{"PUT", "/v2/keys/message", vals{"value": {"x"}, "prevValue": {""}}, 400, 201, ""},
		{"PUT", "/v2/keys/message", vals{"value": {"x"}, "ttl": {"abc"}}, 400, 202, ""},
		{"PUT", "/v2/keys/message", vals{"value": {"x"}, "prevIndex": {"x"}}, 400, 203, ""},
		{"PUT", "/v2/keys/message", vals{"value": {"x"}, "wait": {"true"}}, 400, 209, ""},
		{"PUT", "/v2/keys/message", vals{"dir": {"maybe"}}, 400, 209, ""},
		{"PUT", "/v2/keys/message", vals{"refresh": {"true"}, "value": {"v"}, "ttl": {"5"}}, 400, 211, ""},
		{"PUT", "/v2/keys/message", vals{"refresh": {"true"}}, 400, 212, ""},
		{"PUT", "/v2/keys/message", vals{"value": {"upd"}, "prevExist": {"true"}}, 200, 0, `"action":"update"`},
		{"PUT", "/v2/keys/ttl", vals{"value": {"t"}, "ttl": {"100"}}, 201, 0, `"ttl":100`},
		{"PUT", "/v2/keys/message/child", vals{"value": {"x"}}, 400, 104, ""},
		{"POST", "/v2/keys/queue", vals{"value": {"job1"}}, 201, 0, `"key":"/queue/000000000000000000`},
		{"PUT", "/v2/keys/dir/a", vals{"value": {"1"}}, 201, 0, ""},
		{"PUT", "/v2/keys/dir", vals{"value": {"x"}}, 403, 102, ""},
		{"GET", "/v2/keys/dir", vals{"recursive": {"true"}, "sorted": {"true"}}, 200, 0, `"nodes":[{"key":"/dir/a"`},
		{"DELETE", "/v2/keys/dir", nil, 403, 102, ""},
		{"DELETE", "/v2/keys/dir", vals{"dir": {"true"}}, 403, 108, ""},
		{"DELETE", "/v2/keys/dir/a", vals{"prevValue": {"2"}}, 412, 101, ""},
		{"DELETE", "/v2/keys/dir/a", vals{"prevValue": {"1"}}, 200, 0, `"action":"compareAndDelete"`},
		{"DELETE", "/v2/keys/dir", vals{"recursive": {"true"}}, 200, 0, `"action":"delete"`},
		{"PUT", "/v2/keys/newdir", vals{"dir": {"true"}}, 201, 0, `"dir":true`},
		{"DELETE", "/v2/keys/", vals{"recursive": {"true"}}, 400, 107, ""},
		{"PUT", "/v2/keys/_raftkv/members/x", vals{"value": {"evil"}}, 400, 106, ""},
		{"DELETE", "/v2/keys/message", nil, 200, 0, `"prevNode":{"key":"/message","value":"upd"`},
		{"PUT", "/v2/keys/quiet", vals{"value": {"v"}, "noValueOnSuccess": {"true"}}, 201, 0, `{"action":"set"}`},
	}
	for _, tc := range rows {
		tc.run(t, base)
	}

	// Anything but GET, HEAD, PUT, POST and DELETE is 405 with Allow.
	resp, _ := do(t, "PATCH", base+"/v2/keys/x", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "HEAD,GET,PUT,POST,DELETE" {
		t.Fatalf("PATCH: %s, Allow %q", resp.Status, resp.Header.Get("Allow"))
	}
	// HEAD: the headers of a GET, no body.
	resp, body := do(t, http.MethodHead, base+"/v2/keys/quiet", nil)
	if resp.StatusCode != http.StatusOK || body != "" || resp.Header.Get("X-Etcd-Index") == "" {
		t.Fatalf("HEAD: %s %q %v", resp.Status, body, resp.Header)
	}
}

func TestWatchOverHTTP(t *testing.T) {
	c := startInproc(t, 1)
	m := c.waitLeader()
	base := c.url(m)

	// A long-poll watch registered before the write gets its event.
	resp, err := http.Get(base + "/v2/keys/w?wait=true")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Etcd-Index") == "" {
		t.Fatalf("watch: %s", resp.Status)
	}
	do(t, http.MethodPut, base+"/v2/keys/w", url.Values{"value": {"1"}})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"value":"1"`) {
		t.Fatalf("watch event %s", b)
	}

	// A streaming recursive watch sees every event, one JSON line each.
	resp, err = http.Get(base + "/v2/keys/s?wait=true&stream=true&recursive=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 3 {
			do(t, http.MethodPut, base+fmt.Sprintf("/v2/keys/s/k%d", i), url.Values{"value": {fmt.Sprint(i)}})
		}
	})
	sc := bufio.NewScanner(resp.Body)
	for i := range 3 {
		if !sc.Scan() {
			t.Fatalf("stream ended after %d events: %v", i, sc.Err())
		}
		if want := fmt.Sprintf(`"key":"/s/k%d"`, i); !strings.Contains(sc.Text(), want) {
			t.Fatalf("event %d: %s, want %s", i, sc.Text(), want)
		}
	}
	wg.Wait()

	// History: waitIndex in the past is served at once.
	resp2, body := do(t, http.MethodGet, base+"/v2/keys/w?wait=true&waitIndex=1", nil)
	if resp2.StatusCode != http.StatusOK || !strings.Contains(body, `"key":"/w"`) {
		t.Fatalf("watch from history: %s %s", resp2.Status, body)
	}
	v2{"GET", "/v2/keys/w", vals{"wait": {"true"}, "waitIndex": {"x"}}, 400, 203, ""}.run(t, base)
}

// TestAdminEndpoints checks /v2/members, /v2/stats/*, /version, /health
// and /metrics on a three-member cluster.
func TestAdminEndpoints(t *testing.T) {
	c := startInproc(t, 3)
	lead := c.waitLeader()
	follower := c.follower(lead)
	// Heartbeats must have been answered for latency to exist.
	do(t, http.MethodPut, c.url(lead)+"/v2/keys/a", url.Values{"value": {"1"}})
	for _, tc := range []v2{
		{"GET", "/v2/members", nil, 200, 0, `"peerURLs":["http://127.0.0.1:`},
		{"GET", "/v2/members/leader", nil, 200, 0, `"id":"` + IDString(lead.id) + `"`},
		{"GET", "/v2/stats/self", nil, 200, 0, `"leaderInfo":{"leader":"` + IDString(lead.id) + `"`},
		{"GET", "/v2/stats/store", nil, 200, 0, `"setsSuccess":`},
		{"GET", "/v2/stats/leader", nil, 403, 0, `"message":"not current leader"`},
		{"GET", "/version", nil, 200, 0, `"etcdserver":"2.3.8"`},
		{"GET", "/health", nil, 200, 0, `"health":"true"`},
		{"GET", "/v2/members/zz", nil, 405, 0, ""},
		{"DELETE", "/v2/members/123", nil, 404, 0, `No such member: 123`},
	} {
		tc.run(t, c.url(follower))
	}
	v2{"GET", "/v2/stats/leader", nil, 200, 0, `"counts":{"fail":`}.run(t, c.url(lead))
	resp, body := do(t, http.MethodGet, c.url(lead)+"/metrics", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "raftkv_server_is_leader 1") || !strings.Contains(body, "raftkv_disk_wal_fsync_duration_seconds_count") ||
		!strings.Contains(body, "raftkv_store_watchers ") {
		t.Fatalf("/metrics: %s\n%s", resp.Status, body)
	}
	req, _ := http.NewRequest(http.MethodPost, c.url(follower)+"/v2/members", strings.NewReader(`{"peerURLs":["http://x:1"]}`))
	req.Header.Set("Content-Type", "text/plain")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("POST /v2/members as text/plain: %s, want 415", r2.Status)
	}
	req, _ = http.NewRequest(http.MethodPost, c.url(follower)+"/v2/members", strings.NewReader(`{"peerURLs":["`+lead.cfg.InitialAdvertisePeerURLs[0]+`"]}`))
	req.Header.Set("Content-Type", "application/json")
	r2, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusConflict {
		t.Fatalf("POST /v2/members with a used peer URL: %s, want 409", r2.Status)
	}
}
