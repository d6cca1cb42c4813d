package mgmt_test

import (
	"net/http"
	"reflect"
	"testing"
)

// TestSubnetsInCreationOrder: subnets list in the order they were created
// (az shows subnets[0] as the first one made), whatever their names sort as.
func TestSubnetsInCreationOrder(t *testing.T) {
	e := newEnv(t)
	e.must(t, http.StatusCreated, "PUT", vnetPath("order"), vnetBody([]string{"10.0.0.0/16"},
		namedSubnet("zeta", "10.0.1.0/24"), namedSubnet("alpha", "10.0.2.0/24")))
	e.must(t, http.StatusCreated, "PUT", subnetPath("order", "Mid"), subnetBody("10.0.3.0/24"))
	e.must(t, http.StatusCreated, "PUT", subnetPath("order", "beta"), subnetBody("10.0.4.0/24"))
	// Changing one keeps its place.
	e.must(t, http.StatusOK, "PUT", subnetPath("order", "zeta"), subnetBody("10.0.1.0/24", "Microsoft.ContainerRegistry"))
	want := []string{"zeta", "alpha", "Mid", "beta"}
	for _, path := range []string{vnetPath("order") + "/subnets", vnetPath("order")} {
		m := e.must(t, http.StatusOK, "GET", path, nil)
		key := []any{"value"}
		if path == vnetPath("order") {
			key = []any{"properties", "subnets"}
		}
		for i, name := range want {
			if got := get(t, m, append(key, i, "name")...); got != name {
				t.Errorf("GET %s: subnet %d is %v, want %s (order %v)", path, i, got, name, want)
			}
		}
	}
}

// The api-versions az 2.45 sends: acr create/show/update/list, and the
// network-rule commands.
const (
	azRegistryVersion    = "2022-02-01-preview" // no virtualNetworkRules
	azNetworkRuleVersion = "2021-08-01-preview" // virtualNetworkRules, each {action, id}
)

// TestSeedRulesSurviveDefaultAction is the seeds' sequence as az sends it:
// rules added with `az acr network-rule add` (2021-08-01-preview), then
// `az acr update --default-action Deny` (a PATCH in 2022-02-01-preview, a
// version without virtualNetworkRules): the rules stay (issue 16, items 4 and 5).
func TestSeedRulesSurviveDefaultAction(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "seedreg", "Premium")
	e.createVNet(t, "seednet")
	subnet := subnetPath("seednet", "s1")
	at := func(v string) string { return regPath("seedreg") + "?api-version=" + v }

	// network-rule add: GET, then PATCH the whole rule set back.
	m := e.must(t, http.StatusOK, "PATCH", at(azNetworkRuleVersion), obj{"properties": ruleSet("Deny", ipRules("23.45.1.0/24"),
		[]any{obj{"action": "Allow", "id": subnet}})})
	if got := get(t, m, "properties", "networkRuleSet", "virtualNetworkRules", 0); !reflect.DeepEqual(got, obj{"action": "Allow", "id": subnet}) {
		t.Fatalf("rule in %s: %v, want {action, id}", azNetworkRuleVersion, got)
	}
	// acr update --default-action: the PATCH az sends.
	m = e.must(t, http.StatusOK, "PATCH", at(azRegistryVersion), obj{"properties": obj{"networkRuleSet": obj{"defaultAction": "Allow"}}})
	if rs := get(t, m, "properties", "networkRuleSet").(map[string]any); rs["virtualNetworkRules"] != nil || rs["defaultAction"] != "Allow" || length(t, rs, "ipRules") != 1 {
		t.Errorf("%s answers the rule set %v, want defaultAction Allow, the IP rule and no virtualNetworkRules member", azRegistryVersion, rs)
	}
	m = e.must(t, http.StatusOK, "GET", at(azNetworkRuleVersion), nil)
	if n := length(t, m, "properties", "networkRuleSet", "virtualNetworkRules"); n != 1 {
		t.Fatalf("after a PATCH in a version without virtualNetworkRules: %d rules, want the 1 kept", n)
	}
	// The newest version with rules names the subnet virtualNetworkSubnetResourceId.
	m = e.must(t, http.StatusOK, "GET", at("2026-03-01-preview"), nil)
	if got := get(t, m, "properties", "networkRuleSet", "virtualNetworkRules", 0); !reflect.DeepEqual(got, obj{"action": "Allow", "virtualNetworkSubnetResourceId": subnet}) {
		t.Errorf("rule in 2026-03-01-preview: %v", got)
	}
	// A PUT in a version without them keeps them too.
	e.must(t, http.StatusOK, "PUT", at("2023-07-01"), registryBody("Premium", obj{"networkRuleSet": obj{"defaultAction": "Deny"}}))
	m = e.must(t, http.StatusOK, "GET", at(azNetworkRuleVersion), nil)
	if n := length(t, m, "properties", "networkRuleSet", "virtualNetworkRules"); n != 1 || length(t, m, "properties", "networkRuleSet", "ipRules") != 0 {
		t.Errorf("after a PUT in 2023-07-01: %v", get(t, m, "properties", "networkRuleSet"))
	}
	// Setting them in such a version is refused, with the versions that have them.
	status, m := e.do(t, "PATCH", at(azRegistryVersion), obj{"properties": ruleSet("Deny", nil, []any{})})
	wantErr(t, status, m, 400, "InvalidRequestContent", "virtualNetworkRules is not part of api-version "+azRegistryVersion, "2021-12-01-preview")
	// And removed in a version that has them (null or []).
	m = e.must(t, http.StatusOK, "PATCH", at(azNetworkRuleVersion), obj{"properties": obj{"networkRuleSet": obj{"virtualNetworkRules": nil}}})
	if n := length(t, m, "properties", "networkRuleSet", "virtualNetworkRules"); n != 0 {
		t.Errorf("PATCH virtualNetworkRules null: %d rules left", n)
	}
}

// TestPatchIsAMergePatch: RFC 7396 on a registry: objects merge member by
// member, arrays and scalars replace, null removes (then the default), and
// the result is checked as a PUT would be.
func TestPatchIsAMergePatch(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "mergereg", "Premium")
	e.must(t, http.StatusOK, "PATCH", regPath("mergereg"), obj{"properties": obj{"adminUserEnabled": true,
		"policies": obj{"retentionPolicy": obj{"days": 3, "status": "enabled"}}, "networkRuleSet": obj{"defaultAction": "Deny", "ipRules": ipRules("20.0.0.1", "20.0.0.2")}}})
	m := e.must(t, http.StatusOK, "PATCH", regPath("mergereg"), obj{"properties": obj{"policies": obj{"retentionPolicy": obj{"days": 9}},
		"networkRuleSet": obj{"ipRules": ipRules("20.0.0.3")}}})
	p := get(t, m, "properties").(map[string]any)
	if p["adminUserEnabled"] != true || get(t, p, "policies", "retentionPolicy", "status") != "enabled" || get(t, p, "policies", "retentionPolicy", "days") != 9.0 {
		t.Errorf("objects did not merge member by member: %v", p)
	}
	if get(t, p, "networkRuleSet", "defaultAction") != "Deny" || length(t, p, "networkRuleSet", "ipRules") != 1 || get(t, p, "networkRuleSet", "ipRules", 0, "value") != "20.0.0.3" {
		t.Errorf("the array did not replace: %v", p["networkRuleSet"])
	}
	m = e.must(t, http.StatusOK, "PATCH", regPath("mergereg"), obj{"properties": obj{"adminUserEnabled": nil}})
	if get(t, m, "properties", "adminUserEnabled") != false {
		t.Errorf("null did not remove (back to the default false): %v", get(t, m, "properties"))
	}
	// Checked as a PUT: Deny on Standard is refused, and nothing changed.
	status, m := e.do(t, "PATCH", regPath("mergereg"), obj{"sku": obj{"name": "Standard"}})
	wantErr(t, status, m, 400, "NetworkRuleNotSupported")
	if got := get(t, e.must(t, http.StatusOK, "GET", regPath("mergereg"), nil), "sku", "name"); got != "Premium" {
		t.Errorf("a refused PATCH changed the SKU to %v", got)
	}
	// Member names are case-insensitive; one named twice is refused.
	e.must(t, http.StatusOK, "PATCH", regPath("mergereg"), obj{"Properties": obj{"AdminUserEnabled": true}})
	status, m = e.do(t, "PATCH", regPath("mergereg"), `{"properties":{"adminUserEnabled":true,"AdminUserEnabled":false}}`)
	wantErr(t, status, m, 400, "InvalidRequestContent", "twice")
	for _, bad := range []string{`[]`, `"x"`, `null`, `{"properties":1}{}`} {
		status, m = e.do(t, "PATCH", regPath("mergereg"), bad)
		wantErr(t, status, m, 400, "InvalidRequestContent")
	}
}

// TestEmptyCollectionsArePresent: ACR answers an empty collection as [].
func TestEmptyCollectionsArePresent(t *testing.T) {
	e := newEnv(t)
	m := e.createRegistry(t, "emptyreg", "Premium")
	for _, path := range [][]any{{"properties", "privateEndpointConnections"}, {"properties", "networkRuleSet", "ipRules"}, {"properties", "networkRuleSet", "virtualNetworkRules"}} {
		if v, ok := get(t, m, path...).([]any); !ok || len(v) != 0 {
			t.Errorf("%v is %#v, want []", path, get(t, m, path...))
		}
	}
}
