package authority

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestADFS: the authority served ADFS-shaped, as MSAL for Python (in az)
// uses it: discovery without /v2.0, then the token endpoint it names, whose
// tokens carry the issuer of the discovery document.
func TestADFS(t *testing.T) {
	e := newEnv(t)
	st, doc := e.do(t, "GET", "/adfs/.well-known/openid-configuration", nil, nil)
	if st != 200 {
		t.Fatalf("discovery: %d %v", st, doc)
	}
	a := e.srv.URL + "/adfs"
	issuer := e.srv.URL + "/identity/" + e.tenant + "/v2.0"
	for k, v := range map[string]string{"issuer": issuer, "token_endpoint": a + "/oauth2/token",
		"authorization_endpoint": a + "/oauth2/authorize", "jwks_uri": a + "/discovery/keys",
		"device_authorization_endpoint": a + "/oauth2/devicecode", "end_session_endpoint": a + "/oauth2/logout"} {
		if doc[k] != v {
			t.Errorf("%s = %v, want %s", k, doc[k], v)
		}
	}
	// MSAL takes the token endpoint's first path segment as the tenant.
	if u, _ := url.Parse(doc["token_endpoint"].(string)); !strings.HasPrefix(u.Path, "/adfs/") {
		t.Errorf("token endpoint %s is not under /adfs/", u)
	}
	tokenPath := "/adfs/oauth2/token"
	const resource = "https://moat.example:8443/"
	st, body := e.do(t, "POST", tokenPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {e.sp.Name},
		"client_secret": {e.spSecret}, "scope": {resource + "/.default"}, "client_info": {"1"}}, nil)
	if st != 200 {
		t.Fatalf("client credentials: %d %v", st, body)
	}
	if c := e.verify(t, body["access_token"].(string), resource); c.ObjectID != e.sp.ID || c.TenantID != e.tenant || c.Issuer != issuer {
		t.Errorf("service principal token %+v", c)
	}
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW}, "client_id": {publicClient},
		"scope": {resource + "/.default offline_access openid profile"}, "client_info": {"1"}}
	st, body = e.do(t, "POST", tokenPath, form, nil)
	if st != 200 {
		t.Fatalf("password: %d %v", st, body)
	}
	var id idClaims
	if err := e.keys.Verify(body["id_token"].(string), &id, publicClient); err != nil || id.Issuer != issuer || id.PreferredUsername != "alice" {
		t.Fatalf("id token %+v: %v", id, err)
	}
	st, body = e.do(t, "POST", tokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)},
		"client_id": {publicClient}, "scope": {resource + "/.default offline_access openid profile"}}, nil)
	if st != 200 || e.verify(t, body["access_token"].(string), resource).ObjectID != e.alice.ID {
		t.Fatalf("refresh: %d %v", st, body)
	}
	form.Set("password", "wrong")
	if st, body = e.do(t, "POST", tokenPath, form, nil); st != 400 || body["error"] != "invalid_grant" {
		t.Errorf("wrong password: %d %v", st, body)
	}
	if st, body = e.do(t, "GET", "/adfs/discovery/keys", nil, nil); st != 200 || len(body["keys"].([]any)) == 0 {
		t.Errorf("keys: %d %v", st, body)
	}
	if st, _ = e.do(t, "GET", tokenPath, nil, nil); st != 405 {
		t.Errorf("GET token: %d", st)
	}
	if st, body = e.do(t, "GET", "/adfs/oauth2/authorize", nil, nil); st != 400 || body["error"] != "unsupported_response_type" {
		t.Errorf("authorize: %d %v", st, body)
	}
	if st, body = e.do(t, "GET", "/adfs/userinfo", nil, nil); st != 404 || body["error"] != "not_found" {
		t.Errorf("unknown ADFS path: %d %v", st, body)
	}
	// The ADFS root is mounted with the rest (behind the same sign-in limits).
	if !slices.Contains(e.h.Patterns(), "/adfs/") {
		t.Errorf("patterns %v lack /adfs/", e.h.Patterns())
	}
}
