package server

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/raftkv/raftkv/kv"
)

// MemberInfo describes one member as /v2/members shows it.
type MemberInfo struct {
	ID         uint64   `json:"-"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	// Learner is true while the member receives the log without voting.
	Learner bool `json:"isLearner,omitempty"`
}

// MarshalJSON writes the v2 shape, with the id as lower-case hex.
func (m MemberInfo) MarshalJSON() ([]byte, error) {
	type plain MemberInfo
	return json.Marshal(struct {
		ID string `json:"id"`
		plain
	}{IDString(m.ID), plain(m)})
}

// UnmarshalJSON reads the v2 shape.
func (m *MemberInfo) UnmarshalJSON(b []byte) error {
	type plain MemberInfo
	var v struct {
		ID string `json:"id"`
		plain
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*m = MemberInfo(v.plain)
	if v.ID != "" {
		id, err := ParseID(v.ID)
		if err != nil {
			return err
		}
		m.ID = id
	}
	return nil
}

// IDString formats a member or cluster id as v2 does: lower-case hex, no
// padding.
func IDString(id uint64) string { return strconv.FormatUint(id, 16) }

// ParseID parses a hex member id.
func ParseID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("member id %q is not a non-zero hex number", s)
	}
	return id, nil
}

// MemberID derives a member id as etcd does: the first 8 bytes of the
// SHA-1 of its sorted peer URLs and the cluster token, plus, for a member
// added at runtime, the time of the addition (so that re-adding the same
// URLs gives a new id).
func MemberID(peerURLs []string, token string, unixSec int64) uint64 {
	urls := slices.Clone(peerURLs)
	slices.Sort(urls)
	b := []byte(strings.Join(urls, ""))
	b = append(b, token...)
	if unixSec != 0 {
		b = binary.BigEndian.AppendUint64(b, uint64(unixSec))
	}
	sum := sha1.Sum(b)
	if id := binary.BigEndian.Uint64(sum[:8]); id != 0 {
		return id
	}
	return 1
}

// ClusterID derives the cluster id from the initial members' ids and the
// token, so that two clusters bootstrapped from the same URLs with
// different tokens never talk to each other.
func ClusterID(memberIDs []uint64, token string) uint64 {
	ids := slices.Clone(memberIDs)
	slices.Sort(ids)
	var b []byte
	for _, id := range ids {
		b = binary.BigEndian.AppendUint64(b, id)
	}
	b = append(b, token...)
	sum := sha1.Sum(b)
	if id := binary.BigEndian.Uint64(sum[:8]); id != 0 {
		return id
	}
	return 1
}

// InitialMember is one entry of --initial-cluster.
type InitialMember struct {
	Name     string
	PeerURLs []string
}

// ParseInitialCluster parses "name=url,name=url2,other=url3": a name may
// repeat to give a member several peer URLs. Members keep the order of
// their first appearance.
func ParseInitialCluster(s string) ([]InitialMember, error) {
	var out []InitialMember
	at := map[string]int{}
	seenURL := map[string]string{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, u, ok := strings.Cut(item, "=")
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("--initial-cluster entry %q is not name=peerURL", item)
		}
		if err := checkURL(u, false); err != nil {
			return nil, fmt.Errorf("--initial-cluster entry %q: %v", item, err)
		}
		if other, dup := seenURL[u]; dup {
			return nil, fmt.Errorf("--initial-cluster gives peer URL %s to both %q and %q", u, other, name)
		}
		seenURL[u] = name
		if i, ok := at[name]; ok {
			out[i].PeerURLs = append(out[i].PeerURLs, u)
			continue
		}
		at[name] = len(out)
		out = append(out, InitialMember{Name: name, PeerURLs: []string{u}})
	}
	if len(out) == 0 {
		return nil, errors.New("--initial-cluster is empty")
	}
	return out, nil
}

// checkURL accepts http or https URLs with a host and a port and nothing
// else; listen URLs must name an IP address, not a host name.
func checkURL(s string, listen bool) error {
	if !strings.Contains(s, "://") {
		// "127.0.0.1:2379" is the classic slip; url.Parse would call it
		// a bad path or take "localhost" for a scheme.
		return fmt.Errorf("URL %q has no scheme; add http:// (or https://), as in http://%s", s, s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URL %q must start with http:// or https://", s)
	}
	if u.Port() == "" {
		return fmt.Errorf("URL %q has no port", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("URL %q must be just scheme://host:port", s)
	}
	if listen && u.Hostname() != "localhost" {
		if net.ParseIP(u.Hostname()) == nil {
			return fmt.Errorf("listen URL %q must name an IP address (or localhost)", s)
		}
	}
	return nil
}

// ParseURLs splits a comma-separated URL list and checks each.
func ParseURLs(flag, s string, listen bool) ([]string, error) {
	var out []string
	for u := range strings.SplitSeq(s, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if err := checkURL(u, listen); err != nil {
			return nil, fmt.Errorf("--%s: %v", flag, err)
		}
		out = append(out, strings.TrimSuffix(u, "/"))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s is empty", flag)
	}
	return out, nil
}

// The records describing members live in the key space under a hidden,
// reserved directory, so that they travel with the log and snapshots and
// every member agrees on them. Users cannot write there (error 106).
const (
	reservedDir = "/_raftkv"
	membersDir  = reservedDir + "/members"
	removedDir  = reservedDir + "/removed"
)

func raftAttrKey(id uint64) string { return membersDir + "/" + IDString(id) + "/raftAttributes" }
func attrKey(id uint64) string     { return membersDir + "/" + IDString(id) + "/attributes" }
func removedKey(id uint64) string  { return removedDir + "/" + IDString(id) }

// raftAttributes is what the cluster must know to reach a member.
type raftAttributes struct {
	PeerURLs []string `json:"peerURLs"`
}

// attributes is what a member publishes about itself once it runs.
type attributes struct {
	Name       string   `json:"name"`
	ClientURLs []string `json:"clientURLs"`
}

func putJSON(key string, v any) *kv.Command {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings
	}
	return &kv.Command{Method: kv.MethodPut, Path: key, Value: string(b)}
}

// isReserved reports whether a cleaned key path is in the reserved
// directory.
func isReserved(p string) bool {
	return p == reservedDir || strings.HasPrefix(p, reservedDir+"/")
}

// readMembers reads the member records from the store: every member with a
// raftAttributes record, keyed by id.
func readMembers(s *kv.Store) map[uint64]*MemberInfo {
	out := map[uint64]*MemberInfo{}
	ev, err := s.Get(membersDir, true, false)
	if err != nil || ev.Node == nil {
		return out
	}
	for _, dir := range ev.Node.Nodes {
		id, err := ParseID(path.Base(dir.Key))
		if err != nil {
			continue
		}
		m := &MemberInfo{ID: id, PeerURLs: []string{}, ClientURLs: []string{}}
		for _, f := range dir.Nodes {
			if f.Value == nil {
				continue
			}
			switch path.Base(f.Key) {
			case "raftAttributes":
				var ra raftAttributes
				if json.Unmarshal([]byte(*f.Value), &ra) == nil && ra.PeerURLs != nil {
					m.PeerURLs = ra.PeerURLs
				}
			case "attributes":
				var a attributes
				if json.Unmarshal([]byte(*f.Value), &a) == nil {
					m.Name = a.Name
					if a.ClientURLs != nil {
						m.ClientURLs = a.ClientURLs
					}
				}
			}
		}
		out[id] = m
	}
	return out
}

// removedIDs lists the hex ids of removed members.
func removedIDs(s *kv.Store) []string {
	ev, err := s.Get(removedDir, false, false)
	if err != nil || ev.Node == nil {
		return nil
	}
	var out []string
	for _, n := range ev.Node.Nodes {
		out = append(out, path.Base(n.Key))
	}
	return out
}

// wasRemoved reports whether id was removed from the cluster.
func wasRemoved(s *kv.Store, id uint64) bool {
	_, err := s.Get(removedKey(id), false, false)
	return err == nil
}
