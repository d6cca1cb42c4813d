// Package audit is the audit trail: who signed in, got tokens, pushed,
// pulled or deleted content, and changed a registry's network settings.
// Events are written to the metadata store asynchronously through a bounded
// buffer, so a request never waits on the database; when the buffer is full
// the event is dropped and counted (moat_audit_events_dropped_total).
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/moat-registry/moat/internal/meta"
	"github.com/prometheus/client_golang/prometheus"
)

// Event types.
const (
	TypeSignIn = "signin"
	TypeToken  = "token"
	TypePush   = "push"
	TypePull   = "pull"
	TypeDelete = "delete"
	TypeConfig = "config"
	TypeDenial = "denial"
	TypeGC     = "gc"
)

// Types are the event types a query may filter on.
var Types = []string{TypeSignIn, TypeToken, TypePush, TypePull, TypeDelete, TypeConfig, TypeDenial, TypeGC}

// ValidType reports whether t is an event type ("" means all).
func ValidType(t string) bool {
	if t == "" {
		return true
	}
	for _, x := range Types {
		if x == t {
			return true
		}
	}
	return false
}

// Outcomes.
const (
	Success = "success"
	Failure = "failure"
)

// ServerWide is the registry key of events that name no registry (a sign-in
// at the token endpoint without a scope or service).
const ServerWide = "_server"

// Event is one audit record. It never holds a secret: no passwords, tokens
// or Authorization headers.
type Event struct {
	Time      time.Time `json:"time"`
	Registry  string    `json:"registry"`
	Type      string    `json:"type"`
	Outcome   string    `json:"outcome"`
	Principal string    `json:"principal,omitempty"` // object ID, registry-admin:<r>, or the user name presented
	// PrincipalName is the principal's name when known.
	PrincipalName string   `json:"principalName,omitempty"`
	ClientIP      string   `json:"clientIp,omitempty"`
	NetworkPath   string   `json:"networkPath,omitempty"`
	RequestID     string   `json:"requestId,omitempty"`
	Repository    string   `json:"repository,omitempty"`
	Reference     string   `json:"reference,omitempty"`
	Digest        string   `json:"digest,omitempty"`
	Grant         string   `json:"grant,omitempty"`
	Scopes        []string `json:"scopes,omitempty"`
	Detail        string   `json:"detail,omitempty"`
	// Before and After are a configuration change's network settings.
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	// Count and Reason describe aggregated network denials.
	Count  int64  `json:"count,omitempty"`
	Reason string `json:"reason,omitempty"`

	// RegistryID is the registry's immutable ID (meta.Registry.UID): the
	// events of a deleted registry are not those of a new one of the same
	// name. Record fills it in (Options.RegistryID).
	RegistryID string `json:"registryId,omitempty"`
}

const (
	resourceType = "moat/auditEvents"
	prefix       = "/moat/auditEvents/"
	// DefaultBuffer is how many events may wait for the writer.
	DefaultBuffer = 4096
)

// Options configure a Log.
type Options struct {
	Retention time.Duration // the server's auditRetention; 0: never pruned
	Buffer    int           // DefaultBuffer when zero
	// RegistryID returns the current UID of the registry with a key ("" if
	// none); Record stamps events with it.
	RegistryID func(key string) string
}

type item struct {
	ev   Event
	sync chan struct{} // a Sync marker when non-nil
}

// Log is the audit trail.
type Log struct {
	store     meta.Resources
	retention time.Duration
	queue     chan item
	seq       atomic.Uint64
	running   atomic.Bool
	regID     func(key string) string
	dropped   prometheus.Counter
	written   *prometheus.CounterVec
	errs      prometheus.Counter
}

// New returns a Log writing to store; its counters register on reg.
func New(store meta.Resources, reg prometheus.Registerer, o Options) *Log {
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	l := &Log{store: store, retention: o.Retention, queue: make(chan item, o.Buffer), regID: o.RegistryID,
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "moat_audit_events_dropped_total",
			Help: "Audit events dropped because the write buffer was full."}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "moat_audit_events_total",
			Help: "Audit events written, by type."}, []string{"type"}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{Name: "moat_audit_write_errors_total",
			Help: "Audit events that could not be written to the metadata store."}),
	}
	if reg != nil {
		reg.MustRegister(l.dropped, l.written, l.errs)
	}
	return l
}

// Retention is how long events are kept.
func (l *Log) Retention() time.Duration { return l.retention }

// Record queues an event without blocking; a full buffer drops it.
func (l *Log) Record(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if e.Registry == "" {
		e.Registry = ServerWide
	}
	if e.RegistryID == "" && e.Registry != ServerWide && l.regID != nil {
		e.RegistryID = l.regID(e.Registry)
	}
	select {
	case l.queue <- item{ev: e}:
	default:
		l.dropped.Inc()
	}
}

// Run writes queued events until ctx ends, then writes what is queued and
// returns. It prunes expired events at start and every pruneEvery.
func (l *Log) Run(ctx context.Context, pruneEvery time.Duration) {
	l.running.Store(true)
	defer l.running.Store(false)
	if pruneEvery <= 0 {
		pruneEvery = time.Hour
	}
	prune := func() {
		if n, err := l.Prune(context.Background(), time.Now()); err != nil {
			slog.Error("pruning the audit trail", "err", err)
		} else if n > 0 {
			slog.Info("audit events pruned", "count", n, "retention", l.retention.String())
		}
	}
	prune()
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		select {
		case it := <-l.queue:
			l.handle(it)
		case <-t.C:
			prune()
		case <-ctx.Done():
			for {
				select {
				case it := <-l.queue:
					l.handle(it)
				default:
					return
				}
			}
		}
	}
}

func (l *Log) handle(it item) {
	if it.sync != nil {
		close(it.sync)
		return
	}
	if err := l.write(context.Background(), it.ev); err != nil {
		l.errs.Inc()
		slog.Error("writing an audit event", "type", it.ev.Type, "registry", it.ev.Registry, "err", err)
		return
	}
	l.written.WithLabelValues(it.ev.Type).Inc()
}

func (l *Log) write(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	// Time-ordered IDs: a zero-padded nanosecond timestamp and a sequence.
	id := fmt.Sprintf("%s%s/%020d-%06d", prefix, e.Registry, e.Time.UnixNano(), l.seq.Add(1)%1000000)
	return l.store.PutResource(ctx, &meta.Resource{ID: id, Type: resourceType, Body: body})
}

// Sync waits until every event recorded before it is written (or ctx ends).
// Without a running writer it writes what is queued itself.
func (l *Log) Sync(ctx context.Context) error {
	if !l.running.Load() {
		for {
			select {
			case it := <-l.queue:
				l.handle(it)
			default:
				return nil
			}
		}
	}
	done := make(chan struct{})
	select {
	case l.queue <- item{sync: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// List returns a registry's events since a time, of one type ("" all),
// newest first.
func (l *Log) List(ctx context.Context, regKey string, since time.Time, typ string) ([]Event, error) {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_ = l.Sync(sctx)
	cancel()
	rs, err := l.store.ListResources(ctx, resourceType, prefix+regKey+"/")
	if err != nil {
		return nil, err
	}
	out := []Event{}
	for _, r := range rs {
		var e Event
		if json.Unmarshal(r.Body, &e) != nil || e.Time.Before(since) || (typ != "" && e.Type != typ) {
			continue
		}
		if !strings.EqualFold(e.Registry, regKey) {
			continue // a registry whose key starts with regKey + "/" cannot exist, but be exact
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, nil
}

// Prune deletes events older than the retention; it returns how many.
func (l *Log) Prune(ctx context.Context, now time.Time) (int, error) {
	if l.retention <= 0 {
		return 0, nil
	}
	rs, err := l.store.ListResources(ctx, resourceType, prefix)
	if err != nil {
		return 0, err
	}
	cutoff := now.Add(-l.retention)
	n := 0
	for _, r := range rs {
		var e Event
		if json.Unmarshal(r.Body, &e) == nil && e.Time.Before(cutoff) {
			if err := l.store.DeleteResource(ctx, r.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
