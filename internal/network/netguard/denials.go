package netguard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/promcache"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/prometheus/client_golang/prometheus"
)

// Denial is one aggregated record of the denial log: the denials of one
// source for one reason on one registry within one minute.
type Denial struct {
	Registry        string    `json:"registry"`
	Minute          time.Time `json:"minute"`
	ClientIP        string    `json:"clientIp"`
	Path            string    `json:"path"`
	Subnet          string    `json:"subnet,omitempty"`
	PrivateEndpoint string    `json:"privateEndpoint,omitempty"`
	Reason          string    `json:"reason"`
	Route           string    `json:"route"`
	Count           int64     `json:"count"`
	FirstSeen       time.Time `json:"firstSeen"`
	LastSeen        time.Time `json:"lastSeen"`
	// A shadow-mode disagreement (Disagreed) is the same record with the
	// enforced decision (allow or deny; Reason is its reason) and the staged
	// settings' decision and reason.
	Decision       string `json:"decision,omitempty"`
	StagedDecision string `json:"stagedDecision,omitempty"`
	StagedReason   string `json:"stagedReason,omitempty"`
}

// DisagreementType is the audit trail's record type of shadow-mode
// disagreements.
const DisagreementType = "shadow-disagreement"

func (d *Denial) recordType() string {
	if d.StagedDecision != "" {
		return DisagreementType
	}
	return RecordType
}

// RecordType is the type of the denial log's records in the audit trail
// (audit.TypeDenial: the audit API shows them among the events).
const RecordType = "denial"

// Limits of the log, so that a flood of denied requests cannot grow
// storage without bound: at most maxSources records per registry and minute
// (the rest are counted in one "other" record), kept for retention, and at
// most maxList records in a List.
const (
	maxSources = 1000
	retention  = 7 * 24 * time.Hour
	maxList    = 1000
	pruneBatch = 1000
)

// DenialLog is the network denial log: it aggregates denials in memory and
// writes them to the audit trail's table in batches, each record merged
// in SQL with what earlier flushes (or other nodes) wrote for it.
type DenialLog struct {
	store     meta.AuditTrail
	mu        sync.Mutex // pending and perMinute
	pending   map[string]*Denial
	perMinute map[string]int // registry|minute -> distinct sources
	// flushing serialises flushes: a query's flush waits for a periodic one
	// that is still writing, so the query sees everything queued before it.
	flushing  sync.Mutex
	lastPrune time.Time // under flushing
	decisions *prometheus.CounterVec
	decided   *promcache.Cache[decisionKey, prometheus.Counter]
	disagree  *prometheus.CounterVec
}

// decisionKey names a series of moat_network_decisions_total.
type decisionKey struct {
	reg    string
	allow  bool
	reason string
}

// NewDenialLog makes a log writing to store; decisions are counted in reg.
func NewDenialLog(store meta.AuditTrail, reg prometheus.Registerer) *DenialLog {
	a := &DenialLog{store: store, pending: map[string]*Denial{}, perMinute: map[string]int{},
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_network_decisions_total",
			Help: "Network access decisions by registry, outcome and reason.",
		}, []string{"registry", "decision", "reason"}),
		disagree: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_network_shadow_disagreements_total",
			Help: "Requests that a registry's staged network settings would decide otherwise than its enforced ones, by registry and the two decisions.",
		}, []string{"registry", "enforced", "staged"})}
	a.decided = promcache.New(func(k decisionKey) prometheus.Counter {
		return a.decisions.WithLabelValues(k.reg, outcome(policy.Decision{Allow: k.allow}), k.reason)
	})
	if reg != nil {
		reg.MustRegister(a.decisions, a.disagree)
	}
	return a
}

// Decided counts a decision.
func (a *DenialLog) Decided(regKey string, d policy.Decision) {
	a.decided.Get(decisionKey{regKey, d.Allow, d.Reason}).Inc()
}

// Denied records a denial.
func (a *DenialLog) Denied(regKey string, id netid.Identity, d policy.Decision, route string, at time.Time) {
	a.add(source(regKey, id, d, route), at)
}

// Disagreed counts and records a request that the registry's staged
// settings decide otherwise (staged) than its enforced ones (d).
func (a *DenialLog) Disagreed(regKey string, id netid.Identity, d, staged policy.Decision, route string, at time.Time) {
	rec := source(regKey, id, d, route)
	rec.Decision, rec.StagedDecision, rec.StagedReason = outcome(d), outcome(staged), staged.String()
	a.disagree.WithLabelValues(regKey, rec.Decision, rec.StagedDecision).Inc()
	a.add(rec, at)
}

func outcome(d policy.Decision) string {
	if d.Allow {
		return "allow"
	}
	return "deny"
}

// source is the record of one request's source and decision.
func source(regKey string, id netid.Identity, d policy.Decision, route string) Denial {
	ip := ""
	if id.ClientIP.IsValid() {
		ip = id.ClientIP.String()
	}
	return Denial{Registry: regKey, ClientIP: ip, Path: string(id.Path), Subnet: id.Subnet,
		PrivateEndpoint: id.PrivateEndpoint, Reason: d.Reason, Route: route}
}

// add aggregates rec into its minute's record (of its type).
func (a *DenialLog) add(rec Denial, at time.Time) {
	at = at.UTC()
	minute := at.Truncate(time.Minute)
	rec.Minute = minute
	regSlot := rec.recordType() + ":" + rec.Registry
	reason := rec.Reason + "|" + rec.StagedReason
	key := strings.Join([]string{regSlot, minute.Format(time.RFC3339), rec.ClientIP, rec.Subnet, rec.PrivateEndpoint, reason}, "|")
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.pending[key]
	if !ok {
		slot := regSlot + "|" + minute.Format(time.RFC3339)
		if a.perMinute[slot] >= maxSources {
			rec.ClientIP, rec.Subnet, rec.PrivateEndpoint, rec.Path = "other", "", "", "other"
			key = slot + "|other|" + reason
		} else {
			a.perMinute[slot]++
		}
		if e, ok = a.pending[key]; !ok {
			rec.FirstSeen = at
			e = &rec
			a.pending[key] = e
		}
	}
	e.Count++
	e.LastSeen = at
}

// recordKey names a record's aggregate in the trail: the key (the
// lower-case ID) the record had as a resource before it moved there, so
// that the records of the minute of an upgrade keep merging.
func recordKey(d *Denial) string {
	if d.StagedDecision != "" {
		sum := sha256.Sum256([]byte(strings.Join([]string{d.ClientIP, d.Subnet, d.PrivateEndpoint, d.Reason, d.StagedReason}, "|")))
		return fmt.Sprintf("/moat/shadowdisagreements/%s/%d/%s", d.Registry, d.Minute.Unix(), hex.EncodeToString(sum[:8]))
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{d.ClientIP, d.Subnet, d.PrivateEndpoint, d.Reason}, "|")))
	return fmt.Sprintf("/moat/networkdenials/%s/%d/%s", d.Registry, d.Minute.Unix(), hex.EncodeToString(sum[:8]))
}

// Flush writes pending records, merging with what an earlier flush wrote.
// When it returns, everything recorded before it was called is stored.
func (a *DenialLog) Flush(ctx context.Context) error {
	a.flushing.Lock()
	defer a.flushing.Unlock()
	a.mu.Lock()
	batch := a.pending
	a.pending = map[string]*Denial{}
	cutoff := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Minute)
	for slot := range a.perMinute {
		if t, err := time.Parse(time.RFC3339, slot[strings.IndexByte(slot, '|')+1:]); err == nil && t.Before(cutoff) {
			delete(a.perMinute, slot)
		}
	}
	a.mu.Unlock()
	recs := make([]*meta.AuditRecord, 0, len(batch))
	for _, d := range batch {
		body, _ := json.Marshal(d) // a Denial always marshals
		recs = append(recs, &meta.AuditRecord{Registry: d.Registry, Type: d.recordType(), Time: d.LastSeen, Key: recordKey(d),
			Count: d.Count, First: d.FirstSeen, Body: body})
	}
	if err := a.store.AppendAudit(ctx, recs); err != nil {
		for key, d := range batch {
			a.requeue(key, d) // the next flush writes them: never lost to a failed write
		}
		return err
	}
	if time.Since(a.lastPrune) > time.Hour {
		a.lastPrune = time.Now()
		return a.prune(ctx)
	}
	return nil
}

// requeue puts back a record whose write failed, with what was recorded
// for it meanwhile.
func (a *DenialLog) requeue(key string, d *Denial) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.pending[key]
	if !ok {
		a.pending[key] = d
		return
	}
	e.Count += d.Count
	if d.FirstSeen.Before(e.FirstSeen) {
		e.FirstSeen = d.FirstSeen
	}
}

// prune deletes the records older than the retention, a batch at a time.
func (a *DenialLog) prune(ctx context.Context) error {
	for _, typ := range []string{RecordType, DisagreementType} {
		for {
			n, err := a.store.PruneAudit(ctx, typ, time.Now().Add(-retention), pruneBatch)
			if err != nil {
				return err
			}
			if n < pruneBatch {
				break
			}
		}
	}
	return nil
}

// Run flushes every interval until ctx ends, then once more.
func (a *DenialLog) Run(ctx context.Context, interval time.Duration) {
	runFlushes(ctx, interval, a.Flush, "writing network denials")
}

// runFlushes calls flush every interval until ctx ends, then once more.
func runFlushes(ctx context.Context, interval time.Duration, flush func(context.Context) error, what string) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := flush(context.Background()); err != nil {
				slog.Error(what, "err", err)
			}
			return
		case <-t.C:
			if err := flush(ctx); err != nil {
				slog.Error(what, "err", err)
			}
		}
	}
}

// List returns a registry's newest denial records since a time (up to
// maxList), newest first, after flushing what is pending.
func (a *DenialLog) List(ctx context.Context, regKey string, since time.Time) ([]Denial, error) {
	return a.list(ctx, regKey, RecordType, since)
}

// Disagreements returns a registry's newest shadow-mode disagreement
// records since a time, newest first, after flushing what is pending.
func (a *DenialLog) Disagreements(ctx context.Context, regKey string, since time.Time) ([]Denial, error) {
	return a.list(ctx, regKey, DisagreementType, since)
}

func (a *DenialLog) list(ctx context.Context, regKey, typ string, since time.Time) ([]Denial, error) {
	if err := a.Flush(ctx); err != nil {
		return nil, err
	}
	recs, err := a.store.ListAudit(ctx, meta.AuditQuery{Registry: regKey, Since: since, Type: typ, Limit: maxList})
	if err != nil {
		return nil, err
	}
	out := make([]Denial, 0, len(recs))
	for _, r := range recs {
		if d, err := Decode(r); err == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// Decode is a stored record as a Denial; the columns the store keeps (the
// merged count and times) win over the body.
func Decode(r *meta.AuditRecord) (Denial, error) {
	var d Denial
	if err := json.Unmarshal(r.Body, &d); err != nil {
		return d, err
	}
	d.Registry, d.LastSeen = r.Registry, r.Time
	if r.Count > 0 {
		d.Count, d.FirstSeen = r.Count, r.First
	}
	return d, nil
}
