package ruleexpiry

import (
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/regindex"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

type recorder struct {
	mu  sync.Mutex
	evs []audit.Event
}

func (r *recorder) Record(_ context.Context, e audit.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

// TestSweep: two nodes' sweepers over one store remove each expired rule
// once, audit it once (at its expiry, with the settings before and after),
// keep the rules that have not expired, and leave registries without
// expired rules untouched.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	t0 := time.Now().UTC().Truncate(time.Second)
	soon, later := t0.Add(time.Minute), t0.Add(time.Hour)
	rules := []model.IPRule{{Action: "Allow", Value: "20.0.0.1", ExpiresOn: &soon}, {Action: "Allow", Value: "20.0.0.2", ExpiresOn: &later}, {Action: "Allow", Value: "20.0.0.3"}}
	for _, key := range []string{"expiring", "other"} {
		p := model.RegistryProperties{NetworkRuleSet: &model.NetworkRuleSet{DefaultAction: "Deny", IPRules: rules}}
		if key == "other" {
			p.NetworkRuleSet.IPRules = rules[1:]
		}
		raw, _ := json.Marshal(p)
		if err := store.CreateRegistry(ctx, &meta.Registry{Key: key, Name: key, Subscription: "s", ResourceGroup: "g", SKU: "Premium", Properties: raw, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	var rec recorder
	var nodes []*Sweeper
	for range 2 {
		idx, err := regindex.New(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, &Sweeper{Store: store, Index: idx, Audit: &rec})
	}
	if n, err := nodes[0].Sweep(ctx, t0); n != 0 || err != nil {
		t.Fatalf("sweep before any expiry: %d, %v", n, err)
	}
	other, _ := store.GetRegistry(ctx, "other")

	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i, s := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if counts[i], err = s.Sweep(ctx, soon); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if counts[0]+counts[1] != 1 || len(rec.evs) != 1 {
		t.Fatalf("the two sweeps removed %v rules and audited %d events; want 1 and 1", counts, len(rec.evs))
	}
	e := rec.evs[0]
	if e.Registry != "expiring" || e.Type != audit.TypeConfig || e.Principal != Principal || !e.Time.Equal(soon) ||
		!strings.Contains(e.Detail, "20.0.0.1 expired") || !strings.Contains(string(e.Before), "20.0.0.1") || strings.Contains(string(e.After), "20.0.0.1") ||
		!strings.Contains(string(e.After), "20.0.0.2") {
		t.Errorf("audit event %+v\nbefore %s\nafter %s", e, e.Before, e.After)
	}
	reg, _ := store.GetRegistry(ctx, "expiring")
	var p model.RegistryProperties
	json.Unmarshal(reg.Properties, &p)
	if got := p.NetworkRuleSet.IPRules; len(got) != 2 || got[0].Value != "20.0.0.2" || got[1].Value != "20.0.0.3" || got[0].ExpiresOn == nil || !got[0].ExpiresOn.Equal(later) {
		t.Errorf("stored rules after the sweep: %+v", got)
	}
	if again, _ := store.GetRegistry(ctx, "other"); again.Version != other.Version {
		t.Errorf("a registry without expired rules was rewritten (version %d -> %d)", other.Version, again.Version)
	}
	// The sweeping node reloaded its snapshot: the rule is gone from it.
	r, _ := nodes[counts[1]].Index.Lookup("expiring")
	if len(r.Props.NetworkRuleSet.IPRules) != 2 || !r.NextExpiry.Equal(later) {
		t.Errorf("snapshot after the sweep: %+v, next expiry %v", r.Props.NetworkRuleSet.IPRules, r.NextExpiry)
	}
	if d := policy.Decide(r.Rules, netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("20.0.0.1")}, nil, policy.DefaultTrusted); d.Allow {
		t.Errorf("20.0.0.1 after the sweep: %+v", d)
	}
}
