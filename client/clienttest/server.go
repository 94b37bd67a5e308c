// Package clienttest provides an in-memory, single-member v2 API server
// for tests of programs that use package client, in the way net/http/httptest
// serves tests of HTTP clients: no cluster, no disk, no election.
//
// It answers the keys API (get, set, create, update, compare-and-swap,
// delete, compare-and-delete, in-order create, directories, one-shot and
// streaming watches with an event history and error 401), with the v2 JSON
// shapes, status codes and X-Etcd-Index / X-Raft-* headers, plus
// /v2/members, /v2/members/leader, /v2/stats/self, /version and /health.
//
// It is a test double, not raftkv: TTLs are recorded and shown but keys never
// expire, there is no auth, no quorum, and no hidden-key rules. Requests
// records what it was sent, for tests that check what a program asked.
package clienttest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MemberID is the hex ID of the server's one member.
const MemberID = "8e9e05c52164694d"

// Server is a running in-memory v2 server.
type Server struct {
	*httptest.Server
	// URL is the base URL, e.g. "http://127.0.0.1:41231".
	URL string

	mu       sync.Mutex
	nodes    map[string]*node // by cleaned path; "/" is the root directory
	index    uint64
	history  []*event // the newest historySize events, oldest first
	histSize int
	changed  chan struct{} // closed and replaced at every event
	requests []string
	watchers int           // watches waiting now
	wchanged chan struct{} // closed and replaced when watchers changes
}

type node struct {
	dir        bool
	value      string
	created    uint64
	modified   uint64
	ttl        int64
	expiration *time.Time
}

// event is a v2 response envelope; it is what watchers receive.
type event struct {
	Action   string    `json:"action"`
	Node     *wireNode `json:"node,omitempty"`
	PrevNode *wireNode `json:"prevNode,omitempty"`
	index    uint64
}

type wireNode struct {
	Key           string      `json:"key,omitempty"`
	Value         *string     `json:"value,omitempty"`
	Dir           bool        `json:"dir,omitempty"`
	Expiration    *time.Time  `json:"expiration,omitempty"`
	TTL           int64       `json:"ttl,omitempty"`
	Nodes         []*wireNode `json:"nodes,omitempty"`
	ModifiedIndex uint64      `json:"modifiedIndex,omitempty"`
	CreatedIndex  uint64      `json:"createdIndex,omitempty"`
}

type v2Error struct {
	Code    int    `json:"errorCode"`
	Message string `json:"message"`
	Cause   string `json:"cause,omitempty"`
	Index   uint64 `json:"index"`
}

var messages = map[int]string{
	100: "Key not found",
	101: "Compare failed",
	102: "Not a file",
	104: "Not a directory",
	105: "Key already exists",
	107: "Root is read only",
	108: "Directory not empty",
	201: "PrevValue is Required in POST form",
	202: "The given TTL in POST form is not a number",
	203: "The given index in POST form is not a number",
	209: "Invalid field",
	401: "The event in requested index is outdated and cleared",
}

func status(code int) int {
	switch code {
	case 100:
		return http.StatusNotFound
	case 101, 105:
		return http.StatusPreconditionFailed
	case 102, 108:
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// NewServer starts a server with an empty key space at index 0 and an event
// history of 1000 events. Close it when done.
func NewServer() *Server { return NewServerHistory(1000) }

// NewServerHistory is NewServer with an event history of n events, so tests
// can reach error 401 quickly.
func NewServerHistory(n int) *Server {
	s := &Server{
		nodes:    map[string]*node{"/": {dir: true}},
		histSize: n,
		changed:  make(chan struct{}),
		wchanged: make(chan struct{}),
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.Server.URL
	return s
}

// Index is the current store index.
func (s *Server) Index() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.index
}

// AwaitWatchers blocks until at least n watches are waiting for an event,
// or ctx is done: a test then knows a write will be seen live.
func (s *Server) AwaitWatchers(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		have, ch := s.watchers, s.wchanged
		s.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// addWatchers changes the count of waiting watches; s.mu is held.
func (s *Server) addWatchers(d int) {
	s.watchers += d
	close(s.wchanged)
	s.wchanged = make(chan struct{})
}

// Requests returns the requests served so far, one string each: method,
// path and the parameters (query and form, sorted), e.g.
// "PUT /v2/keys/foo prevExist=false&value=bar".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.writeErr(w, &v2Error{Code: 210, Message: "Invalid POST form", Cause: err.Error()})
		return
	}
	s.mu.Lock()
	line := r.Method + " " + r.URL.Path
	if enc := r.Form.Encode(); enc != "" {
		line += " " + enc
	}
	s.requests = append(s.requests, line)
	s.mu.Unlock()

	switch p := r.URL.Path; {
	case p == "/v2/keys" || strings.HasPrefix(p, "/v2/keys/"):
		s.keys(w, r, path.Clean("/"+strings.TrimPrefix(p, "/v2/keys")))
	case p == "/v2/members":
		writeJSON(w, http.StatusOK, map[string]any{"members": []any{s.member()}})
	case p == "/v2/members/leader":
		writeJSON(w, http.StatusOK, s.member())
	case p == "/v2/stats/self":
		writeJSON(w, http.StatusOK, map[string]any{
			"name": "default", "id": MemberID, "state": "StateLeader",
			"leaderInfo": map[string]any{"leader": MemberID, "uptime": "1s"},
		})
	case p == "/version":
		writeJSON(w, http.StatusOK, map[string]string{"etcdserver": "clienttest", "etcdcluster": "2.3.0"})
	case p == "/health":
		writeJSON(w, http.StatusOK, map[string]string{"health": "true"})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not found"})
	}
}

func (s *Server) member() map[string]any {
	return map[string]any{
		"id": MemberID, "name": "default",
		"peerURLs": []string{"http://localhost:2380"}, "clientURLs": []string{s.URL},
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) writeErr(w http.ResponseWriter, e *v2Error) {
	if e.Message == "" {
		e.Message = messages[e.Code]
	}
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(e.Index, 10))
	writeJSON(w, status(e.Code), e)
}

func (s *Server) writeEvent(w http.ResponseWriter, code int, ev *event, index uint64) {
	setIndexHeaders(w.Header(), index)
	w.Header().Set("X-Etcd-Cluster-Id", "cdf818194e3a8c32")
	writeJSON(w, code, ev)
}

// setIndexHeaders sets the store index and the made-up Raft index and term
// that every keys answer carries.
func setIndexHeaders(h http.Header, index uint64) {
	h.Set("X-Etcd-Index", strconv.FormatUint(index, 10))
	h.Set("X-Raft-Index", strconv.FormatUint(index+100, 10))
	h.Set("X-Raft-Term", "2")
}

func (s *Server) keys(w http.ResponseWriter, r *http.Request, p string) {
	boolParam := func(name string) (bool, bool) {
		v := r.Form.Get(name)
		if v == "" {
			return false, true
		}
		b, err := strconv.ParseBool(v)
		return b, err == nil
	}
	if r.Method == http.MethodGet {
		if wait, ok := boolParam("wait"); !ok {
			s.writeErr(w, &v2Error{Code: 209, Cause: "invalid value for wait"})
			return
		} else if wait {
			s.watch(w, r, p)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		ev   *event
		code = http.StatusOK
		err  *v2Error
	)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		recursive, _ := boolParam("recursive")
		ev, err = s.get(p, recursive)
	case http.MethodPut:
		ev, code, err = s.put(r, p)
	case http.MethodPost:
		ev, err = s.post(r, p)
		code = http.StatusCreated
	case http.MethodDelete:
		ev, err = s.delete(r, p)
	default:
		w.Header().Set("Allow", "HEAD,GET,PUT,POST,DELETE")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if err != nil {
		err.Index = s.index
		s.writeErr(w, err)
		return
	}
	s.writeEvent(w, code, ev, s.index)
}

func (s *Server) wire(p string, n *node, recursive, top bool) *wireNode {
	wn := &wireNode{Key: p, Dir: n.dir, CreatedIndex: n.created, ModifiedIndex: n.modified, TTL: n.ttl, Expiration: n.expiration}
	if p == "/" {
		wn.Key = ""
	}
	if !n.dir {
		v := n.value
		wn.Value = &v
		return wn
	}
	if top || recursive {
		for _, c := range s.children(p) {
			wn.Nodes = append(wn.Nodes, s.wire(c, s.nodes[c], recursive, false))
		}
	}
	return wn
}

func (s *Server) children(dir string) []string {
	var out []string
	for k := range s.nodes {
		if k != "/" && path.Dir(k) == dir {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) get(p string, recursive bool) (*event, *v2Error) {
	n, err := s.lookup(p)
	if err != nil {
		return nil, err
	}
	return &event{Action: "get", Node: s.wire(p, n, recursive, true)}, nil
}

func (s *Server) lookup(p string) (*node, *v2Error) {
	for q := p; q != "/"; q = path.Dir(q) {
		if _, ok := s.nodes[q]; !ok {
			return nil, &v2Error{Code: 100, Cause: p}
		}
	}
	return s.nodes[p], nil
}

// mkparents creates the missing directories above p.
func (s *Server) mkparents(p string) *v2Error {
	dir := path.Dir(p)
	if dir == "/" {
		return nil
	}
	if n, ok := s.nodes[dir]; ok {
		if !n.dir {
			return &v2Error{Code: 104, Cause: dir}
		}
		return nil
	}
	if err := s.mkparents(dir); err != nil {
		return err
	}
	s.nodes[dir] = &node{dir: true, created: s.index + 1, modified: s.index + 1}
	return nil
}

func (s *Server) ttl(r *http.Request, n *node) *v2Error {
	v := r.Form.Get("ttl")
	n.ttl, n.expiration = 0, nil
	if v == "" {
		return nil
	}
	t, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return &v2Error{Code: 202}
	}
	exp := time.Now().Add(time.Duration(t) * time.Second).UTC()
	n.ttl, n.expiration = int64(t), &exp
	return nil
}

func (s *Server) put(r *http.Request, p string) (*event, int, *v2Error) {
	if p == "/" {
		return nil, 0, &v2Error{Code: 107, Cause: "/"}
	}
	f := r.Form
	dir, _ := strconv.ParseBool(f.Get("dir"))
	prevValue, hasPV := f.Get("prevValue"), f.Has("prevValue")
	var prevIndex uint64
	if v := f.Get("prevIndex"); v != "" {
		var err error
		if prevIndex, err = strconv.ParseUint(v, 10, 64); err != nil {
			return nil, 0, &v2Error{Code: 203}
		}
	}
	if hasPV && prevValue == "" {
		return nil, 0, &v2Error{Code: 201}
	}
	old, _ := s.lookup(p)
	nn := &node{dir: dir, created: s.index + 1, modified: s.index + 1}
	if !dir {
		nn.value = f.Get("value")
	}
	if err := s.ttl(r, nn); err != nil {
		return nil, 0, err
	}
	action := "set"
	switch pe := f.Get("prevExist"); {
	case pe == "false":
		if old != nil {
			return nil, 0, &v2Error{Code: 105, Cause: p}
		}
		action = "create"
	case hasPV || prevIndex != 0:
		if old == nil {
			return nil, 0, &v2Error{Code: 100, Cause: p}
		}
		if old.dir {
			return nil, 0, &v2Error{Code: 102, Cause: p}
		}
		if cause := compare(old, prevValue, prevIndex); cause != "" {
			return nil, 0, &v2Error{Code: 101, Cause: cause}
		}
		nn.created = old.created
		action = "compareAndSwap"
	case pe == "true":
		if old == nil {
			return nil, 0, &v2Error{Code: 100, Cause: p}
		}
		if old.dir && nn.value != "" {
			return nil, 0, &v2Error{Code: 102, Cause: p}
		}
		nn.created, nn.dir = old.created, old.dir
		action = "update"
	default:
		if old != nil && old.dir {
			return nil, 0, &v2Error{Code: 102, Cause: p}
		}
	}
	if err := s.mkparents(p); err != nil {
		return nil, 0, err
	}
	code := http.StatusOK
	if old == nil {
		code = http.StatusCreated
	}
	ev := &event{Action: action}
	if old != nil {
		ev.PrevNode = s.wire(p, old, false, false)
	}
	s.nodes[p] = nn
	ev.Node = s.wire(p, nn, false, false)
	s.publish(ev)
	return ev, code, nil
}

func compare(n *node, prevValue string, prevIndex uint64) string {
	var why []string
	if prevValue != "" && n.value != prevValue {
		why = append(why, fmt.Sprintf("%s != %s", prevValue, n.value))
	}
	if prevIndex != 0 && n.modified != prevIndex {
		why = append(why, fmt.Sprintf("%d != %d", prevIndex, n.modified))
	}
	if len(why) == 0 {
		return ""
	}
	return "[" + strings.Join(why, "] [") + "]"
}

func (s *Server) post(r *http.Request, dir string) (*event, *v2Error) {
	if d, ok := s.nodes[dir]; ok && !d.dir {
		return nil, &v2Error{Code: 104, Cause: dir}
	}
	p := path.Join(dir, fmt.Sprintf("%020d", s.index+1))
	isDir, _ := strconv.ParseBool(r.Form.Get("dir"))
	nn := &node{dir: isDir, value: r.Form.Get("value"), created: s.index + 1, modified: s.index + 1}
	if isDir {
		nn.value = ""
	}
	if err := s.ttl(r, nn); err != nil {
		return nil, err
	}
	if err := s.mkparents(p); err != nil {
		return nil, err
	}
	s.nodes[p] = nn
	ev := &event{Action: "create", Node: s.wire(p, nn, false, false)}
	s.publish(ev)
	return ev, nil
}

func (s *Server) delete(r *http.Request, p string) (*event, *v2Error) {
	if p == "/" {
		return nil, &v2Error{Code: 107, Cause: "/"}
	}
	f := r.Form
	n, err := s.lookup(p)
	if err != nil {
		return nil, err
	}
	dir, _ := strconv.ParseBool(f.Get("dir"))
	recursive, _ := strconv.ParseBool(f.Get("recursive"))
	prevValue := f.Get("prevValue")
	prevIndex, _ := strconv.ParseUint(f.Get("prevIndex"), 10, 64)
	action := "delete"
	if prevValue != "" || prevIndex != 0 {
		if n.dir {
			return nil, &v2Error{Code: 102, Cause: p}
		}
		if cause := compare(n, prevValue, prevIndex); cause != "" {
			return nil, &v2Error{Code: 101, Cause: cause}
		}
		action = "compareAndDelete"
	}
	if n.dir {
		if !dir && !recursive {
			return nil, &v2Error{Code: 102, Cause: p}
		}
		if len(s.children(p)) > 0 && !recursive {
			return nil, &v2Error{Code: 108, Cause: p}
		}
	}
	ev := &event{Action: action, PrevNode: s.wire(p, n, false, false)}
	for k := range s.nodes {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(s.nodes, k)
		}
	}
	ev.Node = &wireNode{Key: p, Dir: n.dir, CreatedIndex: n.created, ModifiedIndex: s.index + 1}
	s.publish(ev)
	return ev, nil
}

// publish gives ev the next index, keeps it in the history and wakes the
// watchers.
func (s *Server) publish(ev *event) {
	s.index++
	ev.index = s.index
	s.history = append(s.history, ev)
	if len(s.history) > s.histSize {
		s.history = s.history[len(s.history)-s.histSize:]
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

func matches(watched string, recursive bool, ev *event) bool {
	k := ev.Node.Key
	if k == watched || (recursive && (watched == "/" || strings.HasPrefix(k, watched+"/"))) {
		return true
	}
	deleted := ev.Action == "delete" || ev.Action == "compareAndDelete" || ev.Action == "expire"
	return deleted && ev.Node.Dir && strings.HasPrefix(watched, k+"/")
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request, p string) {
	recursive, _ := strconv.ParseBool(r.Form.Get("recursive"))
	stream, _ := strconv.ParseBool(r.Form.Get("stream"))
	s.mu.Lock()
	from := s.index + 1
	if v := r.Form.Get("waitIndex"); v != "" {
		var err error
		if from, err = strconv.ParseUint(v, 10, 64); err != nil {
			s.mu.Unlock()
			s.writeErr(w, &v2Error{Code: 203})
			return
		}
		if from == 0 {
			from = s.index + 1
		}
	}
	oldest := s.index + 1
	if len(s.history) > 0 {
		oldest = s.history[0].index
	}
	if from < oldest {
		idx := s.index
		s.mu.Unlock()
		s.writeErr(w, &v2Error{Code: 401, Cause: fmt.Sprintf("the requested history has been cleared [%d/%d]", oldest, from), Index: idx})
		return
	}
	setIndexHeaders(w.Header(), s.index)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for {
		var found *event
		for _, ev := range s.history {
			if ev.index >= from && matches(p, recursive, ev) {
				found = ev
				break
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if found != nil {
			b, _ := json.Marshal(found)
			_, _ = w.Write(append(b, '\n'))
			w.(http.Flusher).Flush()
			if !stream {
				return
			}
			from = found.index + 1
			s.mu.Lock()
			continue
		}
		s.mu.Lock()
		s.addWatchers(1)
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-changed:
		}
		s.mu.Lock()
		s.addWatchers(-1)
		if r.Context().Err() != nil {
			s.mu.Unlock()
			return
		}
	}
}
