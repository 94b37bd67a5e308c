package server

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
)

// askRemoved asks the other members whether this one was removed.
func (m *Member) askRemoved() bool {
	for id, urls := range m.bootPeersAndRecords() {
		if id == m.id {
			continue
		}
		for _, u := range urls {
			pm, err := m.getPeerMembers(u)
			if err != nil {
				continue
			}
			return slices.Contains(pm.Removed, IDString(m.id))
		}
	}
	return false
}

// bootPeersAndRecords maps every member this member knows of, from the
// bootstrap map or the records, to its peer URLs.
func (m *Member) bootPeersAndRecords() map[uint64][]string {
	out := map[uint64][]string{}
	for id := range m.bootPeers {
		out[id] = m.peerURLs(id)
	}
	for id := range *m.members.Load() {
		out[id] = m.peerURLs(id)
	}
	return out
}

// stopRemoved records ErrRemoved and stops the member in the background
// (Stop waits for the goroutines that call this).
func (m *Member) stopRemoved(msg string) {
	m.fatal.CompareAndSwap(nil, &ErrRemoved)
	m.log.Warn(msg)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
	}()
}

// ErrRemoved is the cause of a member's stop when the cluster removed it.
var ErrRemoved = errors.New("server: this member was removed from the cluster")

// wasRemoved reports whether the member belonged to the old membership but
// not to the new one.
func (m *Member) wasRemoved(old, v *view) bool {
	in := func(v *view) bool { return slices.Contains(v.voters, m.id) || slices.Contains(v.learners, m.id) }
	return in(old) && !in(v)
}

// syncPeers makes the transport's peer set the current membership, with
// addresses from the member records (or the bootstrap map).
func (m *Member) syncPeers() {
	records := readMembers(m.node.Store())
	m.members.Store(&records)
	v := m.view.Load()
	want := map[uint64]string{}
	for _, id := range append(slices.Clone(v.voters), v.learners...) {
		if id == m.id {
			continue
		}
		urls := m.peerURLs(id)
		if len(urls) == 0 {
			m.log.Warn("no peer URL known for member", "id", IDString(id))
			continue
		}
		u, err := url.Parse(urls[0])
		if err != nil {
			continue
		}
		want[id] = u.Host
	}
	have := map[uint64]string{}
	for _, ps := range m.tr.Stats().Peers {
		have[ps.ID] = ps.Addr
	}
	for id, addr := range want {
		switch old, ok := have[id]; {
		case !ok:
			if err := m.tr.AddPeer(id, addr); err != nil {
				m.log.Warn("adding peer", "id", IDString(id), "err", err)
			} else if m.faults != nil {
				_ = m.faults.attach(m.tr, id)
			}
		case old != addr:
			if err := m.tr.UpdatePeer(id, addr); err != nil {
				m.log.Warn("updating peer", "id", IDString(id), "err", err)
			}
		}
	}
	for id := range have {
		if _, ok := want[id]; !ok {
			_ = m.tr.RemovePeer(id)
		}
	}
}

// watchMembers is the one goroutine that syncs the transport's peers: when
// the member records in the store change, and when the loop signals a
// membership change (resync).
func (m *Member) watchMembers() {
	defer m.bg.Done()
	for {
		w, err := m.node.Store().Watch(membersDir, true, true, 0)
		if err != nil {
			m.log.Warn("watching member records", "err", err)
			return
		}
		m.syncPeers()
	events:
		for {
			select {
			case _, ok := <-w.Events():
				if !ok {
					break events
				}
				m.syncPeers()
			case <-m.resync:
				m.syncPeers()
			case <-m.stopc:
				w.Remove()
				return
			}
		}
	}
}

// housekeeping publishes this member's name and client URLs, and, on the
// leader, records the peer URLs of bootstrap members that have no record
// yet, so /v2/members is complete on every member.
func (m *Member) housekeeping() {
	defer m.bg.Done()
	t := time.NewTicker(m.cfg.HeartbeatInterval * 5)
	defer t.Stop()
	published := false
	leaderless := 0 // ticks of t without a leader
	var triedTerm uint64
	for {
		// Until published, a leader's arrival is acted on at once, not at
		// the next tick: the client listeners wait for the publish (serve).
		// One attempt per term without waiting; then the ticker paces.
		v, changed := m.waitChange()
		tick := false
		if published || v.lead == raft.None || v.term == triedTerm {
			if published {
				changed = nil
			}
			select {
			case <-m.stopc:
				return
			case <-t.C:
				tick = true
			case <-changed:
			}
		}
		v = m.view.Load()
		if v.lead == raft.None {
			if !tick {
				continue
			}
			leaderless++
			// A member cut off for several election timeouts asks its peers
			// whether it was removed (it cannot learn that from the log).
			if time.Duration(leaderless)*5*m.cfg.HeartbeatInterval >= 2*m.cfg.ElectionTimeout {
				leaderless = 0
				if m.askRemoved() {
					m.stopRemoved("the cluster removed this member; stopping")
					return
				}
			}
			continue
		}
		leaderless = 0
		records := *m.members.Load()
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.RequestTimeout)
		wasPublished := published
		if !published {
			triedTerm = v.term
			published = m.publishAttributes(ctx, records)
		}
		if v.lead == m.id {
			m.recordBootPeers(ctx, v, records)
		}
		cancel()
		if published && !wasPublished {
			close(m.publishedc)
		}
	}
}

// publishAttributes records this member's name and client URLs in the
// cluster, unless the records already hold them; it reports whether they
// are there now.
func (m *Member) publishAttributes(ctx context.Context, records map[uint64]*MemberInfo) bool {
	want := attributes{Name: m.cfg.Name, ClientURLs: m.cfg.AdvertiseClientURLs}
	if r := records[m.id]; r != nil && r.Name == want.Name && slices.Equal(r.ClientURLs, want.ClientURLs) {
		return true
	}
	if proposeCmd(ctx, m, putJSON(attrKey(m.id), want)) != nil {
		return false
	}
	m.log.Info("published member attributes", "name", want.Name, "client-urls", want.ClientURLs)
	return true
}

// recordBootPeers records, on the leader, the peer URLs of bootstrap voters
// that have no record yet, so /v2/members is complete on every member.
func (m *Member) recordBootPeers(ctx context.Context, v *view, records map[uint64]*MemberInfo) {
	for _, id := range v.voters {
		if r := records[id]; (r == nil || len(r.PeerURLs) == 0) && len(m.bootPeers[id]) > 0 {
			cmd := putJSON(raftAttrKey(id), raftAttributes{PeerURLs: m.bootPeers[id]})
			cmd.PrevExist = kv.Bool(false)
			_ = proposeCmd(ctx, m, cmd)
		}
	}
}
