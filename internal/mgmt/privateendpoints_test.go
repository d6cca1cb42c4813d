package mgmt_test

import (
	"net/http"
	"strings"
	"testing"
)

// peState is the connection state a private endpoint shows.
func peState(t testing.TB, pe map[string]any) string {
	t.Helper()
	props := get(t, pe, "properties").(map[string]any)
	for _, k := range []string{"privateLinkServiceConnections", "manualPrivateLinkServiceConnections"} {
		if cs, ok := props[k].([]any); ok && len(cs) == 1 {
			s, _ := get(t, cs[0], "properties", "privateLinkServiceConnectionState", "status").(string)
			return s
		}
	}
	t.Fatalf("no connection on %v", pe)
	return ""
}

func peIP(t testing.TB, pe map[string]any) string {
	t.Helper()
	s, _ := get(t, pe, "properties", "ipConfigurations", 0, "properties", "privateIPAddress").(string)
	return s
}

// connections lists a registry's private endpoint connections.
func (e *env) connections(t testing.TB, reg string) []any {
	t.Helper()
	v, _ := e.must(t, http.StatusOK, "GET", regPath(reg)+"/privateEndpointConnections", nil)["value"].([]any)
	return v
}

// connectionOf finds the registry's connection for a private endpoint path.
func (e *env) connectionOf(t testing.TB, reg, pe string) (name, status string) {
	t.Helper()
	for _, c := range e.connections(t, reg) {
		if strings.EqualFold(get(t, c, "properties", "privateEndpoint", "id").(string), pe) {
			return get(t, c, "name").(string), get(t, c, "properties", "privateLinkServiceConnectionState", "status").(string)
		}
	}
	return "", ""
}

func TestPrivateEndpointLifecycle(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "pereg", "Premium")
	e.createVNet(t, "v1")
	s2 := subnetPath("v1", "s2")

	pe1 := e.must(t, http.StatusCreated, "PUT", pePath("pe1"), peBody(s2, regPath("pereg"), false, ""))
	if peIP(t, pe1) != "10.0.2.4" || peState(t, pe1) != "Approved" {
		t.Errorf("pe1: ip %s state %s, want 10.0.2.4 Approved", peIP(t, pe1), peState(t, pe1))
	}
	if got := get(t, pe1, "properties", "customDnsConfigs", 0, "ipAddresses", 0); got != "10.0.2.4" {
		t.Errorf("DNS config %v", get(t, pe1, "properties", "customDnsConfigs"))
	}
	if _, st := e.connectionOf(t, "pereg", pePath("pe1")); st != "Approved" {
		t.Errorf("registry connection %q, want Approved", st)
	}
	pe2 := e.must(t, http.StatusCreated, "PUT", pePath("pe2"), peBody(s2, regPath("pereg"), true, ""))
	if peIP(t, pe2) != "10.0.2.5" || peState(t, pe2) != "Pending" {
		t.Errorf("pe2: ip %s state %s, want 10.0.2.5 Pending", peIP(t, pe2), peState(t, pe2))
	}
	reg := e.must(t, http.StatusOK, "GET", regPath("pereg"), nil)
	if n := length(t, reg, "properties", "privateEndpointConnections"); n != 2 {
		t.Errorf("registry shows %d connections, want 2", n)
	}
	subnet := e.must(t, http.StatusOK, "GET", s2, nil)
	if n := length(t, subnet, "properties", "privateEndpoints"); n != 2 {
		t.Errorf("subnet lists %d private endpoints, want 2", n)
	}
	if n := length(t, e.must(t, http.StatusOK, "GET", rgPath("default")+"/providers/Microsoft.Network/privateEndpoints", nil), "value"); n != 2 {
		t.Errorf("private endpoint list: %d", n)
	}
	// The quota (2 here) counts per registry.
	status, m := e.do(t, "PUT", pePath("pe3"), peBody(s2, regPath("pereg"), false, ""))
	wantErr(t, status, m, 400, "PrivateEndpointQuotaExceeded", "exceeds allowed quota 2 for the SKU Premium")

	// Approve the pending one through its connection.
	name, _ := e.connectionOf(t, "pereg", pePath("pe2"))
	connPath := regPath("pereg") + "/privateEndpointConnections/" + name
	approve := obj{"properties": obj{"privateLinkServiceConnectionState": obj{"status": "Approved", "description": "ok"}}}
	reject := obj{"properties": obj{"privateLinkServiceConnectionState": obj{"status": "Rejected"}}}
	m = e.must(t, http.StatusOK, "PUT", connPath, approve)
	if get(t, m, "properties", "privateLinkServiceConnectionState", "status") != "Approved" {
		t.Errorf("approve: %v", m)
	}
	if st := peState(t, e.must(t, http.StatusOK, "GET", pePath("pe2"), nil)); st != "Approved" {
		t.Errorf("pe2 shows %s after approval", st)
	}
	// Reject; a rejected connection cannot be approved again.
	e.must(t, http.StatusOK, "PUT", connPath, reject)
	if st := peState(t, e.must(t, http.StatusOK, "GET", pePath("pe2"), nil)); st != "Rejected" {
		t.Errorf("pe2 shows %s after rejection", st)
	}
	status, m = e.do(t, "PUT", connPath, approve)
	wantErr(t, status, m, 400, "InvalidPrivateEndpointConnectionState", "was rejected", "deleted and created again")
	status, m = e.do(t, "PUT", connPath, obj{"properties": obj{"privateLinkServiceConnectionState": obj{"status": "Pending"}}})
	wantErr(t, status, m, 400, "InvalidPrivateEndpointConnectionState")
	status, m = e.do(t, "PUT", connPath, obj{"properties": obj{"privateLinkServiceConnectionState": obj{"status": "Maybe"}}})
	wantErr(t, status, m, 400, "InvalidParameter", "Approved or Rejected")
	status, m = e.do(t, "PUT", connPath, obj{"properties": obj{}})
	wantErr(t, status, m, 400, "InvalidParameter", "status is required")
	status, m = e.do(t, "PUT", connPath, approve, "If-Match", `"999"`)
	wantErr(t, status, m, 412, "PreconditionFailed")
	status, m = e.do(t, "GET", regPath("pereg")+"/privateEndpointConnections/nope", nil)
	wantErr(t, status, m, 404, "ResourceNotFound")
	status, m = e.do(t, "PUT", regPath("pereg")+"/privateEndpointConnections/nope", approve)
	wantErr(t, status, m, 404, "ResourceNotFound")

	// Deleting the connection leaves the endpoint Disconnected.
	e.must(t, http.StatusOK, "DELETE", connPath, nil)
	e.must(t, http.StatusNoContent, "DELETE", connPath, nil)
	if st := peState(t, e.must(t, http.StatusOK, "GET", pePath("pe2"), nil)); st != "Disconnected" {
		t.Errorf("pe2 shows %s after its connection was deleted", st)
	}
	// Deleting the endpoint deletes its connection.
	e.must(t, http.StatusOK, "DELETE", pePath("pe1"), nil)
	if name, _ := e.connectionOf(t, "pereg", pePath("pe1")); name != "" {
		t.Errorf("connection %s still there after its endpoint was deleted", name)
	}
	e.must(t, http.StatusNotFound, "GET", pePath("pe1"), nil)
	e.must(t, http.StatusNoContent, "DELETE", pePath("pe1"), nil)
	// The address is free again.
	if ip := peIP(t, e.must(t, http.StatusCreated, "PUT", pePath("pe4"), peBody(s2, regPath("pereg"), false, ""))); ip != "10.0.2.4" {
		t.Errorf("pe4 got %s, want the freed 10.0.2.4", ip)
	}
	// Deleting the registry leaves its endpoints Disconnected.
	e.must(t, http.StatusOK, "DELETE", regPath("pereg"), nil)
	if st := peState(t, e.must(t, http.StatusOK, "GET", pePath("pe4"), nil)); st != "Disconnected" {
		t.Errorf("pe4 shows %s after the registry was deleted", st)
	}
}

func TestPrivateEndpointIPAddresses(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "ipreg1", "Premium")
	e.createRegistry(t, "ipreg2", "Premium")
	e.createVNet(t, "v1")
	s2 := subnetPath("v1", "s2")
	e.must(t, http.StatusCreated, "PUT", pePath("given"), peBody(s2, regPath("ipreg1"), false, "10.0.2.4"))
	cases := []struct {
		ip, code string
		hints    []string
	}{
		{"10.0.1.10", "InvalidPrivateIPAddress", []string{"not a usable address of subnet s2 (10.0.2.0/24", "first four and the last address are reserved"}},
		{"10.0.2.0", "InvalidPrivateIPAddress", []string{"reserved"}},
		{"10.0.2.1", "InvalidPrivateIPAddress", []string{"reserved"}},
		{"10.0.2.3", "InvalidPrivateIPAddress", []string{"reserved"}},
		{"10.0.2.255", "InvalidPrivateIPAddress", []string{"reserved"}},
		{"2001:db8::4", "InvalidPrivateIPAddress", nil},
		{"10.0.2.x", "InvalidPrivateIPAddress", nil},
		{"10.0.2.4", "PrivateIPAddressInUse", []string{"10.0.2.4 is already used"}},
	}
	for _, c := range cases {
		t.Run(c.ip, func(t *testing.T) {
			status, m := e.do(t, "PUT", pePath("pebad"), peBody(s2, regPath("ipreg2"), false, c.ip))
			wantErr(t, status, m, 400, c.code, c.hints...)
			e.must(t, http.StatusNotFound, "GET", pePath("pebad"), nil)
		})
	}
	if len(e.connections(t, "ipreg2")) != 0 {
		t.Error("refused endpoints left connections behind")
	}
	pe := e.must(t, http.StatusCreated, "PUT", pePath("last"), peBody(s2, regPath("ipreg2"), false, "10.0.2.254"))
	if peIP(t, pe) != "10.0.2.254" {
		t.Errorf("given IP not used: %s", peIP(t, pe))
	}
	// Allocation skips the given one in use.
	if ip := peIP(t, e.must(t, http.StatusCreated, "PUT", pePath("alloc"), peBody(s2, regPath("ipreg2"), false, ""))); ip != "10.0.2.5" {
		t.Errorf("allocated %s, want 10.0.2.5", ip)
	}
}

func TestPrivateEndpointValidation(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "pepremium", "Premium")
	e.createRegistry(t, "pestandard", "Standard")
	e.createVNet(t, "v1")
	s2, reg := subnetPath("v1", "s2"), regPath("pepremium")
	two := peBody(s2, reg, false, "")
	two["properties"].(obj)["manualPrivateLinkServiceConnections"] = two["properties"].(obj)["privateLinkServiceConnections"]
	none := peBody(s2, reg, false, "")
	delete(none["properties"].(obj), "privateLinkServiceConnections")
	badGroup := peBody(s2, reg, false, "")
	get(t, badGroup, "properties", "privateLinkServiceConnections", 0, "properties").(obj)["groupIds"] = []string{"registry_data"}
	noSubnet := peBody(s2, reg, false, "")
	delete(noSubnet["properties"].(obj), "subnet")
	cases := []struct {
		name  string
		body  obj
		code  string
		hints []string
	}{
		{"Standard registry", peBody(s2, regPath("pestandard"), false, ""), "PrivateEndpointNotSupported", []string{"not supported for the SKU Standard", "--sku Premium"}},
		{"missing registry", peBody(s2, regPath("nosuchreg"), false, ""), "InvalidResourceReference", []string{"does not exist"}},
		{"registry in another group", peBody(s2, regPathIn("other", "pepremium"), false, ""), "InvalidResourceReference", nil},
		{"not a registry", peBody(s2, vnetPath("v1"), false, ""), "InvalidParameter", []string{"not a registry resource ID"}},
		{"missing subnet", peBody(subnetPath("v1", "s9"), reg, false, ""), "InvalidResourceReference", []string{"does not exist"}},
		{"not a subnet", peBody(vnetPath("v1"), reg, false, ""), "InvalidParameter", []string{"not a subnet resource ID"}},
		{"no subnet", noSubnet, "InvalidParameter", []string{"properties.subnet.id is required"}},
		{"no connection", none, "InvalidParameter", []string{"exactly one"}},
		{"two connections", two, "InvalidParameter", []string{"exactly one"}},
		{"wrong group id", badGroup, "InvalidParameter", []string{"--group-id registry"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, m := e.do(t, "PUT", pePath("pebad"), c.body)
			wantErr(t, status, m, 400, c.code, c.hints...)
			e.must(t, http.StatusNotFound, "GET", pePath("pebad"), nil)
		})
	}
	status, m := e.do(t, "PUT", pePath("bad*name"), peBody(s2, reg, false, ""))
	wantErr(t, status, m, 400, "InvalidResourceName")

	// Existing endpoints: tags may change, the subnet may not.
	e.must(t, http.StatusCreated, "PUT", pePath("pe1"), peBody(s2, reg, false, ""))
	upd := peBody(s2, reg, false, "")
	upd["tags"] = obj{"team": "a"}
	if m := e.must(t, http.StatusOK, "PUT", pePath("pe1"), upd); get(t, m, "tags", "team") != "a" || peIP(t, m) != "10.0.2.4" {
		t.Errorf("update: %v", m)
	}
	status, m = e.do(t, "PUT", pePath("pe1"), peBody(subnetPath("v1", "s1"), reg, false, ""))
	wantErr(t, status, m, 400, "InvalidParameter", "cannot change")
	status, m = e.do(t, "PUT", pePath("pe1"), upd, "If-Match", `"999"`)
	wantErr(t, status, m, 412, "PreconditionFailed")

	// The endpoint pins its subnet and virtual network.
	status, m = e.do(t, "DELETE", s2, nil)
	wantErr(t, status, m, 400, "InUseSubnetCannotBeDeleted", "pe1")
	status, m = e.do(t, "PUT", s2, subnetBody("10.0.3.0/24"))
	wantErr(t, status, m, 400, "InUseSubnetCannotBeUpdated")
	status, m = e.do(t, "PUT", vnetPath("v1"), vnetBody([]string{"10.0.0.0/16"}, namedSubnet("s1", "10.0.1.0/24")))
	wantErr(t, status, m, 400, "InUseSubnetCannotBeDeleted")
	status, m = e.do(t, "DELETE", vnetPath("v1"), nil)
	wantErr(t, status, m, 400, "InUseVirtualNetworkCannotBeDeleted", "delete the private endpoints first")
	// Turning the service endpoint on is fine (same prefix).
	e.must(t, http.StatusOK, "PUT", s2, subnetBody("10.0.2.0/24", "Microsoft.ContainerRegistry"))

	// A registry with private endpoints cannot go below Premium.
	status, m = e.do(t, "PATCH", reg, obj{"sku": obj{"name": "Standard"}})
	wantErr(t, status, m, 400, "PrivateEndpointNotSupported", "SKU Standard", "delete them before changing the SKU")
}

func TestPrivateEndpointsExcludeVirtualNetworkRules(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "withrules", "Premium")
	e.createRegistry(t, "withpe", "Premium")
	e.createVNet(t, "v1")
	s1, s2 := subnetPath("v1", "s1"), subnetPath("v1", "s2")
	rule := obj{"properties": ruleSet("Deny", nil, []any{obj{"id": s1}})}

	// Rules first: a private endpoint is refused.
	e.must(t, http.StatusOK, "PATCH", regPath("withrules"), rule)
	status, m := e.do(t, "PUT", pePath("pe1"), peBody(s2, regPath("withrules"), false, ""))
	wantErr(t, status, m, 400, "NetworkRuleValidationError", "private endpoints and virtual-network (service endpoint) rules at the same time", "remove them first")
	// Private endpoint first (pending counts too): rules are refused.
	e.must(t, http.StatusCreated, "PUT", pePath("pe2"), peBody(s2, regPath("withpe"), true, ""))
	status, m = e.do(t, "PATCH", regPath("withpe"), rule)
	wantErr(t, status, m, 400, "NetworkRuleValidationError", "at the same time", "1 private endpoint connection")
	status, m = e.do(t, "PUT", regPath("withpe"), registryBody("Premium", rule["properties"].(obj)))
	wantErr(t, status, m, 400, "NetworkRuleValidationError", "at the same time")
	// IP rules are fine with private endpoints.
	e.must(t, http.StatusOK, "PATCH", regPath("withpe"), obj{"properties": ruleSet("Deny", ipRules("20.30.40.50"), nil)})
	// Once the endpoint is gone, rules are allowed.
	e.must(t, http.StatusOK, "DELETE", pePath("pe2"), nil)
	e.must(t, http.StatusOK, "PATCH", regPath("withpe"), rule)
}

func TestPrivateLinkResources(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "plreg", "Premium")
	m := e.must(t, http.StatusOK, "GET", regPath("plreg")+"/privateLinkResources", nil)
	if n := length(t, m, "value"); n != 1 {
		t.Fatalf("%d private link resources", n)
	}
	r := get(t, m, "value", 0)
	if get(t, r, "name") != "registry" || get(t, r, "properties", "groupId") != "registry" ||
		get(t, r, "id") != regPath("plreg")+"/privateLinkResources/registry" {
		t.Errorf("resource %v", r)
	}
	if got := get(t, r, "properties", "requiredMembers"); length(t, got) != 2 || get(t, got, 0) != "registry" {
		t.Errorf("requiredMembers %v", got)
	}
	if z, _ := get(t, r, "properties", "requiredZoneNames", 0).(string); !strings.HasPrefix(z, "privatelink.") {
		t.Errorf("zone %q", z)
	}
	e.must(t, http.StatusOK, "GET", regPath("plreg")+"/privateLinkResources/Registry", nil)
	status, m := e.do(t, "GET", regPath("plreg")+"/privateLinkResources/other", nil)
	wantErr(t, status, m, 404, "ResourceNotFound", "a registry has one: registry")
	status, m = e.do(t, "GET", regPath("noreg1")+"/privateLinkResources", nil)
	wantErr(t, status, m, 404, "ResourceNotFound")
	status, m = e.do(t, "PUT", regPath("plreg")+"/privateLinkResources/registry", obj{})
	wantErr(t, status, m, 405, "MethodNotAllowed")
}
