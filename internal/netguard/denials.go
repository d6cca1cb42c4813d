package netguard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moat-registry/moat/internal/meta"
	"github.com/moat-registry/moat/internal/netid"
	"github.com/moat-registry/moat/internal/policy"
	"github.com/prometheus/client_golang/prometheus"
)

// Denial is one aggregated audit record: the denials of one source for one
// reason on one registry within one minute.
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
}

const denialType = "moat/networkDenials"

// Limits of the audit, so that a flood of denied requests cannot grow
// storage without bound: at most maxSources records per registry and minute
// (the rest are counted in one "other" record), kept for retention.
const (
	maxSources = 1000
	retention  = 7 * 24 * time.Hour
)

// Audit aggregates denials in memory and writes them to the store in batches.
type Audit struct {
	store     meta.Resources
	mu        sync.Mutex // pending and perMinute
	pending   map[string]*Denial
	perMinute map[string]int // registry|minute -> distinct sources
	// flushing serialises flushes: a query's flush waits for a periodic one
	// that is still writing, so the query sees everything queued before it.
	flushing  sync.Mutex
	lastPrune time.Time // under flushing
	decisions *prometheus.CounterVec
}

// NewAudit makes an audit writing to store; decisions are counted in reg.
func NewAudit(store meta.Resources, reg prometheus.Registerer) *Audit {
	a := &Audit{store: store, pending: map[string]*Denial{}, perMinute: map[string]int{},
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_network_decisions_total",
			Help: "Network access decisions by registry, outcome and reason.",
		}, []string{"registry", "decision", "reason"})}
	if reg != nil {
		reg.MustRegister(a.decisions)
	}
	return a
}

// Decided counts a decision.
func (a *Audit) Decided(regKey string, d policy.Decision) {
	outcome := "deny"
	if d.Allow {
		outcome = "allow"
	}
	a.decisions.WithLabelValues(regKey, outcome, d.Reason).Inc()
}

// Denied records a denial.
func (a *Audit) Denied(regKey string, id netid.Identity, d policy.Decision, route string, at time.Time) {
	at = at.UTC()
	minute := at.Truncate(time.Minute)
	ip := ""
	if id.ClientIP.IsValid() {
		ip = id.ClientIP.String()
	}
	rec := Denial{Registry: regKey, Minute: minute, ClientIP: ip, Path: string(id.Path), Subnet: id.Subnet,
		PrivateEndpoint: id.PrivateEndpoint, Reason: d.Reason, Route: route}
	key := strings.Join([]string{rec.Registry, minute.Format(time.RFC3339), rec.ClientIP, rec.Subnet, rec.PrivateEndpoint, rec.Reason}, "|")
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.pending[key]
	if !ok {
		slot := regKey + "|" + minute.Format(time.RFC3339)
		if a.perMinute[slot] >= maxSources {
			rec.ClientIP, rec.Subnet, rec.PrivateEndpoint, rec.Path = "other", "", "", "other"
			key = slot + "|other|" + rec.Reason
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

func recordID(d *Denial) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{d.ClientIP, d.Subnet, d.PrivateEndpoint, d.Reason}, "|")))
	return fmt.Sprintf("/moat/networkDenials/%s/%d/%s", d.Registry, d.Minute.Unix(), hex.EncodeToString(sum[:8]))
}

// Flush writes pending records, merging with what an earlier flush wrote.
// When it returns, everything recorded before it was called is stored.
func (a *Audit) Flush(ctx context.Context) error {
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
	var errs []error
	for key, d := range batch {
		if err := a.merge(ctx, d); err != nil {
			errs = append(errs, err)
			a.requeue(key, d) // the next flush writes it: never lost to a failed write
		}
	}
	if time.Since(a.lastPrune) > time.Hour {
		a.lastPrune = time.Now()
		errs = append(errs, a.prune(ctx))
	}
	return errors.Join(errs...)
}

// requeue puts back a record whose write failed, with what was recorded
// for it meanwhile.
func (a *Audit) requeue(key string, d *Denial) {
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

// merge adds d to what an earlier flush stored for the same record.
func (a *Audit) merge(ctx context.Context, d *Denial) error {
	id := recordID(d)
	r, err := a.store.GetResource(ctx, id)
	rec := *d
	var version int64
	if err == nil {
		var old Denial
		if json.Unmarshal(r.Body, &old) == nil {
			rec.Count += old.Count
			if old.FirstSeen.Before(rec.FirstSeen) {
				rec.FirstSeen = old.FirstSeen
			}
		}
		version = r.Version
	} else if !errors.Is(err, meta.ErrNotFound) {
		return err
	}
	body, _ := json.Marshal(rec)
	return a.store.PutResource(ctx, &meta.Resource{ID: id, Type: denialType, Body: body, Version: version})
}

func (a *Audit) prune(ctx context.Context) error {
	rs, err := a.store.ListResources(ctx, denialType, "/moat/networkDenials/")
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-retention)
	for _, r := range rs {
		var d Denial
		if json.Unmarshal(r.Body, &d) == nil && d.Minute.Before(cutoff) {
			if err := a.store.DeleteResource(ctx, r.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// Run flushes every interval until ctx ends, then once more.
func (a *Audit) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := a.Flush(context.Background()); err != nil {
				slog.Error("writing network denials", "err", err)
			}
			return
		case <-t.C:
			if err := a.Flush(ctx); err != nil {
				slog.Error("writing network denials", "err", err)
			}
		}
	}
}

// List returns a registry's denial records since a time, newest first
// (after flushing what is pending).
func (a *Audit) List(ctx context.Context, regKey string, since time.Time) ([]Denial, error) {
	if err := a.Flush(ctx); err != nil {
		return nil, err
	}
	rs, err := a.store.ListResources(ctx, denialType, "/moat/networkDenials/"+regKey+"/")
	if err != nil {
		return nil, err
	}
	out := []Denial{}
	for _, r := range rs {
		var d Denial
		if json.Unmarshal(r.Body, &d) == nil && !d.LastSeen.Before(since) {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen) })
	return out, nil
}
