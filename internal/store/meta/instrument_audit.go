package meta

import (
	"context"
	"time"
)

// The AuditTrail methods of the instrumented store (instrument.go).

func (m *instrumented) AppendAudit(ctx context.Context, recs []*AuditRecord) error {
	return m.c.Check("AppendAudit", m.s.AppendAudit(ctx, recs))
}

func (m *instrumented) ListAudit(ctx context.Context, q AuditQuery) ([]*AuditRecord, error) {
	r, err := m.s.ListAudit(ctx, q)
	return r, m.c.Check("ListAudit", err)
}

func (m *instrumented) PruneAudit(ctx context.Context, typ string, before time.Time, limit int) (int, error) {
	n, err := m.s.PruneAudit(ctx, typ, before, limit)
	return n, m.c.Check("PruneAudit", err)
}
