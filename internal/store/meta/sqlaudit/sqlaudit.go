// Package sqlaudit is the SQL of meta.AuditTrail, shared by the SQLite and
// PostgreSQL stores (both migrate the table audit_events; see Schema).
// Pages are keyset pages on (at, seq) and pruning deletes in batches, so
// neither holds more than a page or a batch, however large the table.
package sqlaudit

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlprops"
)

// Indexes are the table's indexes, the same on both stores: a registry's
// pages (all types, one type), and pruning (all types, one type).
const Indexes = `
	CREATE INDEX audit_events_page ON audit_events (reg, at, seq);
	CREATE INDEX audit_events_type ON audit_events (reg, type, at, seq);
	CREATE INDEX audit_events_time ON audit_events (at);
	CREATE INDEX audit_events_prune ON audit_events (type, at);`

// Trail is meta.AuditTrail on a SQL store; the stores embed it.
type Trail struct {
	// Read runs reads (outside any transaction).
	Read sqlprops.Querier
	// Tx runs fn in a write transaction.
	Tx func(ctx context.Context, fn func(sqlprops.Querier) error) error
}

// appendStmt inserts a record; an aggregate merges into the stored one.
const appendStmt = `INSERT INTO audit_events (reg, reg_uid, type, at, first_at, n, agg_key, body)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
	ON CONFLICT (agg_key) DO UPDATE SET
		n = audit_events.n + excluded.n,
		first_at = CASE WHEN excluded.first_at < audit_events.first_at THEN excluded.first_at ELSE audit_events.first_at END,
		at = CASE WHEN excluded.at > audit_events.at THEN excluded.at ELSE audit_events.at END,
		body = excluded.body`

func (s Trail) AppendAudit(ctx context.Context, recs []*meta.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return s.Tx(ctx, func(q sqlprops.Querier) error {
		for _, r := range recs {
			var key any // NULL: a single event, never merged
			if r.Key != "" {
				key = r.Key
			}
			first := r.First
			if first.IsZero() {
				first = r.Time
			}
			if _, err := q.Exec(ctx, appendStmt, r.Registry, r.RegistryID, r.Type, r.Time.UnixNano(), first.UnixNano(),
				r.Count, key, r.Body); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s Trail) ListAudit(ctx context.Context, aq meta.AuditQuery) ([]*meta.AuditRecord, error) {
	var b strings.Builder
	args := []any{aq.Registry, aq.Since.UnixNano()}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	b.WriteString(`SELECT seq, reg, reg_uid, type, at, first_at, n, COALESCE(agg_key, ''), body
		FROM audit_events WHERE reg = $1 AND at >= $2`)
	if aq.Type != "" {
		b.WriteString(` AND type = ` + arg(aq.Type))
	}
	if aq.RegistryID != "" {
		b.WriteString(` AND (reg_uid = ` + arg(aq.RegistryID) + ` OR reg_uid = '' AND at >= ` + arg(aq.Created.UnixNano()) + `)`)
	}
	if c := aq.After; c != nil {
		t := arg(c.Time.UnixNano())
		b.WriteString(` AND at <= ` + t + ` AND (at < ` + t + ` OR seq < ` + arg(c.Seq) + `)`)
	}
	b.WriteString(` ORDER BY at DESC, seq DESC LIMIT ` + arg(aq.Limit))
	rows, err := s.Read.Query(ctx, b.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]*meta.AuditRecord, 0, min(aq.Limit, 1000))
	for rows.Next() {
		var r meta.AuditRecord
		var at, first int64
		if err := rows.Scan(&r.Seq, &r.Registry, &r.RegistryID, &r.Type, &at, &first, &r.Count, &r.Key, &r.Body); err != nil {
			return nil, err
		}
		r.Time, r.First = time.Unix(0, at).UTC(), time.Unix(0, first).UTC()
		out = append(out, &r)
	}
	return out, rows.Err()
}

func (s Trail) PruneAudit(ctx context.Context, typ string, before time.Time, limit int) (int, error) {
	sel, args := `SELECT seq FROM audit_events WHERE at < $1`, []any{before.UnixNano()}
	if typ != "" {
		sel += ` AND type = $2`
		args = append(args, typ)
	}
	args = append(args, limit)
	sel += ` LIMIT $` + strconv.Itoa(len(args))
	var n int64
	err := s.Tx(ctx, func(q sqlprops.Querier) error {
		var err error
		n, err = q.Exec(ctx, `DELETE FROM audit_events WHERE seq IN (`+sel+`)`, args...)
		return err
	})
	return int(n), err
}
