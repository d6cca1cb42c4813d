package server

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/tasks"
)

// callAs calls the server with a bearer token and decodes the JSON answer.
func (e *bypassEnv) callAs(tok, method, u, body string) (int, map[string]any) {
	e.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = e.ts.URL + u
	}
	if !strings.Contains(u, "api-version=") && !strings.Contains(u, "/identity/") && !strings.Contains(u, "/graph/") {
		u += "?" + armVersion(u)
	}
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if json.Unmarshal(raw, &out) != nil {
		out = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, out
}

// newUser creates a user with a role at scope and returns its object ID and
// a management token of its own.
func (e *bypassEnv) newUser(name, role, scope string) (id, tok string) {
	e.t.Helper()
	pw := name + "-password-1"
	st, out := e.adminJSON(http.MethodPost, e.ts.URL+"/graph/v1.0/users", `{"userPrincipalName":"`+name+`","passwordProfile":{"password":"`+pw+`"}}`)
	if st != http.StatusCreated {
		e.t.Fatalf("create user %s: %d %v", name, st, out)
	}
	id, _ = out["id"].(string)
	if role != "" {
		e.assign(id, scope, role)
	}
	return id, e.identityToken(url.Values{"grant_type": {"password"}, "username": {name}, "password": {pw}, "client_id": {"moat-cli"}})
}

// msiToken asks the managed-identity endpoint for a management token with
// an instance secret (and a user-assigned identity's client ID).
func (e *bypassEnv) msiToken(secret, clientID string) (int, string) {
	e.t.Helper()
	q := url.Values{"api-version": {"2019-08-01"}, "resource": {strings.TrimSuffix(managementScope(e.t, e.ts.URL), ".default")}}
	if clientID != "" {
		q.Set("client_id", clientID)
	}
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/identity/msi/token?"+q.Encode(), nil)
	req.Header.Set("X-IDENTITY-HEADER", secret)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	st, body := e.doJSON(req, &out)
	if st != http.StatusOK {
		return st, body
	}
	return st, out.AccessToken
}

func armCode(out map[string]any) (code, msg string) {
	e, _ := out["error"].(map[string]any)
	code, _ = e["code"].(string)
	msg, _ = e["message"].(string)
	return code, msg
}

// TestLinkedIdentityEscalation reproduces the attack of issue 15 through the
// real server: a Contributor of one resource group attaches another group's
// user-assigned identity — one that is Owner of the subscription — to a new
// ML workspace, takes its token at the managed-identity endpoint with the
// workspace's instance secret, and makes herself Owner. The attach must
// fail with 403 LinkedAuthorizationFailed naming the action and the identity.
func TestLinkedIdentityEscalation(t *testing.T) {
	e := newBypassEnv(t)
	sub := "/subscriptions/" + e.srv.Subscription()
	group := func(g string) string { return sub + "/resourceGroups/" + g }
	for _, g := range []string{"team-a", "team-b"} {
		e.admin(http.MethodPut, e.ts.URL+group(g), `{"location":"local"}`)
	}
	opsID := group("team-b") + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ops"
	st, ops := e.adminJSON(http.MethodPut, e.ts.URL+opsID, `{"location":"local"}`)
	if st != http.StatusCreated {
		t.Fatalf("create identity: %d %v", st, ops)
	}
	opsProps := ops["properties"].(map[string]any)
	e.assign(opsProps["principalId"].(string), sub, "Owner")
	mallory, tok := e.newUser("mallory", "Contributor", group("team-a"))

	ws := group("team-a") + "/providers/Microsoft.MachineLearningServices/workspaces/ws1"
	st, out := e.callAs(tok, http.MethodPut, ws, `{"location":"local","identity":{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"`+opsID+`":{}}}}`)
	code, msg := armCode(out)
	if st != http.StatusForbidden || code != "LinkedAuthorizationFailed" || !strings.Contains(msg, rbac.ActionAssignIdentity) || !strings.Contains(msg, opsID) {
		// Show how far the attack gets.
		secret, _ := out["properties"].(map[string]any)["instanceSecret"].(string)
		mst, miTok := e.msiToken(secret, opsProps["clientId"].(string))
		ast, _ := e.callAs(miTok, http.MethodPut, sub+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString(),
			fmt.Sprintf(`{"properties":{"roleDefinitionId":%q,"principalId":%q}}`, rbac.RoleDefinitionID(e.srv.Subscription(), mustRole("Owner")), mallory))
		t.Fatalf("attach of another group's identity: %d %v, want 403 LinkedAuthorizationFailed naming %s and %s;\nthe attack went on: identity token %d, Owner assignment %d",
			st, out, rbac.ActionAssignIdentity, opsID, mst, ast)
	}

	// The rest of the chain is closed too: her own workspace's secret does
	// not reach the identity, and she cannot assign roles or create users.
	st, out = e.callAs(tok, http.MethodPut, ws, `{"location":"local"}`)
	if st != http.StatusCreated {
		t.Fatalf("her own workspace: %d %v", st, out)
	}
	secret := out["properties"].(map[string]any)["instanceSecret"].(string)
	if st, body := e.msiToken(secret, opsProps["clientId"].(string)); st != http.StatusBadRequest {
		t.Errorf("the identity's token with her workspace's secret: %d %s, want 400", st, body)
	}
	if st, _ := e.callAs(tok, http.MethodPut, sub+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString(),
		fmt.Sprintf(`{"properties":{"roleDefinitionId":%q,"principalId":%q}}`, rbac.RoleDefinitionID(e.srv.Subscription(), mustRole("Owner")), mallory)); st != http.StatusForbidden {
		t.Errorf("Contributor makes herself Owner: %d, want 403", st)
	}
	if st, _ := e.callAs(tok, http.MethodPost, "/graph/v1.0/users", `{"userPrincipalName":"eve","passwordProfile":{"password":"eve-password-1"}}`); st != http.StatusForbidden {
		t.Errorf("Contributor creates a user: %d, want 403", st)
	}
	// With the right on the identity (Managed Identity Operator), the attach is hers to make.
	e.assign(mallory, opsID, "Managed Identity Operator")
	if st, out := e.callAs(tok, http.MethodPut, ws, `{"identity":{"type":"SystemAssigned, UserAssigned","userAssignedIdentities":{"`+opsID+`":{}}}}`); st != http.StatusOK {
		t.Errorf("attach as Managed Identity Operator of the identity: %d %v", st, out)
	}
}

func mustRole(name string) rbac.Role {
	r, ok := rbac.RoleByName(name)
	if !ok {
		panic("no role " + name)
	}
	return r
}

// TestTaskCannotBorrowAnotherTeamsIdentity: the variant of the attack with
// a task. A Contributor of one registry cannot attach another team's pull
// identity to a task, name it in the task's credentials without attaching
// it, or pull the other team's private image with the task's hidden run
// identity.
func TestTaskCannotBorrowAnotherTeamsIdentity(t *testing.T) {
	e := newBypassEnv(t)
	e.srv.SetRunnerEndpoint("http", e.host())
	sub := "/subscriptions/" + e.srv.Subscription()
	e.admin(http.MethodPut, e.ts.URL+sub+"/resourceGroups/team-b", `{"location":"local"}`)
	secretReg := sub + "/resourceGroups/team-b/providers/Microsoft.ContainerRegistry/registries/secretreg"
	e.admin(http.MethodPut, e.ts.URL+secretReg, `{"sku":{"name":"Premium"}}`)
	e.pushImage("secretreg/private", "v1")
	pullerID := sub + "/resourceGroups/team-b/providers/Microsoft.ManagedIdentity/userAssignedIdentities/puller"
	_, puller := e.adminJSON(http.MethodPut, e.ts.URL+pullerID, `{"location":"local"}`)
	pp := puller["properties"].(map[string]any)
	e.assign(pp["principalId"].(string), secretReg, "AcrPull")

	e.admin(http.MethodPut, e.mgmt+"Microsoft.ContainerRegistry/registries/mallreg", `{"sku":{"name":"Premium"}}`)
	_, tok := e.newUser("mallory", "Contributor", e.regID[:strings.LastIndexByte(e.regID, '/')]+"/mallreg")
	steps := "version: v1.1.0\nsteps:\n  - cmd: copy\n    from: " + e.host() + "/secretreg/private:v1\n    to: $Registry/stolen:v1\n"
	task := func(name, identity string, creds map[string]string) (int, map[string]any) {
		cr := map[string]any{}
		for ls, id := range creds {
			cr[ls] = map[string]string{"identity": id}
		}
		body, _ := json.Marshal(map[string]any{"identity": json.RawMessage(identity), "properties": map[string]any{
			"step":        map[string]string{"type": "EncodedTask", "encodedTaskContent": base64.StdEncoding.EncodeToString([]byte(steps))},
			"credentials": map[string]any{"customRegistries": cr}}})
		return e.callAs(tok, http.MethodPut, e.mgmt+"Microsoft.ContainerRegistry/registries/mallreg/tasks/"+name, string(body))
	}
	creds := map[string]string{e.host() + "/secretreg": pp["clientId"].(string)}

	st, out := task("borrowed", `{"type":"UserAssigned","userAssignedIdentities":{"`+pullerID+`":{}}}`, creds)
	if code, _ := armCode(out); st != http.StatusForbidden || code != "LinkedAuthorizationFailed" {
		if st == http.StatusOK {
			if rs, log := e.runTask("mallreg", "borrowed"); rs == tasks.Succeeded {
				t.Fatalf("the task copied the other team's private image as its pull identity:\n%s", log)
			}
		}
		t.Fatalf("task attaching another team's identity: %d %v, want 403 LinkedAuthorizationFailed", st, out)
	}
	if st, out := task("named", `{"type":"None"}`, creds); st != http.StatusBadRequest {
		t.Errorf("task credentials naming an identity not attached to the task: %d %v, want 400", st, out)
	}
	// The hidden run identity of a task without one reaches its own registry only.
	if st, out := task("hidden", `{"type":"None"}`, nil); st != http.StatusOK { // ACR answers a task's creation with 200
		t.Fatalf("task without identity: %d %v", st, out)
	}
	if rs, log := e.runTask("mallreg", "hidden"); rs != tasks.Failed {
		t.Errorf("a task without identity pulled another registry's private image: %s\n%s", rs, log)
	}
	if d := e.manifestDigest("mallreg/stolen", "v1"); d != "" {
		t.Errorf("mallreg/stolen:v1 exists (%s)", d)
	}
}

// TestNetworkContributorCannotPull: data actions come only from roles that
// name them: Network Contributor of the subscription gets no pull, while
// Reader and AcrPull do (ACR's roles table).
func TestNetworkContributorCannotPull(t *testing.T) {
	e := newBypassEnv(t)
	e.pushImage("bypassreg/app", "v1")
	sub := "/subscriptions/" + e.srv.Subscription()
	for _, c := range []struct {
		user, role string
		want       int
	}{{"netop", "Network Contributor", http.StatusForbidden}, {"reader", "Reader", http.StatusOK}, {"puller", "AcrPull", http.StatusOK}} {
		e.newUser(c.user, c.role, sub)
		req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/oauth2/token?service="+e.host()+"&scope=repository:bypassreg/app:pull", nil)
		req.SetBasicAuth(c.user, c.user+"-password-1")
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if st, body := e.doJSON(req, &tok); st != http.StatusOK {
			t.Fatalf("%s: token: %d %s", c.user, st, body)
		}
		req, _ = http.NewRequest(http.MethodGet, e.ts.URL+"/v2/bypassreg/app/tags/list", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		if st, body := e.doJSON(req, nil); st != c.want {
			t.Errorf("%s (%s) lists tags: %d %s, want %d", c.user, c.role, st, body, c.want)
		}
	}
}
