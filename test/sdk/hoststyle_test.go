//lint:file-ignore SA1019 azidentity deprecates UsernamePasswordCredential, but the clients that use it must keep working against moat

package sdk

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/server"
)

// hostSuffix is the login-server suffix of host-style tests: registry r is
// https://r.moat.test:<port>, which the test's dialer sends to the server.
const hostSuffix = "moat.test"

// hostEnv is a moat server over TLS with host-style login servers, and a
// client that resolves every name under hostSuffix to it.
type hostEnv struct {
	url    string // the server's own address (management API, authority)
	port   string
	srv    *server.Server
	client *http.Client
	caFile string
	admin  string // the administrator's management token
}

func startHostStyle(t *testing.T) *hostEnv {
	t.Helper()
	addr, srv, pool, caFile := serveTLS(t, hostSuffix)
	dialer := &net.Dialer{}
	_, port, _ := net.SplitHostPort(addr)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			if host, _, _ := net.SplitHostPort(a); strings.HasSuffix(host, "."+hostSuffix) {
				a = addr // the wildcard DNS record of a real deployment
			}
			return dialer.DialContext(ctx, network, a)
		}}
	ctx := context.Background()
	e := &hostEnv{url: "https://" + addr, port: port, srv: srv, client: &http.Client{Transport: tr}, caFile: caFile}
	admin, err := azidentity.NewUsernamePasswordCredential(srv.Tenant(), "moat-sdk-test", "admin", adminPassword,
		&azidentity.UsernamePasswordCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := admin.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{e.url + "/.default"}})
	if err != nil {
		t.Fatalf("admin sign-in: %v", err)
	}
	e.admin = tok.Token
	return e
}

// clientOptions point an Azure SDK client at moat's authority.
func (e *hostEnv) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Transport: e.client, Retry: policy.RetryOptions{MaxRetries: -1},
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.url + "/identity/"}}
}

// loginServerURL is the registry's endpoint as the SDKs take it.
func (e *hostEnv) loginServerURL(reg string) string {
	return "https://" + reg + "." + hostSuffix + ":" + e.port
}

// mgmt calls the management API as the administrator and decodes the answer.
func (e *hostEnv) mgmt(t *testing.T, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	if !strings.HasPrefix(path, "/graph/") {
		path += sep + "api-version=2023-07-01"
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

// servicePrincipal creates a registry and a service principal with the given
// roles on it, and returns the principal's credentials.
func (e *hostEnv) servicePrincipal(t *testing.T, reg string, roles ...string) (appID, secret string) {
	t.Helper()
	regID := "/subscriptions/" + e.srv.Subscription() + "/resourceGroups/default/providers/Microsoft.ContainerRegistry/registries/" + reg
	e.mgmt(t, http.MethodPut, regID, map[string]any{"location": "local", "sku": map[string]string{"name": "Premium"}}, nil)
	var sp struct{ ID, AppID, Password string }
	e.mgmt(t, http.MethodPost, "/graph/v1.0/servicePrincipals", map[string]string{"displayName": reg + "-sp"}, &sp)
	if sp.AppID == "" || sp.Password == "" {
		t.Fatalf("service principal: %+v", sp)
	}
	roleIDs := map[string]string{"AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d", "AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec",
		"AcrDelete": "c2f4ef07-c644-48eb-af81-4b1b4947fb11"}
	for _, role := range roles {
		e.mgmt(t, http.MethodPut, regID+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString(), map[string]any{"properties": map[string]string{
			"roleDefinitionId": "/subscriptions/" + e.srv.Subscription() + "/providers/Microsoft.Authorization/roleDefinitions/" + roleIDs[role],
			"principalId":      sp.ID, "principalType": "ServicePrincipal"}}, nil)
	}
	return sp.AppID, sp.Password
}

// spCredential is azidentity's client-secret credential at moat's authority.
func (e *hostEnv) spCredential(t *testing.T, appID, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(e.srv.Tenant(), appID, secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func must(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}
