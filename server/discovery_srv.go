package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ErrDiscoverySRV is wrapped by every failure of --discovery-srv.
var ErrDiscoverySRV = errors.New("discovery-srv")

// srvService is the SRV service name of the server side for a scheme, as
// etcd's: _etcd-server-ssl (https peers) or _etcd-server (http), with
// -<name> appended when --discovery-srv-name is given.
func srvService(scheme, name string) string {
	s := "etcd-server"
	if scheme == "https" {
		s += "-ssl"
	}
	if name != "" {
		s += "-" + name
	}
	return s
}

// srvCluster builds the initial cluster from the SRV records of
// --discovery-srv: _etcd-server-ssl._tcp.<domain> (https peer URLs) and
// _etcd-server._tcp.<domain> (http), as etcd. The target whose address is
// one of this member's --initial-advertise-peer-urls is this member and
// gets its --name; every other target is named by its host:port (etcd
// numbers them; names of the others only label the bootstrap).
func srvCluster(cfg *MemberConfig) ([]InitialMember, error) {
	lookup := cfg.LookupSRV
	if lookup == nil {
		lookup = net.LookupSRV
	}
	// This member's advertised peer addresses, resolved, so that a target
	// given as a name matches an advertised IP and the other way round.
	selfAddr := map[string]string{}
	for _, s := range cfg.InitialAdvertisePeerURLs {
		u, err := url.Parse(s)
		if err != nil {
			continue
		}
		selfAddr[resolveAddr(u.Host)] = s
	}
	var out []InitialMember
	var errs []string
	foundSelf := false
	for _, scheme := range []string{"https", "http"} {
		service := srvService(scheme, cfg.DiscoverySRVName)
		_, srvs, err := lookup(service, "tcp", cfg.DiscoverySRV)
		if err != nil {
			errs = append(errs, fmt.Sprintf("_%s._tcp.%s: %v", service, cfg.DiscoverySRV, err))
			continue
		}
		for _, srv := range srvs {
			host := strings.TrimSuffix(srv.Target, ".")
			hostPort := net.JoinHostPort(host, strconv.Itoa(int(srv.Port)))
			u := scheme + "://" + hostPort
			name := hostPort
			if self, ok := selfAddr[resolveAddr(hostPort)]; ok {
				if self != u {
					return nil, fmt.Errorf("%w: the SRV record _%s._tcp.%s names this member %s, but --initial-advertise-peer-urls says %s; "+
						"advertise the URL the record gives (every member derives the member ids from these URLs, so they must be spelled alike)",
						ErrDiscoverySRV, service, cfg.DiscoverySRV, u, self)
				}
				name, foundSelf = cfg.Name, true
			}
			out = append(out, InitialMember{Name: name, PeerURLs: []string{u}})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no SRV record found for %s (%s); publish _etcd-server._tcp.%s (http peers) or _etcd-server-ssl._tcp.%s (https) records, one per member, pointing at the peer ports",
			ErrDiscoverySRV, cfg.DiscoverySRV, strings.Join(errs, "; "), cfg.DiscoverySRV, cfg.DiscoverySRV)
	}
	if !foundSelf {
		return nil, fmt.Errorf("%w: none of the SRV targets for %s (%s) is this member's --initial-advertise-peer-urls %v; add a record for this member or fix its advertised peer URL",
			ErrDiscoverySRV, cfg.DiscoverySRV, FormatInitialCluster(out), cfg.InitialAdvertisePeerURLs)
	}
	return out, nil
}

// resolveAddr is host:port with the host resolved to an IP address when
// it can be (the form two spellings of one address share).
func resolveAddr(hostPort string) string {
	a, err := net.ResolveTCPAddr("tcp", hostPort)
	if err != nil {
		return hostPort
	}
	return a.String()
}
