package server

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/moat-registry/moat/internal/config"
)

// TestConfiguredIPSets: an IP rule naming an IP set of the server
// configuration lets its addresses in (the client here is 203.0.113.5); a
// set that does not hold the client does not, and the API refuses a name
// the configuration does not define.
func TestConfiguredIPSets(t *testing.T) {
	e := newBypassEnvWith(t, func(c *config.Config) {
		c.IPSets = map[string][]netip.Prefix{"CI-Runners": {netip.MustParsePrefix("203.0.113.0/24")}, "elsewhere": {netip.MustParsePrefix("198.51.100.0/24")}}
	})
	reg := e.mgmt + "Microsoft.ContainerRegistry/registries/bypassreg"
	status := func() int {
		resp, err := http.Get(e.ts.URL + "/v2/bypassreg/app/tags/list")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	e.admin(http.MethodPatch, reg, `{"properties":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"ci-runners"}]}}}`)
	if got := status(); got != http.StatusUnauthorized {
		t.Errorf("a client in the set named by a rule: %d, want 401 (let through the network gate, then asked to sign in)", got)
	}
	e.admin(http.MethodPatch, reg, `{"properties":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[{"action":"Allow","value":"elsewhere"}]}}}`)
	if got := status(); got != http.StatusForbidden {
		t.Errorf("a client outside the set named by the rule: %d, want 403", got)
	}
}
