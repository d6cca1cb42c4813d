package mgmt_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// existenceRoutes are requests on every resource type the management API
// serves; {g} is a resource group's path and the other placeholders name
// resources in it.
var existenceRoutes = []struct{ method, path string }{
	{"GET", "{g}"}, {"PUT", "{g}"}, {"DELETE", "{g}"},
	{"GET", "{g}/providers/Microsoft.ContainerRegistry/registries"},
	{"GET", "{reg}"}, {"PUT", "{reg}"}, {"PATCH", "{reg}"}, {"DELETE", "{reg}"},
	{"GET", "{reg}/tasks"}, {"GET", "{reg}/tasks/{task}"}, {"PUT", "{reg}/tasks/{task}"}, {"DELETE", "{reg}/tasks/{task}"},
	{"POST", "{reg}/tasks/{task}/listDetails"}, {"POST", "{reg}/scheduleRun"},
	{"GET", "{reg}/runs"}, {"GET", "{reg}/runs/ca1"}, {"POST", "{reg}/runs/ca1/listLogSasUrl"},
	{"POST", "{reg}/importImage"},
	{"GET", "{reg}/scopeMaps"}, {"GET", "{reg}/scopeMaps/smap1"}, {"PUT", "{reg}/scopeMaps/smap1"}, {"PATCH", "{reg}/scopeMaps/smap1"}, {"DELETE", "{reg}/scopeMaps/smap1"},
	{"GET", "{reg}/tokens"}, {"GET", "{reg}/tokens/token1"}, {"PUT", "{reg}/tokens/token1"}, {"PATCH", "{reg}/tokens/token1"}, {"DELETE", "{reg}/tokens/token1"},
	{"POST", "{reg}/generateCredentials"},
	{"GET", "{reg}/privateEndpointConnections"}, {"GET", "{reg}/privateEndpointConnections/{pec}"},
	{"PUT", "{reg}/privateEndpointConnections/{pec}"}, {"DELETE", "{reg}/privateEndpointConnections/{pec}"},
	{"POST", "{reg}/checkNetworkAccess"}, {"GET", "{reg}/networkRuleDenials"}, {"GET", "{reg}/auditEvents"},
	{"POST", "{reg}/simulateNetworkRuleSet"},
	{"POST", "{reg}/listCredentials"}, {"POST", "{reg}/regenerateCredential"}, {"POST", "{reg}/garbageCollect"},
	{"GET", "{reg}/privateLinkResources"}, {"GET", "{reg}/privateLinkResources/registry"},
	{"GET", "{g}/providers/Microsoft.Network/virtualNetworks"},
	{"GET", "{vnet}"}, {"PUT", "{vnet}"}, {"DELETE", "{vnet}"},
	{"GET", "{vnet}/subnets"}, {"GET", "{vnet}/subnets/{subnet}"}, {"PUT", "{vnet}/subnets/{subnet}"}, {"DELETE", "{vnet}/subnets/{subnet}"},
	{"GET", "{g}/providers/Microsoft.Network/privateEndpoints"},
	{"GET", "{pe}"}, {"PUT", "{pe}"}, {"DELETE", "{pe}"},
	{"GET", "{g}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"},
	{"GET", "{uai}"}, {"PUT", "{uai}"}, {"DELETE", "{uai}"},
	{"GET", "{g}/providers/Microsoft.MachineLearningServices/workspaces"},
	{"GET", "{ws}"}, {"PUT", "{ws}"}, {"DELETE", "{ws}"},
	{"GET", "{g}/providers/Microsoft.Authorization/roleAssignments"},
	{"GET", "{g}/providers/Microsoft.Authorization/roleAssignments/{ra}"},
	{"PUT", "{g}/providers/Microsoft.Authorization/roleAssignments/{ra}"},
	{"DELETE", "{g}/providers/Microsoft.Authorization/roleAssignments/{ra}"},
	{"GET", "{reg}/providers/Microsoft.Authorization/roleAssignments"},
	{"PUT", "{reg}/providers/Microsoft.Authorization/roleAssignments/{ra}"},
	{"GET", "{reg}/providers/Microsoft.Authorization/roleDefinitions"},
}

// names fills the placeholders of an existence route.
type names map[string]string

func (n names) expand(path string) string {
	r := strings.NewReplacer("{reg}", "{g}/providers/Microsoft.ContainerRegistry/registries/{regname}",
		"{vnet}", "{g}/providers/Microsoft.Network/virtualNetworks/{vnetname}",
		"{pe}", "{g}/providers/Microsoft.Network/privateEndpoints/{pename}",
		"{uai}", "{g}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{uainame}",
		"{ws}", "{g}/providers/Microsoft.MachineLearningServices/workspaces/{wsname}")
	path = strings.ReplaceAll(r.Replace(path), "{g}", "/subscriptions/"+sub+"/resourceGroups/{rg}")
	for k, v := range n {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	return path
}

// normalise replaces this variant's names in a message by their placeholders.
func (n names) normalise(msg string) string {
	for k, v := range n {
		msg = strings.ReplaceAll(msg, v, "{"+k+"}")
	}
	return msg
}

// TestSameAnswerWhetherOrNotItExists: a caller who may not act on a scope
// gets the same 403 AuthorizationFailed for every request there, whether
// the resource, its parent or its resource group exists or not; nothing is
// looked up before the authorization on the requested scope.
func TestSameAnswerWhetherOrNotItExists(t *testing.T) {
	e := newAuthzEnv(t)
	tm := newTeams(e)
	e.as(e.admin, taskCreated, "PUT", taskPathIn("team-b", "teambreg", "task1"), taskBody(nil, nil))
	e.as(e.admin, http.StatusCreated, "PUT", wsPathIn("team-b", "wsb"), obj{"location": "local"})
	pe := e.as(e.admin, http.StatusCreated, "PUT", pePathIn("team-b", "peb"), peBody(tm.subnetB, tm.regB, false, ""))
	_ = pe
	pecs := e.as(e.admin, http.StatusOK, "GET", tm.regB+"/privateEndpointConnections", nil)
	pec, _ := get(t, pecs, "value", 0, "name").(string)
	ra := uuid.NewString()
	e.as(e.admin, http.StatusCreated, "PUT", rgPath("team-b")+"/providers/Microsoft.Authorization/roleAssignments/"+ra,
		obj{"properties": obj{"roleDefinitionId": "acdd72a7-3385-48ef-bd42-f606fba81ae7", "principalId": e.admin}})

	real := names{"rg": "team-b", "regname": "teambreg", "task": "task1", "vnetname": "netb", "subnet": "s1", "pename": "peb",
		"uainame": "ops", "wsname": "wsb", "pec": pec, "ra": ra}
	variants := map[string]names{
		"exists":              real,
		"leaf missing":        {"rg": "team-b", "regname": "teambreg", "task": "ghosttask", "vnetname": "netb", "subnet": "ghostsub", "pename": "ghostpe", "uainame": "ghostuai", "wsname": "ghostws", "pec": "ghostpec", "ra": uuid.NewString()},
		"all missing":         {"rg": "team-b", "regname": "ghostreg", "task": "ghosttask", "vnetname": "ghostnet", "subnet": "ghostsub", "pename": "ghostpe", "uainame": "ghostuai", "wsname": "ghostws", "pec": "ghostpec", "ra": uuid.NewString()},
		"group missing":       {"rg": "team-x", "regname": "teambreg", "task": "task1", "vnetname": "netb", "subnet": "s1", "pename": "peb", "uainame": "ops", "wsname": "wsb", "pec": pec, "ra": ra},
		"group guessed wrong": {"rg": "team-c", "regname": "teambreg", "task": "task1", "vnetname": "netb", "subnet": "s1", "pename": "peb", "uainame": "ops", "wsname": "wsb", "pec": pec, "ra": ra},
	}
	e.as(e.admin, http.StatusCreated, "PUT", rgPath("team-c"), obj{"location": "local"})
	for _, rt := range existenceRoutes {
		want := ""
		for _, v := range []string{"exists", "leaf missing", "all missing", "group missing", "group guessed wrong"} {
			n := variants[v]
			status, m := e.call(tm.mallory, rt.method, n.expand(rt.path), obj{})
			code, msg := errOf(m)
			got := n.normalise(msg)
			if status != http.StatusForbidden || code != "AuthorizationFailed" {
				t.Errorf("%s %s (%s): %d %s %s, want 403 AuthorizationFailed", rt.method, rt.path, v, status, code, msg)
				continue
			}
			if want == "" {
				want = got
			} else if got != want {
				t.Errorf("%s %s: %s answers differently:\n%s\n%s", rt.method, rt.path, v, got, want)
			}
		}
	}

	// A caller who may read the scope gets ARM's normal 404s.
	reader := e.user("reader")
	e.grant(reader, "Reader", "/subscriptions/"+sub)
	for _, c := range []struct{ path, code string }{
		{rgPath("team-x"), "ResourceGroupNotFound"},
		{regPathIn("team-x", "teambreg"), "ResourceGroupNotFound"},
		{regPathIn("team-b", "ghostreg"), "ResourceNotFound"},
		{taskPathIn("team-b", "teambreg", "ghosttask"), "ResourceNotFound"},
		{regPathIn("team-c", "teambreg"), "ResourceNotFound"},
	} {
		status, m := e.call(reader, "GET", c.path, nil)
		if code, _ := errOf(m); status != http.StatusNotFound || code != c.code {
			t.Errorf("Reader GET %s: %d %v, want 404 %s", c.path, status, m, c.code)
		}
	}
	// In her own group, another team's registry name is simply not there,
	// and a name in use elsewhere does not say where.
	status, m := e.call(tm.mallory, "GET", regPathIn("team-a", "teambreg"), nil)
	if code, msg := errOf(m); status != http.StatusNotFound || code != "ResourceNotFound" || strings.Contains(msg, "team-b") {
		t.Errorf("GET of another group's registry under her group: %d %v", status, m)
	}
	status, m = e.call(tm.mallory, "PUT", regPathIn("team-a", "teambreg"), registryBody("Premium", nil))
	if code, msg := errOf(m); status != http.StatusConflict || code != "AlreadyInUse" || strings.Contains(msg, "team-b") {
		t.Errorf("PUT of a registry name used in another group: %d %v", status, m)
	}
}
