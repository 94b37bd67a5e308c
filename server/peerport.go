package server

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// The peer port carries two protocols. A connection that opens with the
// rpc stream magic ("RKVP") is a raft stream and goes to the transport;
// anything else is HTTP, served by the member: a joining member asks
// for the membership there. (Followers forward proposals to the leader
// over the transport: see forward.go.) With peer TLS the handshake comes
// first, on the connection's own goroutine with a deadline; a refused
// handshake (another CA, no certificate, plaintext) is logged with the
// remote address and counted, and the magic is then read from the
// decrypted stream.
const (
	peerPathMembers = "/raftkv/members"
	rpcMagic        = "RKVP"
)

// peerListener splits one listener into the transport's and HTTP's.
type peerListener struct {
	ln        net.Listener
	rpc, http *chanListener
	once      sync.Once
	// tls, if set, is the peer side's TLS: every connection must complete
	// a handshake with tlsCfg first.
	tls    *tlsSide
	tlsCfg *tls.Config
}

func newPeerListener(ln net.Listener, side *tlsSide) *peerListener {
	p := &peerListener{ln: ln, rpc: newChanListener(ln.Addr()), http: newChanListener(ln.Addr()), tls: side}
	if side != nil {
		p.tlsCfg = side.serverConfig()
	}
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
	if p.tls != nil {
		tc, err := serverHandshake(c, p.tlsCfg, peerHandshakeTimeout)
		if err != nil {
			p.tls.refused(p.ln.Addr().String(), c.RemoteAddr(), err)
			c.Close()
			return
		}
		c = tc
	}
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

// put hands c to Accept, or closes it once the listener is closed.
func (l *chanListener) put(c net.Conn) {
	if !l.offer(c) {
		c.Close()
	}
}

// offer hands c to Accept; false, leaving c to the caller, once the
// listener is closed.
func (l *chanListener) offer(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
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
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, versionBody())
	})
	return mux
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
	// From the store, not m.members (which watchMembers refreshes a
	// moment after an apply): a list read after a ReadIndex then holds
	// every record applied by then, such as a member's just-published
	// client URLs.
	records := readMembers(m.node.Store())
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
