package server

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
)

// The peer port carries two protocols. A connection that opens with the
// rpc stream magic ("RKVP") is a raft stream and goes to the transport;
// anything else is HTTP, served by the member: a joining member asks
// for the membership, and followers forward proposals to the leader.
const (
	peerPathMembers = "/raftkv/members"
	peerPathPropose = "/raftkv/propose"
	rpcMagic        = "RKVP"
)

// peerListener splits one listener into the transport's and HTTP's.
type peerListener struct {
	ln        net.Listener
	rpc, http *chanListener
	once      sync.Once
}

func newPeerListener(ln net.Listener) *peerListener {
	p := &peerListener{ln: ln, rpc: newChanListener(ln.Addr()), http: newChanListener(ln.Addr())}
	go p.accept()
	return p
}

func (p *peerListener) rpcListener() net.Listener  { return p.rpc }
func (p *peerListener) httpListener() net.Listener { return p.http }

func (p *peerListener) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			p.Close()
			return
		}
		go p.route(c)
	}
}

// route reads the first bytes of a connection to decide where it goes.
func (p *peerListener) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	head, err := br.Peek(len(rpcMagic))
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return
	}
	conn := &peekedConn{Conn: c, r: br}
	if string(head) == rpcMagic {
		p.rpc.put(conn)
	} else {
		p.http.put(conn)
	}
}

func (p *peerListener) Close() {
	p.once.Do(func() {
		p.ln.Close()
		p.rpc.Close()
		p.http.Close()
	})
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// chanListener is a net.Listener fed by another goroutine.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) put(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// peerMembers is the answer to GET /raftkv/members on the peer port.
type peerMembers struct {
	ClusterID string       `json:"clusterID"`
	Members   []MemberInfo `json:"members"`
	// Removed lists the ids of members removed from the cluster, so that a
	// removed member, which never hears of its own removal through the log
	// once the others stop talking to it, can learn it by asking.
	Removed []string `json:"removed,omitempty"`
}

// forwardResult is the leader's answer to a forwarded proposal.
type forwardResult struct {
	Event *kv.Event `msgpack:"e,omitempty"`
	Err   *kv.Error `msgpack:"k,omitempty"`
	// Lost is set when the proposal certainly did not take effect.
	Lost bool `msgpack:"l,omitempty"`
	// Index and Term need a tag each: one tag on both encodes two "i"
	// keys and decodes the index into Term, so the follower never waited
	// to apply the write it answered.
	Index        uint64 `msgpack:"i,omitempty"`
	Term         uint64 `msgpack:"t,omitempty"`
	OtherFailure string `msgpack:"o,omitempty"`
}

var (
	errForwardNotLeader = errors.New("server: the member forwarded to no longer leads")
	errLeaderChanged    = errors.New("server: the leader changed while the request was in flight (the outcome is unknown: it may still be applied)")
)

func (m *Member) peerHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+peerPathMembers, func(w http.ResponseWriter, r *http.Request) {
		// Linearizable, like GET /v2/members: a member that joins right
		// after its addition was committed may ask a follower that has
		// not applied the addition yet, and would be told it is unknown.
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := m.readIndex(ctx); err != nil {
			http.Error(w, "cannot confirm the membership with a quorum: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, http.StatusOK, peerMembers{ClusterID: IDString(m.clusterID), Members: m.memberList(),
			Removed: removedIDs(m.node.Store())})
	})
	mux.HandleFunc("POST "+peerPathPropose, m.servePropose)
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, versionBody())
	})
	return mux
}

// servePropose runs a proposal forwarded by a follower. A leader that
// cannot propose (it lost leadership) answers 409 so the follower retries
// elsewhere; any other failure is 500 with the cause.
func (m *Member) servePropose(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Raftkv-Cluster-Id") != IDString(m.clusterID) {
		http.Error(w, "cluster id mismatch", http.StatusPreconditionFailed)
		return
	}
	var p proposal
	if err := msgpack.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), m.cfg.RequestTimeout)
	defer cancel()
	res, err := m.proposeLocal(ctx, p)
	var nle *raft.NotLeaderError
	if errors.As(err, &nle) || errors.Is(err, raft.ErrProposalDropped) {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	out := forwardResult{Index: res.Index, Term: res.Term}
	switch {
	case err != nil:
		out.OtherFailure = err.Error()
	case errors.Is(res.Err, ErrProposalLost):
		out.Lost = true
	case res.Err != nil:
		var ke *kv.Error
		if errors.As(res.Err, &ke) {
			out.Err = ke
		} else {
			out.OtherFailure = res.Err.Error()
		}
	default:
		out.Event = res.Event
	}
	b, err := msgpack.Marshal(&out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/msgpack")
	_, _ = w.Write(b)
}

// forward sends a proposal to the leader's peer port and returns its
// result as if proposed here.
func (m *Member) forward(ctx context.Context, lead uint64, p proposal) (Result, error) {
	urls := m.peerURLs(lead)
	if len(urls) == 0 {
		return Result{}, fmt.Errorf("server: no peer URL known for leader %s", IDString(lead))
	}
	body, err := msgpack.Marshal(&p)
	if err != nil {
		return Result{}, err
	}
	// A leader that is replaced while the request is in flight (paused, cut
	// off) may never answer: stop waiting when this member sees another
	// leader. The outcome is then unknown.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		for {
			v, ch := m.waitChange()
			if v.lead != lead {
				cancel(errLeaderChanged)
				return
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return
			}
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, urls[0]+peerPathPropose, bytes.NewReader(body))
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("X-Raftkv-Cluster-Id", IDString(m.clusterID))
	req.Header.Set("Content-Type", "application/msgpack")
	resp, err := m.httpc.Do(req)
	if err != nil {
		if errors.Is(context.Cause(ctx), errLeaderChanged) {
			return Result{}, errLeaderChanged
		}
		if ctx.Err() != nil {
			return Result{}, errTimeout
		}
		// The request may have reached the leader: the outcome is unknown.
		return Result{}, fmt.Errorf("server: forwarding to leader %s: %v", IDString(lead), err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict:
		return Result{}, errForwardNotLeader
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Result{}, fmt.Errorf("server: leader %s answered %s: %s", IDString(lead), resp.Status, bytes.TrimSpace(b))
	}
	var out forwardResult
	if err := msgpack.NewDecoder(resp.Body).Decode(&out); err != nil {
		return Result{}, fmt.Errorf("server: reading the leader's answer: %v", err)
	}
	res := Result{Index: out.Index, Term: out.Term, Event: out.Event}
	switch {
	case out.OtherFailure != "":
		return Result{}, errors.New(out.OtherFailure)
	case out.Lost:
		res.Err = ErrProposalLost
	case out.Err != nil:
		res.Err = out.Err
	}
	return res, nil
}

// peerURLs returns the peer URLs of member id.
func (m *Member) peerURLs(id uint64) []string {
	if r := (*m.members.Load())[id]; r != nil && len(r.PeerURLs) > 0 {
		return r.PeerURLs
	}
	return m.bootPeers[id]
}

// memberList is the membership: every voter and learner, with what the
// records say about it, sorted by id.
func (m *Member) memberList() []MemberInfo {
	v := m.view.Load()
	records := *m.members.Load()
	var out []MemberInfo
	add := func(id uint64, learner bool) {
		mi := MemberInfo{ID: id, PeerURLs: []string{}, ClientURLs: []string{}, Learner: learner}
		if r := records[id]; r != nil {
			mi.Name, mi.PeerURLs, mi.ClientURLs = r.Name, r.PeerURLs, r.ClientURLs
		}
		if urls := m.peerURLs(id); len(urls) > 0 {
			mi.PeerURLs = urls
		}
		if id == m.id {
			mi.Name, mi.ClientURLs = m.cfg.Name, m.cfg.AdvertiseClientURLs
		}
		out = append(out, mi)
	}
	for _, id := range v.voters {
		add(id, false)
	}
	for _, id := range v.learners {
		add(id, true)
	}
	slices.SortFunc(out, func(a, b MemberInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
