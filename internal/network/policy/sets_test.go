package policy

import (
	"net/netip"
	"testing"

	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netrule"
)

type fakeSets map[string][]netip.Prefix

func (f fakeSets) Expand(r netrule.Ref) ([]netip.Prefix, bool) { ps, ok := f[r.Key]; return ps, ok }

// TestRulesNamingSets: a rule naming an IP group or IP set allows what it
// holds and is reported as written; an unknown one allows nothing.
func TestRulesNamingSets(t *testing.T) {
	group := "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/ipGroups/ci"
	sets := fakeSets{
		"/subscriptions/s/resourcegroups/net/providers/microsoft.network/ipgroups/ci": {netip.MustParsePrefix("20.1.0.0/24"), netip.MustParsePrefix("20.2.0.9/32")},
		"ci-runners": {netip.MustParsePrefix("20.3.0.0/16")},
	}
	r := CompileWith(model.RegistryProperties{NetworkRuleSet: &model.NetworkRuleSet{DefaultAction: "Deny", IPRules: []model.IPRule{
		{Value: group}, {Value: "ci-runners"}, {Value: "unknown-set"}, {Value: "20.9.0.1"},
	}}}, nil, sets)
	for ip, rule := range map[string]string{"20.1.0.77": group, "20.2.0.9": group, "20.2.0.10": "", "20.3.4.5": "ci-runners", "20.9.0.1": "20.9.0.1", "20.4.0.1": ""} {
		d := Decide(r, pub(ip), nil, DefaultTrusted)
		if d.Allow != (rule != "") || d.Rule != rule {
			t.Errorf("%s: %+v, want rule %q", ip, d, rule)
		}
	}
	if d := Decide(Compile(model.RegistryProperties{NetworkRuleSet: &model.NetworkRuleSet{DefaultAction: "Deny", IPRules: []model.IPRule{{Value: group}}}}, nil), pub("20.1.0.77"), nil, DefaultTrusted); d.Allow {
		t.Errorf("a group without its contents allowed: %+v", d)
	}
}
