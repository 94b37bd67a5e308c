package visualizer

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
	path := browsertest.Chromium()
	browsertest.Need(t, path, "Chromium", "apt-get install chromium, or set RAFTKV_CHROMIUM")
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1440, 1000),
		chromedp.UserDataDir(t.TempDir()))
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser and must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
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
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
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
	want := tr.membersAfter(i)
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
		frames := eval[struct {
			N       int     `json:"n"`
			AvgMs   float64 `json:"avg"`
			WorstMs float64 `json:"worst"`
		}](t, ctx, `new Promise(done => {
			const ts = [];
			const tick = (t) => { ts.push(t); if (ts.length < 121) requestAnimationFrame(tick); else {
				const d = ts.slice(1).map((x, i) => x - ts[i]);
				done({ n: d.length, avg: d.reduce((a, b) => a + b, 0) / d.length, worst: Math.max(...d) }); } };
			requestAnimationFrame(tick); })`)
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
