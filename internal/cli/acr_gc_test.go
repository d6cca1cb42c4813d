package cli

import (
	"strings"
	"testing"
)

// TestRetentionAndGC: the retention policy verbs and moat acr gc against a real server.
func TestRetentionAndGC(t *testing.T) {
	s := startServer(t)
	s.as("admin")
	s.must("login", "-u", "admin", "-p", "admin-password-1", "-o", "none")
	s.must("acr", "create", "-n", "gcregistry", "--sku", "Premium", "-o", "none")
	if got := s.must("acr", "config", "retention", "show", "-r", "gcregistry", "--query", "[status, days]", "-o", "tsv"); got != "disabled\n7\n" {
		t.Errorf("default policy: %q", got)
	}
	if got := s.must("acr", "config", "retention", "update", "-r", "gcregistry", "--status", "enabled", "--days", "0", "--type", "UntaggedManifests",
		"--query", "[status, days]", "-o", "tsv"); got != "enabled\n0\n" {
		t.Errorf("update: %q", got)
	}
	// --days alone keeps the status.
	if got := s.must("acr", "config", "retention", "update", "-r", "gcregistry", "--days", "3", "--query", "[status, days]", "-o", "tsv"); got != "enabled\n3\n" {
		t.Errorf("update --days: %q", got)
	}
	if _, errOut, code := s.run("", "acr", "config", "retention", "update", "-r", "gcregistry", "--days", "400"); code == 0 || !strings.Contains(errOut, "0 to 365") {
		t.Errorf("--days 400: %d %q", code, errOut)
	}
	s.must("acr", "create", "-n", "gcstandard", "--sku", "Standard", "-o", "none")
	if _, errOut, code := s.run("", "acr", "config", "retention", "update", "-r", "gcstandard", "--status", "enabled"); code == 0 || !strings.Contains(errOut, "Premium") {
		t.Errorf("enabled on Standard: %d %q", code, errOut)
	}
	if got := s.must("acr", "gc", "-n", "gcregistry", "--dry-run", "--query", "[result.dryRun, result.manifestsDeleted, retentionPolicy.enabled]", "-o", "tsv"); got != "true\n0\ntrue\n" {
		t.Errorf("gc --dry-run: %q", got)
	}
	if out := s.must("acr", "gc", "-n", "gcregistry", "-o", "table"); !strings.Contains(out, "MANIFESTS DELETED") || !strings.Contains(out, "BYTES FREED") {
		t.Errorf("gc table:\n%s", out)
	}
	if _, errOut, code := s.run("", "acr", "gc", "-n", "nosuchregistry"); code == 0 || !strings.Contains(errOut, "nosuchregistry") {
		t.Errorf("gc of an unknown registry: %d %q", code, errOut)
	}
}
