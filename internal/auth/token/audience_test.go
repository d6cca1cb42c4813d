package token

import (
	"slices"
	"testing"
)

func TestAudiences(t *testing.T) {
	a := NewAudiences("https://Moat.example.com:8443/")
	for _, ok := range []string{"https://moat.example.com:8443", "https://moat.example.com:8443/", "https://management.azure.com",
		"https://management.core.windows.net/", "HTTPS://MANAGEMENT.AZURE.COM/"} {
		if !a.Allows([]string{"https://payroll.example.com", ok}) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"https://payroll.example.com", "http://moat.example.com:8443", "https://moat.example.com", "https://moat.example.com:8443/x", ""} {
		if a.Allows([]string{bad}) {
			t.Errorf("%q accepted", bad)
		}
	}
	if a.Allows(nil) {
		t.Error("no audience accepted")
	}
	if l := a.List(); l[0] != "https://Moat.example.com:8443/" || !slices.Contains(l, "https://management.azure.com/") {
		t.Errorf("list %v", l)
	}
}

// TestRegistryAudience: ACR's client libraries ask for ACRAudience, which
// /oauth2/exchange takes and the management API does not.
func TestRegistryAudience(t *testing.T) {
	a := NewAudiences("https://moat.example.com")
	for _, aud := range []string{ACRAudience, ACRAudience + "/", "https://management.azure.com", "https://moat.example.com/"} {
		if !a.AllowsRegistry([]string{aud}) {
			t.Errorf("exchange refuses %q", aud)
		}
	}
	if a.Allows([]string{ACRAudience}) {
		t.Error("the management API takes the registry audience")
	}
	if a.AllowsRegistry([]string{"https://containerregistry.azure.net.example.com", "https://payroll.example.com"}) {
		t.Error("exchange takes another audience")
	}
}
