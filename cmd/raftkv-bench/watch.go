package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The watch workload: cfg.Concurrency watchers watch one directory
// recursively (long-polling with waitIndex, or one stream each with
// --stream) while a single writer PUTs to cfg.Keys keys under it. Each value
// carries the write's sequence number and the moment it was sent, so a
// watcher computes the delivery latency of every event it gets: from the
// writer sending the PUT to the watcher decoding the event. Writer and
// watchers share one process and so one monotonic clock.

// watchDrain is how long watchers may take, after the last write was
// acknowledged, to deliver its event before the rest count as missed.
const watchDrain = 5 * time.Second

// watchRegister bounds the wait for every watcher's first registration.
const watchRegister = 10 * time.Second

// watchEvent is the part of a v2 event the workload reads.
type watchEvent struct {
	Action string `json:"action"`
	Node   struct {
		Key           string `json:"key"`
		Value         string `json:"value"`
		ModifiedIndex uint64 `json:"modifiedIndex"`
	} `json:"node"`
}

// watchValue is "<seq>.<sent ns since base>." padded with '-' to size bytes
// (longer if size is too small to hold the stamp).
func watchValue(seq uint64, sentNs int64, size int) string {
	s := strconv.FormatUint(seq, 10) + "." + strconv.FormatInt(sentNs, 10) + "."
	if len(s) < size {
		s += strings.Repeat("-", size-len(s))
	}
	return s
}

// parseWatchValue undoes watchValue; ok is false for a value this run did
// not write.
func parseWatchValue(v string) (seq uint64, sentNs int64, ok bool) {
	a, rest, found := strings.Cut(v, ".")
	if !found {
		return 0, 0, false
	}
	b, _, found := strings.Cut(rest, ".")
	if !found {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseUint(a, 10, 64)
	sentNs, err2 := strconv.ParseInt(b, 10, 64)
	return seq, sentNs, err1 == nil && err2 == nil
}

type watcher struct {
	hist      Histogram
	errs      map[string]uint64
	delivered uint64
	seen      atomic.Uint64 // highest modifiedIndex received
}

func runWatch(ctx context.Context, cfg Config, c *client, eps []string) (*Result, error) {
	base := time.Now()
	dir := cfg.Prefix + "/watch-" + runID()

	// Every watcher starts at the index after the current one, so no write
	// of this run can be missed even if a watcher's first poll is late.
	start, err := currentIndex(ctx, c.ops, keyURL(eps[0], dir))
	if err != nil {
		return nil, err
	}
	wctx, stopWatchers := context.WithCancel(ctx)
	defer stopWatchers()
	ws := startWatchers(wctx, cfg, c, eps, dir, start+1, base)
	if err := waitGroupTimeout(ctx, &ws.registered, watchRegister); err != nil {
		return nil, fmt.Errorf("watchers did not register: %w", err)
	}

	cpu0 := processCPU()
	t0 := time.Now()
	writes := writeWatched(ctx, cfg, c, eps[0], dir, base, t0.Add(cfg.Duration))
	ws.awaitIndex(ctx, writes.lastIndex, watchDrain)
	elapsed := time.Since(t0)
	stopWatchers()
	ws.wg.Wait()
	return ws.result(cfg, writes, elapsed, processCPU()-cpu0), nil
}

// watcherSet is the watchers of one run of the watch workload.
type watcherSet struct {
	watchers   []*watcher
	wg         sync.WaitGroup // the watchers' goroutines
	registered sync.WaitGroup // each watcher's first registration
}

// startWatchers starts cfg.Concurrency watchers of dir from index next,
// spread round-robin over eps; they watch until ctx ends.
func startWatchers(ctx context.Context, cfg Config, c *client, eps []string, dir string, next uint64, base time.Time) *watcherSet {
	ws := &watcherSet{watchers: make([]*watcher, cfg.Concurrency)}
	for i := range ws.watchers {
		w := &watcher{errs: map[string]uint64{}}
		ws.watchers[i] = w
		ws.registered.Add(1)
		u := keyURL(eps[i%len(eps)], dir)
		ws.wg.Go(func() { w.run(ctx, c.watch, u, next, cfg.Stream, base, ws.registered.Done) })
	}
	return ws
}

// watchWrites is what the watch workload's single writer did.
type watchWrites struct {
	n         uint64 // acknowledged writes
	lastIndex uint64 // the highest modifiedIndex among them
	lat       *Histogram
	errs      map[string]uint64
}

// writeWatched is the writer: it PUTs stamped values (see watchValue)
// round-robin to max(cfg.Keys, 1) keys under dir through endpoint ep, at
// cfg.WatchRatePerSec, until cfg.Total writes or the deadline (or ctx
// ends).
func writeWatched(ctx context.Context, cfg Config, c *client, ep, dir string, base, deadline time.Time) watchWrites {
	keys := max(cfg.Keys, 1)
	urls := make([]string, keys)
	for k := range urls {
		urls[k] = keyURL(ep, dir+"/k"+strconv.Itoa(k))
	}
	p := newPacer(cfg.WatchRatePerSec)
	w := watchWrites{lat: &Histogram{}, errs: map[string]uint64{}}
	for seq := uint64(0); ctx.Err() == nil; seq++ {
		if cfg.Total > 0 {
			if seq >= uint64(cfg.Total) {
				break
			}
		} else if !time.Now().Before(deadline) {
			break
		}
		p.wait(ctx)
		sent := time.Now()
		body := []byte("value=" + url.QueryEscape(watchValue(seq, sent.Sub(base).Nanoseconds(), cfg.ValueSize)))
		idx, class := putIndex(ctx, c.ops, urls[seq%uint64(keys)], body)
		if class != "" {
			if ctx.Err() == nil {
				w.errs["write: "+class]++
			}
			continue
		}
		w.lat.Record(time.Since(sent))
		w.n++
		w.lastIndex = max(w.lastIndex, idx)
	}
	return w
}

// awaitIndex waits until every watcher has seen index (the last write), for
// at most d, or until ctx ends.
func (ws *watcherSet) awaitIndex(ctx context.Context, index uint64, d time.Duration) {
	end := time.Now().Add(d)
	for ctx.Err() == nil && time.Now().Before(end) {
		done := true
		for _, w := range ws.watchers {
			if w.seen.Load() < index {
				done = false
				break
			}
		}
		if done {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// result merges the watchers' counts with the writer's into the run's
// Result; every acknowledged write should have reached every watcher, and
// the events that did not count as missed.
func (ws *watcherSet) result(cfg Config, writes watchWrites, elapsed, clientCPU time.Duration) *Result {
	r := &Result{
		Workload:    workloadWatch,
		Concurrency: cfg.Concurrency,
		LeaderOnly:  cfg.LeaderOnly,
		Elapsed:     elapsed,
		ClientCPU:   clientCPU,
		Lat:         &Histogram{},
		Errors:      writes.errs,
		Writes:      writes.n,
		WriteLat:    writes.lat,
	}
	for _, w := range ws.watchers {
		r.Ops += w.delivered
		r.Lat.Merge(&w.hist)
		for k, n := range w.errs {
			r.Errors["watch: "+k] += n
		}
	}
	if want := writes.n * uint64(len(ws.watchers)); want > r.Ops {
		r.Missed = want - r.Ops
	}
	return r
}

// run is one watcher's loop: poll (or stream) from index next, record each
// event of this run, move next past it, until ctx ends.
func (w *watcher) run(ctx context.Context, c *http.Client, dirURL string, next uint64, stream bool, base time.Time, registered func()) {
	var once sync.Once
	signal := func() { once.Do(registered) }
	defer signal() // a watcher that gave up must not hold the writer back
	for ctx.Err() == nil {
		u := dirURL + "?wait=true&recursive=true&waitIndex=" + strconv.FormatUint(next, 10)
		if stream {
			u += "&stream=true"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			w.errs["request: "+err.Error()]++
			return
		}
		resp, err := c.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				w.errs[classifyTransport(err)]++
				sleepCtx(ctx, 50*time.Millisecond)
			}
			continue
		}
		// A v2 server sends the headers when the watch is registered.
		signal()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
			w.errs[classifyStatus(resp.StatusCode, body)]++
			// Error 401: the history no longer holds next. Resume from now;
			// the events in between count as missed.
			var e v2Error
			if json.Unmarshal(body, &e) == nil && e.ErrorCode == 401 && e.Index >= next {
				next = e.Index + 1
			} else {
				sleepCtx(ctx, 50*time.Millisecond)
			}
			continue
		}
		dec := json.NewDecoder(resp.Body)
		for {
			var ev watchEvent
			if err := dec.Decode(&ev); err != nil {
				// EOF ends a long poll (or a stream the server closed);
				// anything else mid-body is a broken watch, unless we
				// cancelled it.
				if !errors.Is(err, io.EOF) && ctx.Err() == nil {
					w.errs["decode: "+classifyTransport(err)]++
				}
				break
			}
			now := time.Since(base).Nanoseconds()
			if _, sent, ok := parseWatchValue(ev.Node.Value); ok && ev.Action != "" {
				w.hist.Record(time.Duration(now - sent))
				w.delivered++
			}
			if ev.Node.ModifiedIndex >= next {
				next = ev.Node.ModifiedIndex + 1
				w.seen.Store(ev.Node.ModifiedIndex)
			}
			if !stream {
				break
			}
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// currentIndex returns X-Etcd-Index from a GET of u; v2 servers send it on
// errors too, so a directory that does not exist yet is fine.
func currentIndex(ctx context.Context, c *http.Client, u string) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	h := resp.Header.Get("X-Etcd-Index")
	idx, err := strconv.ParseUint(h, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("GET %s: no usable X-Etcd-Index header (%q, status %d)", u, h, resp.StatusCode)
	}
	return idx, nil
}

// putIndex PUTs body to u and returns the new node's modifiedIndex.
func putIndex(ctx context.Context, c *http.Client, u string, body []byte) (uint64, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return 0, "request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return 0, classifyTransport(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return 0, classifyTransport(err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return 0, classifyStatus(resp.StatusCode, b)
	}
	var ev watchEvent
	if err := json.Unmarshal(b, &ev); err != nil || ev.Node.ModifiedIndex == 0 {
		return 0, "bad write response (no node.modifiedIndex)"
	}
	return ev.Node.ModifiedIndex, ""
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func waitGroupTimeout(ctx context.Context, wg *sync.WaitGroup, d time.Duration) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("timed out after %v", d)
	case <-ctx.Done():
		return ctx.Err()
	}
}
