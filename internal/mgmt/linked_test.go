package mgmt_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/auth/rbac"
)

// teams is two resource groups: mallory is Contributor of team-a; team-b
// holds an identity that is Owner of the subscription, a registry and a
// subnet she may not use.
type teams struct {
	mallory               string
	opsUAI, opsClient     string
	regA, regB            string
	subnetA, subnetB      string
	ghostUAI, ghostSubnet string
	ghostReg              string
	groupB, ghostGroup    string
}

func newTeams(e *authzEnv) teams {
	e.t.Helper()
	for _, g := range []string{"team-a", "team-b"} {
		e.as(e.admin, http.StatusCreated, "PUT", rgPath(g), obj{"location": "local"})
	}
	ops := e.as(e.admin, http.StatusCreated, "PUT", uaiPathIn("team-b", "ops"), obj{"location": "local"})
	opsPrincipal, _ := get(e.t, ops, "properties", "principalId").(string)
	opsClient, _ := get(e.t, ops, "properties", "clientId").(string)
	e.grant(opsPrincipal, "Owner", "/subscriptions/"+sub)
	for _, reg := range []struct{ rg, name string }{{"team-a", "teamareg"}, {"team-b", "teambreg"}} {
		e.as(e.admin, http.StatusCreated, "PUT", regPathIn(reg.rg, reg.name), registryBody("Premium", nil))
	}
	for _, v := range []struct{ rg, name string }{{"team-a", "neta"}, {"team-b", "netb"}} {
		e.as(e.admin, http.StatusCreated, "PUT", vnetPathIn(v.rg, v.name), vnetBody([]string{"10.0.0.0/16"},
			namedSubnet("s1", "10.0.1.0/24", "Microsoft.ContainerRegistry")))
	}
	e.as(e.admin, http.StatusCreated, "PUT", rgPath("team-b")+"/providers/Microsoft.Network/ipGroups/ciips", obj{"location": "local", "properties": obj{"ipAddresses": []string{"20.1.0.7"}}})
	tm := teams{mallory: e.user("mallory"), opsUAI: uaiPathIn("team-b", "ops"), opsClient: opsClient,
		regA: regPathIn("team-a", "teamareg"), regB: regPathIn("team-b", "teambreg"),
		subnetA: subnetPathIn("team-a", "neta", "s1"), subnetB: subnetPathIn("team-b", "netb", "s1"),
		ghostUAI: uaiPathIn("team-b", "ghost"), ghostSubnet: subnetPathIn("team-b", "netb", "ghost"),
		ghostReg: regPathIn("team-b", "ghostreg"),
		groupB:   rgPath("team-b") + "/providers/Microsoft.Network/ipGroups/ciips", ghostGroup: rgPath("team-b") + "/providers/Microsoft.Network/ipGroups/ghost"}
	e.grant(tm.mallory, "Contributor", rgPath("team-a"))
	return tm
}

// TestLinkedAccessChecks: every request field that names another resource
// is a linked access check on it (ARM's LinkedAuthorizationFailed), and the
// answer is the same whether that resource exists or not.
func TestLinkedAccessChecks(t *testing.T) {
	e := newAuthzEnv(t)
	tm := newTeams(e)
	host := strings.TrimPrefix(e.srv.URL, "http://")
	cases := []struct {
		name         string
		method, path string
		body         func(linked string) any
		linked       string // the resource named in the body
		ghost        string // a resource of the same kind that does not exist
		action       string
	}{
		{"workspace attaches another team's identity", "PUT", wsPathIn("team-a", "ws1"),
			func(l string) any {
				return obj{"location": "local", "identity": userIdentity("SystemAssigned, UserAssigned", l)}
			},
			tm.opsUAI, tm.ghostUAI, rbac.ActionAssignIdentity},
		{"new registry attaches another team's identity", "PUT", regPathIn("team-a", "teamareg2"),
			func(l string) any {
				b := registryBody("Premium", nil)
				b["identity"] = userIdentity("UserAssigned", l)
				return b
			}, tm.opsUAI, tm.ghostUAI, rbac.ActionAssignIdentity},
		{"registry update attaches another team's identity", "PATCH", tm.regA,
			func(l string) any { return obj{"identity": userIdentity("UserAssigned", l)} },
			tm.opsUAI, tm.ghostUAI, rbac.ActionAssignIdentity},
		{"task attaches another team's identity", "PUT", taskPathIn("team-a", "teamareg", "task1"),
			func(l string) any { return taskBody(userIdentity("UserAssigned", l), nil) },
			tm.opsUAI, tm.ghostUAI, rbac.ActionAssignIdentity},
		{"virtual-network rule joins another team's subnet", "PATCH", tm.regA,
			func(l string) any {
				return obj{"properties": ruleSet("Deny", nil, []any{obj{"action": "Allow", "id": l}})}
			}, tm.subnetB, tm.ghostSubnet, rbac.ActionJoinSubnet},
		{"IP rule names another team's IP group", "PATCH", tm.regA,
			func(l string) any { return obj{"properties": ruleSet("Deny", ipRules(l), nil)} },
			tm.groupB, tm.ghostGroup, rbac.ActionJoinIPGroup},
		{"private endpoint in another team's subnet", "PUT", pePathIn("team-a", "pe1"),
			func(l string) any { return peBody(l, tm.regA, false, "") },
			tm.subnetB, tm.ghostSubnet, rbac.ActionJoinSubnet},
		{"what-if from another team's subnet", "POST", tm.regA + "/checkNetworkAccess",
			func(l string) any { return obj{"subnet": l} },
			tm.subnetB, tm.ghostSubnet, "Microsoft.Network/virtualNetworks/subnets/read"},
		{"import from another team's registry by resource ID", "POST", tm.regA + "/importImage",
			func(l string) any {
				return obj{"source": obj{"resourceId": l, "sourceImage": "app:v1"}, "targetTags": []string{"app:v1"}}
			}, tm.regB, tm.ghostReg, rbac.ActionPull},
		{"import from another team's registry by login server", "POST", tm.regA + "/importImage",
			func(l string) any {
				return obj{"source": obj{"registryUri": l, "sourceImage": "app:v1"}, "targetTags": []string{"app:v1"}}
			}, host + "/teambreg", host + "/ghostreg", rbac.ActionPull},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			status, m := e.call(tm.mallory, c.method, c.path, c.body(c.linked))
			code, msg := errOf(m)
			if status != http.StatusForbidden || code != "LinkedAuthorizationFailed" {
				t.Fatalf("status %d %s, want 403 LinkedAuthorizationFailed: %v", status, code, m)
			}
			if !strings.Contains(msg, c.action) || !strings.Contains(strings.ToLower(msg), strings.ToLower(c.linked)) {
				t.Errorf("the message names neither the action %s nor the linked resource %s: %s", c.action, c.linked, msg)
			}
			gStatus, gm := e.call(tm.mallory, c.method, c.path, c.body(c.ghost))
			gCode, gMsg := errOf(gm)
			if gStatus != status || gCode != code || strings.ReplaceAll(gMsg, c.ghost, c.linked) != msg {
				t.Errorf("a linked resource that does not exist answers differently:\n exists:  %d %s %s\n missing: %d %s %s", status, code, msg, gStatus, gCode, gMsg)
			}
		})
	}
	e.t = t

	// The right on the linked resource is what was missing.
	e.grant(tm.mallory, "Managed Identity Operator", tm.opsUAI)
	e.as(tm.mallory, http.StatusCreated, "PUT", wsPathIn("team-a", "ws1"), obj{"location": "local", "identity": userIdentity("SystemAssigned, UserAssigned", tm.opsUAI)})
	e.grant(tm.mallory, "Network Contributor", vnetPathIn("team-b", "netb"))
	e.as(tm.mallory, http.StatusOK, "PATCH", tm.regA, obj{"properties": ruleSet("Deny", nil, []any{obj{"action": "Allow", "id": tm.subnetB}})})
	// ... and once she may look, a missing one is the usual 400.
	status, m := e.call(tm.mallory, "PUT", wsPathIn("team-a", "ws2"), obj{"identity": userIdentity("UserAssigned", uaiPathIn("team-b", "ghost"))})
	if code, _ := errOf(m); status != http.StatusForbidden || code != "LinkedAuthorizationFailed" {
		t.Errorf("Managed Identity Operator on one identity covers another: %d %v", status, m)
	}
}

// TestTaskCredentialsNeedAnAttachedIdentity: a task's credentials name an
// identity by client ID; only "[system]" or an identity attached to the task
// (which needed the assign right) is accepted.
func TestTaskCredentialsNeedAnAttachedIdentity(t *testing.T) {
	e := newAuthzEnv(t)
	tm := newTeams(e)
	host := strings.TrimPrefix(e.srv.URL, "http://")
	status, m := e.call(tm.mallory, "PUT", taskPathIn("team-a", "teamareg", "copyb"), taskBody(nil, map[string]string{host + "/teambreg": tm.opsClient}))
	if code, msg := errOf(m); status != http.StatusBadRequest || code != "InvalidCredentials" || !strings.Contains(msg, "attach") {
		t.Fatalf("credentials with an identity not attached to the task: %d %v", status, m)
	}
	// Attached (by someone who may assign it), it is accepted.
	e.grant(tm.mallory, "Managed Identity Operator", tm.opsUAI)
	e.as(tm.mallory, taskCreated, "PUT", taskPathIn("team-a", "teamareg", "copyb"),
		taskBody(userIdentity("UserAssigned", tm.opsUAI), map[string]string{host + "/teambreg": tm.opsClient}))
	e.as(tm.mallory, taskCreated, "PUT", taskPathIn("team-a", "teamareg", "systask"),
		taskBody(obj{"type": "SystemAssigned"}, map[string]string{host + "/teambreg": "[system]"}))
}

// TestPrivateEndpointTargetApproval: a private endpoint to a registry the
// caller may not approve connections on waits for its owner (SPEC 2).
func TestPrivateEndpointTargetApproval(t *testing.T) {
	e := newAuthzEnv(t)
	tm := newTeams(e)
	state := func(m map[string]any) any {
		return get(t, m, "properties", "privateLinkServiceConnections", 0, "properties", "privateLinkServiceConnectionState", "status")
	}
	if s := state(e.as(tm.mallory, http.StatusCreated, "PUT", pePathIn("team-a", "toown"), peBody(tm.subnetA, tm.regA, false, ""))); s != "Approved" {
		t.Errorf("endpoint to her own registry: %v, want Approved", s)
	}
	if s := state(e.as(tm.mallory, http.StatusCreated, "PUT", pePathIn("team-a", "tob"), peBody(tm.subnetA, tm.regB, false, ""))); s != "Pending" {
		t.Errorf("endpoint to another team's registry: %v, want Pending", s)
	}
	// Whether a registry she may not read is missing or refuses endpoints,
	// she learns only that no connection can be made.
	e.as(e.admin, http.StatusCreated, "PUT", regPathIn("team-b", "teambstd"), registryBody("Standard", nil))
	_, missing := e.call(tm.mallory, "PUT", pePathIn("team-a", "x1"), peBody(tm.subnetA, tm.ghostReg, false, ""))
	_, standard := e.call(tm.mallory, "PUT", pePathIn("team-a", "x2"), peBody(tm.subnetA, regPathIn("team-b", "teambstd"), false, ""))
	mc, mm := errOf(missing)
	sc, sm := errOf(standard)
	if mc != sc || strings.ReplaceAll(mm, "ghostreg", "teambstd") != sm {
		t.Errorf("a missing registry and a Standard one answer differently:\n%s %s\n%s %s", mc, mm, sc, sm)
	}
}

// TestRecreatedIdentityIsNotInherited: a resource that had an identity
// attached does not get the identity created again under the same resource
// ID without the assign right: that is a new identity.
func TestRecreatedIdentityIsNotInherited(t *testing.T) {
	e := newAuthzEnv(t)
	tm := newTeams(e)
	ws := wsPathIn("team-a", "ws3")
	e.as(e.admin, http.StatusCreated, "PUT", ws, obj{"location": "local", "identity": userIdentity("SystemAssigned, UserAssigned", tm.opsUAI)})
	e.as(e.admin, http.StatusOK, "DELETE", tm.opsUAI, nil)
	ops := e.as(e.admin, http.StatusCreated, "PUT", tm.opsUAI, obj{"location": "local"})
	e.grant(get(t, ops, "properties", "principalId").(string), "Owner", "/subscriptions/"+sub)
	status, m := e.call(tm.mallory, "PUT", ws, obj{"identity": userIdentity("SystemAssigned, UserAssigned", tm.opsUAI)})
	if code, _ := errOf(m); status != http.StatusForbidden || code != "LinkedAuthorizationFailed" {
		t.Fatalf("re-attaching an identity created again under the old ID: %d %v, want 403 LinkedAuthorizationFailed", status, m)
	}
}
