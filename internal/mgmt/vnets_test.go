package mgmt_test

import (
	"net/http"
	"testing"
)

func TestVirtualNetworkCreateAndRead(t *testing.T) {
	e := newEnv(t)
	status, m, hdr := e.doH(t, "PUT", vnetPath("v1"), vnetBody([]string{"10.0.0.0/16", "2001:db8::/48"},
		namedSubnet("s1", "10.0.1.0/24", "microsoft.containerregistry", "Microsoft.ContainerRegistry", "Microsoft.Storage"),
		obj{"name": "s6", "properties": obj{"addressPrefixes": []string{"2001:db8:0:1::/64"}}}))
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, m)
	}
	if m["etag"] == nil || m["etag"] != hdr.Get("ETag") || m["id"] != vnetPath("v1") || m["type"] != "Microsoft.Network/virtualNetworks" {
		t.Errorf("vnet: %v (ETag %q)", m, hdr.Get("ETag"))
	}
	if n := length(t, m, "properties", "subnets"); n != 2 {
		t.Fatalf("%d subnets", n)
	}
	s1 := e.must(t, http.StatusOK, "GET", subnetPath("v1", "S1"), nil)
	if s1["id"] != subnetPath("v1", "s1") || get(t, s1, "properties", "addressPrefix") != "10.0.1.0/24" {
		t.Errorf("subnet: %v", s1)
	}
	// Service endpoints are canonical and de-duplicated; locations default to "*".
	if n := length(t, s1, "properties", "serviceEndpoints"); n != 2 {
		t.Errorf("service endpoints: %v", get(t, s1, "properties", "serviceEndpoints"))
	}
	if got := get(t, s1, "properties", "serviceEndpoints", 0, "service"); got != "Microsoft.ContainerRegistry" {
		t.Errorf("service %v", got)
	}
	if got := get(t, s1, "properties", "serviceEndpoints", 0, "locations", 0); got != "*" {
		t.Errorf("locations %v", got)
	}
	if got := get(t, e.must(t, http.StatusOK, "GET", subnetPath("v1", "s6"), nil), "properties", "addressPrefix"); got != "2001:db8:0:1::/64" {
		t.Errorf("addressPrefixes not taken: %v", got)
	}
	if n := length(t, e.must(t, http.StatusOK, "GET", vnetPath("v1")+"/subnets", nil), "value"); n != 2 {
		t.Errorf("subnet list: %d", n)
	}
	if n := length(t, e.must(t, http.StatusOK, "GET", rgPath("default")+"/providers/Microsoft.Network/virtualNetworks", nil), "value"); n != 1 {
		t.Errorf("vnet list: %d", n)
	}
	// Two virtual networks may use the same private address space.
	e.createVNet(t, "v2")
	e.createVNet(t, "v3")

	// A PUT without subnets keeps them; one with a list replaces the set.
	m = e.must(t, http.StatusOK, "PUT", vnetPath("v2"), vnetBody([]string{"10.0.0.0/16"}))
	if n := length(t, m, "properties", "subnets"); n != 2 {
		t.Errorf("PUT without subnets: %d subnets, want 2 kept", n)
	}
	m = e.must(t, http.StatusOK, "PUT", vnetPath("v2"), vnetBody([]string{"10.0.0.0/16"}, namedSubnet("s2", "10.0.2.0/24")))
	if n := length(t, m, "properties", "subnets"); n != 1 {
		t.Errorf("PUT with one subnet: %d subnets", n)
	}
	e.must(t, http.StatusNotFound, "GET", subnetPath("v2", "s1"), nil)
	m = e.must(t, http.StatusOK, "PUT", vnetPath("v2"), vnetBody([]string{"10.0.0.0/16"}, []obj{}...))
	if n := length(t, m, "properties", "subnets"); n != 0 {
		t.Errorf("PUT with \"subnets\": []: %d subnets, want 0", n)
	}
	e.must(t, http.StatusNotFound, "GET", subnetPath("v2", "s2"), nil)

	e.must(t, http.StatusOK, "DELETE", vnetPath("v3"), nil)
	e.must(t, http.StatusNotFound, "GET", vnetPath("v3"), nil)
	e.must(t, http.StatusNotFound, "GET", subnetPath("v3", "s1"), nil)
	e.must(t, http.StatusNoContent, "DELETE", vnetPath("v3"), nil)
}

func TestVirtualNetworkValidation(t *testing.T) {
	e := newEnv(t)
	space := []string{"10.0.0.0/16"}
	cases := []struct {
		name  string
		vnet  string
		body  obj
		code  string
		hints []string
	}{
		{"no address space", "v1", vnetBody(nil), "InvalidAddressSpace", []string{"--address-prefixes"}},
		{"not a prefix", "v1", vnetBody([]string{"10.0.0.0"}), "InvalidAddressPrefix", []string{"not a CIDR prefix"}},
		{"bad bits", "v1", vnetBody([]string{"10.0.0.0/33"}), "InvalidAddressPrefix", []string{"not a CIDR prefix"}},
		{"host bits set", "v1", vnetBody([]string{"10.0.0.1/16"}), "InvalidAddressPrefix", []string{"host bits set", "the canonical prefix is 10.0.0.0/16"}},
		{"IPv6 host bits set", "v1", vnetBody([]string{"2001:db8::1/48"}), "InvalidAddressPrefix", []string{"the canonical prefix is 2001:db8::/48"}},
		{"overlapping space", "v1", vnetBody([]string{"10.0.0.0/16", "10.0.128.0/17"}), "NetcfgInvalidAddressPrefix", []string{"overlaps"}},
		{"subnet outside", "v1", vnetBody(space, namedSubnet("s1", "10.1.0.0/24")), "NetcfgSubnetRangeOutsideVnet", []string{"10.1.0.0/24 is not within the address space 10.0.0.0/16"}},
		{"subnet larger than space", "v1", vnetBody(space, namedSubnet("s1", "10.0.0.0/8")), "NetcfgSubnetRangeOutsideVnet", nil},
		{"subnet straddles space", "v1", vnetBody(space, namedSubnet("s1", "10.0.0.0/15")), "NetcfgSubnetRangeOutsideVnet", nil},
		{"IPv6 subnet in IPv4 space", "v1", vnetBody(space, namedSubnet("s1", "2001:db8::/64")), "NetcfgSubnetRangeOutsideVnet", nil},
		{"subnets overlap", "v1", vnetBody(space, namedSubnet("s1", "10.0.1.0/24"), namedSubnet("s2", "10.0.1.128/25")), "NetcfgSubnetRangesOverlap", []string{"subnet s1 (10.0.1.0/24) overlaps subnet s2 (10.0.1.128/25)"}},
		{"subnets identical", "v1", vnetBody(space, namedSubnet("s1", "10.0.1.0/24"), namedSubnet("s2", "10.0.1.0/24")), "NetcfgSubnetRangesOverlap", nil},
		{"subnet host bits", "v1", vnetBody(space, namedSubnet("s1", "10.0.1.1/24")), "InvalidAddressPrefix", []string{"the canonical prefix is 10.0.1.0/24"}},
		{"subnet without prefix", "v1", vnetBody(space, obj{"name": "s1", "properties": obj{}}), "InvalidAddressPrefix", []string{"needs an address prefix"}},
		{"duplicate subnet names", "v1", vnetBody(space, namedSubnet("s1", "10.0.1.0/24"), namedSubnet("S1", "10.0.2.0/24")), "DuplicateResourceName", nil},
		{"subnet without name", "v1", vnetBody(space, obj{"properties": obj{"addressPrefix": "10.0.1.0/24"}}), "InvalidResourceName", nil},
		{"subnet name with slash", "v1", vnetBody(space, namedSubnet("a/b", "10.0.1.0/24")), "InvalidResourceName", nil},
		{"bad service endpoint", "v1", vnetBody(space, namedSubnet("s1", "10.0.1.0/24", "ContainerRegistry")), "InvalidServiceName", []string{"Microsoft.ContainerRegistry"}},
		{"bad vnet name", "v1.", vnetBody(space), "InvalidResourceName", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, m := e.do(t, "PUT", vnetPath(c.vnet), c.body)
			wantErr(t, status, m, 400, c.code, c.hints...)
			e.must(t, http.StatusNotFound, "GET", vnetPath(c.vnet), nil)
		})
	}
	t.Run("shrinking the space under a subnet", func(t *testing.T) {
		e.createVNet(t, "shrink")
		status, m := e.do(t, "PUT", vnetPath("shrink"), vnetBody([]string{"10.0.2.0/24"}))
		wantErr(t, status, m, 400, "NetcfgSubnetRangeOutsideVnet", "subnet s1")
		m = e.must(t, http.StatusOK, "GET", vnetPath("shrink"), nil)
		if got := get(t, m, "properties", "addressSpace", "addressPrefixes", 0); got != "10.0.0.0/16" {
			t.Errorf("refused PUT changed the space to %v", got)
		}
	})
	t.Run("Microsoft.Network not registered", func(t *testing.T) {
		e.must(t, http.StatusOK, "POST", providerPath("Microsoft.Network")+"/unregister", nil)
		defer e.must(t, http.StatusOK, "POST", providerPath("Microsoft.Network")+"/register", nil)
		status, m := e.do(t, "PUT", vnetPath("vnoprov"), vnetBody(space))
		wantErr(t, status, m, 409, "MissingSubscriptionRegistration", "moat provider register --namespace Microsoft.Network")
	})
}

func TestSubnetChildResource(t *testing.T) {
	e := newEnv(t)
	e.createVNet(t, "v1")
	cases := []struct {
		name, subnet string
		body         obj
		code         string
		hints        []string
	}{
		{"outside the space", "s3", subnetBody("10.1.3.0/24"), "NetcfgSubnetRangeOutsideVnet", []string{"not within the address space 10.0.0.0/16"}},
		{"overlaps a sibling", "s3", subnetBody("10.0.1.128/25"), "NetcfgSubnetRangesOverlap", []string{"s1", "s3"}},
		{"covers siblings", "s3", subnetBody("10.0.0.0/22"), "NetcfgSubnetRangesOverlap", nil},
		{"host bits", "s3", subnetBody("10.0.3.7/24"), "InvalidAddressPrefix", []string{"the canonical prefix is 10.0.3.0/24"}},
		{"no prefix", "s3", obj{"properties": obj{}}, "InvalidAddressPrefix", nil},
		{"moving onto a sibling", "s2", subnetBody("10.0.1.0/24"), "NetcfgSubnetRangesOverlap", nil},
		{"bad name", "bad name", subnetBody("10.0.3.0/24"), "InvalidResourceName", nil},
		{"bad service", "s3", subnetBody("10.0.3.0/24", "Contoso.Things"), "InvalidServiceName", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, m := e.do(t, "PUT", subnetPath("v1", c.subnet), c.body)
			wantErr(t, status, m, 400, c.code, c.hints...)
		})
	}
	e.must(t, http.StatusNotFound, "GET", subnetPath("v1", "s3"), nil)
	if got := get(t, e.must(t, http.StatusOK, "GET", subnetPath("v1", "s2"), nil), "properties", "addressPrefix"); got != "10.0.2.0/24" {
		t.Errorf("refused PUT moved s2 to %v", got)
	}

	status, m := e.do(t, "PUT", subnetPath("nope", "s1"), subnetBody("10.0.1.0/24"))
	wantErr(t, status, m, 404, "ResourceNotFound", `virtual network "nope" not found`)

	m = e.must(t, http.StatusCreated, "PUT", subnetPath("v1", "s3"), subnetBody("10.0.3.0/24"))
	if m["id"] != subnetPath("v1", "s3") || m["etag"] == nil {
		t.Errorf("created subnet: %v", m)
	}
	// Turn the service endpoint on and off (moat network vnet subnet update --service-endpoints).
	m = e.must(t, http.StatusOK, "PUT", subnetPath("v1", "s3"), subnetBody("10.0.3.0/24", "Microsoft.ContainerRegistry"))
	if length(t, m, "properties", "serviceEndpoints") != 1 {
		t.Errorf("endpoint not on: %v", m)
	}
	m = e.must(t, http.StatusOK, "PUT", subnetPath("v1", "s3"), obj{"properties": obj{"addressPrefix": "10.0.3.0/24", "serviceEndpoints": []any{obj{"service": ""}}}})
	if length(t, m, "properties", "serviceEndpoints") != 0 {
		t.Errorf("endpoint not off: %v", m)
	}
	// Subnet ETags.
	_, _, hdr := e.doH(t, "GET", subnetPath("v1", "s3"), nil)
	status, m = e.do(t, "PUT", subnetPath("v1", "s3"), subnetBody("10.0.3.0/24"), "If-Match", `"999"`)
	wantErr(t, status, m, 412, "PreconditionFailed")
	e.must(t, http.StatusOK, "PUT", subnetPath("v1", "s3"), subnetBody("10.0.4.0/24"), "If-Match", hdr.Get("ETag"))

	if n := length(t, e.must(t, http.StatusOK, "GET", vnetPath("v1"), nil), "properties", "subnets"); n != 3 {
		t.Errorf("vnet shows %d subnets, want 3", n)
	}
	e.must(t, http.StatusOK, "DELETE", subnetPath("v1", "s3"), nil)
	e.must(t, http.StatusNoContent, "DELETE", subnetPath("v1", "s3"), nil)
	e.must(t, http.StatusNotFound, "GET", subnetPath("v1", "s3"), nil)
	status, m = e.do(t, "POST", subnetPath("v1", "s1"), nil)
	wantErr(t, status, m, 405, "MethodNotAllowed")
}
