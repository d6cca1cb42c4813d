package netguard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Traffic is one aggregated record of the traffic memory: the allowed
// data-plane requests of one network identity and principal to one
// registry within one hour. Impact previews (simulateNetworkRuleSet)
// decide proposed settings against it.
type Traffic struct {
	Registry string `json:"registry"`
	// RegistryID is the registry's UID: a registry created again under
	// the same name does not see the traffic of the earlier one.
	RegistryID      string    `json:"registryId"`
	Hour            time.Time `json:"hour"`
	ClientIP        string    `json:"clientIp"`
	Path            string    `json:"path"`
	Subnet          string    `json:"subnet,omitempty"`
	PrivateEndpoint string    `json:"privateEndpoint,omitempty"`
	// Principal is who the request authenticated as ("" anonymous, or a
	// request refused after the gate).
	Principal string    `json:"principal,omitempty"`
	Count     int64     `json:"count"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
}

// Other is the ClientIP and Path of the record that sums a registry-hour's
// sources past the bound.
const Other = "other"

// Limits of the traffic memory: at most trafficSources records per
// registry and hour (the rest summed in one Other record per node), kept
// as long as the audit trail keeps its events by default (30 days).
const (
	trafficSources   = 1000
	TrafficRetention = 30 * 24 * time.Hour
	// TrafficMaxRead is the most records one read of the memory returns
	// (30 days of 1000 sources an hour is more: the newest win).
	TrafficMaxRead = 200_000
)

// trafficRegistry is the registry column of a registry's traffic records:
// not the registry's key, so that its audit trail does not list them.
func trafficRegistry(regKey string) string { return "_traffic:" + regKey }

// TrafficType is the record type of the traffic memory in the audit table.
const TrafficType = "traffic"

// TrafficLog is the traffic memory: it aggregates allowed requests in
// memory and writes them to the audit trail's table in batches, merged in
// SQL with what earlier flushes (or other nodes) wrote for the same key.
type TrafficLog struct {
	store   meta.AuditTrail
	mu      sync.Mutex // pending and perHour
	pending map[sourceHour]*Traffic
	perHour map[regHour]map[sourceHour]struct{} // the sources with a record of their own
	// flushing serialises flushes (see DenialLog).
	flushing  sync.Mutex
	lastPrune time.Time // under flushing
}

// regHour is one registry's hour; sourceHour one source's in it (as map
// keys, so that recording a request allocates nothing once its source is
// known).
type regHour struct {
	reg, uid string
	hour     int64
}

type sourceHour struct {
	regHour
	ip                     netip.Addr
	path, subnet, pe, user string
	other                  bool
}

// NewTrafficLog makes a traffic memory writing to store.
func NewTrafficLog(store meta.AuditTrail) *TrafficLog {
	return &TrafficLog{store: store, pending: map[sourceHour]*Traffic{}, perHour: map[regHour]map[sourceHour]struct{}{}}
}

// Allowed records an allowed request.
func (t *TrafficLog) Allowed(regKey, regUID string, id netid.Identity, principal string, at time.Time) {
	at = at.UTC()
	hour := at.Truncate(time.Hour)
	slot := regHour{regKey, regUID, hour.Unix()}
	key := sourceHour{regHour: slot, ip: id.ClientIP, path: string(id.Path), subnet: id.Subnet, pe: id.PrivateEndpoint, user: principal}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.pending[key]
	if !ok {
		known := t.perHour[slot]
		if known == nil {
			known = map[sourceHour]struct{}{}
			t.perHour[slot] = known
		}
		var rec Traffic
		if _, ok := known[key]; !ok && len(known) >= trafficSources {
			key = sourceHour{regHour: slot, other: true}
			rec = Traffic{Registry: regKey, RegistryID: regUID, Hour: hour, ClientIP: Other, Path: Other, FirstSeen: at}
		} else {
			known[key] = struct{}{}
			ip := ""
			if id.ClientIP.IsValid() {
				ip = id.ClientIP.String()
			}
			rec = Traffic{Registry: regKey, RegistryID: regUID, Hour: hour, ClientIP: ip, Path: string(id.Path), Subnet: id.Subnet,
				PrivateEndpoint: id.PrivateEndpoint, Principal: principal, FirstSeen: at}
		}
		if e, ok = t.pending[key]; !ok {
			e = &rec
			t.pending[key] = e
		}
	}
	e.Count++
	e.LastSeen = at
}

// trafficKey names a record's aggregate in the table.
func trafficKey(r *Traffic) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{r.ClientIP, r.Path, r.Subnet, r.PrivateEndpoint, r.Principal}, "|")))
	return fmt.Sprintf("/moat/traffic/%s/%s/%d/%s", r.Registry, r.RegistryID, r.Hour.Unix(), hex.EncodeToString(sum[:12]))
}

// Flush writes pending records. When it returns, everything recorded
// before it was called is stored (or still pending, after an error).
func (t *TrafficLog) Flush(ctx context.Context) error {
	t.flushing.Lock()
	defer t.flushing.Unlock()
	t.mu.Lock()
	batch := t.pending
	t.pending = map[sourceHour]*Traffic{}
	cutoff := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour).Unix()
	for slot := range t.perHour {
		if slot.hour < cutoff {
			delete(t.perHour, slot)
		}
	}
	t.mu.Unlock()
	if len(batch) > 0 {
		recs := make([]*meta.AuditRecord, 0, len(batch))
		for _, r := range batch {
			body, _ := json.Marshal(r) // a Traffic always marshals
			recs = append(recs, &meta.AuditRecord{Registry: trafficRegistry(r.Registry), RegistryID: r.RegistryID, Type: TrafficType, Time: r.LastSeen,
				Key: trafficKey(r), Count: r.Count, First: r.FirstSeen, Body: body})
		}
		if err := t.store.AppendAudit(ctx, recs); err != nil {
			t.requeue(batch)
			return err
		}
	}
	if time.Since(t.lastPrune) > time.Hour {
		t.lastPrune = time.Now()
		return t.prune(ctx)
	}
	return nil
}

// requeue puts back records whose write failed, with what was recorded
// for them meanwhile: never lost to a failed write.
func (t *TrafficLog) requeue(batch map[sourceHour]*Traffic) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key, r := range batch {
		e, ok := t.pending[key]
		if !ok {
			t.pending[key] = r
			continue
		}
		e.Count += r.Count
		if r.FirstSeen.Before(e.FirstSeen) {
			e.FirstSeen = r.FirstSeen
		}
	}
}

func (t *TrafficLog) prune(ctx context.Context) error {
	for {
		n, err := t.store.PruneAudit(ctx, TrafficType, time.Now().Add(-TrafficRetention), pruneBatch)
		if err != nil || n < pruneBatch {
			return err
		}
	}
}

// Run flushes every interval until ctx ends, then once more.
func (t *TrafficLog) Run(ctx context.Context, interval time.Duration) {
	runFlushes(ctx, interval, t.Flush, "writing the traffic memory")
}

// List returns the traffic records of a registry (by key and UID) since a
// time (the newest TrafficMaxRead), after flushing what is pending.
func (t *TrafficLog) List(ctx context.Context, regKey, regUID string, since time.Time) ([]Traffic, error) {
	if err := t.Flush(ctx); err != nil {
		return nil, err
	}
	var out []Traffic
	q := meta.AuditQuery{Registry: trafficRegistry(regKey), RegistryID: regUID, Created: time.Now().Add(time.Hour), Since: since,
		Type: TrafficType, Limit: 5000} // Created later than any record: only those of this UID
	for len(out) < TrafficMaxRead {
		recs, err := t.store.ListAudit(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			var tr Traffic
			if json.Unmarshal(r.Body, &tr) != nil {
				continue
			}
			tr.Registry, tr.RegistryID, tr.LastSeen, tr.Count, tr.FirstSeen = regKey, r.RegistryID, r.Time, r.Count, r.First
			out = append(out, tr)
		}
		if len(recs) < q.Limit {
			break
		}
		last := recs[len(recs)-1]
		q.After = &meta.AuditCursor{Time: last.Time, Seq: last.Seq}
	}
	return out, nil
}
