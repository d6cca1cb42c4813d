//lint:file-ignore SA1019 azidentity deprecates UsernamePasswordCredential, but the clients that use it must keep working against moat

package authority

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"
	"github.com/moat-registry/moat/internal/auth/identity"
	"github.com/moat-registry/moat/internal/auth/token"
	"github.com/moat-registry/moat/internal/store/meta/sqlite"
)

const (
	mgmtResource = "https://management.moat"
	mgmtScope    = mgmtResource + "/.default"
	// publicClient is the client ID a public client (like the cloud CLI) sends.
	publicClient = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	alicePW      = "pw"
	taskID       = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r/tasks/t"
	uaResourceID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ua"
)

type env struct {
	keys       *token.Keys
	dir        *identity.Directory
	h          *Handler
	srv        *httptest.Server
	tenant     string
	sp         *identity.Principal
	spSecret   string
	alice      *identity.Principal
	sys, ua    *identity.Principal
	other      *identity.Principal
	instSecret string

	mu    sync.Mutex
	paths []string // requests the server saw, "METHOD path"
}

// newEnv builds a directory with a user, a service principal and managed
// identities, and serves the authority over TLS.
func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys, err := token.OpenKeys(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	tenant := uuid.NewString()
	dir, err := identity.Open(ctx, store, tenant)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{keys: keys, dir: dir, tenant: tenant, spSecret: identity.NewSecret(), instSecret: identity.NewSecret()}
	e.alice = &identity.Principal{Kind: identity.KindUser, Name: "alice", DisplayName: "Alice",
		Secrets: []identity.Secret{{ID: "pw1", Hash: identity.HashPassword(alicePW)}}}
	e.sp = &identity.Principal{Kind: identity.KindServicePrincipal, Name: uuid.NewString(), DisplayName: "ci",
		Secrets: []identity.Secret{{ID: "s1", Hash: identity.HashSecret(e.spSecret)}}}
	e.sys = &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), Assignment: identity.SystemAssigned,
		Owner: taskID, OwnerType: "Microsoft.ContainerRegistry/registries/tasks",
		Secrets: []identity.Secret{{ID: "i1", Hash: identity.HashSecret(e.instSecret)}}}
	e.ua = &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), Assignment: identity.UserAssigned,
		Owner: uaResourceID, AttachedTo: []string{taskID}}
	e.other = &identity.Principal{Kind: identity.KindManagedIdentity, Name: uuid.NewString(), Assignment: identity.UserAssigned}
	for _, p := range []*identity.Principal{e.alice, e.sp, e.sys, e.ua, e.other} {
		if err := dir.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	e.h = New(keys, dir)
	mux := http.NewServeMux()
	e.h.Register(mux)
	e.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		what := r.Method + " " + r.URL.Path
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if v, err := url.ParseQuery(string(body)); err == nil && v.Get("grant_type") != "" {
				what += " grant_type=" + v.Get("grant_type")
			}
		}
		e.mu.Lock()
		e.paths = append(e.paths, what)
		e.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.srv.URL + "/identity/"},
		Transport: e.srv.Client(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

// requests returns the requests the server has seen.
func (e *env) requests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.paths...)
}

func (e *env) seen(prefix string) bool {
	for _, p := range e.requests() {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// verify checks an access token the way the rest of moat does.
func (e *env) verify(t *testing.T, raw, aud string) token.IdentityClaims {
	t.Helper()
	var c token.IdentityClaims
	if err := e.keys.Verify(raw, &c, aud); err != nil {
		t.Fatalf("Keys.Verify: %v", err)
	}
	if c.Kind != token.KindIdentity || c.TenantID != e.tenant {
		t.Fatalf("kind %q tenant %q", c.Kind, c.TenantID)
	}
	if want := e.srv.URL + "/identity/" + e.tenant + "/v2.0"; c.Issuer != want {
		t.Fatalf("iss %q, want %q", c.Issuer, want)
	}
	if c.ExpiresAt == nil || time.Until(c.ExpiresAt.Time) > AccessTokenLifetime+time.Minute || time.Until(c.ExpiresAt.Time) < AccessTokenLifetime-time.Minute {
		t.Fatalf("exp %v", c.ExpiresAt)
	}
	return c
}

func TestClientSecretCredential(t *testing.T) {
	e := newEnv(t)
	cred, err := azidentity.NewClientSecretCredential(e.tenant, e.sp.Name, e.spSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{mgmtScope}})
	if err != nil {
		t.Fatal(err)
	}
	c := e.verify(t, tok.Token, mgmtResource)
	if c.ObjectID != e.sp.ID || c.Subject != e.sp.ID || c.AppID != e.sp.Name || c.IDType != "app" || c.UPN != "" {
		t.Fatalf("claims %+v", c)
	}
	// MSAL rewrites the authority to https://host/{tenant} for confidential
	// clients; the token request itself goes where discovery says.
	if !e.seen("GET /"+e.tenant+"/v2.0/.well-known/openid-configuration") || !e.seen("POST /identity/"+e.tenant+"/oauth2/v2.0/token") {
		t.Fatalf("requests: %v", e.requests())
	}

	bad, _ := azidentity.NewClientSecretCredential(e.tenant, e.sp.Name, "wrong", &azidentity.ClientSecretCredentialOptions{
		ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
	_, err = bad.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{mgmtScope}})
	if status := failedStatus(t, err); status != http.StatusUnauthorized {
		t.Fatalf("wrong secret: status %d", status)
	}
}

// failedStatus is the HTTP status behind an azidentity authentication failure.
func failedStatus(t *testing.T, err error) int {
	t.Helper()
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil {
		t.Fatalf("want an AuthenticationFailedError with a response, got %v", err)
	}
	return afe.RawResponse.StatusCode
}

// TestRootAuthorityHost: with the server's root as authority host (e.g.
// AZURE_AUTHORITY_HOST=https://moat/), MSAL's paths land on the same handler.
func TestRootAuthorityHost(t *testing.T) {
	e := newEnv(t)
	opts := e.clientOptions()
	opts.Cloud.ActiveDirectoryAuthorityHost = e.srv.URL + "/"
	sp, err := azidentity.NewClientSecretCredential(e.tenant, e.sp.Name, e.spSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: opts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	user, err := azidentity.NewUsernamePasswordCredential(e.tenant, publicClient, "alice", alicePW, //nolint:staticcheck
		&azidentity.UsernamePasswordCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, cred := range []azcore.TokenCredential{sp, user} {
		tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{mgmtScope}})
		if err != nil {
			t.Fatal(err)
		}
		e.verify(t, tok.Token, mgmtResource)
	}
}

// TestRegisterAlongsideServerRoutes: the patterns Register adds do not
// conflict with the server's other routes (ServeMux panics on conflicts).
func TestRegisterAlongsideServerRoutes(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	for _, p := range []string{"/oauth2/", "/v2/", "/v2", "/subscriptions/", "/subscriptions", "/", "/{$}"} {
		mux.Handle(p, http.NotFoundHandler())
	}
	e.h.Register(mux)
	for _, p := range []string{"/identity/msi/token", "/common/UserRealm/a", "/" + e.tenant + "/v2.0/.well-known/openid-configuration"} {
		if _, pat := mux.Handler(httptest.NewRequest("GET", p, nil)); pat == "/" {
			t.Fatalf("%s not routed to the authority", p)
		}
	}
}

func TestUsernamePasswordCredential(t *testing.T) {
	e := newEnv(t)
	opts := &azidentity.UsernamePasswordCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true}
	cred, err := azidentity.NewUsernamePasswordCredential(e.tenant, publicClient, "alice", alicePW, opts) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{mgmtScope}})
	if err != nil {
		t.Fatal(err)
	}
	c := e.verify(t, tok.Token, mgmtResource)
	if c.ObjectID != e.alice.ID || c.UPN != "alice" || c.IDType != "user" || c.AppID != publicClient {
		t.Fatalf("claims %+v", c)
	}
	if !e.seen("GET /common/UserRealm/alice") || !e.seen("GET /identity/"+e.tenant+"/v2.0/.well-known/openid-configuration") {
		t.Fatalf("requests: %v", e.requests())
	}
	// The second call is served from MSAL's cache: the ID token and
	// client_info built an account.
	n := len(e.requests())
	if _, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{mgmtScope}}); err != nil {
		t.Fatal(err)
	}
	if got := e.requests()[n:]; len(got) != 0 {
		t.Fatalf("second GetToken was not served from the cache: %v", got)
	}
	// A token for another resource comes from the cached refresh token.
	tok, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://containerregistry.moat/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if c := e.verify(t, tok.Token, "https://containerregistry.moat"); c.ObjectID != e.alice.ID {
		t.Fatalf("claims %+v", c)
	}
	if got := e.requests()[n:]; len(got) != 1 || got[0] != "POST /identity/"+e.tenant+"/oauth2/v2.0/token grant_type=refresh_token" {
		t.Fatalf("requests for the second resource: %v", got)
	}

	bad, _ := azidentity.NewUsernamePasswordCredential(e.tenant, publicClient, "alice", "wrong", opts) //nolint:staticcheck
	_, err = bad.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{mgmtScope}})
	var afe *azidentity.AuthenticationFailedError
	if status := failedStatus(t, err); status != http.StatusBadRequest || !errors.As(err, &afe) || !strings.Contains(afe.Error(), "invalid_grant") {
		t.Fatalf("wrong password: status %d, %v", status, err)
	}
}

func TestManagedIdentityCredential(t *testing.T) {
	e := newEnv(t)
	t.Setenv("IDENTITY_ENDPOINT", e.srv.URL+"/identity/msi/token")
	t.Setenv("IDENTITY_HEADER", e.instSecret)
	for _, k := range []string{"IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "AZURE_CLIENT_ID"} {
		t.Setenv(k, "")
	}
	ctx := context.Background()
	get := func(id azidentity.ManagedIDKind, scope string) (azcore.AccessToken, error) {
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ClientOptions: azcore.ClientOptions{Transport: e.srv.Client(), Retry: policy.RetryOptions{MaxRetries: -1}}, ID: id})
		if err != nil {
			t.Fatal(err)
		}
		return cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	}

	tok, err := get(nil, mgmtScope)
	if err != nil {
		t.Fatal(err)
	}
	c := e.verify(t, tok.Token, mgmtResource)
	if c.ObjectID != e.sys.ID || c.AppID != e.sys.Name || c.MIResourceID != taskID || c.IDType != "app" {
		t.Fatalf("system-assigned claims %+v", c)
	}
	if d := time.Until(tok.ExpiresOn); d < 50*time.Minute || d > 61*time.Minute {
		t.Fatalf("ExpiresOn %v", tok.ExpiresOn)
	}

	for _, id := range []azidentity.ManagedIDKind{azidentity.ClientID(e.ua.Name), azidentity.ObjectID(e.ua.ID), azidentity.ResourceID(uaResourceID)} {
		tok, err = get(id, "https://containerregistry.moat/.default")
		if err != nil {
			t.Fatalf("%v: %v", id, err)
		}
		c = e.verify(t, tok.Token, "https://containerregistry.moat")
		if c.ObjectID != e.ua.ID || c.AppID != e.ua.Name || c.MIResourceID != uaResourceID {
			t.Fatalf("user-assigned claims %+v", c)
		}
	}

	// A user-assigned identity not attached to this instance.
	if _, err := get(azidentity.ClientID(e.other.Name), "https://other.moat/.default"); failedStatus(t, err) != http.StatusBadRequest {
		t.Fatalf("unattached identity: %v", err)
	}
	// A wrong instance secret (a resource MSAL has not cached a token for).
	t.Setenv("IDENTITY_HEADER", identity.NewSecret())
	if _, err := get(nil, "https://fresh.moat/.default"); failedStatus(t, err) != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %v", err)
	}
}

// do sends a request to the test server.
func (e *env) do(t *testing.T, method, path string, form url.Values, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

func TestDiscoveryAndKeys(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/identity/" + e.tenant, "/identity/" + strings.ToUpper(e.tenant), "/" + e.tenant} {
		st, doc := e.do(t, "GET", p+"/v2.0/.well-known/openid-configuration", nil, nil)
		if st != 200 {
			t.Fatalf("%s: %d %v", p, st, doc)
		}
		root := e.srv.URL + "/identity/" + e.tenant
		want := map[string]string{"issuer": root + "/v2.0", "token_endpoint": root + "/oauth2/v2.0/token",
			"jwks_uri": root + "/discovery/v2.0/keys", "authorization_endpoint": root + "/oauth2/v2.0/authorize",
			"device_authorization_endpoint": root + "/oauth2/v2.0/devicecode", "end_session_endpoint": root + "/oauth2/v2.0/logout"}
		for k, v := range want {
			if doc[k] != v {
				t.Fatalf("%s: %s = %v, want %s", p, k, doc[k], v)
			}
		}
		if algs, _ := doc["id_token_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != "ES256" {
			t.Fatalf("algs %v", doc["id_token_signing_alg_values_supported"])
		}
	}
	st, doc := e.do(t, "GET", "/identity/organizations/v2.0/.well-known/openid-configuration", nil, nil)
	if st != 400 || doc["error"] != "invalid_tenant" || !strings.Contains(doc["error_description"].(string), e.tenant) {
		t.Fatalf("unknown tenant: %d %v", st, doc)
	}
	st, doc = e.do(t, "GET", "/identity/"+e.tenant+"/discovery/v2.0/keys", nil, nil)
	if ks, _ := doc["keys"].([]any); st != 200 || len(ks) == 0 {
		t.Fatalf("jwks: %d %v", st, doc)
	}
	st, doc = e.do(t, "GET", "/identity/nope/discovery/v2.0/keys", nil, nil)
	if st != 400 {
		t.Fatalf("jwks unknown tenant: %d %v", st, doc)
	}
	st, doc = e.do(t, "GET", "/common/UserRealm/bob@example.com?api-version=1.0", nil, nil)
	if st != 200 || doc["account_type"] != "Managed" || doc["domain_name"] != "example.com" {
		t.Fatalf("user realm: %d %v", st, doc)
	}
	st, doc = e.do(t, "GET", "/identity/nothing/here", nil, nil)
	if st != 404 || doc["error"] == nil {
		t.Fatalf("unknown path: %d %v", st, doc)
	}
	st, _ = e.do(t, "GET", "/identity/"+e.tenant+"/oauth2/v2.0/token", nil, nil)
	if st != 405 {
		t.Fatalf("GET token: %d", st)
	}
	st, doc = e.do(t, "GET", "/identity/"+e.tenant+"/oauth2/v2.0/authorize", nil, nil)
	if st != 400 || doc["error"] != "unsupported_response_type" {
		t.Fatalf("authorize: %d %v", st, doc)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	e := newEnv(t)
	tokenPath := "/identity/" + e.tenant + "/oauth2/v2.0/token"
	cc := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {e.sp.Name}, "client_secret": {e.spSecret}, "scope": {mgmtScope}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	basic := func(id, secret string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}
	}
	cases := []struct {
		name   string
		path   string
		form   url.Values
		hdr    map[string]string
		status int
		code   string
	}{
		{"ok", tokenPath, cc(), nil, 200, ""},
		{"ok with openid scopes", tokenPath, cc("scope", mgmtScope+" openid offline_access profile"), nil, 200, ""},
		{"basic auth", tokenPath, cc("client_secret", "", "client_id", ""), basic(e.sp.Name, e.spSecret), 200, ""},
		{"basic and body secret", tokenPath, cc(), basic(e.sp.Name, e.spSecret), 400, "invalid_request"},
		{"basic wrong", tokenPath, cc("client_secret", "", "client_id", ""), basic(e.sp.Name, "x"), 401, "invalid_client"},
		{"wrong secret", tokenPath, cc("client_secret", "nope"), nil, 401, "invalid_client"},
		{"unknown client", tokenPath, cc("client_id", uuid.NewString()), nil, 401, "invalid_client"},
		{"no secret", tokenPath, cc("client_secret", ""), nil, 401, "invalid_client"},
		{"no client id", tokenPath, cc("client_id", ""), nil, 400, "invalid_request"},
		{"no scope", tokenPath, cc("scope", ""), nil, 400, "invalid_request"},
		{"not .default", tokenPath, cc("scope", mgmtResource+"/user_impersonation"), nil, 400, "invalid_scope"},
		{"two resources", tokenPath, cc("scope", mgmtScope+" https://x.moat/.default"), nil, 400, "invalid_scope"},
		{"only openid", tokenPath, cc("scope", "openid profile"), nil, 400, "invalid_scope"},
		{"assertion", tokenPath, cc("client_assertion", "x.y.z"), nil, 400, "invalid_request"},
		{"no grant", tokenPath, cc("grant_type", ""), nil, 400, "invalid_request"},
		{"bad grant", tokenPath, cc("grant_type", "authorization_code"), nil, 400, "unsupported_grant_type"},
		{"unknown tenant", "/identity/common/oauth2/v2.0/token", cc(), nil, 400, "invalid_request"},
		{"password ok", tokenPath, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW}, "client_id": {publicClient}, "scope": {mgmtScope}}, nil, 200, ""},
		{"password wrong", tokenPath, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"x"}, "client_id": {publicClient}, "scope": {mgmtScope}}, nil, 400, "invalid_grant"},
		{"password unknown user", tokenPath, url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {alicePW}, "client_id": {publicClient}, "scope": {mgmtScope}}, nil, 400, "invalid_grant"},
		{"password sp as user", tokenPath, url.Values{"grant_type": {"password"}, "username": {e.sp.Name}, "password": {e.spSecret}, "client_id": {publicClient}, "scope": {mgmtScope}}, nil, 400, "invalid_grant"},
		{"password no client", tokenPath, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW}, "scope": {mgmtScope}}, nil, 400, "invalid_request"},
		{"password bad client secret", tokenPath, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW}, "client_id": {e.sp.Name}, "client_secret": {"x"}, "scope": {mgmtScope}}, nil, 401, "invalid_client"},
		{"refresh garbage", tokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"a.b.c"}, "client_id": {publicClient}, "scope": {mgmtScope}}, nil, 400, "invalid_grant"},
	}
	for _, c := range cases {
		st, body := e.do(t, "POST", c.path, c.form, c.hdr)
		if st != c.status || (c.code != "" && body["error"] != c.code) {
			t.Errorf("%s: %d %v, want %d %s", c.name, st, body, c.status, c.code)
			continue
		}
		if c.code != "" {
			if d, _ := body["error_description"].(string); d == "" || body["error_codes"] == nil {
				t.Errorf("%s: error without description or codes: %v", c.name, body)
			}
			for _, v := range c.form {
				if v[0] == e.spSecret || v[0] == alicePW {
					if strings.Contains(body["error_description"].(string), v[0]) {
						t.Errorf("%s: secret echoed", c.name)
					}
				}
			}
		} else {
			e.verify(t, body["access_token"].(string), mgmtResource)
			if body["token_type"] != "Bearer" || body["expires_in"] == nil || body["ext_expires_in"] == nil {
				t.Errorf("%s: %v", c.name, body)
			}
		}
	}

	// Malformed bodies.
	for name, req := range map[string]func() *http.Request{
		"json body": func() *http.Request {
			r, _ := http.NewRequest("POST", e.srv.URL+tokenPath, strings.NewReader(`{"grant_type":"password"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		},
		"duplicate": func() *http.Request {
			r, _ := http.NewRequest("POST", e.srv.URL+tokenPath, strings.NewReader("grant_type=client_credentials&grant_type=password"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		},
		"bad escape": func() *http.Request {
			r, _ := http.NewRequest("POST", e.srv.URL+tokenPath, strings.NewReader("grant_type=%zz"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		},
		"too big": func() *http.Request {
			r, _ := http.NewRequest("POST", e.srv.URL+tokenPath, strings.NewReader("scope="+strings.Repeat("a", maxForm)))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		},
	} {
		resp, err := e.srv.Client().Do(req())
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || err != nil || m["error"] != "invalid_request" {
			t.Errorf("%s: %d %v %v", name, resp.StatusCode, m, err)
		}
	}
}

func TestPasswordGrantTokens(t *testing.T) {
	e := newEnv(t)
	tokenPath := "/identity/" + e.tenant + "/oauth2/v2.0/token"
	form := url.Values{"grant_type": {"password"}, "username": {"ALICE"}, "password": {alicePW}, "client_id": {publicClient},
		"scope": {mgmtScope + " openid offline_access profile"}, "client_info": {"1"}}
	st, body := e.do(t, "POST", tokenPath, form, nil)
	if st != 200 {
		t.Fatalf("%d %v", st, body)
	}
	if body["scope"] != mgmtScope+" openid offline_access profile" {
		t.Fatalf("scope %v", body["scope"])
	}
	ci, err := base64.RawURLEncoding.DecodeString(body["client_info"].(string))
	var info map[string]string
	if err != nil || json.Unmarshal(ci, &info) != nil || info["uid"] != e.alice.ID || info["utid"] != e.tenant {
		t.Fatalf("client_info %q: %v", ci, err)
	}
	var id idClaims
	if err := e.keys.Verify(body["id_token"].(string), &id, publicClient); err != nil || id.ObjectID != e.alice.ID || id.PreferredUsername != "alice" || id.TenantID != e.tenant {
		t.Fatalf("id token %+v: %v", id, err)
	}
	rt := body["refresh_token"].(string)

	// Neither the ID token nor the refresh token passes as an access token.
	for _, raw := range []string{body["id_token"].(string), rt} {
		var c token.IdentityClaims
		if err := e.keys.Verify(raw, &c); err == nil && c.Kind == token.KindIdentity {
			t.Fatal("an ID or refresh token has the identity kind")
		}
	}

	refresh := func(rt, client string) (int, map[string]any) {
		return e.do(t, "POST", tokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {client},
			"scope": {"https://containerregistry.moat/.default openid offline_access profile"}, "client_info": {"1"}}, nil)
	}
	st, body = refresh(rt, publicClient)
	if st != 200 {
		t.Fatalf("refresh: %d %v", st, body)
	}
	c := e.verify(t, body["access_token"].(string), "https://containerregistry.moat")
	if c.ObjectID != e.alice.ID || body["refresh_token"] == "" {
		t.Fatalf("refreshed %+v", c)
	}
	if st, body = refresh(rt, uuid.NewString()); st != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("refresh by another client: %d %v", st, body)
	}
	// An access token is not a refresh token.
	if st, body = refresh(c.ID, publicClient); st != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("jti as refresh token: %d %v", st, body)
	}
	// A password change revokes the refresh token.
	p := identity.Copy(e.alice)
	p.Secrets = []identity.Secret{{ID: "pw2", Hash: identity.HashPassword("new")}}
	if err := e.dir.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if st, body = refresh(rt, publicClient); st != 400 || body["error"] != "invalid_grant" || !strings.Contains(body["error_description"].(string), "password") {
		t.Fatalf("refresh after password change: %d %v", st, body)
	}
}

func TestMSIEndpointErrors(t *testing.T) {
	e := newEnv(t)
	q := "/identity/msi/token?api-version=2019-08-01&resource=" + url.QueryEscape(mgmtResource)
	hdr := map[string]string{"X-IDENTITY-HEADER": e.instSecret}
	cases := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
	}{
		{"ok", q, hdr, 200},
		{"ok by principal_id", q + "&principal_id=" + e.ua.ID, hdr, 200},
		{"no header", q, nil, 400},
		{"wrong secret", q, map[string]string{"X-IDENTITY-HEADER": "nope"}, 401},
		{"wrong secret with client id", q + "&client_id=" + e.ua.Name, map[string]string{"X-IDENTITY-HEADER": "nope"}, 401},
		{"old api version", "/identity/msi/token?api-version=2017-09-01&resource=x", hdr, 400},
		{"no resource", "/identity/msi/token?api-version=2019-08-01", hdr, 400},
		{"not attached", q + "&client_id=" + e.other.Name, hdr, 400},
		{"unknown object", q + "&object_id=" + uuid.NewString(), hdr, 400},
		{"unknown resource id", q + "&mi_res_id=/x", hdr, 400},
		{"two selectors", q + "&client_id=" + e.ua.Name + "&object_id=" + e.ua.ID, hdr, 400},
	}
	for _, c := range cases {
		st, body := e.do(t, "GET", c.path, nil, c.hdr)
		if st != c.status {
			t.Errorf("%s: %d %v, want %d", c.name, st, body, c.status)
			continue
		}
		if st != 200 {
			if body["error"] == nil || body["message"] == nil {
				t.Errorf("%s: %v", c.name, body)
			}
			continue
		}
		if body["token_type"] != "Bearer" || body["resource"] != mgmtResource || body["expires_on"] == nil {
			t.Errorf("%s: %v", c.name, body)
		}
		e.verify(t, body["access_token"].(string), mgmtResource)
	}
	if st, _ := e.do(t, "POST", q, url.Values{}, hdr); st != 405 {
		t.Fatalf("POST msi: %d", st)
	}
}

func TestBadHost(t *testing.T) {
	e := newEnv(t)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/identity/"+e.tenant+"/v2.0/.well-known/openid-configuration", nil)
	r.Host = "evil.example/x?"
	e.h.ServeHTTP(rec, r)
	if rec.Code != 400 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	for _, h := range []string{"moat.example", "moat.example:8443", "10.0.0.1:443", "[::1]:8443", "localhost"} {
		rec := httptest.NewRecorder()
		r.Host = h
		e.h.ServeHTTP(rec, r)
		var doc map[string]any
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &doc) != nil || doc["issuer"] != "http://"+h+"/identity/"+e.tenant+"/v2.0" {
			t.Fatalf("%s: %d %s", h, rec.Code, rec.Body)
		}
	}
}
