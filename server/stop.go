package server

import (
	"context"
	"errors"

	"github.com/raftkv/raftkv/raft"
)

// Stop shuts the member down gracefully: it stops accepting requests,
// lets those in flight finish (up to the context), hands leadership to the
// most caught-up voter if it leads, syncs and closes its storage.
func (m *Member) Stop(ctx context.Context) error {
	// Once.Do returns to every caller only after the first call's stop has
	// finished, so a second Stop waits for the first.
	m.stopOnce.Do(func() { m.stopErr = m.stop(ctx) })
	return m.stopErr
}

func (m *Member) stop(ctx context.Context) error {
	close(m.drainc)
	for _, s := range m.clientSrvs {
		_ = s.Shutdown(ctx)
	}
	for _, s := range m.fastSrvs {
		s.shutdown(ctx)
	}
	m.transferOnShutdown(ctx)
	if m.peerSrv != nil {
		_ = m.peerSrv.Shutdown(ctx)
	}
	m.drainForwards(ctx)
	close(m.stopc)
	<-m.donec
	m.bg.Wait()
	m.peerMux.Close()
	trErr := m.tr.Close()
	syncErr := m.node.Storage().Sync()
	closeErr := m.node.Close()
	// Last: the data dir is free once nothing more will be written to it.
	unlockErr := m.unlockDataDir()
	m.log.Info("member stopped", "name", m.cfg.Name)
	return errors.Join(m.Err(), trErr, syncErr, closeErr, unlockErr)
}

// transferOnShutdown hands leadership over before a leader exits, so the
// cluster does not wait an election timeout for a new one (thesis §3.10).
func (m *Member) transferOnShutdown(ctx context.Context) {
	v := m.view.Load()
	if v.lead != m.id || len(v.voters) < 2 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ElectionTimeout)
	defer cancel()
	targetc := make(chan uint64, 1)
	if err := m.do(ctx, func() { t, _ := m.node.Stepdown(); targetc <- t }); err != nil {
		return
	}
	var target uint64
	select {
	case target = <-targetc:
	case <-m.donec:
		return
	}
	for {
		v, ch := m.waitChange()
		if v.lead != m.id && v.lead != raft.None {
			m.handedOver.Store(true)
			m.log.Info("handed leadership over before stopping", "to", IDString(v.lead))
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if v.lead != m.id {
				// Stepped down; the new leader is not known here yet.
				m.handedOver.Store(true)
				m.log.Info("stepped down before stopping", "transferee", IDString(target))
				return
			}
			m.log.Warn("leadership transfer did not finish before stopping", "transferee", IDString(target))
			return
		}
	}
}
