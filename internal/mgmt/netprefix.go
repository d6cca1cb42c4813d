package mgmt

import (
	"net/netip"
	"strings"
)

func subnetPrefix(s Subnet) (netip.Prefix, error) {
	if len(s.Properties.AddressPrefixes) > 1 || len(s.Properties.AddressPrefixes) == 1 && s.Properties.AddressPrefix != "" && s.Properties.AddressPrefixes[0] != s.Properties.AddressPrefix {
		return netip.Prefix{}, badRequest("InvalidAddressPrefix", "subnet %s: moat supports one address prefix per subnet; create another subnet for %s", s.Name, strings.Join(s.Properties.AddressPrefixes, ", "))
	}
	v := s.Properties.AddressPrefix
	if v == "" && len(s.Properties.AddressPrefixes) > 0 {
		v = s.Properties.AddressPrefixes[0]
	}
	if v == "" {
		return netip.Prefix{}, badRequest("InvalidAddressPrefix", "subnet %s needs an address prefix (e.g. --address-prefixes 10.0.1.0/24)", s.Name)
	}
	ps, err := parsePrefixes("subnet "+s.Name+" addressPrefix", []string{v})
	if err != nil {
		return netip.Prefix{}, err
	}
	return ps[0], nil
}

func canonicalEndpoints(in []ServiceEndpoint) ([]ServiceEndpoint, error) {
	out := []ServiceEndpoint{}
	seen := map[string]bool{}
	for _, e := range in {
		if e.Service == "" {
			continue
		}
		if !strings.HasPrefix(strings.ToLower(e.Service), "microsoft.") {
			return nil, badRequest("InvalidServiceName", "service endpoint %q is invalid: use a service name such as Microsoft.ContainerRegistry", e.Service)
		}
		svc := e.Service
		if strings.EqualFold(svc, "Microsoft.ContainerRegistry") {
			svc = "Microsoft.ContainerRegistry"
		}
		if seen[strings.ToLower(svc)] {
			continue
		}
		seen[strings.ToLower(svc)] = true
		locs := e.Locations
		if len(locs) == 0 {
			locs = []string{"*"}
		}
		out = append(out, ServiceEndpoint{Service: svc, Locations: locs, ProvisioningState: "Succeeded"})
	}
	return out, nil
}

// parsePrefixes parses CIDR prefixes, refusing ones with host bits set.
func parsePrefixes(field string, vs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vs {
		p, err := netip.ParsePrefix(strings.TrimSpace(v))
		if err != nil {
			return nil, badRequest("InvalidAddressPrefix", "%s %q is not a CIDR prefix (e.g. 10.0.0.0/16)", field, v)
		}
		if p.Masked() != p {
			return nil, badRequest("InvalidAddressPrefix", "%s %q has host bits set; the canonical prefix is %s", field, v, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func inside(p netip.Prefix, space []netip.Prefix) bool {
	for _, s := range space {
		if s.Bits() <= p.Bits() && s.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func noOverlap(what string, ps []netip.Prefix) error {
	for i := range ps {
		for j := i + 1; j < len(ps); j++ {
			if ps[i].Overlaps(ps[j]) {
				return badRequest("NetcfgInvalidAddressPrefix", "%s %s overlaps %s", what, ps[i], ps[j])
			}
		}
	}
	return nil
}

func noOverlapNamed(subs []Subnet, ps []netip.Prefix) error {
	for i := range ps {
		for j := i + 1; j < len(ps); j++ {
			if ps[i].Overlaps(ps[j]) {
				return badRequest("NetcfgSubnetRangesOverlap", "subnet %s (%s) overlaps subnet %s (%s); choose prefixes that do not overlap", subs[i].Name, ps[i], subs[j].Name, ps[j])
			}
		}
	}
	return nil
}
