package mgmt_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestRoleDefinitions: the built-in roles, read as az role assignment
// create --role <name> reads them ($filter=roleName eq '...', any case),
// at any scope the caller may read.
func TestRoleDefinitions(t *testing.T) {
	a := newAuthzEnv(t)
	reg := regPath("rdreg")
	a.as(a.admin, http.StatusCreated, "PUT", reg, registryBody("Premium", nil))
	defs := reg + "/providers/Microsoft.Authorization/roleDefinitions"
	m := a.as(a.admin, http.StatusOK, "GET", defs+"?$filter="+url.QueryEscape("roleName eq 'acrpull'"), nil)
	if length(t, m, "value") != 1 || get(t, m, "value", 0, "name") != "7f951dda-4ed3-4680-a7ca-43fe172d538d" ||
		get(t, m, "value", 0, "properties", "roleName") != "AcrPull" ||
		get(t, m, "value", 0, "id") != "/subscriptions/"+sub+"/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d" {
		t.Fatalf("acrpull: %v", m)
	}
	if n := length(t, a.as(a.admin, http.StatusOK, "GET", defs, nil), "value"); n < 7 {
		t.Errorf("%d built-in roles listed", n)
	}
	a.as(a.admin, http.StatusOK, "GET", defs+"/7f951dda-4ed3-4680-a7ca-43fe172d538d", nil)
	status, m := a.call(a.admin, "GET", defs+"/00000000-0000-0000-0000-000000000000", nil)
	wantErr(t, status, m, 404, "RoleDefinitionDoesNotExist")
	status, m = a.call(a.admin, "PUT", defs+"/00000000-0000-0000-0000-000000000000", obj{})
	wantErr(t, status, m, 405, "MethodNotAllowed")
	status, m = a.call(a.user("nobody"), "GET", defs, nil)
	wantErr(t, status, m, 403, "AuthorizationFailed")
}
