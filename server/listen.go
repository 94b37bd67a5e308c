package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
)

func (m *Member) listen() error {
	if m.cfg.PeerListener == nil {
		if len(m.cfg.ListenPeerURLs) == 0 {
			return errors.New("server: --listen-peer-urls is empty")
		}
		ln, err := listenURL("listen-peer-urls", m.cfg.ListenPeerURLs[0])
		if err != nil {
			return err
		}
		m.cfg.PeerListener = ln
	}
	m.peerMux = newPeerListener(m.cfg.PeerListener)
	if m.cfg.ClientListeners == nil {
		for _, u := range m.cfg.ListenClientURLs {
			ln, err := listenURL("listen-client-urls", u)
			if err != nil {
				m.closeListeners()
				return err
			}
			m.cfg.ClientListeners = append(m.cfg.ClientListeners, ln)
		}
	}
	return nil
}

func listenURL(flag, s string) (net.Listener, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("server: --%s %q: %v", flag, s, err)
	}
	if u.Scheme == "https" {
		return nil, fmt.Errorf("server: --%s %q: TLS is not supported yet; use http://", flag, s)
	}
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("server: --%s %s: cannot listen (%v); is another raftkv or etcd running there? Stop it or choose another port", flag, s, err)
	}
	return ln, nil
}

func (m *Member) closeListeners() {
	if m.peerMux != nil {
		m.peerMux.Close()
	} else if m.cfg.PeerListener != nil {
		m.cfg.PeerListener.Close()
	}
	for _, ln := range m.cfg.ClientListeners {
		ln.Close()
	}
}
