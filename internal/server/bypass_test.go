package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/rbac"
	"github.com/moat-registry/moat/internal/config"
	"github.com/moat-registry/moat/internal/network/netid"
)

// bypassEnv is an in-process server whose clients all come from the public
// internet address 203.0.113.5, with registry "bypassreg" holding one image.
type bypassEnv struct {
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	mgmt  string
	regID string
}

func newBypassEnv(t *testing.T) *bypassEnv { return newBypassEnvWith(t, nil) }

// newBypassEnvWith is newBypassEnv with a configuration changed by edit.
func newBypassEnvWith(t *testing.T, edit func(*config.Config)) *bypassEnv {
	t.Setenv("MOAT_ADMIN_PASSWORD", "bypass-password-1")
	cfg := testConfig(t.TempDir())
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return netid.With(ctx, netid.Identity{Path: netid.Public, ClientIP: netip.MustParseAddr("203.0.113.5")})
	}
	ts.Start()
	t.Cleanup(ts.Close)
	e := &bypassEnv{t: t, srv: srv, ts: ts,
		mgmt:  ts.URL + "/subscriptions/" + srv.Subscription() + "/resourceGroups/default/providers/",
		regID: "/subscriptions/" + srv.Subscription() + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/bypassreg"}
	e.admin(http.MethodPut, e.mgmt+"Microsoft.ContainerRegistry/registries/bypassreg", `{"sku":{"name":"Premium"}}`)
	return e
}

// admin calls the management API as the administrator.
func (e *bypassEnv) admin(method, u, body string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, u+"?"+armVersion(u), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.identityToken(url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {"bypass-password-1"}, "client_id": {"moat-cli"}}))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("%s %s: %s %s", method, u, resp.Status, b)
	}
}

func (e *bypassEnv) identityToken(form url.Values) string {
	e.t.Helper()
	return identityToken(e.t, e.ts.URL, e.srv.Tenant(), form)
}

// identityToken gets a token for the management API from moat's authority,
// for the audience the server reports, as clients do.
func identityToken(t *testing.T, base, tenant string, form url.Values) string {
	t.Helper()
	form.Set("scope", managementScope(t, base))
	resp, err := http.PostForm(base+"/identity/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("identity token: %s %v", resp.Status, err)
	}
	return out.AccessToken
}

// loginToken signs the administrator in.
func loginToken(t *testing.T, base, tenant, password string) string {
	return identityToken(t, base, tenant, url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {password}, "client_id": {"moat-test"}})
}

// managedIdentity creates an identity of a service instance and returns its
// instance secret; with role it is assigned that role on the registry.
func (e *bypassEnv) managedIdentity(assignment, ownerType, role string) (secret, clientID string) {
	e.t.Helper()
	ctx := context.Background()
	secret = identity.NewSecret()
	owner := "/subscriptions/" + e.srv.Subscription() + "/resourceGroups/default/providers/" + ownerType + "/inst-" + uuid.NewString()[:8]
	sys := &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), Assignment: identity.SystemAssigned,
		Owner: owner, OwnerType: ownerType, Secrets: []identity.Secret{{ID: "i", Hash: identity.HashSecret(secret)}}}
	if err := e.srv.dir.Create(ctx, sys); err != nil {
		e.t.Fatal(err)
	}
	p := sys
	if assignment == identity.UserAssigned {
		// Even one recorded with a trusted owner type must not bypass.
		p = &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), Assignment: identity.UserAssigned,
			AttachedTo: []string{owner}, OwnerType: ownerType}
		if err := e.srv.dir.Create(ctx, p); err != nil {
			e.t.Fatal(err)
		}
		clientID = p.Name
	}
	if role != "" {
		r, _ := rbac.RoleByName(role)
		name := uuid.NewString()
		e.admin(http.MethodPut, e.ts.URL+e.regID+"/providers/Microsoft.Authorization/roleAssignments/"+name,
			fmt.Sprintf(`{"properties":{"roleDefinitionId":%q,"principalId":%q}}`, rbac.RoleDefinitionID(e.srv.Subscription(), r), p.ID))
	}
	return secret, clientID
}

// pullAs runs the token flow a service instance would run (managed-identity
// endpoint, exchange, token) and GETs the tag list; it returns the status of
// the first step that failed, or of the GET.
func (e *bypassEnv) pullAs(secret, clientID string) (int, string) {
	e.t.Helper()
	status, mi := e.msiToken(secret, clientID)
	if status != http.StatusOK {
		return status, "msi: " + mi
	}
	host := strings.TrimPrefix(e.ts.URL, "http://")
	form := url.Values{"grant_type": {"access_token"}, "service": {host}, "access_token": {mi}}
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/oauth2/exchange", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var ex struct {
		RefreshToken string `json:"refresh_token"`
	}
	if status, body := e.doJSON(req, &ex); status != http.StatusOK {
		return status, "exchange: " + body
	}
	req, _ = http.NewRequest(http.MethodGet, e.ts.URL+"/oauth2/token?service="+host+"&scope=repository:bypassreg/app:pull", nil)
	req.SetBasicAuth("00000000-0000-0000-0000-000000000000", ex.RefreshToken)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status, body := e.doJSON(req, &tok); status != http.StatusOK {
		return status, "token: " + body
	}
	req, _ = http.NewRequest(http.MethodGet, e.ts.URL+"/v2/bypassreg/app/tags/list", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	status, body := e.doJSON(req, nil)
	return status, "tags: " + body
}

func (e *bypassEnv) doJSON(req *http.Request, out any) (int, string) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		json.Unmarshal(b, out)
	}
	return resp.StatusCode, string(b)
}

const (
	tasksType = "Microsoft.ContainerRegistry/registries/tasks"
	mlType    = "Microsoft.MachineLearningServices/workspaces"
	vmType    = "Microsoft.Compute/virtualMachines"
)

// TestTrustedServiceBypass covers SPEC 5 through the real endpoints: the
// registry has public access disabled, the client's network is not allowed,
// and only a trusted service's system-assigned identity gets through.
func TestTrustedServiceBypass(t *testing.T) {
	e := newBypassEnv(t)
	reg := e.mgmt + "Microsoft.ContainerRegistry/registries/bypassreg"
	e.admin(http.MethodPatch, reg, `{"properties":{"publicNetworkAccess":"Disabled"}}`)
	notFound := http.StatusNotFound // the tag list of an empty repository: the request got through

	task, _ := e.managedIdentity(identity.SystemAssigned, tasksType, "AcrPull")
	ml, _ := e.managedIdentity(identity.SystemAssigned, mlType, "AcrPull")
	vm, _ := e.managedIdentity(identity.SystemAssigned, vmType, "AcrPull")
	uaSecret, uaClient := e.managedIdentity(identity.UserAssigned, tasksType, "AcrPull")
	noRole, _ := e.managedIdentity(identity.SystemAssigned, tasksType, "")

	// want is a status; a 403 must come from the network gate (its body
	// names the client IP), except where noted.
	expect := func(name, secret, clientID string, want int) {
		t.Helper()
		got, body := e.pullAs(secret, clientID)
		if got != want || want == http.StatusForbidden && !strings.Contains(body, "client with IP '203.0.113.5' is not allowed access") {
			t.Errorf("%s: status %d, want %d (%s)", name, got, want, body)
		}
	}
	expect("task identity passes public access Disabled", task, "", notFound)
	expect("ML workspace identity passes", ml, "", notFound)
	expect("untrusted service type is denied", vm, "", http.StatusForbidden)
	expect("user-assigned identity never bypasses", uaSecret, uaClient, http.StatusForbidden)
	if got, body := e.pullAs(noRole, ""); got != http.StatusForbidden || !strings.Contains(body, "requested access to the resource is denied") {
		t.Errorf("bypass must not replace authorisation: %d %s", got, body)
	}

	e.admin(http.MethodPatch, reg, `{"properties":{"networkRuleBypassOptions":"None"}}`)
	expect("bypass None denies the task", task, "", http.StatusForbidden)
	e.admin(http.MethodPatch, reg, `{"properties":{"networkRuleBypassAllowedForTasks":true}}`)
	expect("networkRuleBypassAllowedForTasks lets tasks through", task, "", notFound)
	expect("... but not ML workspaces", ml, "", http.StatusForbidden)

	// With virtual-network rules there is no bypass at all.
	e.admin(http.MethodPut, e.mgmt+"Microsoft.Network/virtualNetworks/corp", `{"properties":{"addressSpace":{"addressPrefixes":["10.77.0.0/16"]},"subnets":[{"name":"a","properties":{"addressPrefix":"10.77.1.0/24","serviceEndpoints":[{"service":"Microsoft.ContainerRegistry"}]}}]}}`)
	e.admin(http.MethodPatch, reg, `{"properties":{"publicNetworkAccess":"Enabled","networkRuleBypassOptions":"AzureServices","networkRuleSet":{"defaultAction":"Deny","virtualNetworkRules":[{"id":"`+
		"/subscriptions/"+e.srv.Subscription()+`/resourceGroups/default/providers/Microsoft.Network/virtualNetworks/corp/subnets/a"}]}}}`)
	expect("no bypass with virtual-network rules", task, "", http.StatusForbidden)
	// IP rules and default Deny: bypass applies again. (A PATCH is a merge
	// patch: the virtual-network rules go only when it says so.)
	e.admin(http.MethodPatch, reg, `{"properties":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"value":"16.17.18.0/24"}],"virtualNetworkRules":[]}}}`)
	expect("bypass applies to IP-rule registries", task, "", notFound)
}

// managementScope is the scope of the management API's audience that
// /metadata/endpoints reports (the server's public URL).
func managementScope(t testing.TB, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metadata/endpoints")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md struct {
		Authentication struct{ Audiences []string } `json:"authentication"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil || len(md.Authentication.Audiences) == 0 {
		t.Fatalf("/metadata/endpoints: %v %+v", err, md)
	}
	return strings.TrimRight(md.Authentication.Audiences[0], "/") + "/.default"
}
