package cli

import (
	"strings"
	"testing"
	"time"
)

// TestExpiringRuleWalkthrough: a CI run opens its address for its own
// duration (`network-rule add --expires-in`); the rule is listed with its
// expiry, lets the address in until then and not from then on, disappears
// from the rule set, and the audit trail says when it went.
func TestExpiringRuleWalkthrough(t *testing.T) {
	_, w := signedIn(t, "ci", "ciregistry")
	w.ok(`moat acr update --name ciregistry --default-action Deny`)
	w.ok(`moat acr network-rule add --name ciregistry --ip-address 16.17.18.0/24`)

	added := w.json(`moat acr network-rule add --name ciregistry --ip-address 20.30.40.50 --expires-in 3s`)
	exp, err := time.Parse(time.RFC3339, walkStr(added, "networkRuleSet", "ipRules", "1", "expiresOn"))
	if err != nil || walkStr(added, "networkRuleSet", "ipRules", "1", "ipAddressOrRange") != "20.30.40.50" || time.Until(exp) > 3*time.Second {
		t.Fatalf("network-rule add --expires-in 3s: %s", walkJSON(added))
	}
	if out := w.ok(`moat acr network-rule list --name ciregistry --output table`); !strings.Contains(out, "20.30.40.50") || !strings.Contains(out, exp.Format(time.RFC3339)) {
		t.Errorf("the table does not show the expiry %s:\n%s", exp.Format(time.RFC3339), out)
	}
	w.check(`moat acr network-rule check --name ciregistry --ip-address 20.30.40.50`, "Allow", "ip-rule", "20.30.40.50")
	w.check(`moat acr network-rule check --name ciregistry --ip-address 203.0.113.9`, "Deny", "no-matching-rule", "")
	w.fails(`moat acr network-rule add --name ciregistry --ip-address 203.0.113.9 --expires-in 1d`, `--expires-in "1d" is not a positive duration: write it as 30m, 2h or 72h`)

	time.Sleep(time.Until(exp))
	w.check(`moat acr network-rule check --name ciregistry --ip-address 20.30.40.50`, "Deny", "no-matching-rule", "")
	w.check(`moat acr network-rule check --name ciregistry --ip-address 16.17.18.20`, "Allow", "ip-rule", "16.17.18.0/24")
	// The sweep runs every second: the rule leaves the stored set soon after.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if strings.TrimSpace(w.ok(`moat acr network-rule list --name ciregistry --query ipRules[].ipAddressOrRange --output tsv`)) == "16.17.18.0/24" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired rule is still in the rule set 5s after its expiry")
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out := w.ok(`moat acr audit list --name ciregistry --type config --query "[?principal=='moat:rule-expiry'].[time, detail]" --output tsv`)
		if strings.Contains(out, exp.Format(time.RFC3339)+"\tIP rule 20.30.40.50 expired at "+exp.Format(time.RFC3339)+" and was removed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit event of the expiry: %q", out)
		}
	}
}

// signedIn starts a server that requires sign-in, signs the admin in with
// the CLI and creates resource group group with the Premium registry reg:
// the start of the network walkthroughs.
func signedIn(t *testing.T, group, reg string) (*realServer, *walkthrough) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a server")
	}
	s := startServer(t)
	s.as("admin")
	t.Setenv("MOAT_SERVER", s.base)
	w := &walkthrough{t: t}
	w.ok(`moat login -u admin -p admin-password-1`)
	w.ok(`moat provider register --namespace Microsoft.ContainerRegistry`)
	w.ok(`moat group create --name ` + group + ` --location westus`)
	w.ok(`moat acr create --resource-group ` + group + ` --name ` + reg + ` --sku Premium`)
	return s, w
}
