package regindex

import (
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

// TestIPGroupsAndSets: a registry's rules naming an IP group or an
// operator's IP set allow what these hold when the snapshot is built; a
// change to the group is in force after the next Reload.
func TestIPGroupsAndSets(t *testing.T) {
	ctx := context.Background()
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	group := "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/ipGroups/ci"
	putGroup := func(addrs ...string) {
		b, _ := json.Marshal(model.IPGroup{ID: group, Properties: model.IPGroupProperties{IPAddresses: addrs}})
		r := &meta.Resource{ID: group, Type: model.TypeIPGroup, Body: b}
		if cur, err := m.GetResource(ctx, group); err == nil {
			r.Version = cur.Version
		}
		if err := m.PutResource(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	putGroup("20.1.0.0/24")
	props, _ := json.Marshal(model.RegistryProperties{NetworkRuleSet: &model.NetworkRuleSet{DefaultAction: "Deny",
		IPRules: []model.IPRule{{Value: group}, {Value: "CI-Runners"}}}})
	if err := m.CreateRegistry(ctx, &meta.Registry{Key: "r", Name: "r", Subscription: "s", ResourceGroup: "g", SKU: "Premium", Properties: props, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	idx, err := New(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	idx.SetIPSets(NamedSets(map[string][]netip.Prefix{"ci-runners": {netip.MustParsePrefix("20.3.0.0/16")}}))
	if err := idx.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	decide := func(ip string) policy.Decision {
		return policy.Decide(idx.Rules("r"), netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr(ip)}, nil, policy.DefaultTrusted)
	}
	for ip, rule := range map[string]string{"20.1.0.9": group, "20.2.0.9": "", "20.3.7.7": "CI-Runners"} {
		if d := decide(ip); d.Allow != (rule != "") || d.Rule != rule {
			t.Errorf("%s: %+v, want rule %q", ip, d, rule)
		}
	}
	putGroup("20.2.0.0/24")
	if d := decide("20.2.0.9"); d.Allow {
		t.Errorf("the group's change is in force before the reload: %+v", d)
	}
	if err := idx.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if d, d2 := decide("20.2.0.9"), decide("20.1.0.9"); !d.Allow || d2.Allow {
		t.Errorf("after the group changed: 20.2.0.9 %+v, 20.1.0.9 %+v", d, d2)
	}
}
