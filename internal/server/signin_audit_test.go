package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/moat-registry/moat/internal/audit"
	"github.com/moat-registry/moat/internal/auth/identity"
)

// TestSignInAudit: the identity authority's sign-ins (password success and
// failure, managed identity success and failure) are server-wide audit
// events with the client IP and no secrets, which an Owner of the
// subscription reads at .../providers/Microsoft.ContainerRegistry/auditEvents
// and nobody else.
func TestSignInAudit(t *testing.T) {
	e := newBypassEnv(t) // the admin signed in (password) to create the registry
	const wrongPassword = "wrong-password-xyzzy"
	resp, err := http.PostForm(e.ts.URL+"/identity/"+e.srv.Tenant()+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"password"}, "username": {"admin"}, "password": {wrongPassword}, "client_id": {"moat-cli"},
		"scope": {e.ts.URL + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong password: %s", resp.Status)
	}
	secret, _ := e.managedIdentity(identity.SystemAssigned, vmType, "Reader")
	msi := func(secret string) (int, string) {
		q := url.Values{"api-version": {"2019-08-01"}, "resource": {strings.TrimSuffix(managementScope(e.t, e.ts.URL), ".default")}}
		req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/identity/msi/token?"+q.Encode(), nil)
		req.Header.Set("X-IDENTITY-HEADER", secret)
		var out struct {
			AccessToken string `json:"access_token"`
		}
		st, _ := e.doJSON(req, &out)
		return st, out.AccessToken
	}
	st, miToken := msi(secret)
	if st != http.StatusOK {
		t.Fatalf("managed identity token: %d", st)
	}
	if st, _ := msi("not-an-instance-secret"); st != http.StatusUnauthorized {
		t.Fatalf("managed identity token with a wrong secret: %d", st)
	}

	u := e.ts.URL + "/subscriptions/" + e.srv.Subscription() + "/providers/Microsoft.ContainerRegistry/auditEvents?api-version=2025-11-01&since=1h&type=signin"
	get := func(tok string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return e.doJSON(req, nil)
	}
	st, body := get(loginToken(t, e.ts.URL, e.srv.Tenant(), "bypass-password-1"))
	if st != http.StatusOK {
		t.Fatalf("server-wide audit events as the Owner: %d %s", st, body)
	}
	for _, s := range []string{wrongPassword, "bypass-password-1", secret, miToken} {
		if strings.Contains(body, s) {
			t.Fatalf("the audit trail holds a secret: %s", body)
		}
	}
	var out struct {
		Value []audit.Event `json:"value"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	type key struct{ grant, outcome, name string }
	seen := map[key]audit.Event{}
	for _, ev := range out.Value {
		if ev.Type != audit.TypeSignIn || ev.Registry != audit.ServerWide {
			t.Errorf("unexpected event %+v", ev)
		}
		seen[key{ev.Grant, ev.Outcome, ev.PrincipalName}] = ev
		if ev.ClientIP != "203.0.113.5" {
			t.Errorf("event %+v: clientIp %q, want 203.0.113.5", ev, ev.ClientIP)
		}
	}
	if ev, ok := seen[key{"password", audit.Success, "admin"}]; !ok || ev.Principal == "" || ev.Principal == "admin" {
		t.Errorf("no password sign-in success of admin with its object ID: %s", body)
	}
	if ev, ok := seen[key{"password", audit.Failure, "admin"}]; !ok || !strings.Contains(ev.Detail, "invalid_grant") {
		t.Errorf("no password sign-in failure of admin with invalid_grant: %s", body)
	}
	var miOK, miFail bool
	for k := range seen {
		miOK = miOK || k.grant == "managed_identity" && k.outcome == audit.Success && k.name != ""
		miFail = miFail || k.grant == "managed_identity" && k.outcome == audit.Failure
	}
	if !miOK || !miFail {
		t.Errorf("managed identity success %v, failure %v: %s", miOK, miFail, body)
	}

	// A principal that is not an Owner of the subscription is refused.
	if st, body := get(miToken); st != http.StatusForbidden {
		t.Fatalf("server-wide audit events as a registry Reader: %d %s", st, body)
	}
}
