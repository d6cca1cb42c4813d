package cli

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestCredentialChangesEndRegistryTokens: after `moat ad user update
// --password` and `moat ad sp credential reset`, against a real server, the
// refresh tokens of moat acr login and of a docker-style login (Basic with
// offline_token=true) stop working, the old password or secret is refused
// and the new one works; a disabled user cannot sign in.
func TestCredentialChangesEndRegistryTokens(t *testing.T) {
	s := startServer(t)
	asAdmin := func() {
		s.as("admin")
		s.must("login", "-u", "admin", "-p", "admin-password-1", "-o", "none")
	}
	asAdmin()
	regID := strings.TrimSpace(s.must("acr", "create", "-n", "credreg1", "--sku", "Standard", "--query", "id", "-o", "tsv"))
	s.must("ad", "user", "create", "--user-principal-name", "carol", "--password", "carol-password-1")
	s.must("role", "assignment", "create", "--assignee", "carol", "--role", "AcrPull", "--scope", regID)
	var sp map[string]string
	if err := json.Unmarshal([]byte(s.must("ad", "sp", "create-for-rbac", "--name", "ci-cred", "--role", "AcrPull", "--scopes", regID)), &sp); err != nil {
		t.Fatal(err)
	}
	const scope = "repository:credreg1/app:pull"
	offline := func(user, pw string) string {
		t.Helper()
		if acts := s.grant("GET", url.Values{"service": {s.host}, "scope": {scope}}, user, pw); !slices.Equal(acts, []string{"pull"}) {
			t.Fatalf("%s signs in: %v", user, acts)
		}
		return s.offlineToken(user, pw)
	}

	carolRefresh := offline("carol", "carol-password-1")
	s.as("carol")
	s.must("login", "-u", "carol", "-p", "carol-password-1", "-o", "none")
	s.must("acr", "login", "-n", "credreg1")
	carolACR := s.identityToken()
	asAdmin()
	s.must("ad", "user", "update", "--id", "carol", "--password", "carol-password-2")
	for name, rt := range map[string]string{"docker login": carolRefresh, "acr login": carolACR} {
		if acts := s.registryToken(rt, scope); acts != nil {
			t.Errorf("%s refresh token after the password change: %v, want refused", name, acts)
		}
	}
	if acts := s.grant("GET", url.Values{"service": {s.host}, "scope": {scope}}, "carol", "carol-password-1"); acts != nil {
		t.Errorf("old password: %v", acts)
	}
	offline("carol", "carol-password-2")

	spRefresh := offline(sp["appId"], sp["password"])
	var reset map[string]string
	if err := json.Unmarshal([]byte(s.must("ad", "sp", "credential", "reset", "--id", sp["appId"])), &reset); err != nil || reset["appId"] != sp["appId"] || reset["password"] == "" || reset["tenant"] == "" {
		t.Fatalf("credential reset printed %v (%v)", reset, err)
	}
	if acts := s.registryToken(spRefresh, scope); acts != nil {
		t.Errorf("service principal refresh token after the reset: %v", acts)
	}
	if acts := s.grant("GET", url.Values{"service": {s.host}, "scope": {scope}}, sp["appId"], sp["password"]); acts != nil {
		t.Errorf("old secret after the reset: %v", acts)
	}
	offline(sp["appId"], reset["password"])
	if out := s.must("ad", "sp", "show", "--id", sp["appId"], "--query", "length(passwordCredentials)"); out != "1\n" {
		t.Errorf("secrets after reset: %s", out)
	}
	s.must("ad", "sp", "credential", "reset", "--id", sp["appId"], "--append")
	if out := s.must("ad", "sp", "show", "--id", sp["appId"], "--query", "length(passwordCredentials)"); out != "2\n" {
		t.Errorf("secrets after reset --append: %s", out)
	}

	s.must("ad", "user", "update", "--id", "carol", "--account-enabled", "false")
	if out := s.must("ad", "user", "show", "--id", "carol", "--query", "accountEnabled"); out != "false\n" {
		t.Errorf("accountEnabled: %s", out)
	}
	s.as("carol2")
	if _, errOut, code := s.run("", "login", "-u", "carol", "-p", "carol-password-2"); code == 0 || !strings.Contains(errOut, "AADSTS50057") {
		t.Errorf("disabled user signs in: %d %q", code, errOut)
	}
	asAdmin()
	if _, errOut, code := s.run("", "ad", "user", "update", "--id", "carol"); code == 0 || !strings.Contains(errOut, "nothing to update") {
		t.Errorf("update without changes: %d %q", code, errOut)
	}
}
