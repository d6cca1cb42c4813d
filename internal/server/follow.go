package server

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// resyncInterval bounds how stale a node's snapshots can get if a change
// notice is lost (or the store has no notices, as with SQLite and one node).
const resyncInterval = 30 * time.Second

// listener is a metadata store that announces configuration changes made by
// any node (PostgreSQL's LISTEN/NOTIFY).
type listener interface {
	Listen(ctx context.Context, changed func())
}

// follow keeps every in-memory snapshot (registries, network rules,
// principals, role assignments, signing keys) in step with the store: at once
// on a change notice, and every resyncInterval as a safety net.
func (s *Server) follow(ctx context.Context, raw any) {
	kick := make(chan struct{}, 1)
	if l, ok := raw.(listener); ok {
		go l.Listen(ctx, func() {
			select {
			case kick <- struct{}{}:
			default: // a reload is already due; it will see this change too
			}
		})
	}
	t := time.NewTicker(resyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C:
		}
		if err := s.reloadSnapshots(ctx); err != nil && ctx.Err() == nil {
			slog.Error("reloading configuration snapshots", "err", err)
		}
	}
}

func (s *Server) reloadSnapshots(ctx context.Context) error {
	return errors.Join(s.index.Reload(ctx), s.authz.Reload(ctx), s.dir.Reload(ctx), s.keys.Reload(ctx))
}
