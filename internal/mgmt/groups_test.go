package mgmt_test

import (
	"net/http"
	"strings"
	"testing"
)

func groupNames(t testing.TB, e *env) []string {
	t.Helper()
	var out []string
	for _, g := range e.must(t, http.StatusOK, "GET", "/subscriptions/"+sub+"/resourceGroups", nil)["value"].([]any) {
		out = append(out, get(t, g, "name").(string))
	}
	return out
}

func TestResourceGroups(t *testing.T) {
	e := newEnv(t)
	// A fresh server has the group "default".
	if got := strings.Join(groupNames(t, e), ","); got != "default" {
		t.Fatalf("groups %q, want default", got)
	}
	m := e.must(t, http.StatusCreated, "PUT", rgPath("Team-A"), obj{"location": "westeurope", "tags": obj{"k": "v"}})
	if m["id"] != rgPath("Team-A") || m["name"] != "Team-A" || m["location"] != "westeurope" ||
		get(t, m, "properties", "provisioningState") != "Succeeded" || m["type"] != "Microsoft.Resources/resourceGroups" {
		t.Errorf("group: %v", m)
	}
	e.must(t, http.StatusOK, "PUT", rgPath("team-a"), obj{}) // case-insensitive: an update
	if got := strings.Join(groupNames(t, e), ","); got != "Team-A,default" && got != "default,Team-A" {
		t.Errorf("groups %q", got)
	}
	if m := e.must(t, http.StatusOK, "GET", rgPath("TEAM-A"), nil); m["name"] != "Team-A" || m["location"] != "local" {
		t.Errorf("GET group: %v", m)
	}
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
		hints              []string
	}{
		{"GET missing", "GET", rgPath("nogroup"), nil, 404, "ResourceGroupNotFound", []string{`"nogroup"`}},
		{"registry in missing group", "PUT", regPathIn("nogroup", "someregistry"), registryBody("Premium", nil), 404, "ResourceGroupNotFound", []string{"moat group create --name nogroup"}},
		{"registry list in missing group", "GET", rgPath("nogroup") + "/providers/Microsoft.ContainerRegistry/registries", nil, 404, "ResourceGroupNotFound", nil},
		{"vnet in missing group", "PUT", vnetPathIn("nogroup", "v1"), vnetBody([]string{"10.0.0.0/16"}), 404, "ResourceGroupNotFound", nil},
		{"PE in missing group", "GET", pePathIn("nogroup", "pe1"), nil, 404, "ResourceGroupNotFound", nil},
		{"name ends in dot", "PUT", rgPath("group."), obj{}, 400, "InvalidResourceGroupName", []string{"not ending in '.'"}},
		{"name with star", "PUT", rgPath("gr*up"), obj{}, 400, "InvalidResourceGroupName", nil},
		{"name too long", "PUT", rgPath(strings.Repeat("g", 91)), obj{}, 400, "InvalidResourceGroupName", nil},
		{"stale If-Match", "PUT", rgPath("team-a"), obj{}, 412, "PreconditionFailed", nil},
		{"collection POST", "POST", "/subscriptions/" + sub + "/resourceGroups", nil, 405, "MethodNotAllowed", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hdr []string
			if c.code == "PreconditionFailed" {
				hdr = []string{"If-Match", `"999"`}
			}
			status, m := e.do(t, c.method, c.path, c.body, hdr...)
			wantErr(t, status, m, c.status, c.code, c.hints...)
		})
	}
}

func TestResourceGroupDeleteDeletesContents(t *testing.T) {
	e := newEnv(t)
	e.must(t, http.StatusCreated, "PUT", rgPath("doomed"), obj{})
	e.must(t, http.StatusCreated, "PUT", regPathIn("doomed", "doomedreg"), registryBody("Premium", nil))
	e.must(t, http.StatusCreated, "PUT", vnetPathIn("doomed", "v1"), vnetBody([]string{"10.0.0.0/16"}, namedSubnet("s1", "10.0.1.0/24")))
	subnet := vnetPathIn("doomed", "v1") + "/subnets/s1"
	e.must(t, http.StatusCreated, "PUT", pePathIn("doomed", "pe1"), peBody(subnet, regPathIn("doomed", "doomedreg"), false, ""))
	// A private endpoint in another group to the doomed registry.
	e.createVNet(t, "keep")
	e.must(t, http.StatusCreated, "PUT", pePath("outside"), peBody(subnetPath("keep", "s2"), regPathIn("doomed", "doomedreg"), false, ""))
	e.createRegistry(t, "keptreg", "Premium")

	e.must(t, http.StatusOK, "DELETE", rgPath("DOOMED"), nil)
	status, m := e.do(t, "GET", rgPath("doomed"), nil)
	wantErr(t, status, m, 404, "ResourceGroupNotFound")
	e.must(t, http.StatusNoContent, "DELETE", rgPath("doomed"), nil)
	regs := e.must(t, http.StatusOK, "GET", "/subscriptions/"+sub+"/providers/Microsoft.ContainerRegistry/registries", nil)
	if n := length(t, regs, "value"); n != 1 || get(t, regs, "value", 0, "name") != "keptreg" {
		t.Errorf("registries after group delete: %v", regs)
	}
	// Re-creating the group shows it empty; the registry name is free again.
	e.must(t, http.StatusCreated, "PUT", rgPath("doomed"), obj{})
	e.must(t, http.StatusNotFound, "GET", vnetPathIn("doomed", "v1"), nil)
	e.must(t, http.StatusNotFound, "GET", pePathIn("doomed", "pe1"), nil)
	e.must(t, http.StatusNotFound, "GET", regPathIn("doomed", "doomedreg"), nil)
	for _, p := range []string{
		rgPath("doomed") + "/providers/Microsoft.Network/virtualNetworks",
		rgPath("doomed") + "/providers/Microsoft.Network/privateEndpoints",
	} {
		if n := length(t, e.must(t, http.StatusOK, "GET", p, nil), "value"); n != 0 {
			t.Errorf("%s: %d left", p, n)
		}
	}
	e.createRegistry(t, "doomedreg", "Basic")
	// The endpoint outside the group lost its registry.
	if st := peState(t, e.must(t, http.StatusOK, "GET", pePath("outside"), nil)); st != "Disconnected" {
		t.Errorf("outside endpoint shows %s", st)
	}
}

func TestProviders(t *testing.T) {
	e := newEnv(t)
	list := e.must(t, http.StatusOK, "GET", "/subscriptions/"+sub+"/providers", nil)
	state := map[string]any{}
	for _, p := range list["value"].([]any) {
		state[get(t, p, "namespace").(string)] = get(t, p, "registrationState")
	}
	if state["Microsoft.ContainerRegistry"] != "Registered" || state["Microsoft.Network"] != "Registered" {
		t.Errorf("bootstrap registrations: %v", state)
	}
	m := e.must(t, http.StatusOK, "GET", providerPath("microsoft.containerregistry"), nil)
	if m["namespace"] != "Microsoft.ContainerRegistry" || m["registrationState"] != "Registered" || m["id"] != providerPath("Microsoft.ContainerRegistry") {
		t.Errorf("show: %v", m)
	}
	if m := e.must(t, http.StatusOK, "POST", providerPath("Microsoft.ContainerRegistry")+"/unregister", nil); m["registrationState"] != "NotRegistered" {
		t.Errorf("unregister: %v", m)
	}
	if m := e.must(t, http.StatusOK, "GET", providerPath("Microsoft.ContainerRegistry"), nil); m["registrationState"] != "NotRegistered" {
		t.Errorf("show after unregister: %v", m)
	}
	status, m := e.do(t, "PUT", regPath("unregreg"), registryBody("Premium", nil))
	wantErr(t, status, m, 409, "MissingSubscriptionRegistration", sub, "moat provider register --namespace Microsoft.ContainerRegistry --subscription "+sub)
	if m := e.must(t, http.StatusOK, "POST", providerPath("Microsoft.ContainerRegistry")+"/Register", nil); m["registrationState"] != "Registered" {
		t.Errorf("register: %v", m)
	}
	e.createRegistry(t, "unregreg", "Premium")
	// Registering twice is fine.
	e.must(t, http.StatusOK, "POST", providerPath("Microsoft.ContainerRegistry")+"/register", nil)
	// A never-registered known provider shows NotRegistered.
	if m := e.must(t, http.StatusOK, "GET", providerPath("Microsoft.MachineLearningServices"), nil); m["registrationState"] != "NotRegistered" {
		t.Errorf("ML services: %v", m)
	}
	cases := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"unknown namespace", "GET", providerPath("Microsoft.Contoso"), 404, "NamespaceNotFound"},
		{"unknown namespace register", "POST", providerPath("Microsoft.Contoso") + "/register", 404, "NamespaceNotFound"},
		{"GET register", "GET", providerPath("Microsoft.Network") + "/register", 405, "MethodNotAllowed"},
		{"POST namespace", "POST", providerPath("Microsoft.Network"), 405, "MethodNotAllowed"},
		{"PUT collection", "PUT", "/subscriptions/" + sub + "/providers", 405, "MethodNotAllowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, m := e.do(t, c.method, c.path, nil)
			wantErr(t, status, m, c.status, c.code)
		})
	}
}
