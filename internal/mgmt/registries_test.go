package mgmt_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestRegistryCreateDefaultsAndReadOnly(t *testing.T) {
	e := newEnv(t)
	status, m, hdr := e.doH(t, "PUT", regPath("MyReg01"), registryBody("premium", obj{
		// Read-only properties in the body are ignored.
		"loginServer": "evil.example", "provisioningState": "Failed",
	}))
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, m)
	}
	if hdr.Get("ETag") == "" {
		t.Error("no ETag header on create")
	}
	for _, m := range []map[string]any{m, e.must(t, http.StatusOK, "GET", regPath("myreg01"), nil)} {
		want := map[string]any{
			"id":                                  regPath("MyReg01"),
			"name":                                "MyReg01",
			"type":                                "Microsoft.ContainerRegistry/registries",
			"sku.name":                            "Premium",
			"sku.tier":                            "Premium",
			"properties.adminUserEnabled":         false,
			"properties.anonymousPullEnabled":     false,
			"properties.publicNetworkAccess":      "Enabled",
			"properties.networkRuleBypassOptions": "AzureServices",
			"properties.networkRuleBypassAllowedForTasks": false,
			"properties.dataEndpointEnabled":              false,
			"properties.networkRuleSet.defaultAction":     "Allow",
			"properties.provisioningState":                "Succeeded",
		}
		for path, v := range want {
			var keys []any
			for _, k := range strings.Split(path, ".") {
				keys = append(keys, k)
			}
			if got := get(t, m, keys...); got != v {
				t.Errorf("%s = %v, want %v", path, got, v)
			}
		}
		if n := length(t, m, "properties", "networkRuleSet", "ipRules"); n != 0 {
			t.Errorf("ipRules has %d entries", n)
		}
		if get(t, m, "properties", "networkRuleSet", "virtualNetworkRules") == nil {
			t.Error("virtualNetworkRules should be [] not absent")
		}
		if ls, _ := get(t, m, "properties", "loginServer").(string); !strings.HasSuffix(ls, "/myreg01") {
			t.Errorf("loginServer %q", ls)
		}
		if get(t, m, "properties", "creationDate") == nil {
			t.Error("no creationDate")
		}
	}
	for _, p := range []string{
		rgPath("default") + "/providers/Microsoft.ContainerRegistry/registries",
		"/subscriptions/" + sub + "/providers/Microsoft.ContainerRegistry/registries",
	} {
		if n := length(t, e.must(t, http.StatusOK, "GET", p, nil), "value"); n != 1 {
			t.Errorf("GET %s: %d registries, want 1", p, n)
		}
	}
}

func TestRegistryPutReplacesPatchMerges(t *testing.T) {
	e := newEnv(t)
	e.must(t, http.StatusCreated, "PUT", regPath("regmerge"), registryBody("Premium", obj{
		"adminUserEnabled": true, "networkRuleSet": obj{"defaultAction": "Deny", "ipRules": ipRules("1.2.3.4")}}))
	m := e.must(t, http.StatusOK, "PATCH", regPath("regmerge"), obj{"properties": obj{"dataEndpointEnabled": true}})
	if get(t, m, "properties", "adminUserEnabled") != true || get(t, m, "properties", "networkRuleSet", "defaultAction") != "Deny" ||
		length(t, m, "properties", "networkRuleSet", "ipRules") != 1 || get(t, m, "properties", "dataEndpointEnabled") != true {
		t.Errorf("PATCH lost properties it did not name: %v", m["properties"])
	}
	m = e.must(t, http.StatusOK, "PUT", regPath("regmerge"), registryBody("Premium", nil))
	if get(t, m, "properties", "adminUserEnabled") != false || get(t, m, "properties", "networkRuleSet", "defaultAction") != "Allow" ||
		length(t, m, "properties", "networkRuleSet", "ipRules") != 0 {
		t.Errorf("PUT did not reset unset properties to defaults: %v", m["properties"])
	}
}

func TestRegistryInputValidation(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "taken01", "Premium")
	e.must(t, http.StatusCreated, "PUT", rgPath("other"), obj{"location": "local"})
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
		hints              []string
	}{
		{"name too short", "PUT", regPath("abcd"), registryBody("Basic", nil), 400, "InvalidResourceName", []string{"5-50 letters and digits"}},
		{"name with dash", "PUT", regPath("my-registry"), registryBody("Basic", nil), 400, "InvalidResourceName", nil},
		{"name too long", "PUT", regPath(strings.Repeat("a", 51)), registryBody("Basic", nil), 400, "InvalidResourceName", nil},
		{"sku missing", "PUT", regPath("regnosku"), obj{"location": "local"}, 400, "InvalidSkuName", []string{"Basic, Standard or Premium"}},
		{"sku unknown", "PUT", regPath("regbadsku"), registryBody("Gold", nil), 400, "InvalidSkuName", []string{`"Gold"`}},
		{"publicNetworkAccess", "PUT", regPath("regbadpna"), registryBody("Premium", obj{"publicNetworkAccess": "Sometimes"}), 400, "InvalidParameter", []string{"Enabled or Disabled"}},
		{"bypass options", "PUT", regPath("regbadbyp"), registryBody("Premium", obj{"networkRuleBypassOptions": "Everyone"}), 400, "InvalidParameter", []string{"AzureServices or None"}},
		{"default action", "PUT", regPath("regbadact"), registryBody("Premium", ruleSet("Block", nil, nil)), 400, "InvalidParameter", []string{"Allow or Deny"}},
		{"PATCH of missing registry", "PATCH", regPath("nosuchreg"), obj{"properties": obj{}}, 404, "ResourceNotFound", []string{"create it with PUT"}},
		{"GET of missing registry", "GET", regPath("nosuchreg"), nil, 404, "ResourceNotFound", nil},
		{"name used in another group", "PUT", regPathIn("other", "TAKEN01"), registryBody("Premium", nil), 409, "AlreadyInUse", []string{"unique per server"}},
		{"missing group", "PUT", regPathIn("nogroup", "regnogroup"), registryBody("Premium", nil), 404, "ResourceGroupNotFound", []string{"moat group create --name nogroup"}},
		{"method", "POST", regPath("taken01"), nil, 405, "MethodNotAllowed", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, m := e.do(t, c.method, c.path, c.body)
			wantErr(t, status, m, c.status, c.code, c.hints...)
		})
	}
}

func TestRegistrySKUGating(t *testing.T) {
	e := newEnv(t)
	e.createVNet(t, "v1")
	subnet := subnetPath("v1", "s1")
	vnetRule := []any{obj{"id": subnet, "action": "Allow"}}
	cases := []struct {
		name   string
		props  obj
		code   string
		basic  bool // refused on Basic only
		hintOK bool // message names the SKU
	}{
		{"ip rules", ruleSet("Allow", ipRules("20.30.40.50"), nil), "NetworkRuleNotSupported", false, true},
		{"virtual-network rules", ruleSet("Allow", nil, vnetRule), "NetworkRuleNotSupported", false, true},
		{"default action Deny", ruleSet("Deny", nil, nil), "NetworkRuleNotSupported", false, true},
		{"public network access Disabled", obj{"publicNetworkAccess": "Disabled"}, "DisablingPublicNetworkAccessNotSupported", false, true},
		{"anonymous pull", obj{"anonymousPullEnabled": true}, "AnonymousPullNotSupported", true, true},
	}
	n := 0
	for _, sku := range []string{"Basic", "Standard"} {
		for _, c := range cases {
			t.Run(sku+"/"+c.name, func(t *testing.T) {
				n++
				name := "gated" + strings.Repeat("x", n)
				status, m := e.do(t, "PUT", regPath(name), registryBody(sku, c.props))
				if c.basic && sku != "Basic" {
					if status != http.StatusCreated {
						t.Fatalf("%s on %s: %d %v, want 201", c.name, sku, status, m)
					}
					return
				}
				wantErr(t, status, m, 400, c.code, "not supported for the SKU "+sku)
				// The same on PATCH of an existing registry of that SKU.
				e.createRegistry(t, name, sku)
				status, m = e.do(t, "PATCH", regPath(name), obj{"properties": c.props})
				wantErr(t, status, m, 400, c.code, "not supported for the SKU "+sku)
			})
		}
	}
	t.Run("Premium allows everything", func(t *testing.T) {
		props := ruleSet("Deny", ipRules("20.30.40.50"), vnetRule)
		props["publicNetworkAccess"], props["anonymousPullEnabled"] = "Disabled", true
		m := e.must(t, http.StatusCreated, "PUT", regPath("premiumall"), registryBody("Premium", props))
		if get(t, m, "properties", "publicNetworkAccess") != "Disabled" || get(t, m, "properties", "networkRuleSet", "defaultAction") != "Deny" {
			t.Errorf("properties not stored: %v", m["properties"])
		}
	})
}

func TestRegistryDowngradeRefused(t *testing.T) {
	e := newEnv(t)
	e.createVNet(t, "v1")
	cases := []struct {
		name  string
		props obj
		to    string
		code  string
	}{
		{"ip rule", ruleSet("Allow", ipRules("20.30.40.50"), nil), "Standard", "NetworkRuleNotSupported"},
		{"vnet rule", ruleSet("Allow", nil, []any{obj{"id": subnetPath("v1", "s1")}}), "Standard", "NetworkRuleNotSupported"},
		{"deny", ruleSet("Deny", nil, nil), "Basic", "NetworkRuleNotSupported"},
		{"public access disabled", obj{"publicNetworkAccess": "Disabled"}, "Standard", "DisablingPublicNetworkAccessNotSupported"},
		{"anonymous pull to Basic", obj{"anonymousPullEnabled": true}, "Basic", "AnonymousPullNotSupported"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := "downgrade" + strings.Repeat("x", i+1)
			e.must(t, http.StatusCreated, "PUT", regPath(name), registryBody("Premium", c.props))
			status, m := e.do(t, "PATCH", regPath(name), obj{"sku": obj{"name": c.to}})
			wantErr(t, status, m, 400, c.code, "SKU "+c.to)
			if got := get(t, e.must(t, 200, "GET", regPath(name), nil), "sku", "name"); got != "Premium" {
				t.Errorf("refused downgrade changed the SKU to %v", got)
			}
			// Clearing the settings first makes the downgrade work.
			clear := ruleSet("Allow", []any{}, []any{})
			clear["publicNetworkAccess"], clear["anonymousPullEnabled"] = "Enabled", false
			e.must(t, http.StatusOK, "PATCH", regPath(name), obj{"properties": clear})
			e.must(t, http.StatusOK, "PATCH", regPath(name), obj{"sku": obj{"name": c.to}})
		})
	}
}

func TestETags(t *testing.T) {
	e := newEnv(t)
	_, _, hdr := e.doH(t, "PUT", regPath("etagreg"), registryBody("Premium", nil))
	etag := hdr.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if _, _, h := e.doH(t, "GET", regPath("etagreg"), nil); h.Get("ETag") != etag {
		t.Errorf("GET ETag %q, PUT ETag %q", h.Get("ETag"), etag)
	}
	patch := obj{"properties": obj{"adminUserEnabled": true}}
	status, m := e.do(t, "PUT", regPath("etagreg"), registryBody("Premium", nil), "If-Match", `"999"`)
	wantErr(t, status, m, 412, "PreconditionFailed", "read it again")
	status, m = e.do(t, "PATCH", regPath("etagreg"), patch, "If-Match", `"999"`)
	wantErr(t, status, m, 412, "PreconditionFailed")
	status, m = e.do(t, "PUT", regPath("etagreg"), registryBody("Premium", nil), "If-None-Match", "*")
	wantErr(t, status, m, 412, "PreconditionFailed", "already exists")
	status, m = e.do(t, "PUT", regPath("etagnew"), registryBody("Premium", nil), "If-Match", etag)
	wantErr(t, status, m, 412, "PreconditionFailed") // If-Match on a resource that does not exist
	e.must(t, http.StatusCreated, "PUT", regPath("etagnew"), registryBody("Premium", nil), "If-None-Match", "*")

	status, _, hdr = e.doH(t, "PATCH", regPath("etagreg"), patch, "If-Match", etag)
	if status != http.StatusOK || hdr.Get("ETag") == etag || hdr.Get("ETag") == "" {
		t.Fatalf("PATCH with current ETag: %d, ETag %q (was %q)", status, hdr.Get("ETag"), etag)
	}
	status, m = e.do(t, "PATCH", regPath("etagreg"), patch, "If-Match", etag) // now stale
	wantErr(t, status, m, 412, "PreconditionFailed")
	e.must(t, http.StatusOK, "PUT", regPath("etagreg"), registryBody("Premium", nil), "If-Match", hdr.Get("ETag"))
	e.must(t, http.StatusOK, "PATCH", regPath("etagreg"), patch, "If-Match", "*")
	status, m = e.do(t, "DELETE", regPath("etagreg"), nil, "If-Match", etag)
	wantErr(t, status, m, 412, "PreconditionFailed")

	// Virtual networks carry the ETag in the body too.
	e.createVNet(t, "v1")
	_, vn, hdr := e.doH(t, "GET", vnetPath("v1"), nil)
	if vn["etag"] != hdr.Get("ETag") {
		t.Errorf("vnet etag %v, header %q", vn["etag"], hdr.Get("ETag"))
	}
	body := vnetBody([]string{"10.0.0.0/16"})
	status, m = e.do(t, "PUT", vnetPath("v1"), body, "If-Match", `"999"`)
	wantErr(t, status, m, 412, "PreconditionFailed")
	status, m = e.do(t, "PUT", vnetPath("v1"), body, "If-None-Match", "*")
	wantErr(t, status, m, 412, "PreconditionFailed")
	e.must(t, http.StatusOK, "PUT", vnetPath("v1"), body, "If-Match", hdr.Get("ETag"))
	status, m = e.do(t, "DELETE", vnetPath("v1"), nil, "If-Match", hdr.Get("ETag"))
	wantErr(t, status, m, 412, "PreconditionFailed")
}

func TestRequestBodies(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "bodyreg", "Premium")
	e.createVNet(t, "v1")
	big := `{"location":"` + strings.Repeat("a", 1<<20) + `"}`
	paths := []struct{ name, method, path string }{
		{"registry create", "PUT", regPath("bodynew")},
		{"registry update", "PUT", regPath("bodyreg")},
		{"registry patch", "PATCH", regPath("bodyreg")},
		{"vnet", "PUT", vnetPath("v2")},
		{"subnet", "PUT", subnetPath("v1", "s9")},
		{"private endpoint", "PUT", pePath("pe1")},
		{"resource group", "PUT", rgPath("bodygroup")},
	}
	bodies := []struct {
		name   string
		body   string
		status int
		code   string
		hint   string
	}{
		{"too large", big, 413, "RequestEntityTooLarge", "exceeds 1048576 bytes"},
		{"invalid JSON", `{"sku": {"name": "Premium"`, 400, "InvalidRequestContent", "not valid JSON"},
		{"not JSON", `sku=Premium`, 400, "InvalidRequestContent", "not valid JSON"},
		{"wrong types", `{"sku": "Premium", "properties": [], "location": 1}`, 400, "InvalidRequestContent", "not valid JSON"},
		{"empty", ``, 400, "InvalidRequestContent", "empty"},
	}
	for _, p := range paths {
		for _, b := range bodies {
			t.Run(p.name+"/"+b.name, func(t *testing.T) {
				status, m := e.do(t, p.method, p.path, b.body)
				wantErr(t, status, m, b.status, b.code, b.hint)
			})
		}
	}
	// Just under the limit is read (and then judged on its content).
	ok := `{"sku":{"name":"Premium"},"tags":{"t":"` + strings.Repeat("a", 1<<20-100) + `"}}`
	e.must(t, http.StatusOK, "PUT", regPath("bodyreg"), ok)
}

func TestUnknownPaths(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"unknown namespace", "GET", rgPath("default") + "/providers/Microsoft.Storage/storageAccounts/acct", 404, "InvalidResourceType"},
		{"unknown registry child", "GET", regPath("somereg") + "/widgets/w1", 404, "InvalidResourceType"},
		{"unknown network type", "PUT", rgPath("default") + "/providers/Microsoft.Network/loadBalancers/lb", 404, "InvalidResourceType"},
		{"too deep", "GET", vnetPath("v1") + "/subnets/s1/ipConfigurations/c1", 404, "InvalidResourceType"},
		{"unknown subscription", "GET", "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/default", 404, "SubscriptionNotFound"},
		{"not a resource path", "GET", rgPath("default") + "/registries/r1", 400, "InvalidResourceId"},
		{"providers without namespace", "GET", rgPath("default") + "/providers", 400, "InvalidResourceId"},
		{"subscription PUT", "PUT", "/subscriptions/" + sub, 405, "MethodNotAllowed"},
		{"subscriptions DELETE", "DELETE", "/subscriptions", 405, "MethodNotAllowed"},
		{"collection PUT", "PUT", rgPath("default") + "/providers/Microsoft.ContainerRegistry/registries", 405, "MethodNotAllowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, m := e.do(t, c.method, c.path, nil)
			wantErr(t, status, m, c.status, c.code)
		})
	}
	m := e.must(t, http.StatusOK, "GET", "/subscriptions", nil)
	if get(t, m, "value", 0, "subscriptionId") != sub {
		t.Errorf("subscriptions: %v", m)
	}
	if got := get(t, e.must(t, http.StatusOK, "GET", "/subscriptions/"+strings.ToUpper(sub), nil), "state"); got != "Enabled" {
		t.Errorf("subscription state %v", got)
	}
}

func TestRegistryDelete(t *testing.T) {
	e := newEnv(t)
	e.createRegistry(t, "delreg", "Basic")
	e.must(t, http.StatusOK, "DELETE", regPath("DELREG"), nil)
	e.must(t, http.StatusNotFound, "GET", regPath("delreg"), nil)
	e.must(t, http.StatusNoContent, "DELETE", regPath("delreg"), nil)
	e.createRegistry(t, "delreg", "Standard") // the name is free again
}
