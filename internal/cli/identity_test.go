package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestIdentityCommands: user-assigned identities and a registry's identities
// through the CLI against a real server.
func TestIdentityCommands(t *testing.T) {
	s := startServer(t)
	s.as("admin")
	s.must("login", "-u", "admin", "-p", "admin-password-1", "-o", "none")
	s.must("acr", "create", "-n", "idreg1", "--sku", "Premium", "-o", "none")
	var ua map[string]any
	if err := json.Unmarshal([]byte(s.must("identity", "create", "-n", "builder")), &ua); err != nil || ua["principalId"] == "" || ua["clientId"] == "" {
		t.Fatalf("identity create: %v %v", ua, err)
	}
	out := s.must("acr", "identity", "assign", "-n", "idreg1", "--identities", "[system]", "builder", "--query", "type", "-o", "tsv")
	if out != "SystemAssigned, UserAssigned\n" {
		t.Fatalf("assign: %q", out)
	}
	if out := s.must("acr", "show", "-n", "idreg1", "--query", "identity.principalId", "-o", "tsv"); len(strings.TrimSpace(out)) != 36 {
		t.Fatalf("registry principal: %q", out)
	}
	if out := s.must("acr", "identity", "remove", "-n", "idreg1", "--identities", "[system]", "--query", "type", "-o", "tsv"); out != "UserAssigned\n" {
		t.Fatalf("remove system: %q", out)
	}
	if out := s.must("acr", "identity", "remove", "-n", "idreg1", "--identities", "builder", "--query", "type", "-o", "tsv"); out != "None\n" {
		t.Fatalf("remove builder: %q", out)
	}
	if _, errOut, code := s.run("", "acr", "identity", "assign", "-n", "idreg1", "--identities", "nosuch"); code == 0 || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("unknown identity: %d %q", code, errOut)
	}
	s.must("identity", "delete", "-n", "builder")
	if out := s.must("identity", "list", "-o", "tsv"); out != "" {
		t.Fatalf("identity list after delete: %q", out)
	}
}
