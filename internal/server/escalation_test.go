package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/rbac"
)

// TestNoEscalationThroughRoleAssignments: a principal with Contributor and
// AcrPush on one registry cannot grant itself more there, cannot reach
// another registry, and cannot create principals; even Owner of one registry
// cannot assign roles on another registry or on the subscription.
func TestNoEscalationThroughRoleAssignments(t *testing.T) {
	e := startOps(t, opsConfig(t, t.TempDir()))
	for _, name := range []string{"esca1reg", "escb1reg"} {
		if st, body := e.mgmt(http.MethodPut, e.regPath(name), `{"location":"local","sku":{"name":"Premium"}}`); st >= 300 {
			t.Fatalf("create %s: %d %s", name, st, body)
		}
	}
	const pw = "mallory-password-1"
	st, body := e.mgmt(http.MethodPost, e.base+"/graph/v1.0/users", `{"userPrincipalName":"mallory","passwordProfile":{"password":"`+pw+`"}}`)
	if st != http.StatusCreated {
		t.Fatalf("create user: %d %s", st, body)
	}
	var id string
	if i := strings.Index(string(body), `"id"`); i >= 0 {
		fmt.Sscanf(strings.SplitN(string(body[i+5:]), `"`, 3)[1], "%s", &id)
	}
	assign := func(tok, scope, role, principal string) int {
		r, _ := rbac.RoleByName(role)
		req, _ := http.NewRequest(http.MethodPut, scope+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2025-11-01",
			strings.NewReader(fmt.Sprintf(`{"properties":{"roleDefinitionId":%q,"principalId":%q}}`, rbac.RoleDefinitionID(e.srv.Subscription(), r), principal)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	regA, regB, sub := e.regPath("esca1reg"), e.regPath("escb1reg"), e.base+"/subscriptions/"+e.srv.Subscription()
	for _, role := range []string{"Contributor", "AcrPush"} {
		if st := assign(e.mgmtTok, regA, role, id); st != http.StatusCreated {
			t.Fatalf("admin assigns %s: %d", role, st)
		}
	}
	mallory := identityToken(t, e.base, e.srv.Tenant(), url.Values{"grant_type": {"password"}, "username": {"mallory"}, "password": {pw}, "client_id": {"moat-test"}})
	for _, c := range []struct{ scope, role string }{{regA, "Owner"}, {regA, "AcrDelete"}, {regB, "AcrPush"}, {sub, "Owner"}} {
		if st := assign(mallory, c.scope, c.role, id); st != http.StatusForbidden {
			t.Errorf("Contributor assigns herself %s on %s: %d, want 403", c.role, c.scope, st)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, e.base+"/graph/v1.0/users", strings.NewReader(`{"userPrincipalName":"mallory2","passwordProfile":{"password":"xxxxxxxxxx"}}`))
	req.Header.Set("Authorization", "Bearer "+mallory)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("Contributor creates a user: %d, want 403", resp.StatusCode)
	}
	// The data plane agrees: push on A, nothing on B.
	if tok, _ := e.regToken("mallory", pw, "repository:escb1reg/app:pull,push"); tok != "" {
		if resp := e.do(http.MethodPost, "/v2/escb1reg/app/blobs/uploads/", tok, nil, nil); resp.StatusCode < 400 {
			t.Errorf("push to the other registry: %s", resp.Status)
		} else {
			resp.Body.Close()
		}
	}

	// Owner of registry A may assign roles on A only.
	if st := assign(e.mgmtTok, regA, "Owner", id); st != http.StatusCreated {
		t.Fatalf("admin assigns Owner on A: %d", st)
	}
	mallory = identityToken(t, e.base, e.srv.Tenant(), url.Values{"grant_type": {"password"}, "username": {"mallory"}, "password": {pw}, "client_id": {"moat-test"}})
	if st := assign(mallory, regA, "AcrDelete", id); st != http.StatusCreated {
		t.Errorf("Owner of A assigns on A: %d, want 201", st)
	}
	for _, scope := range []string{regB, sub} {
		if st := assign(mallory, scope, "Owner", id); st != http.StatusForbidden {
			t.Errorf("Owner of A assigns Owner on %s: %d, want 403", scope, st)
		}
	}
}
