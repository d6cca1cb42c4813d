package cli

import (
	"strings"
	"testing"
)

// TestCheckHealthAndAuditList: check-health passes against a real server,
// then reports NETWORK_DENIED (with --ignore-errors: exit 0) once the
// registry denies by default; acr audit list shows the rule change and the
// token exchange.
func TestCheckHealthAndAuditList(t *testing.T) {
	s := startServer(t)
	s.as("admin")
	s.must("login", "-u", "admin", "-p", "admin-password-1", "-o", "none")
	s.must("acr", "create", "-n", "healthreg", "--sku", "Premium", "-o", "none")
	out := s.must("acr", "check-health", "-n", "healthreg")
	for _, want := range []string{"Login server", "DNS lookup", "Connection", "Challenge (/v2/)", "Token exchange", "Network access", "Health check passed."} {
		if !strings.Contains(out, want) {
			t.Errorf("check-health lacks %q:\n%s", want, out)
		}
	}
	s.must("acr", "update", "-n", "healthreg", "--default-action", "Deny", "-o", "none")
	out, errOut, code := s.run("", "acr", "check-health", "-n", "healthreg")
	if code == 0 || !strings.Contains(out, "FAIL  NETWORK_DENIED") || !strings.Contains(errOut, "NETWORK_DENIED") {
		t.Errorf("check-health after Deny: %d\n%s\n%s", code, out, errOut)
	}
	if _, _, code := s.run("", "acr", "check-health", "-n", "healthreg", "--ignore-errors"); code != 0 {
		t.Errorf("--ignore-errors: exit %d", code)
	}
	got := s.must("acr", "audit", "list", "-n", "healthreg", "--type", "config", "--query", "[0].after.networkRuleSet.defaultAction", "-o", "tsv")
	if got != "Deny\n" {
		t.Errorf("audit list --type config: %q", got)
	}
	got = s.must("acr", "audit", "list", "-n", "healthreg", "--since", "1h", "--type", "signin", "--query", "[0].[grant, outcome, principalName]", "-o", "tsv")
	if got != "access_token\nsuccess\nadmin\n" {
		t.Errorf("audit list --type signin: %q", got)
	}
	if _, errOut, code := s.run("", "acr", "audit", "list", "-n", "healthreg", "--type", "nope"); code == 0 || !strings.Contains(errOut, "type=") {
		t.Errorf("bad type: %q", errOut)
	}
	if out := s.must("acr", "audit", "list", "-n", "healthreg", "-o", "table"); !strings.Contains(out, "config") {
		t.Errorf("table:\n%s", out)
	}
}
