package cli

import (
	"net/http"
	"testing"
)

// TestStagedWalkthrough: shadow mode from the CLI. A staged Deny is decided
// beside the enforced Allow: this host's requests still get through, and
// `staged show` lists them as what the staged settings would deny; promote
// makes it so; discard drops a staged set without touching the enforced one.
func TestStagedWalkthrough(t *testing.T) {
	s, w := signedIn(t, "shadow", "shadowregistry")
	probe := func() int {
		resp, err := http.Get(s.base + "/v2/shadowregistry/app/tags/list")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	staged := w.json(`moat acr network-rule staged set --name shadowregistry --default-action Deny --ip-addresses 20.30.40.50`)
	if walkStr(staged, "networkRuleSet", "defaultAction") != "Deny" || walkStr(staged, "networkRuleSet", "ipRules", "0", "ipAddressOrRange") != "20.30.40.50" || str(staged, "stagedOn") == "" {
		t.Fatalf("staged set: %s", walkJSON(staged))
	}
	if got := probe(); got != http.StatusUnauthorized {
		t.Fatalf("with a staged Deny, this host's request: %d, want 401 (the enforced Allow applies)", got)
	}
	shown := w.json(`moat acr network-rule staged show --name shadowregistry`)
	if walkStr(shown, "disagreements", "0", "clientIp") != "127.0.0.1" || walkStr(shown, "disagreements", "0", "decision") != "allow" ||
		walkStr(shown, "disagreements", "0", "stagedDecision") != "deny" || walkStr(shown, "disagreements", "0", "stagedReason") != "no-matching-rule" ||
		walkStr(shown, "staged", "networkRuleSet", "defaultAction") != "Deny" {
		t.Fatalf("staged show: %s", walkJSON(shown))
	}
	enforced := func(want string) {
		t.Helper()
		if got := w.ok(`moat acr network-rule list --name shadowregistry --query "[ipRules[].ipAddressOrRange]" --output tsv`) +
			w.ok(`moat acr show --name shadowregistry --query networkRuleSet.defaultAction --output tsv`); got != want {
			t.Errorf("enforced rules %q, want %q", got, want)
		}
	}
	enforced("\nAllow\n") // the enforced set is as it was

	promoted := w.json(`moat acr network-rule staged promote --name shadowregistry`)
	if walkStr(promoted, "networkRuleSet", "defaultAction") != "Deny" {
		t.Fatalf("promote: %s", walkJSON(promoted))
	}
	enforced("20.30.40.50\nDeny\n")
	if got := probe(); got != http.StatusForbidden {
		t.Errorf("after the promotion, this host's request: %d, want 403", got)
	}
	if shown := w.json(`moat acr network-rule staged show --name shadowregistry`); shown["staged"] != nil {
		t.Errorf("a staged set is left after the promotion: %s", walkJSON(shown))
	}
	w.fails(`moat acr network-rule staged promote --name shadowregistry`,
		"(NoStagedNetworkAccess) registry shadowregistry has no staged network settings; stage them with 'moat acr network-rule staged set --name shadowregistry ...' (or PATCH properties.stagedNetworkAccess)")

	w.ok(`moat acr network-rule staged set --name shadowregistry --default-action Allow`)
	w.ok(`moat acr network-rule staged discard --name shadowregistry`)
	if shown := w.json(`moat acr network-rule staged show --name shadowregistry`); shown["staged"] != nil {
		t.Errorf("a staged set is left after discard: %s", walkJSON(shown))
	}
	enforced("20.30.40.50\nDeny\n")
	w.fails(`moat acr network-rule staged set --name shadowregistry --ip-addresses 10.0.0.1`,
		`(InvalidIpRule) stagedNetworkAccess: invalid IP rule: "10.0.0.1" is in the private range 10.0.0.0/8 (RFC 1918); IP rules are for public internet addresses only (use a virtual-network rule or a private endpoint for private networks); or name an IP group by its ID, or an IP set of the server configuration by its name`)
}
