package netrule

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	group := "/subscriptions/S/resourceGroups/Net/providers/microsoft.network/IPGROUPS/ci"
	cases := map[string]Ref{
		"16.17.18.0/24": {Kind: RefPrefix, Prefix: netip.MustParsePrefix("16.17.18.0/24"), Value: "16.17.18.0/24"},
		" 16.17.18.19 ": {Kind: RefPrefix, Prefix: netip.MustParsePrefix("16.17.18.19/32"), Value: "16.17.18.19"},
		group: {Kind: RefIPGroup, Key: "/subscriptions/s/resourcegroups/net/providers/microsoft.network/ipgroups/ci",
			Value: "/subscriptions/S/resourceGroups/Net/providers/Microsoft.Network/ipGroups/ci"},
		"ci-runners":     {Kind: RefIPSet, Key: "ci-runners", Value: "ci-runners"},
		"Build.Agents_1": {Kind: RefIPSet, Key: "build.agents_1", Value: "Build.Agents_1"},
	}
	for in, want := range cases {
		got, err := ParseRef(in)
		if err != nil || got != want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v": "not an IP group ID",
		"/subscriptions/s/providers/Microsoft.Network/ipGroups/g":                         "not an IP group ID",
		"10.0.0.0/8":  "private",
		"1.2.3":       "not a valid",
		"ci runners":  "not a valid",
		"-ci":         "not a valid",
		"fe80::1%eth": "zone",
	}
	for in, want := range bad {
		if _, err := ParseRef(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRef(%q): %v, want an error with %q", in, err, want)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"16.17.18.19", "ci-runners", "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/ipGroups/x", "::1", "a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		again, err := ParseRef(r.Value)
		if err != nil || again != r {
			t.Fatalf("%q: canonical %q reads as %+v (%v), not %+v", s, r.Value, again, err, r)
		}
		if r.Kind == RefIPSet {
			if _, err := netip.ParseAddr(s); err == nil {
				t.Fatalf("%q is an address but read as an IP set", s)
			}
		}
	})
}
