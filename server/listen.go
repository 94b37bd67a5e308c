package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
)

// listen checks the TLS settings, then opens the peer listener and the
// client listeners (https ones wrapped in a tlsListener).
func (m *Member) listen() error {
	if err := m.setupTLS(); err != nil {
		return err
	}
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
	m.peerMux = newPeerListener(m.cfg.PeerListener, m.peerTLS)
	if m.cfg.ClientListeners == nil {
		for _, u := range m.cfg.ListenClientURLs {
			ln, err := listenURL("listen-client-urls", u)
			if err != nil {
				m.closeListeners()
				return err
			}
			if isHTTPS(u) {
				ln = newTLSListener(ln, m.clientTLS)
			}
			m.cfg.ClientListeners = append(m.cfg.ClientListeners, ln)
		}
	} else if m.clientTLS != nil {
		for i, ln := range m.cfg.ClientListeners {
			m.cfg.ClientListeners[i] = newTLSListener(ln, m.clientTLS)
		}
	}
	return nil
}

func isHTTPS(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https"
}

// listenURL listens on the host and port of s (http or https: TLS is
// added by the caller).
func listenURL(flag, s string) (net.Listener, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("server: --%s %q: %v", flag, s, err)
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
