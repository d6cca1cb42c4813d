package audit

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/store/meta"
)

const (
	// MaxPage is the largest page a query returns (ARM's $top bound).
	MaxPage = 1000
)

// Query selects a registry's events, newest first, a page at a time.
type Query struct {
	Registry string // a registry's key, or ServerWide
	// RegistryID and Created: the registry's UID and creation time, so that
	// a registry's trail is not that of an earlier one of the same name
	// (events without a UID, written before registries had one, count from
	// Created).
	RegistryID string
	Created    time.Time
	Since      time.Time
	Type       string // "" for every type
	// Top is the page size (MaxPage when 0 or more).
	Top int
	// After is the Next of the previous page ("": the first page).
	After string
}

// Page is one page of events; Next continues it ("" after the last page).
type Page struct {
	Events []Event
	Next   string
}

// ErrBadCursor: a query's After is not a Next this server gave.
var ErrBadCursor = errors.New("audit: not a page token of this server")

// storeQuery is q as the store's query: one record more than the page,
// to tell whether another page follows; a continued page keeps the first
// page's Since.
func storeQuery(q Query) (mq meta.AuditQuery, page int, err error) {
	page = q.Top
	if page <= 0 || page > MaxPage {
		page = MaxPage
	}
	mq = meta.AuditQuery{Registry: q.Registry, RegistryID: q.RegistryID, Created: q.Created, Since: q.Since, Type: q.Type, Limit: page + 1}
	if q.After != "" {
		since, c, err := ParseCursor(q.After)
		if err != nil {
			return mq, 0, err
		}
		mq.Since, mq.After = since, &c // the first page's range, not one that moved since
	}
	return mq, page, nil
}

// FormatCursor is a page token: the query's start and the page's last
// record, as "<since ns>.<time ns>.<seq>".
func FormatCursor(since time.Time, c meta.AuditCursor) string {
	return strconv.FormatInt(since.UnixNano(), 10) + "." + strconv.FormatInt(c.Time.UnixNano(), 10) + "." + strconv.FormatInt(c.Seq, 10)
}

// ParseCursor reads a FormatCursor token.
func ParseCursor(s string) (since time.Time, c meta.AuditCursor, err error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return since, c, ErrBadCursor
	}
	var n [3]int64
	for i, p := range parts {
		if p == "" || len(p) > 19 || strings.TrimLeft(p, "0123456789") != "" {
			return since, c, ErrBadCursor
		}
		if n[i], err = strconv.ParseInt(p, 10, 64); err != nil {
			return since, c, ErrBadCursor
		}
	}
	return time.Unix(0, n[0]).UTC(), meta.AuditCursor{Time: time.Unix(0, n[1]).UTC(), Seq: n[2]}, nil
}

// List returns a page of events. The first page first writes what is
// queued, so that it sees every event recorded before it.
func (l *Log) List(ctx context.Context, q Query) (Page, error) {
	mq, page, err := storeQuery(q)
	if err != nil {
		return Page{}, err
	}
	if q.After == "" {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = l.Sync(sctx)
		cancel()
	}
	recs, err := l.store.ListAudit(ctx, mq)
	if err != nil {
		return Page{}, err
	}
	p := Page{Events: make([]Event, 0, min(len(recs), page))}
	if len(recs) > page {
		recs = recs[:page]
		last := recs[page-1]
		p.Next = FormatCursor(mq.Since, meta.AuditCursor{Time: last.Time, Seq: last.Seq})
	}
	for _, r := range recs {
		e, err := l.decode(r)
		if err != nil {
			continue // a record this version cannot read is skipped, not fatal to the page
		}
		p.Events = append(p.Events, e)
	}
	return p, nil
}

// decode is a record as an event: the columns the store keeps win over
// the body.
func (l *Log) decode(r *meta.AuditRecord) (Event, error) {
	var e Event
	if dec := l.o.Decode[r.Type]; dec != nil {
		var err error
		if e, err = dec(r); err != nil {
			return e, err
		}
	} else if err := json.Unmarshal(r.Body, &e); err != nil {
		return e, err
	}
	e.Time, e.Registry, e.RegistryID, e.Type = r.Time, r.Registry, r.RegistryID, r.Type
	if r.Count > 0 {
		first := r.First
		e.Count, e.FirstSeen = r.Count, &first
	}
	return e, nil
}
