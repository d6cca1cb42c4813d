package mgmt_test

import (
	"net/http"
	"testing"
)

func ipGroupPath(name string) string {
	return rgPath("default") + "/providers/Microsoft.Network/ipGroups/" + name
}

// TestIPGroups: an IP group holds canonical public addresses and prefixes;
// a registry's IP rule names it by ID (in any case, stored canonically), and
// it counts against the rule quota by what it holds; an unknown group, a
// private entry or an unknown IP set is refused with what to do; a group in
// use cannot be deleted, and a change to it that would take a registry over
// its quota is refused.
func TestIPGroups(t *testing.T) {
	e := newEnv(t) // quota: 3 IP rules
	e.createRegistry(t, "grouped", "Premium")
	g := e.must(t, http.StatusCreated, "PUT", ipGroupPath("ci"), obj{"location": "local", "properties": obj{"ipAddresses": []string{"20.1.0.7/32", "20.2.0.0/24", "20.1.0.7"}}})
	if get(t, g, "type") != "Microsoft.Network/ipGroups" || length(t, g, "properties", "ipAddresses") != 2 ||
		get(t, g, "properties", "ipAddresses", 0) != "20.1.0.7" || get(t, g, "properties", "provisioningState") != "Succeeded" {
		t.Fatalf("IP group: %v", g)
	}
	// IP groups came with 2019-09-01.
	status, m := e.do(t, "GET", ipGroupPath("ci")+"?api-version=2019-08-01", nil)
	if status != http.StatusBadRequest {
		t.Errorf("IP group in api-version 2019-08-01: %d %v, want 400", status, m)
	}
	e.must(t, http.StatusOK, "GET", ipGroupPath("ci")+"?api-version=2019-09-01", nil)
	status, m = e.do(t, "PUT", ipGroupPath("bad"), obj{"location": "local", "properties": obj{"ipAddresses": []string{"10.0.0.0/8"}}})
	wantErr(t, status, m, http.StatusBadRequest, "InvalidIpAddressInIpGroup", "RFC 1918", "public internet addresses only", "registries use IP groups as IP rules")
	if m := e.must(t, http.StatusOK, "GET", rgPath("default")+"/providers/Microsoft.Network/ipGroups", nil); length(t, m, "value") != 1 {
		t.Errorf("list: %v", m)
	}

	id := rgPath("default") + "/providers/Microsoft.Network/ipGroups/ci"
	m = e.must(t, http.StatusOK, "PATCH", regPath("grouped"), obj{"properties": ruleSet("Deny", ipRules(rgPath("default")+"/providers/microsoft.network/IPGROUPS/ci", "20.9.0.1"), nil)})
	if get(t, m, "properties", "networkRuleSet", "ipRules", 0, "value") != id {
		t.Errorf("the rule is not stored with the canonical ID: %v", get(t, m, "properties", "networkRuleSet", "ipRules"))
	}
	status, m = e.do(t, "PATCH", regPath("grouped"), obj{"properties": ruleSet("Deny", ipRules(id, "20.9.0.1", "20.9.0.2"), nil)})
	wantErr(t, status, m, http.StatusBadRequest, "NetworkRuleQuotaExceeded", "IP rules (4)", "IP group")
	status, m = e.do(t, "PATCH", regPath("grouped"), obj{"properties": ruleSet("Deny", ipRules(rgPath("default")+"/providers/Microsoft.Network/ipGroups/nope"), nil)})
	wantErr(t, status, m, http.StatusBadRequest, "InvalidIpRule", "does not exist", "moat network ip-group create")
	status, m = e.do(t, "PATCH", regPath("grouped"), obj{"properties": ruleSet("Deny", ipRules("ci-runners"), nil)})
	wantErr(t, status, m, http.StatusBadRequest, "InvalidIpRule", "nor an IP set of the server configuration")

	status, m = e.do(t, "PUT", ipGroupPath("ci"), obj{"location": "local", "properties": obj{"ipAddresses": []string{"20.1.0.7", "20.2.0.0/24", "20.3.0.0/24"}}})
	wantErr(t, status, m, http.StatusBadRequest, "NetworkRuleQuotaExceeded", "registry grouped 4 IP rules", "quota of 3")
	e.must(t, http.StatusOK, "PATCH", ipGroupPath("ci"), obj{"properties": obj{"ipAddresses": []string{"20.3.0.0/24"}}})

	status, m = e.do(t, "DELETE", ipGroupPath("ci"), nil)
	wantErr(t, status, m, http.StatusBadRequest, "InUseIpGroupCannotBeDeleted", "registry grouped", "network-rule remove")
	e.must(t, http.StatusOK, "PATCH", regPath("grouped"), obj{"properties": ruleSet("Deny", ipRules("20.9.0.1"), nil)})
	e.must(t, http.StatusOK, "DELETE", ipGroupPath("ci"), nil)
	e.must(t, http.StatusNotFound, "GET", ipGroupPath("ci"), nil)
}
