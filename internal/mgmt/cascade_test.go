package mgmt_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/rbac"
)

// owned lists the managed identities owned by a resource at id or below it.
func (e *authzEnv) owned(id string) []*identity.Principal {
	var out []*identity.Principal
	for _, p := range e.dir.List(identity.KindManagedIdentity) {
		if rbac.Covers(id, p.Owner) {
			out = append(out, p)
		}
	}
	return out
}

// leftovers reports what survives of a deleted resource at id: principals it
// owned, and role assignments held by them or scoped at id or below, in this
// node's snapshot and in the store (read by a fresh authorizer).
func (e *authzEnv) leftovers(id string, principals []string) []string {
	e.t.Helper()
	var out []string
	for _, p := range e.owned(id) {
		out = append(out, "principal "+p.ID+" owned by "+p.Owner)
	}
	stored, err := rbac.NewAuthorizer(context.Background(), e.store)
	if err != nil {
		e.t.Fatal(err)
	}
	for where, all := range map[string][]rbac.Assignment{"snapshot": e.roles.All(), "store": stored.All()} {
		for _, a := range all {
			held := false
			for _, p := range principals {
				held = held || strings.EqualFold(a.Properties.PrincipalID, p)
			}
			if held || rbac.Covers(id, a.Properties.Scope) {
				out = append(out, where+": assignment "+a.Properties.RoleDefinitionName+" of "+a.Properties.PrincipalID+" at "+a.Properties.Scope)
			}
		}
	}
	return out
}

func ids(ps []*identity.Principal) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

// TestDeleteCascades: deleting a resource group, registry, task, workspace or
// user-assigned identity removes every principal the deleted resources
// owned (with their secrets) and every role assignment those principals
// held or that was scoped to the deleted resources — in this node's
// snapshot at once and in the store — and detaches identities elsewhere.
func TestDeleteCascades(t *testing.T) {
	e := newAuthzEnv(t)
	keeper := regPath("keeperreg")
	e.as(e.admin, http.StatusCreated, "PUT", keeper, registryBody("Premium", nil))
	e.as(e.admin, http.StatusCreated, "PUT", rgPath("other"), obj{"location": "local"})
	shared := e.as(e.admin, http.StatusCreated, "PUT", uaiPathIn("other", "shared"), obj{"location": "local"})
	sharedPrincipal := get(t, shared, "properties", "principalId").(string)
	bob := e.user("bob")
	passwords := map[string]any{} // group -> its registry's first admin password

	// fill creates, in group g, one of everything with roles on keeper and on itself.
	fill := func(g string) {
		e.as(e.admin, http.StatusCreated, "PUT", rgPath(g), obj{"location": "local"})
		uai := e.as(e.admin, http.StatusCreated, "PUT", uaiPathIn(g, "ops"), obj{"location": "local"})
		e.grant(get(t, uai, "properties", "principalId").(string), "Owner", "/subscriptions/"+sub)
		reg := e.as(e.admin, http.StatusCreated, "PUT", regPathIn(g, g+"reg"), obj{"location": "local", "sku": obj{"name": "Premium"},
			"properties": obj{"adminUserEnabled": true}, "identity": obj{"type": "SystemAssigned"}})
		e.grant(get(t, reg, "identity", "principalId").(string), "AcrPull", keeper)
		passwords[g] = get(t, e.as(e.admin, http.StatusOK, "POST", regPathIn(g, g+"reg")+"/listCredentials", nil), "passwords", 0, "value")
		task := e.as(e.admin, taskCreated, "PUT", taskPathIn(g, g+"reg", "task1"), taskBody(obj{"type": "SystemAssigned"}, nil))
		e.grant(get(t, task, "identity", "principalId").(string), "AcrPull", keeper)
		ws := e.as(e.admin, http.StatusCreated, "PUT", wsPathIn(g, "ws"), obj{"location": "local",
			"identity": userIdentity("SystemAssigned, UserAssigned", uaiPathIn("other", "shared"))})
		e.grant(get(t, ws, "identity", "principalId").(string), "AcrPull", keeper)
		e.grant(bob, "Contributor", rgPath(g))
		e.grant(bob, "AcrPush", regPathIn(g, g+"reg"))
		e.grant(bob, "Managed Identity Operator", uaiPathIn(g, "ops"))
	}
	cases := []struct {
		name, group, deleted string
	}{
		{"resource group", "doomed", rgPath("doomed")},
		{"registry", "rgreg", regPathIn("rgreg", "rgregreg")},
		{"task", "rgtask", taskPathIn("rgtask", "rgtaskreg", "task1")},
		{"workspace", "rgws", wsPathIn("rgws", "ws")},
		{"user-assigned identity", "rguai", uaiPathIn("rguai", "ops")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			fill(c.group)
			doomed := e.owned(c.deleted)
			if len(doomed) == 0 {
				t.Fatalf("nothing owned by %s to test with", c.deleted)
			}
			e.as(e.admin, http.StatusOK, "DELETE", c.deleted, nil)
			if left := e.leftovers(c.deleted, ids(doomed)); len(left) > 0 {
				t.Errorf("left after deleting %s:\n%s", c.deleted, strings.Join(left, "\n"))
			}
			if p, _ := e.dir.Get(sharedPrincipal); p != nil {
				for _, a := range p.AttachedTo {
					if rbac.Covers(c.deleted, a) {
						t.Errorf("identity 'shared' is still attached to %s", a)
					}
				}
			}
		})
	}
	e.t = t

	// Re-created under the same names, nothing is inherited: the old
	// Contributor has no access, the admin user's old passwords are gone and
	// a new workspace cannot use the identity attached to the old one.
	e.as(e.admin, http.StatusCreated, "PUT", rgPath("doomed"), obj{"location": "local"})
	if e.roles.Allowed(bob, rgPath("doomed"), "Microsoft.ContainerRegistry/registries/write") {
		t.Error("a re-created resource group inherits the old group's Contributor")
	}
	if st, _ := e.call(bob, "PUT", regPathIn("doomed", "doomedreg"), registryBody("Premium", nil)); st != http.StatusForbidden {
		t.Errorf("the old Contributor creates a registry in the re-created group: %d", st)
	}
	e.as(e.admin, http.StatusCreated, "PUT", regPathIn("rgreg", "rgregreg"), obj{"sku": obj{"name": "Premium"}, "properties": obj{"adminUserEnabled": true}})
	for _, a := range e.roles.All() {
		if rbac.Covers(regPathIn("rgreg", "rgregreg"), a.Properties.Scope) {
			t.Errorf("a re-created registry inherits the old registry's assignment %s of %s", a.Properties.RoleDefinitionName, a.Properties.PrincipalID)
		}
	}
	_, creds := e.call(e.admin, "POST", regPathIn("rgreg", "rgregreg")+"/listCredentials", nil)
	if get(t, creds, "passwords", 0, "value") == passwords["rgreg"] {
		t.Error("a re-created registry inherits the old admin user's password")
	}
	ws := e.as(e.admin, http.StatusCreated, "PUT", wsPathIn("rgws", "ws"), obj{"location": "local"})
	sharedClient := get(t, shared, "properties", "clientId").(string)
	if _, ok := e.dir.ByInstanceSecret(get(t, ws, "properties", "instanceSecret").(string), sharedClient); ok {
		t.Error("a re-created workspace uses the identity attached to the old one")
	}
}
