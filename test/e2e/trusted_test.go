package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestTrustedWorkspaceCranePull: a machine-learning workspace is a trusted
// service instance (SPEC 5, docs/tasks.md). A process of the workspace gets a
// token for its system-assigned identity at the managed-identity endpoint
// (IDENTITY_ENDPOINT, IDENTITY_HEADER), exchanges it at /oauth2/exchange for a
// registry refresh token, and crane pulls with it as the password of the
// all-zero user from a registry with public access disabled, as long as the
// registry allows trusted services. A plain user with AcrPull, from the same
// host, is refused by the network rules throughout.
func TestTrustedWorkspaceCranePull(t *testing.T) {
	admin := newClient(t, "crane")
	s := admin.srv
	reg := s.createRegistry(t, "trustedml")
	const repo = "models/scorer"
	name := reg + "/" + repo
	ref := s.ref(reg, repo, ":v1")
	img := newTestImage(t, "amd64")

	moat := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := s.moat(t, nil, args...)
		if err != nil {
			t.Fatalf("moat %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	// pullAs runs crane pull with client c and returns the result.
	pullAs := func(t *testing.T, c *client) runResult {
		t.Helper()
		return c.exec(t, nil, "pull", "--insecure", "--format", "oci", ref, t.TempDir()+"/pulled")
	}
	pulls := func(t *testing.T, c *client, who string) {
		t.Helper()
		if r := pullAs(t, c); r.err != nil {
			t.Fatalf("%s: crane pull failed:\n%s", who, c.describe([]string{"pull", ref}, r))
		}
		expectEqual(t, who+": crane digest", strings.TrimSpace(c.run(t, "digest", "--insecure", ref)), img.manifest.digest)
	}
	denied := func(t *testing.T, c *client, who string) {
		t.Helper()
		r := pullAs(t, c)
		if r.err == nil {
			t.Fatalf("%s: crane pull succeeded, want 403 DENIED:\n%s", who, c.describe([]string{"pull", ref}, r))
		}
		expectDenied(t, c, who, r.combined())
		if !strings.Contains(r.combined(), "DENIED") || !strings.Contains(r.combined(), "not allowed access") {
			t.Fatalf("%s: want the registry's 403 DENIED (client ... is not allowed access):\n%s", who, c.describe([]string{"pull", ref}, r))
		}
	}

	regID := strings.TrimSpace(moat(t, "acr", "show", "--name", reg, "--query", "id", "-o", "tsv"))
	puller := newClient(t, "crane")
	var pullUser acrUser
	step(t, "push as admin while public access is enabled", func(t *testing.T) {
		admin.runStdin(t, []byte(s.password), "auth", "login", s.addr, "-u", "admin", "--password-stdin")
		admin.run(t, "push", "--insecure", imageLayout(t, img, "v1"), ref)
		expectInRegistry(t, s, name, "v1", img.manifest.digest)
		// A plain user with AcrPull logs in (moat acr login) and pulls while
		// the registry is open.
		pullUser = s.newACRUser(t, "mlpuller", "AcrPull", reg)
		puller.acrLogin(t, pullUser, reg)
		pulls(t, puller, "AcrPull user, public access enabled")
	})
	step(t, "disable public access", func(t *testing.T) {
		moat(t, "acr", "update", "--name", reg, "--public-network-enabled", "false", "-o", "none")
		got := strings.Fields(moat(t, "acr", "show", "--name", reg, "--query", "[publicNetworkAccess, networkRuleBypassOptions]", "-o", "tsv"))
		if strings.Join(got, " ") != "Disabled AzureServices" {
			t.Fatalf("network settings of %s: %v, want Disabled AzureServices", reg, got)
		}
		denied(t, admin, "admin, public access disabled")
		denied(t, puller, "AcrPull user, public access disabled")
	})

	ws := uniqueName("ml")
	var endpoint, header, principal string
	step(t, "ml workspace create and AcrPull for its identity", func(t *testing.T) {
		var created map[string]any
		out := moat(t, "ml", "workspace", "create", "--name", ws)
		if err := json.Unmarshal([]byte(out), &created); err != nil {
			t.Fatalf("moat ml workspace create: not JSON (%v):\n%s", err, out)
		}
		endpoint, _ = created["IDENTITY_ENDPOINT"].(string)
		header, _ = created["IDENTITY_HEADER"].(string)
		if id, ok := created["identity"].(map[string]any); ok {
			principal, _ = id["principalId"].(string)
		}
		if !strings.HasPrefix(endpoint, s.url+"/") || header == "" || principal == "" {
			t.Fatalf("moat ml workspace create: IDENTITY_ENDPOINT %q, IDENTITY_HEADER set %v, principalId %q:\n%s", endpoint, header != "", principal, out)
		}
		// The instance secret is printed once only.
		if shown := moat(t, "ml", "workspace", "show", "--name", ws); strings.Contains(shown, header) {
			t.Fatalf("moat ml workspace show prints the instance secret")
		}
		moat(t, "role", "assignment", "create", "--assignee", principal, "--role", "AcrPull", "--scope", regID, "-o", "none")
	})

	mlClient := newClient(t, "crane")
	step(t, "workspace identity pulls with crane", func(t *testing.T) {
		refresh := workspaceRefreshToken(t, s, endpoint, header)
		mlClient.run(t, "auth", "login", s.addr, "-u", zeroUserName, "-p", refresh)
		pulls(t, mlClient, "workspace identity, trusted services allowed")
		denied(t, puller, "AcrPull user, trusted services allowed")
	})
	step(t, "allow-trusted-services false", func(t *testing.T) {
		moat(t, "acr", "update", "--name", reg, "--allow-trusted-services", "false", "-o", "none")
		denied(t, mlClient, "workspace identity, trusted services disallowed")
		denied(t, puller, "AcrPull user, trusted services disallowed")
	})
	step(t, "allow-trusted-services true", func(t *testing.T) {
		moat(t, "acr", "update", "--name", reg, "--allow-trusted-services", "true", "-o", "none")
		pulls(t, mlClient, "workspace identity, trusted services allowed again")
		denied(t, puller, "AcrPull user, trusted services allowed again")
	})
	step(t, "cleanup", func(t *testing.T) {
		moat(t, "ml", "workspace", "delete", "--name", ws)
	})
}

// workspaceRefreshToken is what a managed-identity credential and a registry
// login do in a workspace process: GET IDENTITY_ENDPOINT with
// X-IDENTITY-HEADER for a token of the system-assigned identity, then POST
// /oauth2/exchange for a registry refresh token.
func workspaceRefreshToken(t *testing.T, s *server, endpoint, header string) string {
	t.Helper()
	q := url.Values{"api-version": {"2019-08-01"}, "resource": {"https://management.azure.com/"}}
	r := doHTTP(t, http.MethodGet, endpoint+"?"+q.Encode(), nil, map[string]string{"X-IDENTITY-HEADER": header})
	expectStatus(t, r, http.StatusOK)
	var mi struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(r.body, &mi); err != nil || mi.AccessToken == "" {
		t.Fatalf("managed-identity endpoint: no access_token (%v): %s", err, r.desc)
	}
	form := url.Values{"grant_type": {"access_token"}, "service": {s.addr}, "access_token": {mi.AccessToken}}
	r = doHTTP(t, http.MethodPost, s.url+"/oauth2/exchange", []byte(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	expectStatus(t, r, http.StatusOK)
	var ex struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(r.body, &ex); err != nil || ex.RefreshToken == "" {
		t.Fatalf("/oauth2/exchange: no refresh_token (%v): %s", err, r.desc)
	}
	return ex.RefreshToken
}
