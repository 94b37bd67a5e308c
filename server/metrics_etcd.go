package server

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/raftkv/raftkv/rpc"
)

// etcdNamed lists the raftkv metrics that are also served under etcd's
// name (raftkv_ becomes etcd_), for etcd's Grafana dashboard and alert
// rules (etcd's contrib/mixin: etcdNoLeader, etcdHighNumberOfLeaderChanges,
// etcdHighNumberOfFailedProposals, etcdHighFsyncDurations; the dashboard's
// proposal, fsync, round-trip and request panels). Only metrics raftkv
// fills with the same meaning are here: the bbolt backend, gRPC and MVCC
// ones have no counterpart. The peer traffic ones are in peerTraffic.
func (m *metrics) etcdNamed() []etcdRename {
	return []etcdRename{
		{m.hasLeader, "raftkv_server_has_leader", nil},
		{m.isLeader, "raftkv_server_is_leader", nil},
		{m.leaderChanges, "raftkv_server_leader_changes_seen_total", nil},
		{m.committed, "raftkv_server_proposals_committed_total", nil},
		{m.applied, "raftkv_server_proposals_applied_total", nil},
		{m.pending, "raftkv_server_proposals_pending", nil},
		{m.proposalsFailed, "raftkv_server_proposals_failed_total", nil},
		{m.fsync, "raftkv_disk_wal_fsync_duration_seconds", nil},
		{m.peerRTT, "raftkv_network_peer_round_trip_time_seconds", []string{"To"}},
		{m.httpRequests, "raftkv_http_received_total", []string{"method"}},
	}
}

// etcdRename is one collector of ours (named name) served under etcd's
// name too.
type etcdRename struct {
	from   prometheus.Collector
	name   string
	labels []string // the variable labels of from, in its order
}

// etcdNames serves collectors under etcd's names: at each scrape it reads
// them and re-exports their values as constant metrics. Nothing is
// counted twice on the hot path; a scrape does the copying.
type etcdNames struct {
	renames []etcdRename
	descs   []*prometheus.Desc
}

func newEtcdNames(renames []etcdRename) *etcdNames {
	e := &etcdNames{renames: renames}
	for _, r := range renames {
		e.descs = append(e.descs, prometheus.NewDesc("etcd_"+strings.TrimPrefix(r.name, "raftkv_"),
			"etcd's name for "+r.name+": the same values.", r.labels, nil))
	}
	return e
}

func (e *etcdNames) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range e.descs {
		ch <- d
	}
}

func (e *etcdNames) Collect(ch chan<- prometheus.Metric) {
	for i, r := range e.renames {
		mc := make(chan prometheus.Metric, 16)
		go func() {
			r.from.Collect(mc)
			close(mc)
		}()
		for pm := range mc {
			if m := reexport(e.descs[i], r.labels, pm); m != nil {
				ch <- m
			}
		}
	}
}

// reexport copies pm's value into a constant metric of desc.
func reexport(desc *prometheus.Desc, labels []string, pm prometheus.Metric) prometheus.Metric {
	var d dto.Metric
	if pm.Write(&d) != nil {
		return nil
	}
	values := make([]string, len(labels))
	for i, l := range labels {
		for _, lp := range d.GetLabel() {
			if lp.GetName() == l {
				values[i] = lp.GetValue()
			}
		}
	}
	var m prometheus.Metric
	var err error
	switch {
	case d.Gauge != nil:
		m, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, d.Gauge.GetValue(), values...)
	case d.Counter != nil:
		m, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, d.Counter.GetValue(), values...)
	case d.Histogram != nil:
		h := d.Histogram
		buckets := make(map[float64]uint64, len(h.GetBucket()))
		for _, b := range h.GetBucket() {
			buckets[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		m, err = prometheus.NewConstHistogram(desc, h.GetSampleCount(), h.GetSampleSum(), buckets, values...)
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	return m
}

// peerTraffic serves the transport's per-peer byte and failure counters
// (rpc.PeerStats) at scrape time, under raftkv's names and etcd's. A peer
// removed and added again starts from zero, as a restarted etcd does.
type peerTraffic struct {
	peers                                func() []rpc.PeerStats
	sent, received, failures             *prometheus.Desc
	sentMsgs, receivedMsgs               *prometheus.Desc
	etcdSent, etcdReceived, etcdFailures *prometheus.Desc
}

func newPeerTraffic(peers func() []rpc.PeerStats) *peerTraffic {
	d := prometheus.NewDesc
	return &peerTraffic{
		peers: peers,
		sent: d("raftkv_network_peer_sent_bytes_total",
			"Bytes of frames sent to each peer.", []string{"To"}, nil),
		received: d("raftkv_network_peer_received_bytes_total",
			"Bytes of frames received from each peer.", []string{"From"}, nil),
		sentMsgs: d("raftkv_network_peer_sent_messages_total",
			"Raft messages (and forwarded requests and answers) sent to each peer.", []string{"To"}, nil),
		receivedMsgs: d("raftkv_network_peer_received_messages_total",
			"Raft messages (and forwarded requests and answers) received from each peer.", []string{"From"}, nil),
		failures: d("raftkv_network_peer_sent_failures_total",
			"Messages to each peer lost to a failed stream (or still queued when it went away).", []string{"To"}, nil),
		etcdSent: d("etcd_network_peer_sent_bytes_total",
			"etcd's name for raftkv_network_peer_sent_bytes_total.", []string{"To"}, nil),
		etcdReceived: d("etcd_network_peer_received_bytes_total",
			"etcd's name for raftkv_network_peer_received_bytes_total.", []string{"From"}, nil),
		etcdFailures: d("etcd_network_peer_sent_failures_total",
			"etcd's name for raftkv_network_peer_sent_failures_total.", []string{"To"}, nil),
	}
}

func (p *peerTraffic) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{p.sent, p.received, p.sentMsgs, p.receivedMsgs, p.failures, p.etcdSent, p.etcdReceived, p.etcdFailures} {
		ch <- d
	}
}

func (p *peerTraffic) Collect(ch chan<- prometheus.Metric) {
	for _, ps := range p.peers() {
		id := IDString(ps.ID)
		for _, c := range []struct {
			descs []*prometheus.Desc
			v     uint64
		}{
			{[]*prometheus.Desc{p.sent, p.etcdSent}, ps.BytesSent},
			{[]*prometheus.Desc{p.received, p.etcdReceived}, ps.BytesReceived},
			{[]*prometheus.Desc{p.sentMsgs}, ps.MsgsSent},
			{[]*prometheus.Desc{p.receivedMsgs}, ps.MsgsReceived},
			{[]*prometheus.Desc{p.failures, p.etcdFailures}, ps.DroppedFailed},
		} {
			for _, d := range c.descs {
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(c.v), id)
			}
		}
	}
}
