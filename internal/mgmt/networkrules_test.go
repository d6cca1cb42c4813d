package mgmt_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestIPRuleValues(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "iprules", "Premium")
	const public = "IP rules are for public internet addresses only"
	cases := []struct {
		value string
		want  string // canonical value stored, "" when refused
		code  string
		hints []string
	}{
		{value: "20.30.40.50", want: "20.30.40.50"},
		{value: "20.30.40.50/32", want: "20.30.40.50"},
		{value: " 20.30.40.50 ", want: "20.30.40.50"},
		{value: "16.17.18.0/24", want: "16.17.18.0/24"},
		{value: "8.0.0.0/7", want: "8.0.0.0/7"},
		{value: "2600:1f18::1", want: "2600:1f18::1"},
		{value: "2600:1f18::1/128", want: "2600:1f18::1"},
		{value: "2600:1f18::/32", want: "2600:1f18::/32"},
		{value: "::ffff:20.30.40.50", want: "20.30.40.50"},
		{value: "::ffff:20.30.40.0/120", want: "20.30.40.0/24"},

		{value: "10.1.2.3", code: "InvalidIpRule", hints: []string{"10.0.0.0/8 (RFC 1918)", public}},
		{value: "172.16.5.0/24", code: "InvalidIpRule", hints: []string{"172.16.0.0/12 (RFC 1918)"}},
		{value: "192.168.1.1", code: "InvalidIpRule", hints: []string{"192.168.0.0/16 (RFC 1918)"}},
		{value: "::ffff:10.0.0.1", code: "InvalidIpRule", hints: []string{"RFC 1918"}},
		{value: "127.0.0.1", code: "InvalidIpRule", hints: []string{"loopback"}},
		{value: "169.254.169.254", code: "InvalidIpRule", hints: []string{"link-local"}},
		{value: "224.0.0.1", code: "InvalidIpRule", hints: []string{"multicast"}},
		{value: "239.0.0.0/8", code: "InvalidIpRule", hints: []string{"multicast"}},
		{value: "0.0.0.0", code: "InvalidIpRule", hints: []string{"unspecified"}},
		{value: "fd12:3456::/48", code: "InvalidIpRule", hints: []string{"fc00::/7"}},
		{value: "fc00::1", code: "InvalidIpRule", hints: []string{"unique-local"}},
		{value: "::1", code: "InvalidIpRule", hints: []string{"loopback"}},
		{value: "fe80::1", code: "InvalidIpRule", hints: []string{"link-local"}},
		{value: "ff02::1", code: "InvalidIpRule", hints: []string{"multicast"}},
		{value: "::", code: "InvalidIpRule", hints: []string{"unspecified"}},
		{value: "20.30.40.50/24", code: "InvalidIpRule", hints: []string{"host bits set", "the canonical prefix is 20.30.40.0/24"}},
		{value: "2600:1f18::1/32", code: "InvalidIpRule", hints: []string{"host bits set", "the canonical prefix is 2600:1f18::/32"}},
		{value: "0.0.0.0/0", code: "InvalidIpRule", hints: []string{"--default-action Allow"}},
		{value: "::/0", code: "InvalidIpRule", hints: []string{"--default-action Allow"}},
		{value: "8.0.0.0/5", code: "InvalidIpRule", hints: []string{"covers the private range 10.0.0.0/8"}},
		{value: "128.0.0.0/1", code: "InvalidIpRule", hints: []string{"covers"}},
		{value: "160.0.0.0/3", code: "InvalidIpRule", hints: []string{"covers"}},
		{value: "fc00::/6", code: "InvalidIpRule", hints: []string{"covers the unique-local"}},
		{value: "::/1", code: "InvalidIpRule", hints: []string{"covers"}},
		{value: "not-an-ip", code: "InvalidIpRule", hints: []string{"not a valid IP address or CIDR prefix"}},
		{value: "1.2.3.4/33", code: "InvalidIpRule", hints: []string{"not a valid IP address or CIDR prefix"}},
		{value: "1.2.3", code: "InvalidIpRule", hints: []string{"not a valid IP address"}},
		{value: "", code: "InvalidIpRule", hints: []string{"not a valid IP address"}},
		{value: "fe80::1%eth0", code: "InvalidIpRule", hints: []string{"zone"}},
	}
	for _, c := range cases {
		t.Run(c.value, func(t *testing.T) {
			body := obj{"properties": ruleSet("Deny", ipRules(c.value), nil)}
			status, m := e.do(t, "PATCH", regPath("iprules"), body)
			if c.want == "" {
				wantErr(t, status, m, 400, c.code, c.hints...)
				return
			}
			if status != http.StatusOK {
				t.Fatalf("%q: %d %v", c.value, status, m)
			}
			if got := get(t, m, "properties", "networkRuleSet", "ipRules", 0, "value"); got != c.want {
				t.Errorf("stored %v, want %s", got, c.want)
			}
			if got := get(t, m, "properties", "networkRuleSet", "ipRules", 0, "action"); got != "Allow" {
				t.Errorf("action %v", got)
			}
		})
	}
	t.Run("action Deny", func(t *testing.T) {
		body := obj{"properties": ruleSet("Deny", []any{obj{"action": "Deny", "value": "20.30.40.50"}}, nil)}
		status, m := e.do(t, "PATCH", regPath("iprules"), body)
		wantErr(t, status, m, 400, "InvalidParameter", "only Allow")
	})
	t.Run("one bad value refuses the whole list", func(t *testing.T) {
		e.must(t, http.StatusOK, "PATCH", regPath("iprules"), obj{"properties": ruleSet("Deny", ipRules("20.30.40.50"), nil)})
		status, m := e.do(t, "PATCH", regPath("iprules"), obj{"properties": ruleSet("Deny", ipRules("30.0.0.1", "10.0.0.1"), nil)})
		wantErr(t, status, m, 400, "InvalidIpRule", "10.0.0.1")
		m = e.must(t, http.StatusOK, "GET", regPath("iprules"), nil)
		if n := length(t, m, "properties", "networkRuleSet", "ipRules"); n != 1 {
			t.Errorf("a refused update changed the rules: %v", m["properties"])
		}
	})
}

func ruleValues(t testing.TB, m map[string]any) []string {
	t.Helper()
	var out []string
	rules, _ := get(t, m, "properties", "networkRuleSet", "ipRules").([]any)
	for _, r := range rules {
		out = append(out, r.(map[string]any)["value"].(string))
	}
	return out
}

func TestIPRuleDuplicatesAndRemoval(t *testing.T) {
	e := newEnv(t)
	m := e.must(t, http.StatusCreated, "PUT", regPath("dupes"), registryBody("Premium",
		ruleSet("Deny", ipRules("20.30.40.50", "20.30.40.50/32", "::ffff:20.30.40.50", "2600::1", "2600::1/128"), nil)))
	if got := fmt.Sprint(ruleValues(t, m)); got != "[20.30.40.50 2600::1]" {
		t.Fatalf("duplicates not collapsed: %s", got)
	}
	steps := []struct {
		name  string
		rules []string
		want  string
	}{
		{"adding a duplicate is a no-op", []string{"20.30.40.50", "2600::1", "20.30.40.50/32"}, "[20.30.40.50 2600::1]"},
		{"add another", []string{"20.30.40.50", "2600::1", "31.0.0.0/8"}, "[20.30.40.50 2600::1 31.0.0.0/8]"},
		// The client removes "20.30.40.50/32" from the list it read: the
		// bare form it read is the same rule, so it is gone.
		{"remove the /32 form", []string{"2600::1", "31.0.0.0/8"}, "[2600::1 31.0.0.0/8]"},
		{"re-add as /32", []string{"2600::1", "31.0.0.0/8", "20.30.40.50/32"}, "[2600::1 31.0.0.0/8 20.30.40.50]"},
		{"remove the bare form", []string{"2600::1/128", "31.0.0.0/8"}, "[2600::1 31.0.0.0/8]"},
		{"remove all", []string{}, "[]"},
	}
	for _, s := range steps {
		m := e.must(t, http.StatusOK, "PATCH", regPath("dupes"), obj{"properties": ruleSet("Deny", ipRules(s.rules...), nil)})
		if got := fmt.Sprint(ruleValues(t, m)); got != s.want && !(s.want == "[]" && got == "[]") {
			t.Errorf("%s: rules %s, want %s", s.name, got, s.want)
		}
		if got := fmt.Sprint(ruleValues(t, e.must(t, http.StatusOK, "GET", regPath("dupes"), nil))); got != s.want {
			t.Errorf("%s: GET shows %s, want %s", s.name, got, s.want)
		}
	}
}

func TestRuleQuotas(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "quotas", "Premium")
	// Three distinct rules fit the limit of 3 (a duplicate does not count).
	e.must(t, http.StatusOK, "PATCH", regPath("quotas"), obj{"properties": ruleSet("Deny", ipRules("20.0.0.1", "20.0.0.2", "20.0.0.3", "20.0.0.3/32"), nil)})
	status, m := e.do(t, "PATCH", regPath("quotas"), obj{"properties": ruleSet("Deny", ipRules("20.0.0.1", "20.0.0.2", "20.0.0.3", "20.0.0.4"), nil)})
	wantErr(t, status, m, 400, "NetworkRuleQuotaExceeded", "IP rules (4)", "exceeds allowed quota 3 for the SKU Premium")

	e.must(t, http.StatusCreated, "PUT", vnetPath("v1"), vnetBody([]string{"10.0.0.0/16"},
		namedSubnet("a", "10.0.1.0/24", "Microsoft.ContainerRegistry"),
		namedSubnet("b", "10.0.2.0/24", "Microsoft.ContainerRegistry"),
		namedSubnet("c", "10.0.3.0/24", "Microsoft.ContainerRegistry")))
	rules := func(names ...string) []any {
		var out []any
		for _, n := range names {
			out = append(out, obj{"id": subnetPath("v1", n)})
		}
		return out
	}
	e.must(t, http.StatusOK, "PATCH", regPath("quotas"), obj{"properties": ruleSet("Deny", nil, rules("a", "b", "B"))})
	status, m = e.do(t, "PATCH", regPath("quotas"), obj{"properties": ruleSet("Deny", nil, rules("a", "b", "c"))})
	wantErr(t, status, m, 400, "NetworkRuleQuotaExceeded", "virtual network rules (3)", "exceeds allowed quota 2 for the SKU Premium")
}

func TestVirtualNetworkRules(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "vnetrules", "Premium")
	e.createVNet(t, "v1")
	s1, s2 := subnetPath("v1", "s1"), subnetPath("v1", "s2")
	sentence := "Subnets s2 of virtual network v1 do not have ServiceEndpoints for Microsoft.ContainerRegistry resources configured. " +
		"Add Microsoft.ContainerRegistry to subnet's ServiceEndpoints collection before trying to ACL Microsoft.ContainerRegistry resources to these subnets."
	cases := []struct {
		name  string
		rule  obj
		code  string
		hints []string
	}{
		{"no service endpoint", obj{"id": s2}, "NetworkRuleValidationError", []string{sentence}},
		{"no service endpoint (long key)", obj{"virtualNetworkSubnetResourceId": s2}, "NetworkRuleValidationError", []string{sentence}},
		{"missing subnet", obj{"id": subnetPath("v1", "nope")}, "NetworkRuleValidationError", []string{"subnet nope of virtual network v1 does not exist", "moat network vnet subnet create"}},
		{"missing vnet", obj{"id": subnetPath("v9", "s1")}, "NetworkRuleValidationError", []string{"does not exist"}},
		{"missing group", obj{"id": strings.Replace(s1, "/default/", "/elsewhere/", 1)}, "NetworkRuleValidationError", []string{"does not exist"}},
		{"a vnet, not a subnet", obj{"id": vnetPath("v1")}, "InvalidParameter", []string{"is not a subnet resource ID"}},
		{"a registry ID", obj{"id": regPath("vnetrules")}, "InvalidParameter", []string{"is not a subnet resource ID"}},
		{"garbage", obj{"id": "subnet-1"}, "InvalidParameter", []string{"is not a subnet resource ID"}},
		{"empty", obj{}, "InvalidParameter", []string{"is not a subnet resource ID"}},
		{"action Deny", obj{"id": s1, "action": "Deny"}, "InvalidParameter", []string{"only Allow"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, m := e.do(t, "PATCH", regPath("vnetrules"), obj{"properties": ruleSet("Deny", nil, []any{c.rule})})
			wantErr(t, status, m, 400, c.code, c.hints...)
		})
	}
	for _, key := range []string{"id", "virtualNetworkSubnetResourceId"} {
		t.Run("accepts "+key, func(t *testing.T) {
			m := e.must(t, http.StatusOK, "PATCH", regPath("vnetrules"), obj{"properties": ruleSet("Deny", nil, []any{obj{key: s1}, obj{key: strings.ToUpper(s1)}})})
			if n := length(t, m, "properties", "networkRuleSet", "virtualNetworkRules"); n != 1 {
				t.Fatalf("%d rules, want 1 (the same subnet twice)", n)
			}
			rule := get(t, m, "properties", "networkRuleSet", "virtualNetworkRules", 0).(map[string]any)
			if rule["virtualNetworkSubnetResourceId"] != s1 || rule["action"] != "Allow" {
				t.Errorf("rule %v", rule)
			}
			if _, ok := rule["id"]; ok {
				t.Errorf("output has \"id\": %v", rule)
			}
			e.must(t, http.StatusOK, "PATCH", regPath("vnetrules"), obj{"properties": ruleSet("Allow", nil, []any{})})
		})
	}
}

func TestVirtualNetworkRuleProviderNotRegistered(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "provreg", "Premium")
	e.createVNet(t, "v1")
	e.must(t, http.StatusOK, "POST", providerPath("Microsoft.ContainerRegistry")+"/unregister", nil)
	body := obj{"properties": ruleSet("Deny", nil, []any{obj{"id": subnetPath("v1", "s1")}})}
	status, m := e.do(t, "PATCH", regPath("provreg"), body)
	wantErr(t, status, m, 400, "NetworkRuleValidationError", "subscription "+sub,
		"moat provider register --namespace Microsoft.ContainerRegistry --subscription "+sub)
	e.must(t, http.StatusOK, "POST", providerPath("Microsoft.ContainerRegistry")+"/register", nil)
	e.must(t, http.StatusOK, "PATCH", regPath("provreg"), body)
}

func TestServiceEndpointRemovalKeepsRule(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "keeprule", "Premium")
	e.createRegistry(t, "otherreg", "Premium")
	e.createVNet(t, "v1")
	s1 := subnetPath("v1", "s1")
	e.must(t, http.StatusOK, "PATCH", regPath("keeprule"), obj{"properties": ruleSet("Deny", ipRules("20.30.40.50"), []any{obj{"id": s1}})})

	m := e.must(t, http.StatusOK, "PUT", s1, obj{"properties": obj{"addressPrefix": "10.0.1.0/24", "serviceEndpoints": []any{}}})
	if n := length(t, m, "properties", "serviceEndpoints"); n != 0 {
		t.Fatalf("service endpoint still on: %v", m)
	}
	hasRule := func(m map[string]any) bool {
		return length(t, m, "properties", "networkRuleSet", "virtualNetworkRules") == 1 &&
			get(t, m, "properties", "networkRuleSet", "virtualNetworkRules", 0, "virtualNetworkSubnetResourceId") == s1
	}
	if !hasRule(e.must(t, http.StatusOK, "GET", regPath("keeprule"), nil)) {
		t.Fatal("removing the service endpoint removed the registry's rule")
	}
	// Unrelated updates of the registry still work and keep the rule.
	m = e.must(t, http.StatusOK, "PATCH", regPath("keeprule"), obj{"properties": obj{"adminUserEnabled": true}})
	if !hasRule(m) {
		t.Errorf("PATCH dropped the rule: %v", m["properties"])
	}
	m = e.must(t, http.StatusOK, "PATCH", regPath("keeprule"), obj{"properties": ruleSet("Deny", ipRules("20.30.40.50", "20.30.40.51"), []any{obj{"virtualNetworkSubnetResourceId": s1}})})
	if !hasRule(m) || length(t, m, "properties", "networkRuleSet", "ipRules") != 2 {
		t.Errorf("rule-set PATCH keeping the old rule: %v", m["properties"])
	}
	// A new rule naming that subnet is refused, here or on another registry.
	status, m := e.do(t, "PATCH", regPath("otherreg"), obj{"properties": ruleSet("Deny", nil, []any{obj{"id": s1}})})
	wantErr(t, status, m, 400, "NetworkRuleValidationError", "Subnets s1 of virtual network v1 do not have ServiceEndpoints")
	// Removing the rule and adding it back is a new rule.
	e.must(t, http.StatusOK, "PATCH", regPath("keeprule"), obj{"properties": ruleSet("Deny", nil, []any{})})
	status, m = e.do(t, "PATCH", regPath("keeprule"), obj{"properties": ruleSet("Deny", nil, []any{obj{"id": s1}})})
	wantErr(t, status, m, 400, "NetworkRuleValidationError", "do not have ServiceEndpoints")
	// Turning the endpoint back on (any casing) makes it usable again.
	e.must(t, http.StatusOK, "PUT", s1, subnetBody("10.0.1.0/24", "microsoft.containerregistry"))
	e.must(t, http.StatusOK, "PATCH", regPath("keeprule"), obj{"properties": ruleSet("Deny", nil, []any{obj{"id": s1}})})
	// Deleting the subnet does not delete the rule either.
	e.must(t, http.StatusOK, "DELETE", s1, nil)
	m = e.must(t, http.StatusOK, "PATCH", regPath("keeprule"), obj{"properties": obj{"dataEndpointEnabled": true}})
	if !hasRule(m) {
		t.Errorf("rule gone after subnet delete: %v", m["properties"])
	}
}
