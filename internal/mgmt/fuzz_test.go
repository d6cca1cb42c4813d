package mgmt_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzManagementJSON PUTs arbitrary bodies to a registry, a virtual network,
// a subnet and a private endpoint (new and existing) and PATCHes a registry:
// every answer must be a 2xx or 4xx, never a 5xx (do fails on a 5xx).
// Minimising a new input re-runs a dozen SQLite-backed requests thousands of
// times, so fuzz with e.g.
//
//	go test ./internal/mgmt/ -run '^$' -fuzz FuzzManagementJSON -fuzzminimizetime 1x
func FuzzManagementJSON(f *testing.F) {
	e := newEnv(f)
	e.createRegistry(f, "fuzzreg", "Premium")
	e.createRegistry(f, "fuzzstd", "Standard")
	e.createVNet(f, "fuzzvnet")
	subnet := subnetPath("fuzzvnet", "s2")
	e.must(f, http.StatusCreated, "PUT", pePath("fuzzpe"), peBody(subnet, regPath("fuzzreg"), false, ""))

	seed := func(v any) {
		raw, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	seed(registryBody("Premium", ruleSet("Deny", ipRules("20.30.40.50", "2600::/16"), []any{obj{"id": subnetPath("fuzzvnet", "s1")}})))
	seed(registryBody("Basic", obj{"publicNetworkAccess": "Disabled", "anonymousPullEnabled": true}))
	seed(registryBody("Standard", ruleSet("Allow", ipRules("0.0.0.0/0"), nil)))
	seed(obj{"sku": obj{"name": "Premium"}, "properties": obj{"networkRuleSet": obj{"defaultAction": "Deny", "virtualNetworkRules": []any{obj{"virtualNetworkSubnetResourceId": subnet, "action": "Allow"}}}}})
	seed(vnetBody([]string{"10.0.0.0/16", "fd00::/48"}, namedSubnet("s1", "10.0.1.0/24", "Microsoft.ContainerRegistry"), namedSubnet("s2", "10.0.2.0/24")))
	seed(vnetBody([]string{"0.0.0.0/0"}, namedSubnet("s1", "0.0.0.0/32")))
	seed(subnetBody("10.0.2.0/24", "Microsoft.ContainerRegistry"))
	seed(peBody(subnet, regPath("fuzzreg"), true, "10.0.2.200"))
	seed(peBody(subnet, regPath("fuzzstd"), false, "10.0.2.255"))
	seed(peBody(subnetPath("fuzzvnet", "s1"), regPath("fuzzreg"), false, "::1"))
	for _, s := range []string{`null`, `[]`, `""`, `0`, `{}`, `{"properties":null}`, `{"properties":{"networkRuleSet":null}}`,
		`{"sku":{"name":"Premium"},"properties":{"networkRuleSet":{"defaultAction":"Deny","ipRules":[null,{}]}}}`,
		`{"properties":{"policies":{"retentionPolicy":{"days":0,"status":"enabled"}}}}`, `{"properties":{"policies":null}}`,
		`{"properties":{"policies":{"retentionPolicy":null}}}`, `{"properties":{"policies":{"retentionPolicy":{"days":1e9,"status":"Disabled"}}}}`,
		`{"properties":{"addressSpace":{"addressPrefixes":[""]},"subnets":[{}]}}`,
		`{"properties":{"subnet":{},"privateLinkServiceConnections":[{}],"ipConfigurations":[{}]}}`,
		`{"properties":{"addressPrefixes":["10.0.2.0/24"],"serviceEndpoints":[{"service":"Microsoft.ContainerRegistry","locations":[]}]}}`} {
		f.Add([]byte(s))
	}

	targets := []struct{ method, path string }{
		{"PUT", regPath("fuzzreg")},
		{"PATCH", regPath("fuzzreg")},
		{"PUT", regPath("fuzznew")},
		{"PUT", vnetPath("fuzzvnet")},
		{"PUT", vnetPath("fuzzvnet2")},
		{"PUT", subnet},
		{"PUT", subnetPath("fuzzvnet", "s9")},
		{"PUT", pePath("fuzzpe")},
		{"PUT", pePath("fuzzpe2")},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, tg := range targets {
			e.do(t, tg.method, tg.path, body)
		}
		// Keep the fixtures usable for the next input.
		e.do(t, "DELETE", pePath("fuzzpe2"), nil)
		e.do(t, "DELETE", regPath("fuzznew"), nil)
		e.do(t, "DELETE", vnetPath("fuzzvnet2"), nil)
	})
}
