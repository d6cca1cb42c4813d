package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/store/meta/postgres/pgtest"
)

// TestCredentialChangeReachesEveryNode: two nodes on one PostgreSQL
// database behind one host name; a docker login made at node 1 refreshes at
// node 2, and once the user's password is changed at node 1, node 2 refuses
// it too (it reloads its directory at the store's change notice).
func TestCredentialChangeReachesEveryNode(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Postgres = pgtest.SchemaDSN(t)
	n1, n2 := startNode(t, cfg), startNode(t, cfg)
	host := strings.TrimPrefix(n1.URL, "http://") // the load balancer's name, the same at both nodes
	admin := loginToken(t, n1.URL, n1.srv.Tenant(), cascadePassword)
	const v = "?api-version=2025-11-01"
	reg := "/subscriptions/" + n1.srv.Subscription() + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/nodesreg"
	if st, out := call(t, n1, admin, http.MethodPut, reg+v, `{"location":"local","sku":{"name":"Standard"}}`); st != http.StatusCreated {
		t.Fatalf("create registry: %d %s", st, out)
	}
	st, out := call(t, n1, admin, http.MethodPost, "/graph/v1.0/users", `{"userPrincipalName":"nodeuser","passwordProfile":{"password":"node-password-1"}}`)
	if st != http.StatusCreated {
		t.Fatalf("create user: %d %s", st, out)
	}
	var user struct{ ID string }
	if json.Unmarshal([]byte(out), &user) != nil || user.ID == "" {
		t.Fatalf("created user: %s", out)
	}
	id := user.ID
	r, _ := rbac.RoleByName("AcrPull")
	body := fmt.Sprintf(`{"properties":{"roleDefinitionId":%q,"principalId":%q}}`, rbac.RoleDefinitionID(n1.srv.Subscription(), r), id)
	if st, out := call(t, n1, admin, http.MethodPut, reg+"/providers/Microsoft.Authorization/roleAssignments/5d3c6b0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"+v, body); st != http.StatusCreated {
		t.Fatalf("assign: %d %s", st, out)
	}
	send := func(req *http.Request) int {
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	login, _ := http.NewRequest(http.MethodGet, n1.URL+"/oauth2/token?"+url.Values{"service": {host}, "offline_token": {"true"}, "client_id": {"docker"}}.Encode(), nil)
	login.SetBasicAuth("nodeuser", "node-password-1")
	login.Host = host
	resp, err := http.DefaultClient.Do(login)
	if err != nil {
		t.Fatal(err)
	}
	var ans tokenAnswer
	err = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if err != nil || ans.RefreshToken == "" {
		t.Fatal("docker login at node 1: no refresh token")
	}
	refresh := func() int {
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"docker"}, "refresh_token": {ans.RefreshToken},
			"service": {host}, "scope": {"repository:nodesreg/app:pull"}}
		req, _ := http.NewRequest(http.MethodPost, n2.URL+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return send(req)
	}
	eventually(t, "node 2 refreshes node 1's docker login", func() (bool, string) { st := refresh(); return st == http.StatusOK, fmt.Sprint(st) })
	if st, out := call(t, n1, admin, http.MethodPatch, "/graph/v1.0/users/"+id, `{"passwordProfile":{"password":"node-password-2"}}`); st != http.StatusNoContent {
		t.Fatalf("change password at node 1: %d %s", st, out)
	}
	eventually(t, "node 2 refuses it after the password changed at node 1", func() (bool, string) {
		st := refresh()
		return st == http.StatusUnauthorized, fmt.Sprint(st)
	})
}
