package armfilter

import (
	"errors"
	"strings"
	"testing"
)

var (
	reg  = Resource{Name: "myRegistry", Type: "Microsoft.ContainerRegistry/registries", ResourceGroup: "myResourceGroup", Location: "westus", Tags: map[string]string{"env": "Prod"}}
	vnet = Resource{Name: "myVNet", Type: "Microsoft.Network/virtualNetworks", ResourceGroup: "net", Location: "eastus"}
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		filter    string
		reg, vnet bool
	}{
		{"", true, true},
		{"resourceType eq 'Microsoft.ContainerRegistry/registries'", true, false},
		{"resourcetype EQ 'microsoft.containerregistry/REGISTRIES'", true, false},
		{"name eq 'myregistry'", true, false},
		{"name eq 'myregistry' and resourceType eq 'Microsoft.ContainerRegistry/registries'", true, false},
		{"resourceType eq 'Microsoft.ContainerRegistry/registries' or resourceType eq 'Microsoft.Network/virtualNetworks'", true, true},
		{"(resourceType eq 'Microsoft.Network/virtualNetworks' or location eq 'westus') and resourceGroup ne 'net'", true, false},
		{"substringof('VNet', name)", false, true},
		{"substringof('group', resourceGroup) or substringof('x', name)", true, false},
		{"tagName eq 'env'", true, false},
		{"tagName eq 'ENV' and tagValue eq 'Prod'", true, false},
		{"tagName eq 'env' and tagValue eq 'prod'", false, false}, // tag values are case-sensitive
		{"tagValue eq 'Prod'", true, false},
		{"tagName ne 'env'", false, true},
		{"name eq 'it''s'", false, false},
		{"  location   eq\t'eastus' ", false, true},
	} {
		f, err := Parse(c.filter)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.filter, err)
			continue
		}
		if got := f.Match(reg); got != c.reg {
			t.Errorf("%q matches the registry: %v, want %v", c.filter, got, c.reg)
		}
		if got := f.Match(vnet); got != c.vnet {
			t.Errorf("%q matches the vnet: %v, want %v", c.filter, got, c.vnet)
		}
		if again, err := Parse(f.String()); err != nil || again.String() != f.String() {
			t.Errorf("%q: String %q does not parse to itself (%v)", c.filter, f.String(), err)
		}
	}
	var nilFilter *Filter
	if !nilFilter.Match(reg) {
		t.Error("a nil filter must match everything")
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ filter, hint string }{
		{"name eq", "ends where a 'quoted' value is expected"},
		{"name eq reg", "a 'quoted' value expected at position 9"},
		{"name eq 'reg", "no closing quote"},
		{"name gt 'a'", `operator "gt" at position 6 of the $filter is not supported`},
		{"plan eq 'x'", `property "plan" at position 1 of the $filter is not supported`},
		{"substringof('a', location)", "applies to name or resourceGroup"},
		{"name eq 'a' and", "ends where a condition is expected"},
		{"name eq 'a' name eq 'b'", "unexpected \"name\" at position 13"},
		{"(name eq 'a'", "ends where ')' is expected"},
		{"name eq 'a' $ 'b'", "unexpected character '$' at position 13"},
		{strings.Repeat("(", 20) + "name eq 'a'" + strings.Repeat(")", 20), "nests parentheses deeper than 16"},
		{strings.Repeat("name eq 'a' or ", 70) + "name eq 'a'", "more than 64"},
		{"name eq '" + strings.Repeat("a", MaxLength) + "'", "longer than 4096"},
	} {
		_, err := Parse(c.filter)
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%.60q) = %v, want an *Error", c.filter, err)
			continue
		}
		if !strings.Contains(err.Error(), c.hint) || !strings.Contains(err.Error(), "Supported:") {
			t.Errorf("Parse(%.60q): %q lacks %q or the supported forms", c.filter, err, c.hint)
		}
	}
}

// FuzzParse: no input panics or runs away; a parsed filter evaluates and its
// canonical form parses to the same filter.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"resourceType eq 'Microsoft.ContainerRegistry/registries'",
		"name eq 'a' and (resourceType eq 'b' or substringof('c', resourceGroup))",
		"tagName eq 'x' and tagValue eq 'y''z'", "((((", "name eq '", "'''", "substringof(", ",)", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := Parse(s)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q) failed with %T, want *Error", s, err)
			}
			return
		}
		fl.Match(reg)
		fl.Match(Resource{})
		canon := fl.String()
		again, err := Parse(canon)
		if err != nil || again.String() != canon {
			t.Fatalf("Parse(%q).String() = %q, which parses to %v, %v", s, canon, again, err)
		}
	})
}
