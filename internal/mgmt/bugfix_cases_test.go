package mgmt_test

import (
	"net/http"
	"testing"
)

func TestBugSubscriptionScopeCreate(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{
		"/subscriptions/" + sub + "/providers/Microsoft.ContainerRegistry/registries/orphanreg",
		"/subscriptions/" + sub + "/providers/Microsoft.Network/virtualNetworks/orphanvnet",
	} {
		status, m := e.do(t, "PUT", p, obj{"sku": obj{"name": "Premium"}, "properties": obj{"addressSpace": obj{"addressPrefixes": []string{"10.0.0.0/16"}}}})
		if status < 400 {
			t.Errorf("PUT %s without a resource group: %d %v, want 4xx", p, status, m["id"])
		}
	}
}

func TestBugSubscriptionScopeLists(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "listreg", "Premium")
	e.createVNet(t, "v1")
	e.must(t, http.StatusCreated, "PUT", pePath("pe1"), peBody(subnetPath("v1", "s2"), regPath("listreg"), false, ""))
	for _, p := range []string{"virtualNetworks", "privateEndpoints"} {
		m := e.must(t, http.StatusOK, "GET", "/subscriptions/"+sub+"/providers/Microsoft.Network/"+p, nil)
		if n := length(t, m, "value"); n != 1 {
			t.Errorf("subscription-wide %s list: %d, want 1", p, n)
		}
	}
}

func TestBugIfNoneMatch(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "inmreg", "Premium")
	e.createVNet(t, "v1")
	e.must(t, http.StatusCreated, "PUT", pePath("pe1"), peBody(subnetPath("v1", "s2"), regPath("inmreg"), false, ""))
	for _, c := range []struct {
		path string
		body any
	}{
		{subnetPath("v1", "s1"), subnetBody("10.0.1.0/24")},
		{rgPath("default"), obj{}},
		{pePath("pe1"), peBody(subnetPath("v1", "s2"), regPath("inmreg"), false, "")},
	} {
		status, m := e.do(t, "PUT", c.path, c.body, "If-None-Match", "*")
		if status != 412 {
			t.Errorf("PUT %s If-None-Match *: %d %v, want 412", c.path, status, m["error"])
		}
	}
}

func TestBugGroupDeleteDanglingConnection(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "keptreg", "Premium")
	e.must(t, http.StatusCreated, "PUT", rgPath("other"), obj{})
	e.must(t, http.StatusCreated, "PUT", vnetPathIn("other", "v1"), vnetBody([]string{"10.0.0.0/16"}, namedSubnet("s1", "10.0.1.0/24")))
	e.must(t, http.StatusCreated, "PUT", pePathIn("other", "pe1"), peBody(vnetPathIn("other", "v1")+"/subnets/s1", regPath("keptreg"), false, ""))
	e.must(t, http.StatusOK, "DELETE", rgPath("other"), nil)
	if n := len(e.connections(t, "keptreg")); n != 0 {
		t.Errorf("registry keeps %d connection(s) to private endpoints deleted with their group", n)
	}
	e.must(t, http.StatusOK, "PATCH", regPath("keptreg"), obj{"sku": obj{"name": "Standard"}})
}

func TestBugVNetPutMovesSubnetWithEndpoint(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "movereg", "Premium")
	e.createVNet(t, "v1")
	e.must(t, http.StatusCreated, "PUT", pePath("pe1"), peBody(subnetPath("v1", "s2"), regPath("movereg"), false, ""))
	status, m := e.do(t, "PUT", vnetPath("v1"), vnetBody([]string{"10.0.0.0/16"}, namedSubnet("s1", "10.0.1.0/24"), namedSubnet("s2", "10.0.3.0/24")))
	wantErr(t, status, m, 400, "InUseSubnetCannotBeUpdated")
}
