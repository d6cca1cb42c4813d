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
