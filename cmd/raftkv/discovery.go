package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"
	"time"

	"github.com/raftkv/raftkv/server"
)

// discoveryFlags defines the flags of discovery (--discovery,
// --discovery-srv) and of the proxy (--proxy and its timings).
func discoveryFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.discovery, "discovery", "", "discovery URL (a key directory of a v2 API, e.g. from raftkvctl discovery new) where the members of a new cluster find each other; replaces --initial-cluster")
	fs.StringVar(&o.discoveryFallback, "discovery-fallback", "proxy", "what a member does when the discovery directory is already full: proxy (serve as a proxy to the cluster) or exit")
	fs.StringVar(&o.discoveryProxy, "discovery-proxy", "", "HTTP proxy to reach the discovery service through (default: from HTTPS_PROXY, HTTP_PROXY, NO_PROXY)")
	fs.StringVar(&o.discoverySRV, "discovery-srv", "", "DNS domain whose SRV records (_etcd-server-ssl._tcp, _etcd-server._tcp) list the peer URLs of a new cluster; replaces --initial-cluster")
	fs.StringVar(&o.discoverySRVName, "discovery-srv-name", "", "suffix of the SRV service names (_etcd-server-<suffix>._tcp)")
	fs.StringVar(&o.proxy, "proxy", "off", "off, on (run as a proxy: serve the client API by forwarding to the cluster's members) or readonly (a proxy that refuses all but GET)")
	fs.UintVar(&o.proxyFailureWaitMs, "proxy-failure-wait", 5000, "ms a proxy skips a member it could not reach")
	fs.UintVar(&o.proxyRefreshMs, "proxy-refresh-interval", 30000, "ms between a proxy's readings of the member list")
	fs.UintVar(&o.proxyDialMs, "proxy-dial-timeout", 1000, "ms a proxy waits for a connection to a member")
}

// discoveryConfig checks the discovery and proxy flags and puts the
// discovery ones in cfg.
func discoveryConfig(o *options, cfg *server.MemberConfig) error {
	switch o.discoveryFallback {
	case "proxy", "exit":
	default:
		return fmt.Errorf("--discovery-fallback %q: want proxy or exit", o.discoveryFallback)
	}
	switch o.proxy {
	case "off", "on", "readonly":
	default:
		return fmt.Errorf("--proxy %q: want off, on or readonly", o.proxy)
	}
	n := 0
	for _, set := range []bool{o.discovery != "", o.discoverySRV != "", o.initialClusterSet} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("give only one of --discovery, --discovery-srv and --initial-cluster: each says how the members of a new cluster find each other")
	}
	if o.discoverySRVName != "" && o.discoverySRV == "" {
		return errors.New("--discovery-srv-name needs --discovery-srv")
	}
	cfg.Discovery, cfg.DiscoverySRV, cfg.DiscoverySRVName = o.discovery, o.discoverySRV, o.discoverySRVName
	cfg.DiscoveryProxy = o.discoveryProxy
	return nil
}

// runProxy runs raftkv as a proxy until SIGINT or SIGTERM. members, if
// given, are the cluster's members (a full discovery directory);
// otherwise they come from --discovery or --initial-cluster.
func runProxy(o *options, cfg server.MemberConfig, members []server.InitialMember, logger *slog.Logger, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch {
	case members != nil:
	case o.discovery != "":
		logger.Info("proxy: reading the members from the discovery URL", "discovery", o.discovery)
		var err error
		if members, err = server.DiscoveryCluster(ctx, o.discovery, o.discoveryProxy, cfg.ClientTLS, logger); err != nil {
			fmt.Fprintf(stderr, "raftkv: %v\n", err)
			return 1
		}
	case o.initialClusterSet:
		members = cfg.InitialCluster
	default:
		fmt.Fprintln(stderr, "raftkv: --proxy needs the cluster's members: give --initial-cluster (their peer URLs) or --discovery")
		return 2
	}
	p, err := server.StartProxy(server.ProxyConfig{
		ListenClientURLs: cfg.ListenClientURLs,
		PeerURLs:         server.PeerURLsOf(members),
		ReadOnly:         o.proxy == "readonly",
		FailureWait:      time.Duration(o.proxyFailureWaitMs) * time.Millisecond,
		RefreshInterval:  time.Duration(o.proxyRefreshMs) * time.Millisecond,
		DialTimeout:      time.Duration(o.proxyDialMs) * time.Millisecond,
		ClientTLS:        cfg.ClientTLS,
		PeerTLS:          cfg.PeerTLS,
		Logger:           logger,
	})
	if err != nil {
		fmt.Fprintf(stderr, "raftkv: %v\n", err)
		return 1
	}
	<-ctx.Done()
	logger.Info("stopping the proxy")
	return stopWithin(logger, 5*time.Second, "proxy stopped with an error", p.Stop)
}
