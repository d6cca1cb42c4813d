package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moat-registry/moat/internal/auth/ratelimit"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Aggregation of anonymous requests' events (and of any event of a client
// address over its rate into the trail): within one window, the events
// that differ only in time and request ID are one stored record with a
// count and the first and last times. Rows therefore grow with the distinct
// kinds of anonymous requests, not with their number, and those are
// bounded too: a new kind costs its client address one event of its rate
// (past it, the address's further kinds share one record per registry,
// type and outcome), and past maxKinds in a window every new kind shares
// one record per registry, type and outcome whatever its address.
const (
	window   = time.Minute
	maxKinds = 10_000
)

// aggregator holds the current window's kinds and the counts since the
// last flush.
type aggregator struct {
	mu      sync.Mutex
	window  time.Time
	kinds   map[string]struct{} // seen in the window
	pending map[string]*pending // since the last flush
}

type pending struct {
	ev          Event
	count       int64
	first, last time.Time
}

func newAggregator() *aggregator {
	return &aggregator{kinds: map[string]struct{}{}, pending: map[string]*pending{}}
}

// add counts e into its aggregate; perSource is charged for a new kind.
func (a *aggregator) add(e Event, perSource *ratelimit.Limiter) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w := e.Time.Truncate(window); w.After(a.window) {
		a.window, a.kinds = w, map[string]struct{}{}
	}
	e.RequestID = "" // one of many
	k := kind(a.window, &e)
	if _, seen := a.kinds[k]; !seen {
		switch {
		case len(a.kinds) >= maxKinds:
			e = Event{Registry: e.Registry, RegistryID: e.RegistryID, Type: e.Type, Outcome: e.Outcome, ClientIP: "other",
				Detail: "anonymous requests of more kinds than moat aggregates one by one in a minute"}
			k = kind(a.window, &e)
		case !allow(perSource, e.ClientIP):
			over := Event{Registry: e.Registry, RegistryID: e.RegistryID, Type: e.Type, Outcome: e.Outcome, ClientIP: e.ClientIP,
				NetworkPath: e.NetworkPath, Grant: e.Grant, Detail: "requests of this address over its rate into the audit trail"}
			if e.Outcome == Success {
				over.Principal, over.PrincipalName = e.Principal, e.PrincipalName // who signed in, not a name a client made up
			}
			e, k = over, kind(a.window, &over)
		}
		a.kinds[k] = struct{}{}
	}
	p := a.pending[k]
	if p == nil {
		p = &pending{ev: e, first: e.Time}
		a.pending[k] = p
	}
	p.count++
	if e.Time.Before(p.first) {
		p.first = e.Time
	}
	if e.Time.After(p.last) {
		p.last = e.Time
	}
}

func allow(l *ratelimit.Limiter, key string) bool {
	ok, _ := l.Allow(key)
	return ok
}

// kind is the aggregate an event belongs to: the window and every field
// but the time and request ID (fields are separated by a byte that no
// field holds).
func kind(w time.Time, e *Event) string {
	return strings.Join([]string{strconv.FormatInt(w.Unix(), 10), e.Registry, e.RegistryID, e.Type, e.Outcome,
		e.Principal, e.ClientIP, e.NetworkPath, e.Repository, e.Reference, e.Digest, e.Grant,
		strings.Join(e.Scopes, " "), e.Detail, e.Reason}, "\x00")
}

// flush returns the aggregates counted since the last flush, as records
// that merge into those of earlier flushes (and other nodes) of the same
// kind.
func (a *aggregator) flush() []*meta.AuditRecord {
	a.mu.Lock()
	batch := a.pending
	a.pending = map[string]*pending{}
	a.mu.Unlock()
	out := make([]*meta.AuditRecord, 0, len(batch))
	for k, p := range batch {
		p.ev.Time = p.last
		sum := sha256.Sum256([]byte(k))
		r := record(&p.ev, "audit/"+hex.EncodeToString(sum[:16]))
		r.Count, r.First = p.count, p.first
		out = append(out, r)
	}
	return out
}
