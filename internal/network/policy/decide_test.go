package policy

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/model"
	"github.com/moat-registry/moat/internal/network/netid"
)

const (
	subnetA = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/corp/subnets/a"
	subnetB = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/corp/subnets/b"
	pe1     = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/privateEndpoints/pe1"
	pe2     = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/privateEndpoints/pe2"
	tasks   = "Microsoft.ContainerRegistry/registries/tasks"
	ml      = "Microsoft.MachineLearningServices/workspaces"
)

// compileJSON compiles stored properties as the registry snapshot does.
func compileJSON(raw json.RawMessage, pes []string) *Rules {
	var p model.RegistryProperties
	if json.Unmarshal(raw, &p) != nil {
		return DenyAll
	}
	return Compile(p, pes)
}

// TestDenyAll: rules that could not be read deny everyone, trusted services too.
func TestDenyAll(t *testing.T) {
	if d := Decide(DenyAll, pub("16.17.18.19"), sysTask, DefaultTrusted); d.Allow || d.Reason != ReasonInvalidConfiguration {
		t.Fatalf("DenyAll: %+v", d)
	}
}

// props builds stored registry properties.
func props(public, action string, ips []string, subnets []string, bypass string, tasksBypass bool) json.RawMessage {
	rs := map[string]any{"defaultAction": action}
	var ipr, vnr []map[string]string
	for _, v := range ips {
		ipr = append(ipr, map[string]string{"action": "Allow", "value": v})
	}
	for _, v := range subnets {
		vnr = append(vnr, map[string]string{"action": "Allow", "virtualNetworkSubnetResourceId": v})
	}
	rs["ipRules"], rs["virtualNetworkRules"] = ipr, vnr
	b, _ := json.Marshal(map[string]any{"publicNetworkAccess": public, "networkRuleSet": rs,
		"networkRuleBypassOptions": bypass, "networkRuleBypassAllowedForTasks": tasksBypass})
	return b
}

func pub(ip string) netid.Identity {
	return netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr(ip)}
}

func svc(subnet, ip string) netid.Identity {
	// netid lower-cases resource IDs; so do these helpers.
	return netid.Identity{Path: netid.ServiceEndpoint, Subnet: strings.ToLower(subnet), ClientIP: netip.MustParseAddr(ip)}
}

func viaPE(id string) netid.Identity {
	return netid.Identity{Path: netid.PrivateEndpoint, PrivateEndpoint: strings.ToLower(id), ClientIP: netip.MustParseAddr("10.77.3.9")}
}

var (
	sysTask = &Principal{SystemAssigned: true, ServiceType: tasks}
	sysML   = &Principal{SystemAssigned: true, ServiceType: ml}
	uaTask  = &Principal{SystemAssigned: false, ServiceType: tasks}
	sysVM   = &Principal{SystemAssigned: true, ServiceType: "Microsoft.Compute/virtualMachines"}
)

func TestDecide(t *testing.T) {
	open := props("Enabled", "Allow", nil, nil, "AzureServices", false)
	ipOnly := props("Enabled", "Deny", []string{"16.17.18.0/24", "2001:db8::/48"}, nil, "AzureServices", false)
	vnet := props("Enabled", "Deny", []string{"16.17.18.0/24"}, []string{subnetA}, "AzureServices", false)
	off := props("Disabled", "Allow", nil, nil, "AzureServices", false)
	offNoBypass := props("Disabled", "Allow", nil, nil, "None", false)
	offTasksOnly := props("Disabled", "Allow", nil, nil, "None", true)
	cases := []struct {
		name   string
		props  json.RawMessage
		pes    []string
		id     netid.Identity
		p      *Principal
		allow  bool
		reason string
		rule   string
	}{
		{"1 approved private endpoint", off, []string{pe1}, viaPE(pe1), nil, true, ReasonPrivateEndpoint, lower(pe1)},
		{"1 endpoint ids compare case-insensitively", off, []string{toUpper(pe1)}, viaPE(toUpper(pe1)), nil, true, ReasonPrivateEndpoint, lower(pe1)},
		{"1 unapproved private endpoint", open, []string{pe1}, viaPE(pe2), nil, false, ReasonPrivateEndpointUnknown, lower(pe2)},
		{"1 private endpoint ignores IP rules", ipOnly, nil, viaPE(pe1), nil, false, ReasonPrivateEndpointUnknown, lower(pe1)},
		{"1 trusted service cannot use an unapproved endpoint", off, nil, viaPE(pe1), sysTask, false, ReasonPrivateEndpointUnknown, lower(pe1)},
		{"2 public access disabled", off, []string{pe1}, pub("16.17.18.19"), nil, false, ReasonPublicAccessDisabled, ""},
		{"2 disabled beats a matching IP rule", props("Disabled", "Deny", []string{"16.17.18.0/24"}, nil, "AzureServices", false), nil, pub("16.17.18.19"), nil, false, ReasonPublicAccessDisabled, ""},
		{"3 default allow", open, nil, pub("8.8.8.8"), nil, true, ReasonDefaultAllow, ""},
		{"3 default allow for private sources too", open, nil, pub("10.1.2.3"), nil, true, ReasonDefaultAllow, ""},
		{"4 subnet rule", vnet, nil, svc(subnetA, "10.77.1.10"), nil, true, ReasonVirtualNetworkRule, subnetA},
		{"4 subnet rule case-insensitive", vnet, nil, svc(toUpper(subnetA), "10.77.1.10"), nil, true, ReasonVirtualNetworkRule, subnetA},
		{"4 other subnet", vnet, nil, svc(subnetB, "10.77.2.10"), nil, false, ReasonNoMatchingRule, ""},
		{"4 public path never matches a subnet rule", vnet, nil, netid.Identity{Path: netid.Public, Subnet: subnetA, ClientIP: netip.MustParseAddr("10.77.1.10")}, nil, false, ReasonNoMatchingRule, ""},
		{"5 ip rule", ipOnly, nil, pub("16.17.18.19"), nil, true, ReasonIPRule, "16.17.18.0/24"},
		{"5 ipv6 rule", ipOnly, nil, pub("2001:db8:0:1::5"), nil, true, ReasonIPRule, "2001:db8::/48"},
		{"5 ipv4-mapped client", ipOnly, nil, pub("::ffff:16.17.18.19"), nil, true, ReasonIPRule, "16.17.18.0/24"},
		{"5 service endpoint traffic still matches IP rules by its (private) IP: none", vnet, nil, svc(subnetB, "16.17.18.20"), nil, true, ReasonIPRule, "16.17.18.0/24"},
		{"7 no match", ipOnly, nil, pub("16.17.19.1"), nil, false, ReasonNoMatchingRule, ""},
		{"7 no client IP", ipOnly, nil, netid.Identity{Path: netid.Public}, nil, false, ReasonNoMatchingRule, ""},
		{"6 task identity bypasses IP rules", ipOnly, nil, pub("8.8.8.8"), sysTask, true, ReasonTrustedService, tasks},
		{"6 ML identity bypasses public access off", off, nil, pub("8.8.8.8"), sysML, true, ReasonTrustedService, ml},
		{"6 user-assigned never bypasses", ipOnly, nil, pub("8.8.8.8"), uaTask, false, ReasonNoMatchingRule, ""},
		{"6 untrusted service never bypasses", ipOnly, nil, pub("8.8.8.8"), sysVM, false, ReasonNoMatchingRule, ""},
		{"6 no bypass with virtual-network rules", vnet, nil, pub("8.8.8.8"), sysTask, false, ReasonNoMatchingRule, ""},
		{"6 bypass None", offNoBypass, nil, pub("8.8.8.8"), sysTask, false, ReasonPublicAccessDisabled, ""},
		{"6 bypass None but tasks allowed: task passes", offTasksOnly, nil, pub("8.8.8.8"), sysTask, true, ReasonTrustedService, tasks},
		{"6 bypass None but tasks allowed: ML does not", offTasksOnly, nil, pub("8.8.8.8"), sysML, false, ReasonPublicAccessDisabled, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(compileJSON(c.props, c.pes), c.id, c.p, DefaultTrusted)
			if d.Allow != c.allow || d.Reason != c.reason || d.Rule != c.rule {
				t.Fatalf("got %+v, want allow=%v %s %s", d, c.allow, c.reason, c.rule)
			}
		})
	}
}

func lower(s string) string { return strings.ToLower(s) }

func toUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// TestAddingAnAllowRuleNeverDenies: a property of the decision; adding an IP
// or subnet rule, or approving an endpoint, never turns an allow into a deny.
func TestAddingAnAllowRuleNeverDenies(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randIP := func() string {
		return fmt.Sprintf("%d.%d.%d.%d", 11+rng.IntN(200), rng.IntN(256), rng.IntN(256), rng.IntN(256))
	}
	subnets := []string{subnetA, subnetB}
	for i := 0; i < 2000; i++ {
		public := []string{"Enabled", "Disabled"}[rng.IntN(2)]
		action := []string{"Allow", "Deny"}[rng.IntN(2)]
		var ips, vnets, pes []string
		for range rng.IntN(4) {
			ips = append(ips, fmt.Sprintf("%s/%d", randIP(), 8+rng.IntN(25)))
		}
		if rng.IntN(2) == 0 {
			vnets = append(vnets, subnets[rng.IntN(2)])
		}
		ids := []netid.Identity{pub(randIP()), svc(subnets[rng.IntN(2)], randIP()), viaPE([]string{pe1, pe2}[rng.IntN(2)])}
		id := ids[rng.IntN(3)]
		before := Decide(compileJSON(normalise(props(public, action, ips, vnets, "AzureServices", false)), pes), id, nil, DefaultTrusted)
		// Add one allowing thing.
		switch rng.IntN(3) {
		case 0:
			ips = append(ips, randIP()+"/16")
		case 1:
			vnets = append(vnets, subnets[rng.IntN(2)])
		case 2:
			pes = append(pes, []string{pe1, pe2}[rng.IntN(2)])
		}
		after := Decide(compileJSON(normalise(props(public, action, ips, vnets, "AzureServices", false)), pes), id, nil, DefaultTrusted)
		if before.Allow && !after.Allow {
			t.Fatalf("adding a rule denied %+v: before %+v, after %+v (ips %v vnets %v pes %v)", id, before, after, ips, vnets, pes)
		}
	}
}

// normalise masks host bits so random prefixes are valid rules.
func normalise(raw json.RawMessage) json.RawMessage {
	var m map[string]any
	json.Unmarshal(raw, &m)
	rs := m["networkRuleSet"].(map[string]any)
	if ips, ok := rs["ipRules"].([]any); ok {
		for _, r := range ips {
			rm := r.(map[string]any)
			p := netip.MustParsePrefix(rm["value"].(string))
			rm["value"] = p.Masked().String()
		}
	}
	b, _ := json.Marshal(m)
	return b
}

// TestTrustedFrom: the operator's list decides whether tasks are a trusted
// type at all; networkRuleBypassAllowedForTasks cannot add them.
func TestTrustedFrom(t *testing.T) {
	tasksOnly := compileJSON(props("Disabled", "Deny", nil, nil, "None", true), nil)
	for _, c := range []struct {
		types []string
		allow bool
	}{
		{nil, true},
		{[]string{tasks}, true},
		{[]string{strings.ToUpper(tasks), ml}, true},
		{[]string{ml}, false},
	} {
		if d := Decide(tasksOnly, pub("203.0.113.5"), sysTask, TrustedFrom(c.types)); d.Allow != c.allow {
			t.Errorf("trustedServices %v: %v, want allow=%v", c.types, d, c.allow)
		}
	}
}
