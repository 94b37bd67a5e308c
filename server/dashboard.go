package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/server/dashboard"
)

// The dashboard (/dashboard/) is the page of server/dashboard and one
// Server-Sent Events stream, /dashboard/events. Its snapshots are built by
// one loop per member process (dashboard.Feed), started when the first page
// subscribes and stopped when the last leaves: once a second it reads this
// member's own state and counters and asks every other member for
// /v2/stats/self and the leader for /v2/stats/leader over their client
// URLs, so a follower's page shows the leader's view and 10 open pages cost
// what one does.

// dashInterval is how often the feed builds a snapshot: at most one update a
// second per page.
const dashInterval = time.Second

// dashView is one update of the dashboard: plain data, rendered by the page.
type dashView struct {
	TimeMs int64 `json:"timeMs"`
	// Self is the id of the member serving the page; Leader the leader it
	// knows ("" if none).
	Self   string `json:"self"`
	Name   string `json:"name"`
	Leader string `json:"leader"`
	Term   uint64 `json:"term"`
	// HeartbeatMs and ElectionMs are this member's raft timeouts, which
	// the page's latency thresholds are made of.
	HeartbeatMs float64      `json:"heartbeatMs"`
	ElectionMs  float64      `json:"electionMs"`
	Members     []dashMember `json:"members"`
	// LeaderStats is the leader's /v2/stats/leader (nil when no leader is
	// known or it could not be reached; LeaderError says why).
	LeaderStats *LeaderStats `json:"leaderStats"`
	LeaderError string       `json:"leaderError,omitempty"`
	// The serving member's own counters.
	Local dashLocal `json:"local"`
}

// dashMember is one member as its own /v2/stats/self reports it.
type dashMember struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	ClientURLs []string `json:"clientURLs"`
	Learner    bool     `json:"learner"`
	// Reachable: its /v2/stats/self answered within the second; else
	// Error says what happened and the fields below are zero.
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	State     string `json:"state"`
	Leader    string `json:"leader"`
	Term      uint64 `json:"term"`
	Commit    uint64 `json:"commit"`
	Applied   uint64 `json:"applied"`
	// Behind is how many entries its applied index trails the leader's
	// commit index (as reported in the same round).
	Behind uint64 `json:"behind"`
}

// dashLocal is what the serving member counts itself.
type dashLocal struct {
	// WritesPerSec is log entries applied per second (the cluster's write
	// rate, as every member applies every entry); ReadsPerSec is GET
	// requests served by this member per second.
	WritesPerSec  float64 `json:"writesPerSec"`
	ReadsPerSec   float64 `json:"readsPerSec"`
	Pending       float64 `json:"pending"`
	LeaderChanges float64 `json:"leaderChanges"`
	// FsyncP50Ms and FsyncP99Ms are the WAL fsync latency quantiles over the
	// last 10 s (over the member's life when it synced nothing in them),
	// from the Prometheus histogram.
	FsyncP50Ms float64 `json:"fsyncP50Ms"`
	FsyncP99Ms float64 `json:"fsyncP99Ms"`
	FsyncCount uint64  `json:"fsyncCount"`
}

// registerDashboard adds /dashboard/, its event stream, and the redirects
// of / and /ui to it.
func (m *Member) registerDashboard(mux *http.ServeMux) {
	feed := dashboard.NewFeed(dashInterval, m.dashSnapshotter())
	files := http.StripPrefix("/dashboard/", http.FileServerFS(dashboard.Files()))
	mux.Handle("GET /dashboard/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /dashboard/events", func(w http.ResponseWriter, r *http.Request) {
		feed.ServeEvents(w, r, m.drainc)
	})
	toDashboard := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dashboard/", http.StatusFound)
	}
	mux.HandleFunc("GET /{$}", toDashboard)
	mux.HandleFunc("GET /ui", toDashboard)
	mux.HandleFunc("GET /ui/", toDashboard)
	mux.HandleFunc("GET /dashboard", toDashboard)
}

// dashSnapshotter returns the feed's snapshot function. Its state (the
// previous counters, for rates) is touched only by the feed's one loop.
func (m *Member) dashSnapshotter() func(ctx context.Context) any {
	// httpTransport dials with the side's current configuration, so a
	// rotated CA or certificate is used without a restart, as every
	// other TLS path of the member does.
	tr := &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	if m.clientTLS != nil {
		tr = m.clientTLS.httpTransport()
	}
	hc := &http.Client{Transport: tr}
	var (
		prevAt             time.Time
		prevApplied, prevR float64
		fsyncHist          [][]uint64 // cumulative bucket counts, one a tick, the last 10
	)
	return func(ctx context.Context) any {
		now := time.Now()
		v := m.dashView(ctx, hc)
		v.TimeMs = now.UnixMilli()

		applied := counterValue(m.metrics.applied)
		reads := 0.0
		if c, err := m.metrics.httpRequests.GetMetricWithLabelValues(http.MethodGet); err == nil {
			reads = counterValue(c)
		}
		if !prevAt.IsZero() {
			dt := now.Sub(prevAt).Seconds()
			v.Local.WritesPerSec = (applied - prevApplied) / dt
			v.Local.ReadsPerSec = (reads - prevR) / dt
		}
		prevAt, prevApplied, prevR = now, applied, reads
		v.Local.Pending = gaugeValue(m.metrics.pending)
		v.Local.LeaderChanges = counterValue(m.metrics.leaderChanges)

		var h dto.Metric
		if m.metrics.fsync.Write(&h) == nil && h.Histogram != nil {
			bounds, counts := histBuckets(h.Histogram)
			fsyncHist = append(fsyncHist, counts)
			if len(fsyncHist) > 11 {
				fsyncHist = fsyncHist[1:]
			}
			window := subCounts(counts, fsyncHist[0])
			if total(window) == 0 {
				window = counts
			}
			v.Local.FsyncCount = h.Histogram.GetSampleCount()
			v.Local.FsyncP50Ms = quantile(bounds, window, 0.5) * 1000
			v.Local.FsyncP99Ms = quantile(bounds, window, 0.99) * 1000
		}
		return v
	}
}

// dashView gathers the members' and the leader's stats for one update.
func (m *Member) dashView(ctx context.Context, hc *http.Client) *dashView {
	st := m.Status()
	v := &dashView{
		Self: IDString(m.id), Name: m.cfg.Name, Term: st.Term,
		HeartbeatMs: float64(m.cfg.HeartbeatInterval) / float64(time.Millisecond),
		ElectionMs:  float64(m.cfg.ElectionTimeout) / float64(time.Millisecond),
	}
	if st.Lead != raft.None {
		v.Leader = IDString(st.Lead)
	}
	members := m.memberList()
	v.Members = make([]dashMember, len(members))
	var wg sync.WaitGroup
	var leaderURL string
	for i, mi := range members {
		dm := &v.Members[i]
		dm.ID, dm.Name, dm.ClientURLs, dm.Learner = IDString(mi.ID), mi.Name, mi.ClientURLs, mi.Learner
		if mi.ID == st.Lead && len(mi.ClientURLs) > 0 {
			leaderURL = mi.ClientURLs[0]
		}
		if mi.ID == m.id {
			dm.fill(m.SelfStats())
			continue
		}
		if len(mi.ClientURLs) == 0 {
			dm.Error = "not published yet"
			continue
		}
		wg.Go(func() {
			var s SelfStats
			if err := getJSON(ctx, hc, mi.ClientURLs[0]+"/v2/stats/self", &s); err != nil {
				dm.Error = err.Error()
				return
			}
			dm.fill(s)
		})
	}
	switch {
	case st.Lead == raft.None:
		v.LeaderError = "no leader known"
	case st.Lead == m.id:
		if ls, ok := m.LeaderStats(); ok {
			v.LeaderStats = &ls
		} else {
			v.LeaderError = "no longer the leader"
		}
	case leaderURL == "":
		v.LeaderError = "the leader has not published its client URLs"
	default:
		wg.Go(func() {
			var ls LeaderStats
			if err := getJSON(ctx, hc, leaderURL+"/v2/stats/leader", &ls); err != nil {
				v.LeaderError = err.Error()
				return
			}
			v.LeaderStats = &ls
		})
	}
	wg.Wait()
	// How far behind: a member's applied index against the commit index
	// the leader reported in this round (the highest, should two members
	// briefly both say they lead).
	var leadCommit uint64
	for _, dm := range v.Members {
		if dm.Reachable && dm.State == "StateLeader" {
			leadCommit = max(leadCommit, dm.Commit)
		}
	}
	for i := range v.Members {
		if dm := &v.Members[i]; dm.Reachable && leadCommit > dm.Applied {
			dm.Behind = leadCommit - dm.Applied
		}
	}
	return v
}

func (dm *dashMember) fill(s SelfStats) {
	dm.Reachable = true
	dm.State, dm.Term, dm.Commit, dm.Applied = s.State, s.RaftTerm, s.RaftIndex, s.RaftApplied
	dm.Leader = s.LeaderInfo["leader"]
}

// getJSON fetches a JSON document from another member.
func getJSON(ctx context.Context, hc *http.Client, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no answer within %v", dashInterval)
		}
		return shortNetError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

// shortNetError keeps the end of a dial error ("connection refused"), which
// is what a person reading the page needs.
func shortNetError(err error) error {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "dial") {
		return fmt.Errorf("unreachable: %s", s[i+2:])
	}
	return err
}

type metricWriter interface{ Write(*dto.Metric) error }

func counterValue(c metricWriter) float64 {
	var d dto.Metric
	if c.Write(&d) != nil || d.Counter == nil {
		return 0
	}
	return d.Counter.GetValue()
}

func gaugeValue(g metricWriter) float64 {
	var d dto.Metric
	if g.Write(&d) != nil || d.Gauge == nil {
		return 0
	}
	return d.Gauge.GetValue()
}

// histBuckets returns a histogram's upper bounds and cumulative counts, the
// +Inf bucket last.
func histBuckets(h *dto.Histogram) (bounds []float64, counts []uint64) {
	for _, b := range h.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
		counts = append(counts, b.GetCumulativeCount())
	}
	return append(bounds, math.Inf(1)), append(counts, h.GetSampleCount())
}

func subCounts(a, b []uint64) []uint64 {
	out := make([]uint64, len(a))
	for i := range a {
		if i < len(b) && b[i] <= a[i] {
			out[i] = a[i] - b[i]
		} else {
			out[i] = a[i]
		}
	}
	return out
}

func total(cum []uint64) uint64 {
	if len(cum) == 0 {
		return 0
	}
	return cum[len(cum)-1]
}

// quantile estimates the q-quantile from cumulative bucket counts, as
// Prometheus's histogram_quantile does: linear within the bucket, the
// highest finite bound for the +Inf bucket.
func quantile(bounds []float64, cum []uint64, q float64) float64 {
	n := total(cum)
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	for i, c := range cum {
		if float64(c) < rank {
			continue
		}
		if math.IsInf(bounds[i], 1) {
			if i == 0 {
				return 0
			}
			return bounds[i-1]
		}
		lo, below := 0.0, uint64(0)
		if i > 0 {
			lo, below = bounds[i-1], cum[i-1]
		}
		in := c - below
		if in == 0 {
			return bounds[i]
		}
		return lo + (bounds[i]-lo)*(rank-float64(below))/float64(in)
	}
	return bounds[len(bounds)-2]
}

// dashboardServer is implemented by Member: a Backend that can serve the
// dashboard (test backends need not).
type dashboardServer interface {
	registerDashboard(mux *http.ServeMux)
}

// registerDashboard adds the dashboard when the backend is a member.
func (a *api) registerDashboard(mux *http.ServeMux) {
	if d, ok := a.b.(dashboardServer); ok {
		d.registerDashboard(mux)
	}
}
