package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/moat-registry/moat/internal/auth/ratelimit"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	// DefaultBuffer is how many events may wait for the writer.
	DefaultBuffer = 4096
	// DefaultSourceRate is how many events a minute one client address may
	// add to the trail, after a burst of DefaultSourceBurst.
	DefaultSourceRate  = 600
	DefaultSourceBurst = 6000
	// maxBatch is how many events one transaction writes.
	maxBatch = 256
	// flushEvery is how often the anonymous aggregates are written.
	flushEvery = 5 * time.Second
	// pruneBatch is how many events one prune statement deletes.
	pruneBatch = 1000
)

// Options configure a Log.
type Options struct {
	Retention time.Duration // the server's auditRetention; 0: never pruned
	Buffer    int           // DefaultBuffer when zero
	// SourceRate and SourceBurst bound the events per minute of one client
	// address (DefaultSourceRate, DefaultSourceBurst when zero; SourceRate
	// < 0: no bound).
	SourceRate, SourceBurst int
	// RegistryID returns the current UID of the registry with a key ("" if
	// none); Record stamps events with it.
	RegistryID func(key string) string
	// Source tells where an event's request came from.
	Source func(ctx context.Context) Source
	// PrincipalName returns a principal's name ("" if unknown).
	PrincipalName func(id string) string
	// Decode turns the records of a type that another package writes to the
	// trail (network denials) into events.
	Decode map[string]func(*meta.AuditRecord) (Event, error)
}

type item struct {
	ev   Event
	sync chan struct{} // a Sync marker when non-nil
}

// Log is the audit trail.
type Log struct {
	store     meta.AuditTrail
	o         Options
	queue     chan item
	agg       *aggregator
	perSource *ratelimit.Limiter
	running   atomic.Bool
	metrics
}

type metrics struct {
	dropped, limited, aggregated, errs prometheus.Counter
	written                            *prometheus.CounterVec
}

// New returns a Log writing to store; its counters register on reg.
func New(store meta.AuditTrail, reg prometheus.Registerer, o Options) *Log {
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.SourceRate == 0 {
		o.SourceRate, o.SourceBurst = DefaultSourceRate, DefaultSourceBurst
	}
	l := &Log{store: store, o: o, queue: make(chan item, o.Buffer), agg: newAggregator(),
		perSource: ratelimit.New(o.SourceRate, time.Minute, o.SourceBurst)}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	l.dropped = counter("moat_audit_events_dropped_total", "Audit events dropped because the write buffer was full.")
	l.limited = counter("moat_audit_events_limited_total", "Audit events counted into an aggregate because their client address was over its rate into the trail.")
	l.aggregated = counter("moat_audit_events_aggregated_total", "Anonymous requests' audit events counted into an aggregate instead of written one by one.")
	l.errs = counter("moat_audit_write_errors_total", "Audit events that could not be written to the metadata store.")
	l.written = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "moat_audit_events_total",
		Help: "Audit events written, by type (an aggregate counts once per write)."}, []string{"type"})
	if reg != nil {
		reg.MustRegister(l.dropped, l.limited, l.aggregated, l.errs, l.written)
	}
	return l
}

// Retention is how long events are kept.
func (l *Log) Retention() time.Duration { return l.o.Retention }

// Record queues an event without blocking: it completes the event (time,
// registry UID, source, principal name), counts an anonymous request's into
// its aggregate, and so an identified one's when its client address is
// over its rate, and queues the rest (dropping it when the buffer is full).
func (l *Log) Record(ctx context.Context, e Event) {
	l.complete(ctx, &e)
	switch {
	case e.anonymous():
		l.agg.add(e, l.perSource)
		l.aggregated.Inc()
		return
	case e.ClientIP != "":
		if ok, _ := l.perSource.Allow(e.ClientIP); !ok {
			l.agg.add(e, l.perSource)
			l.limited.Inc()
			return
		}
	}
	select {
	case l.queue <- item{ev: e}:
	default:
		l.dropped.Inc()
	}
}

func (l *Log) complete(ctx context.Context, e *Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	if e.Registry == "" {
		e.Registry = ServerWide
	}
	if e.RegistryID == "" && e.Registry != ServerWide && l.o.RegistryID != nil {
		e.RegistryID = l.o.RegistryID(e.Registry)
	}
	if l.o.Source != nil {
		src := l.o.Source(ctx)
		e.ClientIP = or(e.ClientIP, src.ClientIP)
		e.NetworkPath = or(e.NetworkPath, src.NetworkPath)
		e.RequestID = or(e.RequestID, src.RequestID)
	}
	if e.PrincipalName == "" && e.Principal != "" && l.o.PrincipalName != nil {
		e.PrincipalName = l.o.PrincipalName(e.Principal)
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// anonymous: an event of a client that did not say who it is. These are
// what a flood is made of, so they are aggregated.
func (e *Event) anonymous() bool { return e.Principal == "" && e.ClientIP != "" }

// Run writes queued events until ctx ends, then writes what is queued and
// returns. It writes the anonymous aggregates every few seconds, and
// prunes expired events at start and every pruneEvery.
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
			slog.Info("audit events pruned", "count", n, "retention", l.o.Retention.String())
		}
	}
	prune()
	pt, ft := time.NewTicker(pruneEvery), time.NewTicker(flushEvery)
	defer pt.Stop()
	defer ft.Stop()
	for {
		select {
		case it := <-l.queue:
			l.drain(it)
		case <-ft.C:
			l.flushAggregates()
		case <-pt.C:
			prune()
		case <-ctx.Done():
			l.drainAll()
			return
		}
	}
}

// drain writes it and what else is queued (up to a batch) in one
// transaction; Sync markers among them are released after the write, with
// the aggregates written too.
func (l *Log) drain(it item) {
	var batch []Event
	var syncs []chan struct{}
	for {
		if it.sync != nil {
			syncs = append(syncs, it.sync)
		} else {
			batch = append(batch, it.ev)
		}
		if len(batch) == maxBatch || !l.next(&it) {
			break
		}
	}
	l.write(batch)
	if len(syncs) > 0 {
		l.flushAggregates()
		for _, s := range syncs {
			close(s)
		}
	}
}

// next takes the next queued item, if there is one.
func (l *Log) next(it *item) bool {
	select {
	case *it = <-l.queue:
		return true
	default:
		return false
	}
}

// drainAll writes everything queued and the aggregates.
func (l *Log) drainAll() {
	var it item
	for l.next(&it) {
		l.drain(it)
	}
	l.flushAggregates()
}

func (l *Log) write(evs []Event) {
	recs := make([]*meta.AuditRecord, 0, len(evs))
	for i := range evs {
		recs = append(recs, record(&evs[i], ""))
	}
	l.append(recs)
}

func (l *Log) flushAggregates() { l.append(l.agg.flush()) }

func (l *Log) append(recs []*meta.AuditRecord) {
	if len(recs) == 0 {
		return
	}
	if err := l.store.AppendAudit(context.Background(), recs); err != nil {
		l.errs.Add(float64(len(recs)))
		slog.Error("writing audit events", "count", len(recs), "err", err)
		return
	}
	for _, r := range recs {
		l.written.WithLabelValues(r.Type).Inc()
	}
}

// record is the stored form of an event (an aggregate's when key is set).
func record(e *Event, key string) *meta.AuditRecord {
	body, _ := json.Marshal(e) // an Event always marshals
	return &meta.AuditRecord{Registry: e.Registry, RegistryID: e.RegistryID, Type: e.Type, Time: e.Time, Key: key, Body: body}
}

// Sync waits until every event recorded before it is written, the
// aggregates included (or ctx ends). Without a running writer it writes
// what is queued itself.
func (l *Log) Sync(ctx context.Context) error {
	if !l.running.Load() {
		l.drainAll()
		return nil
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

// Prune deletes events older than the retention, a batch at a time; it
// returns how many.
func (l *Log) Prune(ctx context.Context, now time.Time) (int, error) {
	if l.o.Retention <= 0 {
		return 0, nil
	}
	total := 0
	for {
		n, err := l.store.PruneAudit(ctx, "", now.Add(-l.o.Retention), pruneBatch)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}
