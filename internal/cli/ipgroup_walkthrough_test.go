package cli

import (
	"strings"
	"testing"
)

// TestIPGroupWalkthrough: build agents' addresses live in an IP group that a
// registry's IP rule names; changing the group changes who gets in, at once;
// a group in use cannot be deleted.
func TestIPGroupWalkthrough(t *testing.T) {
	_, w := signedIn(t, "ci", "agentsregistry")

	g := w.json(`moat network ip-group create --resource-group ci --name build-agents --ip-addresses 20.30.40.0/24 20.30.41.7/32`)
	id := str(g, "id")
	if !strings.HasSuffix(id, "/resourceGroups/ci/providers/Microsoft.Network/ipGroups/build-agents") || str(g, "location") != "westus" ||
		!walkSame(g["ipAddresses"], []any{"20.30.40.0/24", "20.30.41.7"}) || str(g, "provisioningState") != "Succeeded" {
		t.Fatalf("ip-group create: %s", walkJSON(g))
	}
	w.fails(`moat network ip-group create --resource-group ci --name private --ip-addresses 10.1.0.0/16`,
		`(InvalidIpAddressInIpGroup) properties.ipAddresses: "10.1.0.0/16" is in the private range 10.0.0.0/8 (RFC 1918); IP rules are for public internet addresses only (use a virtual-network rule or a private endpoint for private networks); registries use IP groups as IP rules`)
	if out := w.ok(`moat network ip-group list --output table`); !strings.Contains(out, "build-agents") || !strings.Contains(out, "20.30.40.0/24, 20.30.41.7") {
		t.Errorf("ip-group list table:\n%s", out)
	}

	w.ok(`moat acr update --name agentsregistry --default-action Deny`)
	w.ok(`moat acr network-rule add --name agentsregistry --ip-address ` + id)
	if out := w.ok(`moat acr network-rule list --name agentsregistry --query ipRules[].ipAddressOrRange --output tsv`); out != id+"\n" {
		t.Errorf("network-rule list: %q", out)
	}
	w.check(`moat acr network-rule check --name agentsregistry --ip-address 20.30.40.99`, "Allow", "ip-rule", id)
	w.check(`moat acr network-rule check --name agentsregistry --ip-address 20.30.42.1`, "Deny", "no-matching-rule", "")

	w.ok(`moat network ip-group update --resource-group ci --name build-agents --ip-addresses 20.30.42.0/24`)
	w.check(`moat acr network-rule check --name agentsregistry --ip-address 20.30.42.1`, "Allow", "ip-rule", id)
	w.check(`moat acr network-rule check --name agentsregistry --ip-address 20.30.40.99`, "Deny", "no-matching-rule", "")

	w.fails(`moat network ip-group delete --resource-group ci --name build-agents`,
		"(InUseIpGroupCannotBeDeleted) IP group build-agents is named by an IP rule of registry agentsregistry; remove the rule first (moat acr network-rule remove --name agentsregistry --ip-address "+id+")")
	w.ok(`moat acr network-rule remove --name agentsregistry --ip-address ` + id)
	w.ok(`moat network ip-group delete --resource-group ci --name build-agents`)
	if out := w.ok(`moat network ip-group list --resource-group ci --query length(@)`); strings.TrimSpace(out) != "0" {
		t.Errorf("after delete: %q", out)
	}
}
