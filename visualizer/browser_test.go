package visualizer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/raftkv/raftkv/internal/browsertest"
	"github.com/raftkv/raftkv/sim"
)

// newBrowser starts headless Chromium for the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	ctx := browsertest.Start(t, 1440, 1000)
	step(t, ctx, "set the viewport", chromedp.EmulateViewport(1440, 960))
	return ctx
}

// step runs actions with a time limit.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	return evalFor[T](t, ctx, js, 20*time.Second)
}

// evalFor is eval with a time limit of d.
func evalFor[T any](t *testing.T, ctx context.Context, js string, d time.Duration) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %.80q: %v", js, err)
	}
	return v
}

// waitLoaded waits for the page to finish loading a trace and fails with
// the page's message if it could not.
func waitLoaded(t *testing.T, ctx context.Context) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got, err := chromedp.Run(c, chromedp.Poll[string](
		`(s => s.dataset.state === 'ready' || s.dataset.state === 'error' ? s.dataset.state + ': ' + s.textContent : false)(document.getElementById('status'))`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("waiting for the trace to load: %v", err)
	}
	if !strings.HasPrefix(got, "ready: ") {
		t.Fatalf("the page did not load the trace: %s", got)
	}
}

// waitFor polls a JavaScript predicate until it holds.
func waitFor(t *testing.T, ctx context.Context, what, pred string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[chromedp.Void](pred, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, pred, err)
	}
}

// pageView is what the page shows, read from its DOM.
type pageView struct {
	Members []struct {
		ID   uint64 `json:"id"`
		Role string `json:"role"`
		Term uint64 `json:"term"`
		Up   bool   `json:"up"`
		Text string `json:"text"`
	} `json:"members"`
	Rows []struct {
		ID          uint64 `json:"id"`
		Commit      uint64 `json:"commit"`
		Last        uint64 `json:"last"`
		Snap        uint64 `json:"snap"`
		Committed   int    `json:"committed"`
		Uncommitted int    `json:"uncommitted"`
		Lo          uint64 `json:"lo"`
		Hi          uint64 `json:"hi"`
	} `json:"rows"`
	Clock   string `json:"clock"`
	Details string `json:"details"`
	Msgs    int    `json:"msgs"`
}

const readView = `(() => {
  const members = [...document.querySelectorAll('#ring .member')].map(g => ({
    id: +g.dataset.id, role: g.dataset.role, term: +g.dataset.term, up: g.dataset.up === 'true',
    text: g.querySelector('.term').textContent }));
  const svg = document.querySelector('#logs svg');
  const rows = [...document.querySelectorAll('#logs .logrow')].map(r => ({
    id: +r.dataset.id, commit: +r.dataset.commit, last: +r.dataset.last, snap: +r.dataset.snap,
    committed: r.querySelectorAll('.entry.committed').length, uncommitted: r.querySelectorAll('.entry.uncommitted').length,
    lo: +svg.dataset.lo, hi: +svg.dataset.hi }));
  return { members, rows, clock: document.getElementById('clock').textContent,
    details: document.getElementById('details').textContent, msgs: document.querySelectorAll('#ring .msg').length };
})()`

// checkView compares the page with the oracle after event i.
func checkView(t *testing.T, v pageView, tr readTrace, i int) {
	t.Helper()
	want := tr.drawnAfter(i)
	if len(v.Members) != len(want) || len(v.Rows) != len(want) {
		t.Fatalf("after event %d: page shows %d members and %d log rows, the trace has %d members", i, len(v.Members), len(v.Rows), len(want))
	}
	for _, m := range v.Members {
		w := want[m.ID]
		if m.Role != w.role || m.Term != w.term || m.Up != w.up || m.Text != fmt.Sprint(w.term) {
			t.Errorf("after event %d: S%d shows role %s, term %d (text %q), up %v; want %s, term %d, up %v",
				i, m.ID, m.Role, m.Term, m.Text, m.Up, w.role, w.term, w.up)
		}
	}
	for _, r := range v.Rows {
		w := want[r.ID]
		if r.Commit != w.commit || r.Last != w.last || r.Snap != w.snap {
			t.Errorf("after event %d: S%d's log row says commit %d, last %d, snapshot %d; want %d, %d, %d",
				i, r.ID, r.Commit, r.Last, r.Snap, w.commit, w.last, w.snap)
		}
		// Cells in the window [lo, hi]: committed ones up to the commit
		// index, uncommitted ones after it, none at or below the snapshot.
		span := func(a, b uint64) int { // entries in (a, b] within the window
			a, b = max(a, r.Lo-1), min(b, r.Hi)
			if b <= a {
				return 0
			}
			return int(b - a)
		}
		wantC := span(w.snap, min(w.commit, w.last))
		wantU := span(max(w.snap, w.commit), w.last)
		if r.Committed != wantC || r.Uncommitted != wantU {
			t.Errorf("after event %d: S%d shows %d committed and %d uncommitted cells in [%d, %d]; want %d and %d",
				i, r.ID, r.Committed, r.Uncommitted, r.Lo, r.Hi, wantC, wantU)
		}
	}
	if want := fmt.Sprintf("event %d / %d", i+1, len(tr.events)); !strings.Contains(v.Clock, want) {
		t.Errorf("clock %q, want it to say %q", v.Clock, want)
	}
}

// checkScreenshot fails on a blank picture: too few colours or almost
// nothing but background.
func checkScreenshot(t *testing.T, buf []byte, name string) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b := img.Bounds()
	colours := map[uint32]bool{}
	ink := 0
	total := 0
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[(r>>11)<<10|(g>>11)<<5|bl>>11] = true
			if r < 0xe000 || g < 0xe000 || bl < 0xe000 {
				ink++
			}
			total++
		}
	}
	if len(colours) < 40 || ink*100 < total*5 {
		t.Fatalf("%s looks blank: %d colours, %d%% ink", name, len(colours), ink*100/total)
	}
	if dir := os.Getenv("RAFTKV_SCREENSHOTS"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	checkScreenshot(t, buf, name)
}

// TestBrowser drives the visualizer in headless Chromium: a small trace
// written by hand checked at fixed points, keys and clicks, the file
// picker, and a large simulated trace (5 members, 60 simulated seconds;
// less under -race), whose load time and frame time are reported.
func TestBrowser(t *testing.T) {
	ctx := newBrowser(t)

	t.Run("hand", func(t *testing.T) {
		tr := loadTrace(t, "testdata/hand.jsonl")
		srv := httptest.NewServer(Handler(Run{TracePath: "testdata/hand.jsonl", Name: "hand.jsonl"}))
		defer srv.Close()
		k := tr.find(0, func(e sim.TraceEvent) bool { return e.Type == "apply" && e.ID == 1 && e.Index == 2 })
		step(t, ctx, "open", chromedp.Navigate(fmt.Sprintf("%s/#i=%d", srv.URL, k)))
		waitLoaded(t, ctx)
		v := eval[pageView](t, ctx, readView)
		checkView(t, v, tr, k)
		// The leader's view of S2: match 2, next 3.
		if got := eval[string](t, ctx, `[...document.querySelectorAll('#logs .logrow[data-id="2"] .match, #logs .logrow[data-id="2"] .next')].map(e => e.dataset.match || e.dataset.next).join(',')`); got != "2,3" {
			t.Errorf("S2's match and next marks: %q, want \"2,3\"", got)
		}
		if got := eval[string](t, ctx, `document.querySelector('#kv tr[data-key="/k0"]').textContent`); !strings.Contains(got, "c1.0") {
			t.Errorf("key space row /k0: %q", got)
		}
		if hidden := eval[bool](t, ctx, `document.getElementById('porcupine').hidden`); !hidden {
			t.Error("Porcupine link shown for a run without its HTML")
		}

		// Keys: next event, then jump to the next crash.
		step(t, ctx, "next event", chromedp.KeyEvent(kb.ArrowRight))
		checkView(t, eval[pageView](t, ctx, readView), tr, k+1)
		step(t, ctx, "jump to crash", chromedp.KeyEvent("c"))
		crash := tr.find(k, func(e sim.TraceEvent) bool { return e.Type == "crash" })
		v = eval[pageView](t, ctx, readView)
		checkView(t, v, tr, crash)
		if !strings.Contains(v.Details, "Member S2") {
			t.Errorf("after jumping to S2's crash the details show %q", v.Details)
		}
		step(t, ctx, "help", chromedp.KeyEvent("?"))
		waitFor(t, ctx, "the help overlay", `!document.getElementById('help').hidden`)
		step(t, ctx, "close help", chromedp.KeyEvent(kb.Escape))
		waitFor(t, ctx, "the help overlay to close", `document.getElementById('help').hidden`)

		// Click a member, then a message in flight.
		step(t, ctx, "click S3", chromedp.Click(chromedp.CSS(`#ring .member[data-id="3"] .body`)))
		waitFor(t, ctx, "S3's details", `document.getElementById('details').textContent.includes('Member S3')`)
		mid := tr.find(0, func(e sim.TraceEvent) bool { return e.Type == "send" && e.MsgID == 1 })
		step(t, ctx, "go to a message in flight", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#i=%d'`, mid)))
		waitFor(t, ctx, "message 1 on the ring", `document.querySelector('#ring .msg[data-mid="1"]') !== null`)
		if got := eval[string](t, ctx, `document.querySelector('#ring .msg[data-mid="1"]').getAttribute('class')`); got != "msg vote request" {
			t.Errorf("message 1 drawn as %q, want \"msg vote request\"", got)
		}
		step(t, ctx, "click message 1", chromedp.Click(chromedp.CSS(`#ring .msg[data-mid="1"] .dot`)))
		waitFor(t, ctx, "message 1's details", `document.getElementById('details').textContent.includes('Message 1')`)
		screenshot(t, ctx, "visualizer-hand.png")
	})

	t.Run("file picker", func(t *testing.T) {
		srv := httptest.NewServer(Handler(Run{}))
		defer srv.Close()
		step(t, ctx, "open", chromedp.Navigate(srv.URL+"/"))
		waitFor(t, ctx, "the empty page", `document.getElementById('status').dataset.state === 'empty'`)
		bad := filepath.Join(t.TempDir(), "bad.jsonl")
		if err := os.WriteFile(bad, []byte(`{"type":"header","format":9}`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		step(t, ctx, "pick a bad file", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{bad}))
		waitFor(t, ctx, "the error", `document.getElementById('status').dataset.state === 'error'`)
		if got := eval[string](t, ctx, `document.getElementById('status').textContent`); !strings.Contains(got, "bad.jsonl: trace format 9") {
			t.Errorf("error shown: %q", got)
		}
		hand, _ := filepath.Abs("testdata/hand.jsonl")
		step(t, ctx, "pick a trace", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{hand}))
		waitLoaded(t, ctx)
		if n := eval[int](t, ctx, `document.querySelectorAll('#ring .member').length`); n != 4 {
			t.Errorf("%d members drawn, want 4", n)
		}
	})

	t.Run("large", func(t *testing.T) {
		dir := t.TempDir()
		path, html := filepath.Join(dir, "large.jsonl"), filepath.Join(dir, "large.html")
		writeLargeTrace(t, path, html)
		tr := loadTrace(t, path)
		st, _ := os.Stat(path)
		srv := httptest.NewServer(Handler(Run{TracePath: path, PorcupineHTML: html, Name: "large.jsonl"}))
		defer srv.Close()

		// A moment in the middle: just after a member becomes leader.
		elected := func(e sim.TraceEvent) bool { return e.Type == "role" && e.Role == "leader" }
		k := tr.find(len(tr.events)/2, elected)
		for i := len(tr.events) / 2; k < 0 && i >= 0; i-- {
			if elected(tr.events[i]) {
				k = i
			}
		}
		if k < 0 {
			t.Fatal("no election in the large trace")
		}
		step(t, ctx, "open", chromedp.Navigate(fmt.Sprintf("%s/#i=%d", srv.URL, k)))
		waitLoaded(t, ctx)
		loadMs := eval[string](t, ctx, `document.body.dataset.loadMs`)
		t.Logf("large trace: %d events, %.1f MB, %.0f s simulated; fetched, parsed and first drawn in %s ms (%s)",
			len(tr.events), float64(st.Size())/1e6, tr.events[len(tr.events)-1].T/1000, loadMs,
			eval[string](t, ctx, `document.getElementById('status').textContent`))
		v := eval[pageView](t, ctx, readView)
		checkView(t, v, tr, k)
		// The new leader shows as leader. Another member may still show as
		// the leader of an older term (cut off, it has not heard of the
		// election yet); checkView has compared every role with the replay.
		lead := tr.events[k].ID
		for _, m := range v.Members {
			if m.ID == lead && m.Role != "leader" {
				t.Errorf("after event %d (S%d elected) S%d shows role %s", k, lead, m.ID, m.Role)
			}
		}

		// Porcupine's HTML for the same run is linked.
		if got := eval[string](t, ctx, `(a => a.hidden ? 'hidden' : a.getAttribute('href'))(document.getElementById('porcupine'))`); got != "porcupine.html" {
			t.Errorf("Porcupine link: %q", got)
		}
		resp, err := http.Get(srv.URL + "/porcupine.html")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<html")) {
			t.Errorf("porcupine.html: %s, %.60q", resp.Status, body)
		}

		// Play: time moves, and frames keep coming while it does.
		step(t, ctx, "play", chromedp.Click(chromedp.CSS("#play")))
		// (A loaded machine may take longer than eval's limit for them.)
		frames := evalFor[struct {
			N       int     `json:"n"`
			AvgMs   float64 `json:"avg"`
			WorstMs float64 `json:"worst"`
		}](t, ctx, `new Promise(done => {
			const ts = [];
			const tick = (t) => { ts.push(t); if (ts.length < 121) requestAnimationFrame(tick); else {
				const d = ts.slice(1).map((x, i) => x - ts[i]);
				done({ n: d.length, avg: d.reduce((a, b) => a + b, 0) / d.length, worst: Math.max(...d) }); } };
			requestAnimationFrame(tick); })`, 90*time.Second)
		t.Logf("playing the large trace: %d frames, %.1f ms a frame on average, worst %.1f ms; drawing takes %s ms a frame",
			frames.N, frames.AvgMs, frames.WorstMs, eval[string](t, ctx, `document.body.dataset.renderMs`))
		waitFor(t, ctx, "playback to move on", fmt.Sprintf(`+document.getElementById('goto-i').value > %d || /event (\d+)/.exec(document.getElementById('clock').textContent)[1] > %d`, k+1, k+1))
		step(t, ctx, "pause", chromedp.KeyEvent(" "))
		waitFor(t, ctx, "pause", `document.getElementById('play').textContent === '▶'`)

		// A campaign: vote requests on the wire.
		c := tr.find(len(tr.events)/3, func(e sim.TraceEvent) bool { return e.Type == "role" && e.Role == "candidate" })
		if c < 0 {
			t.Fatal("no campaign in the large trace")
		}
		s := tr.find(c, func(e sim.TraceEvent) bool { return e.Type == "send" && e.Msg == "MsgVote" })
		step(t, ctx, "go to a campaign", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#i=%d'`, s+2)))
		waitFor(t, ctx, "vote requests", `document.querySelector('#ring .msg.vote.request') !== null`)
		checkView(t, eval[pageView](t, ctx, readView), tr, s+2)

		// The picture: a partition, with the leader selected.
		p := tr.find(len(tr.events)/5, func(e sim.TraceEvent) bool { return e.Type == "partition" })
		if p < 0 {
			t.Fatal("no partition in the large trace")
		}
		p += 40
		step(t, ctx, "go to a partition", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#i=%d'`, p)))
		waitFor(t, ctx, "cut links", `document.querySelector('#ring .link.cut') !== null && document.querySelectorAll('#ring .group').length > 0`)
		checkView(t, eval[pageView](t, ctx, readView), tr, p)
		for id, m := range tr.membersAfter(p) {
			if m.role == "leader" {
				step(t, ctx, "select the leader", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#ring .member[data-id="%d"] .body`, id))))
				waitFor(t, ctx, "the leader's details", fmt.Sprintf(`document.getElementById('details').textContent.includes('Member S%d')`, id))
			}
		}
		screenshot(t, ctx, "visualizer.png")
	})
}

// writeLargeTrace runs the default preset (5 members, 10 clients, every
// fault) for largeSafetyMs of faults, with Porcupine's HTML.
func writeLargeTrace(t *testing.T, path, html string) {
	t.Helper()
	o, err := sim.MakeOptions("default", 1, false, "")
	if err != nil {
		t.Fatal(err)
	}
	o.SafetyMs = largeSafetyMs
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := sim.Run(sim.Config{Seed: 1, Options: o, Trace: f, HTMLDir: t.TempDir(), PorcupineHTML: html})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if r.Failure != nil {
		t.Fatalf("the large run failed: %v\n  replay: %s", r.Failure, r.Replay())
	}
	if r.HTMLPath != html {
		t.Fatalf("Porcupine's HTML at %q, want %q", r.HTMLPath, html)
	}
	t.Logf("large run: %v simulated, %d events in %v", time.Duration(r.SimulatedNs), r.Events, time.Since(start).Round(time.Millisecond))
}

// TestBrowserReplayFixes checks the replay's fixes of issue 20 in
// Chromium: a churn trace draws only current members (the departed ones
// gone, a joining one not "removed"), labels fit in the ring, bad
// fragments and a trace cut off in its last line are shown with a
// warning, the key space of 10 members fits its panel, the legends, and
// the simple view, remembered across a reload; and the live page's
// address (seed, members), and what it says when the wasm is not served.
func TestBrowserReplayFixes(t *testing.T) {
	ctx := newBrowser(t)
	dir := t.TempDir()

	t.Run("churn", func(t *testing.T) {
		path := filepath.Join(dir, "churn.jsonl")
		o, err := sim.MakeOptions("churn", 2, true, "")
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		r := sim.Run(sim.Config{Seed: 2, Options: o, Trace: f, HTMLDir: t.TempDir()})
		if err := f.Close(); err != nil || r.Failure != nil {
			t.Fatalf("churn run: %v, %v\n  replay: %s", err, r.Failure, r.Replay())
		}
		tr := loadTrace(t, path)
		srv := httptest.NewServer(Handler(Run{TracePath: path, Name: "churn.jsonl"}))
		defer srv.Close()
		leaves := 0
		for i, e := range tr.events {
			if e.Type != "leave" && e.Type != "join" {
				continue
			}
			if e.Type == "leave" {
				leaves++
			}
			for _, k := range []int{i, i + 5} {
				step(t, ctx, "open", chromedp.Navigate(fmt.Sprintf("%s/#i=%d", srv.URL, k)))
				waitLoaded(t, ctx)
				v := eval[pageView](t, ctx, readView)
				checkView(t, v, tr, k)
				for _, m := range v.Members {
					if m.Role == "departed" || m.Role == "not yet a member" {
						t.Errorf("after event %d: S%d drawn as %q", k, m.ID, m.Role)
					}
				}
				checkLabels(t, ctx, k)
			}
		}
		if leaves == 0 {
			t.Fatal("the churn trace has no leave event: the test checks nothing")
		}
	})

	t.Run("bad fragments", func(t *testing.T) {
		srv := httptest.NewServer(Handler(Run{TracePath: "testdata/hand.jsonl", Name: "hand.jsonl"}))
		defer srv.Close()
		for _, frag := range []string{"i=abc", "t=abc", "i=1.5", "t="} {
			step(t, ctx, "open", chromedp.Navigate(srv.URL+"/#"+frag))
			waitFor(t, ctx, "the warning", `document.getElementById('status').dataset.state === 'warn'`)
			st := eval[string](t, ctx, `document.getElementById('status').textContent`)
			clock := eval[string](t, ctx, `document.getElementById('clock').textContent`)
			if !strings.Contains(st, "showing the start") || strings.Contains(clock, "NaN") || !strings.Contains(clock, "event 0 /") {
				t.Errorf("#%s: status %q, clock %q", frag, st, clock)
			}
		}
		// A good fragment after a bad one still works.
		step(t, ctx, "go to #t=110", chromedp.Evaluate[chromedp.Void](`location.hash = '#t=110'`))
		waitFor(t, ctx, "t = 110", `document.getElementById('clock').textContent.startsWith('t = 110.000 ms')`)
		if from := eval[float64](t, ctx, `+document.querySelector('#clients svg').dataset.from`); from < 0 {
			t.Errorf("the clients axis starts at %v ms", from)
		}
	})

	t.Run("cut-off trace", func(t *testing.T) {
		srv := httptest.NewServer(Handler(Run{}))
		defer srv.Close()
		step(t, ctx, "open", chromedp.Navigate(srv.URL+"/"))
		waitFor(t, ctx, "the empty page", `document.getElementById('status').dataset.state === 'empty'`)
		whole, err := os.ReadFile("testdata/hand.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		cut := filepath.Join(dir, "cut.jsonl")
		body := bytes.TrimRight(whole, "\n")
		if err := os.WriteFile(cut, body[:len(body)-7], 0o644); err != nil {
			t.Fatal(err)
		}
		lines := bytes.Count(body, []byte("\n")) // events, the last one cut
		step(t, ctx, "pick the cut trace", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{cut}))
		waitFor(t, ctx, "the warning", `document.getElementById('status').dataset.state === 'warn'`)
		st := eval[string](t, ctx, `document.getElementById('status').textContent`)
		if want := fmt.Sprintf("line %d is cut off", lines+1); !strings.Contains(st, want) {
			t.Errorf("status %q, want it to say %q", st, want)
		}
		if got := eval[int](t, ctx, `+document.body.dataset.events`); got != lines-1 {
			t.Errorf("%d events loaded, want %d", got, lines-1)
		}
	})

	t.Run("ten members", func(t *testing.T) {
		path := filepath.Join(dir, "ten.jsonl")
		var b strings.Builder
		b.WriteString(`{"type":"header","format":1,"seed":1,"options":{"preset":"hand","tickMs":10,"electionTick":10},"members":[1,2,3,4,5,6,7,8,9,10],"replay":"by hand"}` + "\n")
		kv := map[string]string{}
		for k := range 6 {
			kv[fmt.Sprintf("/service/instances/%d", k)] = strings.Repeat("v", 30)
		}
		js, _ := json.Marshal(kv)
		for id := 1; id <= 10; id++ {
			fmt.Fprintf(&b, `{"t":1,"type":"conf","id":%d,"voters":[1,2,3,4,5,6,7,8,9,10]}`+"\n", id)
		}
		for id := 1; id <= 10; id++ {
			fmt.Fprintf(&b, `{"t":2,"type":"apply","id":%d,"index":1,"count":1}`+"\n", id)
		}
		fmt.Fprintf(&b, `{"t":2,"type":"kv","id":1,"index":1,"kv":%s}`+"\n", js)
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(Handler(Run{TracePath: path, Name: "ten.jsonl"}))
		defer srv.Close()
		step(t, ctx, "open", chromedp.Navigate(srv.URL+"/#t=5"))
		waitLoaded(t, ctx)
		got := eval[struct {
			Cols  int `json:"cols"`
			Table int `json:"table"`
			Panel int `json:"panel"`
		}](t, ctx, `({ cols: document.querySelectorAll('#kv thead th').length, table: document.querySelector('#kv table').getBoundingClientRect().width,
			panel: document.getElementById('kv').getBoundingClientRect().width })`)
		if got.Cols != 11 || got.Table > got.Panel+1 {
			t.Errorf("key space of 10 members: %d columns, table %d px wide in a panel of %d px", got.Cols, got.Table, got.Panel)
		}
		checkLabels(t, ctx, -1)
	})

	t.Run("live members from the address", func(t *testing.T) {
		srv := liveServer(t)
		step(t, ctx, "open", chromedp.Navigate(srv.URL+"/?live=1&seed=3&members=3"))
		waitLong(t, ctx, "the simulator to start", `+(document.body.dataset.liveMs || 0) > 0`, 60*time.Second)
		if n := eval[int](t, ctx, `document.querySelectorAll('#ring .member').length`); n != 3 {
			t.Errorf("?members=3: %d members drawn", n)
		}
		if got := eval[string](t, ctx, `document.getElementById('info').textContent`); !strings.Contains(got, "seed 3") {
			t.Errorf("?seed=3: the page says %q", got)
		}
	})

	t.Run("live not built", func(t *testing.T) {
		// Served without the WebAssembly build (raftkv-sim -visualize):
		// the live simulator says how to get it.
		srv := httptest.NewServer(Handler(Run{}))
		defer srv.Close()
		step(t, ctx, "open", chromedp.Navigate(srv.URL+"/?live=1"))
		waitFor(t, ctx, "the error", `document.getElementById('status').dataset.state === 'error'`)
		if got := eval[string](t, ctx, `document.getElementById('status').textContent`); !strings.Contains(got, "raftkv-sim -live") {
			t.Errorf("status %q does not say how to run the live simulator", got)
		}
	})

	t.Run("legends and layout", func(t *testing.T) {
		srv := httptest.NewServer(Handler(Run{TracePath: "testdata/hand.jsonl", Name: "hand.jsonl"}))
		defer srv.Close()
		step(t, ctx, "open", chromedp.Navigate(srv.URL+"/#i=61"))
		waitLoaded(t, ctx)
		for _, sel := range []string{"#legend .lg.readindex", "#terms .term-swatch", "#marker-legend .ml.election", "#marker-legend .ml.crash", "#marker-legend .ml.partition"} {
			if !eval[bool](t, ctx, fmt.Sprintf(`(e => !!e && e.getBoundingClientRect().width > 0)(document.querySelector(%q))`, sel)) {
				t.Errorf("legend %s not shown", sel)
			}
		}
		if simple := eval[bool](t, ctx, `document.body.classList.contains('simple')`); simple {
			t.Fatal("the page starts in the simple view")
		}
		step(t, ctx, "simple view", chromedp.Click(chromedp.CSS("#layout")))
		waitFor(t, ctx, "the simple view", `document.body.classList.contains('simple') && getComputedStyle(document.querySelector('aside')).display === 'none'`)
		if w := eval[float64](t, ctx, `document.getElementById('ring').getBoundingClientRect().width`); w < 650 {
			t.Errorf("the ring is %v px wide in the simple view, want it the main element (>= 650)", w)
		}
		step(t, ctx, "select S1", chromedp.Click(chromedp.CSS(`#ring .member[data-id="1"] .body`)))
		waitFor(t, ctx, "S1's details", `document.getElementById('details').textContent.includes('Member S1')`)
		screenshot(t, ctx, "visualizer-simple.png")
		step(t, ctx, "reload", chromedp.Reload())
		waitLoaded(t, ctx)
		if !eval[bool](t, ctx, `document.body.classList.contains('simple')`) {
			t.Error("the simple view is not remembered across a reload")
		}
		step(t, ctx, "full view", chromedp.Click(chromedp.CSS("#layout")))
		waitFor(t, ctx, "the full view", `!document.body.classList.contains('simple')`)
		step(t, ctx, "reload", chromedp.Reload())
		waitLoaded(t, ctx)
		if eval[bool](t, ctx, `document.body.classList.contains('simple')`) {
			t.Error("the full view is not remembered across a reload")
		}
	})
}

// checkLabels fails when a member's name or role label on the ring falls
// outside the picture (it would be clipped).
func checkLabels(t *testing.T, ctx context.Context, i int) {
	t.Helper()
	out := eval[[]string](t, ctx, `(() => {
		const svg = document.getElementById('ring');
		const vb = svg.viewBox.baseVal;
		return [...svg.querySelectorAll('.member text.name, .member text.role-label')].map(e => {
			const b = e.getBBox();
			return b.x < vb.x - 0.5 || b.y < vb.y - 0.5 || b.x + b.width > vb.x + vb.width + 0.5 || b.y + b.height > vb.y + vb.height + 0.5
				? e.textContent + ' at ' + [b.x, b.y, b.width, b.height].map(Math.round).join(',') : '';
		}).filter(Boolean);
	})()`)
	for _, s := range out {
		t.Errorf("after event %d: label %q is clipped by the ring's picture", i, s)
	}
}

// liveServer serves the page with the live simulator, as raftkv-sim -live
// does: the embedded files, and the live files built now.
func liveServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(LiveHandler(buildLive(t)))
	t.Cleanup(srv.Close)
	return srv
}

// buildLive builds LiveFiles into a new folder.
func buildLive(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	start := time.Now()
	if err := BuildLive(dir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "raftkv.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("raftkv.wasm: %.1f MB, built in %v", float64(st.Size())/1e6, time.Since(start).Round(time.Millisecond))
	return dir
}

// waitLong polls a JavaScript predicate for up to d.
func waitLong(t *testing.T, ctx context.Context, what, pred string, d time.Duration) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[chromedp.Void](pred, chromedp.WithPollingTimeout(d))); err != nil {
		st, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('status').textContent + ' | ' + document.getElementById('clock').textContent + ' | ' + document.getElementById('details').textContent.slice(0, 200)`))
		t.Fatalf("waiting for %s (%s): %v\n  page: %s", what, pred, err, st)
	}
}

// setSpeed picks a speed of the live simulator (virtual ms a real second).
func setSpeed(t *testing.T, ctx context.Context, msPerS int) {
	t.Helper()
	step(t, ctx, "set the speed", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(s => { s.value = '%d'; s.dispatchEvent(new Event('change')); })(document.getElementById('speed'))`, msPerS)))
}

// clickAt clicks with the mouse where the element sel is drawn (the ring
// is drawn anew every frame, so the node itself may be gone by the time a
// click on it lands; its place is not).
func clickAt(t *testing.T, ctx context.Context, what, sel string) {
	t.Helper()
	p := eval[struct {
		X  float64 `json:"x"`
		Y  float64 `json:"y"`
		OK bool    `json:"ok"`
	}](t, ctx, fmt.Sprintf(`(e => { if (!e) return { ok: false }; e.scrollIntoView({ block: 'center' });
		const r = e.getBoundingClientRect(); const x = r.left + r.width / 2, y = r.top + r.height / 2;
		return { ok: e.contains(document.elementFromPoint(x, y)), x, y }; })(document.querySelector(%q))`, sel))
	if !p.OK {
		t.Fatalf("%s: %s is not there to click (or is covered)", what, sel)
	}
	step(t, ctx, what, chromedp.MouseClickXY(p.X, p.Y))
}

// leaderOnRing is the member drawn as leader, 0 for none.
const leaderOnRing = `(e => e ? +e.dataset.id : 0)(document.querySelector('#ring .member[data-role="leader"]'))`

// TestBrowserLive drives the live simulator in Chromium with clicks: the
// leader crashed from its menu and a new one elected, a message in flight
// dropped, a write from the client panel in every member's log, time
// travel and a fork, Porcupine's verdict, and an exported session that
// raftkv-sim -replay reproduces byte for byte. It reports the frame time
// of 5 live members.
func TestBrowserLive(t *testing.T) {
	ctx := newBrowser(t)
	srv := liveServer(t)
	step(t, ctx, "open", chromedp.Navigate(srv.URL+"/?live=1&seed=11"))
	waitLong(t, ctx, "the simulator to start", `+(document.body.dataset.liveMs || 0) > 0`, 60*time.Second)
	if n := eval[int](t, ctx, `document.querySelectorAll('#ring .member').length`); n != 5 {
		t.Fatalf("%d members drawn, want 5", n)
	}

	// 5 members at 1x: how long a frame takes.
	setSpeed(t, ctx, 1000)
	frames := evalFor[struct {
		N       int     `json:"n"`
		AvgMs   float64 `json:"avg"`
		WorstMs float64 `json:"worst"`
	}](t, ctx, `new Promise(done => {
		const ts = [];
		const tick = (t) => { ts.push(t); if (ts.length < 121) requestAnimationFrame(tick); else {
			const d = ts.slice(1).map((x, i) => x - ts[i]);
			done({ n: d.length, avg: d.reduce((a, b) => a + b, 0) / d.length, worst: Math.max(...d) }); } };
		requestAnimationFrame(tick); })`, 60*time.Second)
	t.Logf("5 members live at 1x: %d frames, %.1f ms a frame on average (%.0f frames a second), worst %.1f ms; drawing takes %s ms a frame",
		frames.N, frames.AvgMs, 1000/frames.AvgMs, frames.WorstMs, eval[string](t, ctx, `document.body.dataset.renderMs`))
	// Frame times on a loaded machine are not a test: the drawing time
	// (well under the 16.7 ms of a frame at 60 a second) is the measure.
	waitLong(t, ctx, "a leader", leaderOnRing+` > 0`, 30*time.Second)

	// Crash the leader by clicking it, and see another elected.
	old := eval[int](t, ctx, leaderOnRing)
	clickAt(t, ctx, "click the leader", fmt.Sprintf(`#ring .member[data-id="%d"] .body`, old))
	waitFor(t, ctx, "the member menu", `!document.getElementById('menu').hidden`)
	step(t, ctx, "crash it", chromedp.Click(chromedp.CSS(`#menu button[data-kind="crash"]`)))
	waitLong(t, ctx, "the old leader crashed", fmt.Sprintf(`(e => e && e.dataset.role === 'crashed')(document.querySelector('#ring .member[data-id="%d"]'))`, old), 20*time.Second)
	waitLong(t, ctx, "a new leader", fmt.Sprintf(`(id => id > 0 && id !== %d)(%s)`, old, leaderOnRing), 30*time.Second)
	lead := eval[int](t, ctx, leaderOnRing)
	t.Logf("S%d crashed by a click; S%d elected", old, lead)

	// Restart it (every member up for the write below).
	clickAt(t, ctx, "click the crashed member", fmt.Sprintf(`#ring .member[data-id="%d"] .body`, old))
	step(t, ctx, "restart it", chromedp.Click(chromedp.CSS(`#menu button[data-kind="restart"]`)))
	waitLong(t, ctx, "the old leader up", fmt.Sprintf(`(e => e && e.dataset.role === 'follower')(document.querySelector('#ring .member[data-id="%d"]'))`, old), 20*time.Second)

	// Drop a message in flight: pause at the simulator's present, where
	// messages are still on their way, and click one.
	setSpeed(t, ctx, 100)
	waitLong(t, ctx, "a message in flight", `document.querySelector('#ring .msg') !== null`, 20*time.Second)
	step(t, ctx, "pause", chromedp.Click(chromedp.CSS("#play")))
	// Single steps (the next event from the engine) until one is sent.
	if !evalFor[bool](t, ctx, `new Promise(done => { let k = 0; const go = () => {
		if (document.querySelector('#ring .msg:not(.dropped)')) return done(true);
		if (k++ > 400) return done(false);
		document.getElementById('next').click(); setTimeout(go, 20); }; go(); })`, 60*time.Second) {
		t.Fatal("400 single steps and no message on the wire")
	}
	mid := eval[int](t, ctx, `+document.querySelector('#ring .msg:not(.dropped)').dataset.mid`)
	clickAt(t, ctx, "click the message", fmt.Sprintf(`#ring .msg[data-mid="%d"] .dot`, mid))
	waitFor(t, ctx, "the message menu", `!document.getElementById('menu').hidden && document.querySelector('#menu button[data-kind="drop"]') !== null`)
	step(t, ctx, "drop it", chromedp.Click(chromedp.CSS(`#menu button[data-kind="drop"]`)))
	waitLong(t, ctx, "the message dropped", fmt.Sprintf(`document.querySelector('#ring .msg.dropped[data-mid="%d"]') !== null`, mid), 10*time.Second)

	// A write from the client panel, at a follower, reaches every log.
	step(t, ctx, "play", chromedp.Click(chromedp.CSS("#play")))
	follower := eval[int](t, ctx, `+document.querySelector('#ring .member[data-role="follower"]').dataset.id`)
	step(t, ctx, "fill the client panel",
		chromedp.SetValue(chromedp.CSS("#client-op"), "put"),
		chromedp.SetValue(chromedp.CSS("#client-key"), "/browser"),
		chromedp.SetValue(chromedp.CSS("#client-value"), "written-by-a-click"),
		chromedp.SetValue(chromedp.CSS("#client-member"), fmt.Sprint(follower)))
	step(t, ctx, "send", chromedp.Click(chromedp.CSS("#client-send")))
	waitLong(t, ctx, "the write answered", `document.querySelector('#clients .op.ok') !== null`, 30*time.Second)
	step(t, ctx, "pause", chromedp.Click(chromedp.CSS("#play")))
	clickAt(t, ctx, "select the write", `#clients .op.ok`)
	waitLong(t, ctx, "its details", `document.getElementById('details').textContent.includes('Operation of')`, 20*time.Second)
	index := eval[int](t, ctx, `+[...document.querySelectorAll('#details tr')].find(r => r.firstChild.textContent === 'index').lastChild.textContent`)
	if index <= 0 {
		t.Fatalf("the write's index: %d", index)
	}
	setSpeed(t, ctx, 1000)
	step(t, ctx, "play", chromedp.Click(chromedp.CSS("#play")))
	waitLong(t, ctx, "the write committed in every member's log", fmt.Sprintf(
		`(rows => rows.length === 5 && rows.every(r => +r.dataset.commit >= %d && +r.dataset.last >= %d))([...document.querySelectorAll('#logs .logrow')])`, index, index), 20*time.Second)
	waitLong(t, ctx, "the key space to show it on every member", `(r => r && r.querySelectorAll('td').length === 5 && [...r.querySelectorAll('td')].every(td => td.textContent === 'written-by-a-click'))(document.querySelector('#kv tr[data-key="/browser"]'))`, 20*time.Second)
	step(t, ctx, "scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	screenshot(t, ctx, "live.png")

	// The other operations of the client panel, at 1/10x (so that each
	// stays in the client lanes' window while the test reads it).
	setSpeed(t, ctx, 100)
	op := func(name, key, value, prev string, member int, quorum bool) int {
		t.Helper()
		before := eval[int](t, ctx, `+document.body.dataset.ops - 1`)
		fields, _ := json.Marshal(map[string]string{"client-op": name, "client-key": key, "client-value": value, "client-prev": prev, "client-member": fmt.Sprint(member)})
		step(t, ctx, "fill the client panel for "+name, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(f => {
			for (const [id, v] of Object.entries(f)) document.getElementById(id).value = v;
			document.getElementById('client-op').dispatchEvent(new Event('change'));
			document.getElementById('client-quorum').checked = %v; })(%s)`, quorum, fields)))
		step(t, ctx, "send "+name, chromedp.Click(chromedp.CSS("#client-send")))
		waitLong(t, ctx, name+" requested", fmt.Sprintf(`[...document.querySelectorAll('#clients .op')].some(e => +e.dataset.op > %d)`, before), 20*time.Second)
		return before + 1
	}
	answer := func(n int) (string, string) {
		t.Helper()
		sel := fmt.Sprintf(`document.querySelector('#clients .op[data-op="%d"]')`, n)
		waitLong(t, ctx, fmt.Sprintf("operation %d answered", n), fmt.Sprintf(`(e => e && e.dataset.result !== '')(%s)`, sel), 30*time.Second)
		got := eval[[]string](t, ctx, fmt.Sprintf(`(e => [e.dataset.name, e.dataset.result, e.dataset.answer])(%s)`, sel))
		return got[1], got[2]
	}
	lead = eval[int](t, ctx, leaderOnRing)
	watch := op("watch", "/browser", "", "", follower, true)
	if r, a := answer(op("cas", "/browser", "v2", "written-by-a-click", lead, true)); r != "ok" {
		t.Errorf("CAS /browser from written-by-a-click to v2: %s %q", r, a)
	}
	if r, a := answer(watch); r != "ok" || a != "v2" {
		t.Errorf("the watch of /browser at S%d: %s %q, want ok \"v2\"", follower, r, a)
	}
	if r, a := answer(op("cas", "/browser", "v3", "not-the-value", lead, true)); r != "compare failed" {
		t.Errorf("CAS /browser from a wrong value: %s %q, want compare failed", r, a)
	}
	if r, a := answer(op("get", "/browser", "", "", follower, false)); r != "ok" {
		t.Errorf("local GET /browser at S%d: %s %q", follower, r, a)
	}
	if r, a := answer(op("delete", "/browser", "", "", lead, true)); r != "ok" {
		t.Errorf("DELETE /browser: %s %q", r, a)
	}
	if r, a := answer(op("get", "/browser", "", "", follower, true)); r != "not found" {
		t.Errorf("linearizable GET /browser at S%d after the delete: %s %q, want not found", follower, r, a)
	}

	// Cut a link by clicking it: the leader's link to the follower.
	step(t, ctx, "pause", chromedp.Click(chromedp.CSS("#play")))
	clickAt(t, ctx, "click a link", fmt.Sprintf(`#ring .hit[data-from="%d"][data-to="%d"]`, lead, follower))
	waitFor(t, ctx, "the link menu", `!document.getElementById('menu').hidden && document.querySelector('#menu button[data-kind="cut"]') !== null`)
	step(t, ctx, "cut both ways", chromedp.Click(chromedp.CSS(`#menu button[data-kind="cut"]:nth-of-type(2)`)))
	waitLong(t, ctx, "the cut drawn", fmt.Sprintf(`document.querySelectorAll('#ring .link.cut[data-from="%d"][data-to="%d"], #ring .link.cut[data-from="%d"][data-to="%d"]').length === 2`, lead, follower, follower, lead), 10*time.Second)
	step(t, ctx, "heal all", chromedp.Click(chromedp.CSS("#heal-all")))
	waitLong(t, ctx, "the cut healed", `document.querySelector('#ring .link.cut') === null`, 10*time.Second)
	step(t, ctx, "play", chromedp.Click(chromedp.CSS("#play")))

	// Hand the leadership to the follower from its menu.
	waitLong(t, ctx, "the follower up to date", fmt.Sprintf(`(m => m && m.dataset.role === 'follower')(document.querySelector('#ring .member[data-id="%d"]'))`, follower), 10*time.Second)
	step(t, ctx, "pause", chromedp.Click(chromedp.CSS("#play")))
	clickAt(t, ctx, "click the follower", fmt.Sprintf(`#ring .member[data-id="%d"] .body`, follower))
	waitFor(t, ctx, "the member menu", `!document.getElementById('menu').hidden && document.querySelector('#menu button[data-kind="transfer"]') !== null`)
	step(t, ctx, "transfer leadership to it", chromedp.Click(chromedp.CSS(`#menu button[data-kind="transfer"]`)))
	step(t, ctx, "play", chromedp.Click(chromedp.CSS("#play")))
	waitLong(t, ctx, "the follower leading", fmt.Sprintf(`%s === %d`, leaderOnRing, follower), 30*time.Second)

	// Porcupine's verdict on the history.
	step(t, ctx, "check", chromedp.Evaluate[chromedp.Void](`delete document.getElementById('result').dataset.kind`),
		chromedp.Click(chromedp.CSS("#check")))
	waitLong(t, ctx, "the verdict", `document.getElementById('result').dataset.kind === 'check'`, 30*time.Second)
	if v := eval[string](t, ctx, `document.getElementById('result').dataset.verdict`); v != "ok" {
		t.Errorf("Porcupine's verdict: %q (%s)", v, eval[string](t, ctx, `document.getElementById('result').textContent`))
	}

	// Export the session so far (every kind of input above) and replay it.
	exportAndReplay(t, ctx)

	// Time travel: back to before the crash, where the old leader leads;
	// fork from there and the crash never happened.
	step(t, ctx, "pause", chromedp.Click(chromedp.CSS("#play")))
	step(t, ctx, "jump back to your first action", chromedp.Evaluate[chromedp.Void](`(k => { k.value = 'input'; })(document.getElementById('kind'))`),
		chromedp.Click(chromedp.CSS("#start")), chromedp.Click(chromedp.CSS("#kind-next")))
	waitFor(t, ctx, "the past on screen", `document.getElementById('clock').textContent.includes('the past')`)
	step(t, ctx, "one event back", chromedp.Click(chromedp.CSS("#prev")))
	if got := eval[int](t, ctx, leaderOnRing); got != old {
		t.Errorf("before the crash the ring shows S%d leading, want S%d", got, old)
	}
	before := eval[int](t, ctx, `+document.body.dataset.events`)
	step(t, ctx, "fork", chromedp.Click(chromedp.CSS("#fork")))
	waitLong(t, ctx, "the fork", `document.getElementById('status').textContent.startsWith('forked at')`, 30*time.Second)
	if after := eval[int](t, ctx, `+document.body.dataset.events`); after >= before {
		t.Errorf("after the fork %d events, before it %d: the history after the moment was not dropped", after, before)
	}
	if got := eval[int](t, ctx, leaderOnRing); got != old {
		t.Errorf("after forking from before the crash S%d leads, want S%d", got, old)
	}

	// Export the session and replay it with raftkv-sim.
	step(t, ctx, "play", chromedp.Click(chromedp.CSS("#play")))
	if r, a := answer(op("put", "/after-the-fork", "1", "", follower, true)); r != "ok" {
		t.Errorf("a write in the new history: %s %q", r, a)
	}
	exportAndReplay(t, ctx)

	// At 100x: how fast the simulator goes in the page.
	setSpeed(t, ctx, 100000)
	fast := evalFor[float64](t, ctx, `new Promise(done => { const v0 = +document.body.dataset.liveMs, t0 = performance.now();
		setTimeout(() => done((+document.body.dataset.liveMs - v0) / (performance.now() - t0)), 3000); })`, 30*time.Second)
	t.Logf("asked for 100x: the live simulator ran at %.0fx real time", fast)
	if fast < 2 {
		t.Errorf("asked for 100x, the simulator ran at %.1fx", fast)
	}
}

// exportAndReplay exports the live session from the page and replays it.
func exportAndReplay(t *testing.T, ctx context.Context) {
	t.Helper()
	// (No result shown before: the export's is the one read below.)
	step(t, ctx, "export", chromedp.Evaluate[chromedp.Void](`delete document.getElementById('result').dataset.kind`),
		chromedp.Click(chromedp.CSS("#export")))
	waitLong(t, ctx, "the export", `document.getElementById('result').dataset.kind === 'export'`, 30*time.Second)
	command := eval[string](t, ctx, `document.getElementById('result-text').textContent`)
	trace := eval[string](t, ctx, `fetch(document.getElementById('result-link').href).then(r => r.text())`)
	step(t, ctx, "close the export", chromedp.Click(chromedp.CSS("#result-close")))
	checkReplay(t, command, trace)
}

// checkReplay runs the command the page shows for an exported session
// (raftkv-sim -replay FILE -trace OUT) on the exported trace and wants the
// replay's trace to be the same, byte for byte.
func checkReplay(t *testing.T, command, trace string) {
	t.Helper()
	args := strings.Fields(command)
	k := slices.Index(args, "-replay")
	if k < 0 || k+1 >= len(args) || !strings.Contains(command, "raftkv-sim") {
		t.Fatalf("the replay command %q does not say raftkv-sim -replay FILE", command)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, args[k+1])
	if err := os.WriteFile(in, []byte(trace), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "replayed.jsonl")
	cmd := exec.Command("go", "run", "../cmd/raftkv-sim", "-replay", in, "-trace", out)
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, res)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != trace {
		t.Fatalf("the replay of the exported session differs from it (%d bytes, exported %d)\n%s", len(got), len(trace), res)
	}
	t.Logf("exported session (%d bytes, %d lines) replayed byte for byte: %s", len(trace), strings.Count(trace, "\n"), strings.TrimSpace(string(res)))
}

// TestBrowserScenarios plays every guided scenario (static/live/scenarios.js)
// on the real engine, fast, pressing "continue" at each pause, and wants
// each to reach what it sets out to show (its expect).
func TestBrowserScenarios(t *testing.T) {
	ctx := newBrowser(t)
	srv := liveServer(t)
	node := browsertest.Node()
	browsertest.Need(t, node, "node", "apt-get install nodejs")
	out, err := exec.Command(node, "--input-type=module", "-e",
		`import('./static/live/scenarios.js').then(m => console.log(m.SCENARIOS.map(s => s.id).join(' ')))`).CombinedOutput()
	if err != nil {
		t.Fatalf("listing the scenarios: %v\n%s", err, out)
	}
	ids := strings.Fields(string(out))
	if len(ids) < 8 {
		t.Fatalf("%d scenarios: %q", len(ids), ids)
	}
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			step(t, ctx, "open", chromedp.Navigate(fmt.Sprintf("%s/?live=1&scenario=%s", srv.URL, id)))
			waitLong(t, ctx, "the scenario to start", `document.body.dataset.scenarioStep !== undefined && +(document.body.dataset.liveMs || 0) >= 0 && !document.getElementById('caption').hidden`, 60*time.Second)
			setSpeed(t, ctx, 10000)
			// Read on at every pause until the last step (or until step
			// stop, paused at its caption).
			readOn := func(stop int) string {
				return evalFor[string](t, ctx, fmt.Sprintf(`new Promise(done => {
				const t0 = performance.now();
				let k = 0;
				const go = () => {
					const r = document.body.dataset.scenarioResult;
					if (r !== undefined) return done(r);
					if (performance.now() - t0 > 60000) return done('timed out at step ' + document.body.dataset.scenarioStep + ': ' + document.getElementById('status').textContent);
					// Read on with "continue", or with play (half the time).
					const next = document.getElementById('caption-next');
					if (!next.hidden && +document.body.dataset.scenarioStep === %d) return done('stopped');
					if (!next.hidden) (k++ %% 2 ? document.getElementById('play') : next).click();
					setTimeout(go, 50);
				};
				go(); })`, stop), 90*time.Second)
			}
			got := ""
			if id == "figure8" {
				// The picture for the README: the simple view at the
				// caption that explains §5.4.2.
				if got = readOn(6); got == "stopped" {
					step(t, ctx, "simple view", chromedp.Click(chromedp.CSS("#layout")))
					screenshot(t, ctx, "live-scenario.png")
					step(t, ctx, "full view", chromedp.Click(chromedp.CSS("#layout")))
				}
			}
			if got == "" || got == "stopped" {
				got = readOn(0)
			}
			if got != "ok" {
				t.Errorf("scenario %s: %s (caption: %q)", id, got, eval[string](t, ctx, `document.getElementById('caption-text').textContent`))
			}
			if !strings.Contains(strings.ToLower(eval[string](t, ctx, `document.getElementById('caption-text').textContent`)), "try it yourself") {
				t.Errorf("scenario %s does not end with \"now try it yourself\"", id)
			}
		})
	}
}
