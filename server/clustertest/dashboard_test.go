package clustertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/raftkv/raftkv/internal/browsertest"
)

// pageErrors collects what the page logs as an error and its uncaught
// exceptions.
type pageErrors struct {
	mu   sync.Mutex
	errs []string
}

func (p *pageErrors) add(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, s)
}

func (p *pageErrors) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

// newBrowser starts headless Chromium at width×height. Without Chromium
// the test is skipped, except under CI=true, where it fails: CI must run
// every test.
func newBrowser(t *testing.T, width, height int64) (context.Context, *pageErrors) {
	t.Helper()
	ctx := browsertest.Start(t, int(width), int(height))
	pe := &pageErrors{}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				pe.add("console." + string(ev.Type) + ": " + strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			pe.add(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		}
	}); err != nil {
		t.Fatal(err)
	}
	browserStep(t, ctx, "set the viewport", chromedp.EmulateViewport(width, height))
	return ctx, pe
}

func browserStep(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitPage polls a JavaScript expression until it is truthy and returns
// its value; it fails after timeout.
func waitPage[T any](t *testing.T, ctx context.Context, timeout time.Duration, what, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Poll[T](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		shows, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main:not([hidden])').innerText.slice(0, 1500)`))
		t.Fatalf("waiting for %s: %v; the page shows:\n%s", what, err, shows)
	}
	return v
}

// shownFollower is one follower's chart as the page shows it: the figures
// it was rendered from (data-*) and the text it shows.
type shownFollower struct {
	ID      string  `json:"id"`
	Health  string  `json:"health"`
	Current float64 `json:"current"`
	Average float64 `json:"average"`
	Minimum float64 `json:"minimum"`
	Maximum float64 `json:"maximum"`
	SD      float64 `json:"sd"`
	Success uint64  `json:"success"`
	Fail    uint64  `json:"fail"`
	Text    struct {
		Current, Average, Minimum, Maximum, SD, Success, Fail string
	} `json:"text"`
}

const readFollowers = `[...document.querySelectorAll('#followers .follower')].map(e => ({
  id: e.dataset.id, health: e.dataset.health,
  current: +e.dataset.current, average: +e.dataset.average, minimum: +e.dataset.minimum,
  maximum: +e.dataset.maximum, sd: +e.dataset.sd, success: +e.dataset.success, fail: +e.dataset.fail,
  text: Object.fromEntries(['current', 'average', 'minimum', 'maximum', 'sd', 'success', 'fail']
    .map(k => [k[0].toUpperCase() + k.slice(1), e.querySelector('.' + k).textContent])),
}))`

type followerStats struct {
	Latency struct {
		Current, Average, Minimum, Maximum float64
		StandardDeviation                  float64 `json:"standardDeviation"`
	} `json:"latency"`
	Counts struct{ Fail, Success uint64 } `json:"counts"`
}

func getLeaderStats(t *testing.T, hc *http.Client, base string) map[string]followerStats {
	t.Helper()
	var ls struct {
		Followers map[string]followerStats `json:"followers"`
	}
	if err := getJSON(t.Context(), hc, base+"/v2/stats/leader", &ls); err != nil {
		t.Fatal(err)
	}
	return ls.Followers
}

// TestDashboard opens the dashboard on a follower of a real 3-member
// cluster: it shows the leader's view of both followers, with figures that
// agree with the leader's /v2/stats/leader, and follows a new leader after
// the old one is killed; the page logs no error.
func TestDashboard(t *testing.T) {
	ctx, pe := newBrowser(t, 1280, 720)
	c, hc := newCluster(t, 3)
	lead := waitLeader(t, c, 10*time.Second)
	ids := make([]string, len(c.Members))
	for i, m := range c.Members {
		id, err := selfID(t.Context(), hc, m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	page := (lead + 1) % len(c.Members) // a follower serves the page

	// / and /ui lead to the dashboard.
	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/", "/ui", "/dashboard"} {
		resp, err := noFollow.Get(c.Members[page].ClientURL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/dashboard/" {
			t.Fatalf("GET %s: %s, Location %q; want a redirect to /dashboard/", p, resp.Status, loc)
		}
	}

	browserStep(t, ctx, "open the dashboard", chromedp.Navigate(c.Members[page].ClientURL+"/"))
	waitPage[bool](t, ctx, 10*time.Second, "the page to show the leader and its two followers",
		fmt.Sprintf(`document.getElementById('status').dataset.state === 'live' && document.getElementById('leader')?.dataset.id === %q &&
		  document.querySelectorAll('#followers .follower').length === 2 && document.querySelectorAll('#members tr.member').length === 3 &&
		  [...document.querySelectorAll('#followers .follower')].every(e => +e.dataset.success > 0)`, ids[lead]))

	// The figures agree with the leader's own /v2/stats/leader, read just
	// after: counts only grow, the minimum only falls, the maximum only rises.
	shown := waitPage[[]shownFollower](t, ctx, 5*time.Second, "the followers' figures", readFollowers)
	now := getLeaderStats(t, hc, c.Members[lead].ClientURL)
	if len(now) != 2 {
		t.Fatalf("/v2/stats/leader lists %d followers", len(now))
	}
	for _, f := range shown {
		ls, ok := now[f.ID]
		if !ok || f.ID == ids[lead] {
			t.Fatalf("the page shows follower %s; the leader's followers are %v", f.ID, now)
		}
		if f.Success == 0 || f.Success > ls.Counts.Success || ls.Counts.Success-f.Success > 200 {
			t.Errorf("follower %s: page shows %d successful heartbeats, the leader now %d", f.ID, f.Success, ls.Counts.Success)
		}
		if f.Fail > ls.Counts.Fail {
			t.Errorf("follower %s: page shows %d failed heartbeats, the leader now %d", f.ID, f.Fail, ls.Counts.Fail)
		}
		if f.Minimum < ls.Latency.Minimum || f.Maximum > ls.Latency.Maximum {
			t.Errorf("follower %s: page min/max %v/%v outside the leader's %v/%v", f.ID, f.Minimum, f.Maximum, ls.Latency.Minimum, ls.Latency.Maximum)
		}
		if f.Average < f.Minimum || f.Average > f.Maximum || math.Abs(f.Average-ls.Latency.Average) > max(0.5, ls.Latency.Average) {
			t.Errorf("follower %s: page average %v, the leader now %v", f.ID, f.Average, ls.Latency.Average)
		}
		// What is written is what was measured.
		for _, p := range []struct {
			text string
			v    float64
		}{{f.Text.Current, f.Current}, {f.Text.Average, f.Average}, {f.Text.Minimum, f.Minimum}, {f.Text.Maximum, f.Maximum}, {f.Text.SD, f.SD}} {
			var got float64
			if _, err := fmt.Sscan(p.text, &got); err != nil || math.Abs(got-p.v) > max(0.0051, p.v*0.01) {
				t.Errorf("follower %s: shows %q for %v", f.ID, p.text, p.v)
			}
		}
		if f.Text.Success != fmt.Sprint(f.Success) || f.Text.Fail != fmt.Sprint(f.Fail) {
			t.Errorf("follower %s: shows counts %q/%q for %d/%d", f.ID, f.Text.Success, f.Text.Fail, f.Success, f.Fail)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// The layout at both sizes the issue names: nothing wider than the
	// window, both charts drawn side by side with the cluster view and
	// inside the window.
	for _, size := range [][2]int64{{1920, 1080}, {1280, 720}} {
		browserStep(t, ctx, fmt.Sprintf("set the viewport to %dx%d", size[0], size[1]), chromedp.EmulateViewport(size[0], size[1]))
		waitPage[bool](t, ctx, 5*time.Second, fmt.Sprintf("the layout at %dx%d", size[0], size[1]),
			`document.documentElement.scrollWidth <= innerWidth &&
			 [...document.querySelectorAll('#followers .follower svg')].length === 2 &&
			 [...document.querySelectorAll('#followers .follower svg')].every(e => { const r = e.getBoundingClientRect(); return r.width > 200 && r.right <= innerWidth; }) &&
			 document.getElementById('members').getBoundingClientRect().right <= document.querySelector('#followers .follower').getBoundingClientRect().left`)
	}
	if dir := os.Getenv("RAFTKV_DASHBOARD_SCREENSHOT"); dir != "" {
		screenshot(t, ctx, hc, c.Members[lead].ClientURL, dir)
	}

	// Kill the leader: within a few election timeouts (plus the second
	// of the feed) the page names the new one and marks the change.
	c.Kill(lead)
	killed := time.Now()
	within := 6*election + 2*time.Second
	newID := waitPage[string](t, ctx, within, "the page to show a new leader",
		fmt.Sprintf(`(l => l && l !== %q && l !== '' && document.querySelectorAll('#followers svg .leader-change').length > 0 &&
		  document.querySelector('#members tr.member[data-id=%q]')?.dataset.role === 'down' ? l : false)(document.getElementById('leader')?.dataset.id)`, ids[lead], ids[lead]))
	t.Logf("the page showed the new leader %s %v after the kill", newID, time.Since(killed).Round(10*time.Millisecond))
	nl := waitLeader(t, c, 5*time.Second, lead)
	if newID != ids[nl] {
		t.Fatalf("the page shows leader %s; the members agree on %s", newID, ids[nl])
	}
	// The new leader's view: one follower up, the killed one failing.
	waitPage[bool](t, ctx, 5*time.Second, "the new leader's view of its followers",
		fmt.Sprintf(`document.querySelectorAll('#followers .follower').length === 2 && !document.querySelector('#followers .follower[data-id=%q]')`, newID))
	if errs := pe.list(); len(errs) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// screenshot saves the page as dashboard.png in dir, after 20 s of
// writes so that the charts and rates have something to show (the README's
// picture: RAFTKV_DASHBOARD_SCREENSHOT=$PWD/docs go test ./server/clustertest
// -run TestDashboard).
func screenshot(t *testing.T, ctx context.Context, hc *http.Client, base, dir string) {
	t.Helper()
	end := time.Now().Add(20 * time.Second)
	for i := 0; time.Now().Before(end); i++ {
		if _, err := keys(t.Context(), hc, http.MethodPut, base, fmt.Sprintf("/demo/k%d", i%50), vals("value", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // a gentle load, for the picture
	}
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dashboard.png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// keyForm fills the key browser's form and presses one of its buttons.
func keyForm(t *testing.T, ctx context.Context, action, key, value, ttl string) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const f = document.getElementById('key-form');
	  f.key.value = %q; f.value.value = %q; f.ttl.value = %q;
	  f.querySelector('[data-action=%q]').click(); return true; })()`, key, value, ttl, action)
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Evaluate[bool](js)); err != nil {
		t.Fatalf("%s %s: %v", action, key, err)
	}
}

// pageMessage waits for the key browser's message line to read like want
// (a substring) and be of class cls.
func pageMessage(t *testing.T, ctx context.Context, cls, want string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pred := fmt.Sprintf(`(m => m.className === %q && m.textContent.includes(%q))(document.getElementById('keys-message'))`, cls, want)
	if _, err := chromedp.Run(c, chromedp.Poll[bool](pred, chromedp.WithPollingTimeout(5*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(m => m.className + ': ' + m.textContent)(document.getElementById('keys-message'))`))
		t.Fatalf("waiting for the %s %q: %v; the page shows %q", cls, want, err, got)
	}
}

// TestDashboardKeys drives the key browser: what it sets reads back over
// HTTP from another member (with a TTL; in order; a directory; deleted),
// the v2 error message is shown, and a key set over HTTP appears in the
// browser's watch of its directory.
func TestDashboardKeys(t *testing.T) {
	ctx, pe := newBrowser(t, 1280, 720)
	c, hc := newCluster(t, 3)
	lead := waitLeader(t, c, 10*time.Second)
	page, other := c.Members[(lead+1)%3].ClientURL, c.Members[(lead+2)%3].ClientURL

	browserStep(t, ctx, "open the key browser", chromedp.Navigate(page+"/dashboard/#keys"))
	waitPage[bool](t, ctx, 10*time.Second, "the root listing", `document.getElementById('crumbs')?.dataset.dir === '/'`)

	keyForm(t, ctx, "set", "/browser/greeting", "hello from the page", "")
	pageMessage(t, ctx, "notice", "set /browser/greeting")
	waitLocalValue(t, hc, other, "/browser/greeting", "hello from the page", 5*time.Second)

	keyForm(t, ctx, "set", "/browser/short", "soon gone", "100")
	pageMessage(t, ctx, "notice", "set /browser/short")
	r, err := keys(t.Context(), hc, http.MethodGet, other, "/browser/short", nil)
	if err != nil || r.Status != http.StatusOK || r.Node.Val() != "soon gone" {
		t.Fatalf("GET /browser/short: %v %v", r, err)
	}
	var withTTL struct {
		Node struct{ TTL int64 } `json:"node"`
	}
	resp, err := hc.Get(other + "/v2/keys/browser/short")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&withTTL)
	resp.Body.Close()
	if withTTL.Node.TTL <= 0 || withTTL.Node.TTL > 100 {
		t.Fatalf("the TTL set in the page reads back as %d", withTTL.Node.TTL)
	}

	keyForm(t, ctx, "create", "/browser/queue", "first", "")
	pageMessage(t, ctx, "notice", "create /browser/queue/")
	keyForm(t, ctx, "mkdir", "/browser/sub", "", "")
	pageMessage(t, ctx, "notice", "set /browser/sub")
	waitPage[bool](t, ctx, 5*time.Second, "the new directory listed", `document.getElementById('crumbs')?.dataset.dir === '/browser/sub'`)
	r, err = keys(t.Context(), hc, http.MethodGet, other, "/browser/queue", vals("sorted", "true"))
	if err != nil || r.Status != http.StatusOK || r.Node == nil {
		t.Fatalf("GET /browser/queue: %v %v", r, err)
	}

	// A v2 error is shown as the API words it: mkdir over a directory.
	keyForm(t, ctx, "mkdir", "/browser/sub", "", "")
	pageMessage(t, ctx, "error", "Not a file (/browser/sub) [error 102]")

	keyForm(t, ctx, "remove", "/browser/short", "", "")
	pageMessage(t, ctx, "notice", "delete /browser/short")
	r, err = keys(t.Context(), hc, http.MethodGet, page, "/browser/short", nil)
	if err != nil || r.Status != http.StatusNotFound {
		t.Fatalf("GET /browser/short after the page deleted it: %v %v", r, err)
	}

	// Watch /browser from the page; a write over HTTP shows up.
	browserStep(t, ctx, "open /browser", chromedp.Evaluate[chromedp.Void](`document.querySelector('#crumbs a[data-key="/browser"]').click()`))
	waitPage[bool](t, ctx, 5*time.Second, "the /browser listing", `document.getElementById('crumbs')?.dataset.dir === '/browser'`)
	browserStep(t, ctx, "watch /browser", chromedp.Evaluate[chromedp.Void](`document.getElementById('watch-dir').click()`))
	waitPage[bool](t, ctx, 5*time.Second, "the watch", `document.getElementById('watch')?.dataset.key === '/browser' && document.getElementById('watch').dataset.live === 'true'`)
	if r, err := keys(t.Context(), hc, http.MethodPut, other, "/browser/from-http", vals("value", "written with curl")); err != nil || r.Status/100 != 2 {
		t.Fatalf("PUT: %v %v", r, err)
	}
	waitPage[bool](t, ctx, 5*time.Second, "the HTTP write in the page's watch",
		`(document.getElementById('watch-events')?.textContent || '').includes('/browser/from-http') && document.getElementById('watch-events').textContent.includes('written with curl')`)
	waitPage[bool](t, ctx, 5*time.Second, "the listing to show the new key",
		`[...document.querySelectorAll('#listing a')].some(a => a.dataset.key === '/browser/from-http')`)

	// With v2 auth on (and the guest role without rights), the page asks
	// for credentials and sends them.
	for _, a := range []struct{ method, path, body, user string }{
		{http.MethodPut, "/v2/auth/users/root", `{"user":"root","password":"rootpw"}`, ""},
		{http.MethodPut, "/v2/auth/enable", "", ""},
		{http.MethodPut, "/v2/auth/roles/guest", `{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}`, "root"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), a.method, other+a.path, strings.NewReader(a.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if a.user != "" {
			req.SetBasicAuth(a.user, "rootpw")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %s", a.method, a.path, resp.Status)
		}
	}
	eventually(t, 5*time.Second, 20*time.Millisecond, "auth on the page's member", func(ctx context.Context) error {
		r, err := keys(ctx, hc, http.MethodGet, page, "/browser", nil)
		if err != nil || r.Status != http.StatusUnauthorized {
			return fmt.Errorf("%v %v", r, err)
		}
		return nil
	})
	browserStep(t, ctx, "open /", chromedp.Evaluate[chromedp.Void](`document.querySelector('#crumbs a[data-key="/"]').click()`))
	waitPage[bool](t, ctx, 5*time.Second, "the sign-in form", `!!document.getElementById('auth-form')`)
	pageMessage(t, ctx, "error", "[error 110]")
	browserStep(t, ctx, "sign in", chromedp.Evaluate[chromedp.Void](`(f => { f.user.value = 'root'; f.password.value = 'rootpw'; f.requestSubmit(); })(document.getElementById('auth-form'))`))
	waitPage[bool](t, ctx, 5*time.Second, "the listing as root", `!document.getElementById('auth-form') && [...document.querySelectorAll('#listing a')].some(a => a.dataset.key === '/browser/from-http')`)
	keyForm(t, ctx, "set", "/browser/as-root", "with a password", "")
	pageMessage(t, ctx, "notice", "set /browser/as-root")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, other+"/v2/keys/browser/as-root", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("root", "rootpw")
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /browser/as-root as root: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if errs := pe.list(); len(errs) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestDashboardOverTLS: on a cluster with https client URLs and client
// certificates, a follower's event stream still carries every member's
// stats and the leader's view: the member asks the others with its client
// TLS settings.
func TestDashboardOverTLS(t *testing.T) {
	c, _ := newTLSCluster(t, 3)
	lead := waitLeader(t, c, 10*time.Second)
	hc := c.HTTPClient(0) // a stream: no overall timeout
	t.Cleanup(hc.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Members[(lead+1)%3].ClientURL+"/dashboard/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var last string
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		last = line
		var v struct {
			LeaderStats *struct {
				Followers map[string]json.RawMessage `json:"followers"`
			} `json:"leaderStats"`
			Members []struct {
				Reachable bool `json:"reachable"`
			} `json:"members"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatal(err)
		}
		reachable := 0
		for _, m := range v.Members {
			if m.Reachable {
				reachable++
			}
		}
		if v.LeaderStats != nil && len(v.LeaderStats.Followers) == 2 && reachable == 3 {
			return
		}
	}
	t.Fatalf("no complete update over TLS within 10s (%v); last: %s", sc.Err(), last)
}
