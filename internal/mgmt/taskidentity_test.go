package mgmt_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/rbac"
)

// TestHiddenTaskPrincipal: a task without a system-assigned identity runs as
// a hidden instance principal with AcrPush and AcrDelete on its own registry
// only. It may be given no other role, and a task whose system-assigned
// identity is removed loses the roles that identity was given.
func TestHiddenTaskPrincipal(t *testing.T) {
	e := newAuthzEnv(t)
	apps, base := regPath("appsreg"), regPath("basereg")
	e.as(e.admin, http.StatusCreated, "PUT", apps, registryBody("Premium", nil))
	e.as(e.admin, http.StatusCreated, "PUT", base, registryBody("Premium", nil))
	instance := func(task string) string {
		t.Helper()
		ps := e.owned(apps + "/tasks/" + task)
		if len(ps) != 1 {
			t.Fatalf("task %s has %d instance principals", task, len(ps))
		}
		return ps[0].ID
	}
	rolesOf := func(p string) []string {
		var out []string
		for _, a := range e.roles.All() {
			if strings.EqualFold(a.Properties.PrincipalID, p) {
				out = append(out, a.Properties.RoleDefinitionName+" "+strings.TrimPrefix(a.Properties.Scope, "/subscriptions/"+sub))
			}
		}
		slices.Sort(out)
		return out
	}
	runToken := []string{"AcrDelete /resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/appsreg",
		"AcrPush /resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/appsreg"}
	assign := func(p string) (int, string) {
		r, _ := rbac.RoleByName("AcrPull")
		status, m := e.call(e.admin, "PUT", base+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString(),
			obj{"properties": obj{"roleDefinitionId": rbac.RoleDefinitionID(sub, r), "principalId": p}})
		code, _ := errOf(m)
		return status, code
	}

	e.as(e.admin, taskCreated, "PUT", apps+"/tasks/hiddentask", taskBody(nil, nil))
	hidden := instance("hiddentask")
	if got := rolesOf(hidden); !slices.Equal(got, runToken) {
		t.Errorf("hidden instance's roles: %v, want the run token %v", got, runToken)
	}
	if st, code := assign(hidden); st != http.StatusBadRequest || code != "PrincipalNotFound" {
		t.Errorf("AcrPull on another registry for a hidden task principal: %d %s, want 400 PrincipalNotFound", st, code)
	}

	e.as(e.admin, taskCreated, "PUT", apps+"/tasks/systask", taskBody(obj{"type": "SystemAssigned"}, nil))
	sys := instance("systask")
	if st, _ := assign(sys); st != http.StatusCreated {
		t.Fatalf("AcrPull for a task's system-assigned identity: %d", st)
	}
	e.as(e.admin, http.StatusOK, "PATCH", apps+"/tasks/systask", obj{"identity": obj{"type": "None"}})
	if got := rolesOf(sys); !slices.Equal(got, runToken) {
		t.Errorf("after its system-assigned identity is removed the instance has %v, want only the run token", got)
	}
	if st, _ := assign(sys); st != http.StatusBadRequest {
		t.Errorf("AcrPull for a task whose system-assigned identity was removed: %d, want 400", st)
	}
	e.as(e.admin, http.StatusOK, "PATCH", apps+"/tasks/systask", obj{"identity": obj{"type": "SystemAssigned"}})
	if st, _ := assign(sys); st != http.StatusCreated {
		t.Errorf("AcrPull once the system-assigned identity is back: %d", st)
	}
}
