package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulateWalkthrough: the impact preview from the CLI. This host's
// remembered requests would be cut off by a default-action Deny (flags) or
// by a rule set from a file, and by public access off; adding a rule and
// removing it again changes nothing. Nothing is applied.
func TestSimulateWalkthrough(t *testing.T) {
	s, w := signedIn(t, "impact", "impactregistry")
	for range 3 {
		resp, err := http.Get(s.base + "/v2/impactregistry/app/tags/list")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	denied := w.json(`moat acr network-rule simulate --name impactregistry --default-action Deny --ip-address 20.30.40.50`)
	if walkStr(denied, "newlyDenied", "0", "clientIp") != "127.0.0.1" || walkNum(denied, "newlyDenied", "0", "requests") != 3 ||
		walkStr(denied, "newlyDenied", "0", "proposed", "reason") != "no-matching-rule" || walkNum(denied, "days") != 7 {
		t.Fatalf("simulate --default-action Deny: %s", walkJSON(denied))
	}
	file := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(file, []byte(`{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"20.30.40.50"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	table := w.ok(`moat acr network-rule simulate --name impactregistry --rule-set-file ` + file + ` --days 30 --output table`)
	if !strings.Contains(table, "Denied") || !strings.Contains(table, "127.0.0.1") || !strings.Contains(table, "no-matching-rule") {
		t.Errorf("simulate --rule-set-file as a table:\n%s", table)
	}
	if off := w.json(`moat acr network-rule simulate --name impactregistry --public-network-enabled false`); walkStr(off, "newlyDenied", "0", "proposed", "reason") != "public-access-disabled" {
		t.Errorf("simulate --public-network-enabled false: %s", walkJSON(off))
	}
	if none := w.json(`moat acr network-rule simulate --name impactregistry --ip-address 20.30.40.50`); walkStr(none, "newlyDenied", "0", "clientIp") != "" || walkNum(none, "sources") != 1 {
		t.Errorf("simulate of a change that cuts nobody off: %s", walkJSON(none))
	}
	if got := w.ok(`moat acr show --name impactregistry --query networkRuleSet.defaultAction --output tsv`); got != "Allow\n" {
		t.Errorf("a simulation changed the registry: default action %q", got)
	}
	w.fails(`moat acr network-rule simulate --name impactregistry --days 31`,
		"(InvalidParameter) days must be a whole number of days from 1 to 30 (the traffic memory keeps 30 days)")
}

// walkNum is the number at path (-1 if there is none).
func walkNum(v any, path ...string) float64 {
	if n, ok := walk(v, path...).(float64); ok {
		return n
	}
	return -1
}
