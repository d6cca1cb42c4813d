package regindex

import (
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-registry/moat/internal/addressing"
	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netid"
	"github.com/moat-registry/moat/internal/network/policy"
	"github.com/moat-registry/moat/internal/store/meta"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

const (
	vnet   = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/corp"
	subnet = vnet + "/subnets/a"
	pe     = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/privateEndpoints/pe1"
)

func put(t *testing.T, m *sqlite.Store, typ, id string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := m.PutResource(context.Background(), &meta.Resource{ID: id, Type: typ, Body: b}); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshot: one snapshot holds each registry's typed properties, its
// compiled rules (DenyAll when unreadable), its login server, and the
// networks' topology; a change is seen only after Reload swaps it in.
func TestSnapshot(t *testing.T) {
	ctx := context.Background()
	m, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for key, props := range map[string]string{
		"open":    `{"anonymousPullEnabled":true}`,
		"locked":  `{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"16.17.18.0/24"}]}}`,
		"corrupt": `{"networkRuleSet":`,
	} {
		if err := m.CreateRegistry(ctx, &meta.Registry{Key: key, Name: key, Subscription: "s", ResourceGroup: "g", SKU: "Premium", Properties: json.RawMessage(props), CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	put(t, m, model.TypeSubnet, subnet, model.Subnet{Name: "a", Properties: model.SubnetProperties{AddressPrefix: "10.77.1.0/24",
		ServiceEndpoints: []model.ServiceEndpoint{{Service: "Microsoft.ContainerRegistry"}}}})
	var p model.PrivateEndpoint
	if err := json.Unmarshal([]byte(`{"properties":{"subnet":{"id":"`+subnet+`"},"ipConfigurations":[{"properties":{"privateIPAddress":"10.77.1.9"}}]}}`), &p); err != nil {
		t.Fatal(err)
	}
	put(t, m, model.TypePE, pe, p)
	idx, err := New(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := addressing.New("moat.test", "6204")
	idx.SetAddressing(a)
	snap := idx.Load()
	open, _ := snap.Lookup("open")
	locked, _ := snap.Lookup("locked")
	corrupt, _ := snap.Lookup("corrupt")
	if !open.AnonymousPull() || locked.AnonymousPull() || corrupt.AnonymousPull() {
		t.Error("anonymousPullEnabled not decoded once into Props")
	}
	if open.LoginServer != "open.moat.test:6204" || open.ID != "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/open" {
		t.Errorf("open: %q %q", open.LoginServer, open.ID)
	}
	client := netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("16.17.18.19")}
	for reg, want := range map[*Registry]string{open: policy.ReasonDefaultAllow, locked: policy.ReasonIPRule, corrupt: policy.ReasonInvalidConfiguration} {
		if d := policy.Decide(reg.Rules, client, nil, policy.DefaultTrusted); d.Reason != want {
			t.Errorf("%s: %v, want %s", reg.Key, d, want)
		}
	}
	if pe2, ok := idx.PrivateEndpointAt(strings.ToLower(vnet), netip.MustParseAddr("10.77.1.9")); !ok || pe2 != strings.ToLower(pe) {
		t.Errorf("private endpoint at 10.77.1.9: %q %v", pe2, ok)
	}
	if sn, ok := idx.ServiceEndpointSubnet(strings.ToLower(vnet), netip.MustParseAddr("10.77.1.20")); !ok || sn != strings.ToLower(subnet) || !idx.HasServiceEndpoint(subnet) {
		t.Errorf("service endpoint subnet: %q %v", sn, ok)
	}
	if idx.Rules("nosuch") != policy.DenyAll {
		t.Error("an unknown registry is not DenyAll")
	}
	// A change: the old snapshot stays as it was; the next one has it.
	if err := m.DeleteRegistry(ctx, "open"); err != nil {
		t.Fatal(err)
	}
	if err := idx.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.Lookup("open"); !ok {
		t.Error("a held snapshot changed")
	}
	if _, ok := idx.Lookup("open"); ok || idx.Load().Addressing != a {
		t.Error("Reload lost the change or the addressing")
	}
}
