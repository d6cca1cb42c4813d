package mgmt

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"

	"github.com/moat-registry/moat/internal/resid"
)

func vnetID(sub, rg, name string) string {
	return groupID(sub, rg) + "/providers/Microsoft.Network/virtualNetworks/" + name
}

func (h *Handler) virtualNetworks(w http.ResponseWriter, r *http.Request, id resid.ID) error {
	ctx := r.Context()
	if id.IsCollection() {
		if r.Method != http.MethodGet {
			return methodNotAllowed(r, "the virtual network collection")
		}
		out := []VirtualNetwork{}
		err := h.list(ctx, typeVNet, scopePrefix(id), func(raw []byte, v int64) error {
			var vn VirtualNetwork
			if err := json.Unmarshal(raw, &vn); err != nil {
				return err
			}
			if !h.readable(ctx, typeVNet, vn.ID) {
				return nil
			}
			if err := h.fillVNet(ctx, &vn, v); err != nil {
				return err
			}
			out = append(out, vn)
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	}
	vid := vnetID(id.Subscription, id.ResourceGroup, id.Name())
	var cur VirtualNetwork
	version, exists, err := h.load(ctx, vid, &cur)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		if !exists {
			return notFound("virtual network %q not found in resource group %q", id.Name(), id.ResourceGroup)
		}
		if err := h.fillVNet(ctx, &cur, version); err != nil {
			return err
		}
		return writeResource(w, http.StatusOK, cur, version)
	case http.MethodPut:
		return h.putVNet(w, r, id, vid, cur, version, exists)
	case http.MethodDelete:
		if !exists {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		if err := ifMatch(r, version); err != nil {
			return err
		}
		if pes, err := h.endpointsInVNet(ctx, vid); err != nil {
			return err
		} else if len(pes) > 0 {
			return badRequest("InUseVirtualNetworkCannotBeDeleted", "virtual network %s has private endpoint %s; delete the private endpoints first", id.Name(), pes[0].ID)
		}
		if err := h.Meta.DeleteResource(ctx, vid); err != nil {
			return err
		}
		if err := h.Index.Reload(ctx); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return methodNotAllowed(r, "a virtual network")
}

func (h *Handler) putVNet(w http.ResponseWriter, r *http.Request, id resid.ID, vid string, cur VirtualNetwork, version int64, exists bool) error {
	ctx := r.Context()
	var in VirtualNetwork
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := ifMatch(r, version); err != nil {
		return err
	}
	if err := ifNoneMatch(r, exists); err != nil {
		return err
	}
	if !validGroupName(id.Name()) {
		return badRequest("InvalidResourceName", "virtual network name %q is invalid: use letters, digits, '-', '_' and '.'", id.Name())
	}
	if err := h.requireRegistered(ctx, id.Subscription, "Microsoft.Network"); err != nil {
		return err
	}
	space, err := parsePrefixes("addressSpace.addressPrefixes", in.Properties.AddressSpace.AddressPrefixes)
	if err != nil {
		return err
	}
	if len(space) == 0 {
		return badRequest("InvalidAddressSpace", "a virtual network needs at least one address prefix (e.g. --address-prefixes 10.0.0.0/16)")
	}
	if err := noOverlap("address prefix", space); err != nil {
		return err
	}
	existing, err := h.loadSubnets(ctx, vid)
	if err != nil {
		return err
	}
	// Subnets: a PUT that lists subnets replaces the set; one that omits the
	// field keeps them (the cloud deletes them, a frequent accident).
	want := existing
	if in.Properties.Subnets != nil {
		want = nil
		for _, s := range in.Properties.Subnets {
			s.ID = vid + "/subnets/" + s.Name
			s.Type = typeSubnet
			want = append(want, s)
		}
	}
	if err := h.checkSubnets(ctx, space, want, existing); err != nil {
		return err
	}
	vn := VirtualNetwork{ID: vid, Name: id.Name(), Type: typeVNet, Location: h.location(in.Location), Tags: in.Tags}
	if exists {
		vn.ID, vn.Name = cur.ID, cur.Name
	}
	vn.Properties.AddressSpace.AddressPrefixes = prefixStrings(space)
	vn.Properties.ProvisioningState = "Succeeded"
	if version, err = h.save(ctx, vid, typeVNet, vn, version); err != nil {
		return err
	}
	if err := h.replaceSubnets(ctx, want, existing); err != nil {
		return err
	}
	if err := h.Index.Reload(ctx); err != nil {
		return err
	}
	if err := h.fillVNet(ctx, &vn, version); err != nil {
		return err
	}
	status := http.StatusOK
	if !exists {
		status = http.StatusCreated
	}
	return writeResource(w, status, vn, version)
}

// fillVNet adds the subnets and the ETag to a stored virtual network.
func (h *Handler) fillVNet(ctx context.Context, vn *VirtualNetwork, version int64) error {
	subs, err := h.loadSubnets(ctx, vn.ID)
	if err != nil {
		return err
	}
	vn.Etag = versionTag(version)
	vn.Properties.Subnets = make([]Subnet, 0, len(subs))
	for _, s := range subs {
		if err := h.fillSubnet(ctx, &s); err != nil {
			return err
		}
		vn.Properties.Subnets = append(vn.Properties.Subnets, s)
	}
	return nil
}

func (h *Handler) loadSubnets(ctx context.Context, vid string) ([]Subnet, error) {
	var out []Subnet
	err := h.list(ctx, typeSubnet, vid+"/subnets/", func(raw []byte, v int64) error {
		var s Subnet
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		s.Etag = versionTag(v)
		out = append(out, s)
		return nil
	})
	return out, err
}

// checkSubnets validates a virtual network's subnets against its address space.
func (h *Handler) checkSubnets(ctx context.Context, space []netip.Prefix, want, existing []Subnet) error {
	var prefixes []netip.Prefix
	names := map[string]bool{}
	for i := range want {
		s := &want[i]
		if !validGroupName(s.Name) {
			return badRequest("InvalidResourceName", "subnet name %q is invalid: use letters, digits, '-', '_' and '.'", s.Name)
		}
		if names[strings.ToLower(s.Name)] {
			return badRequest("DuplicateResourceName", "subnet %q is listed twice", s.Name)
		}
		names[strings.ToLower(s.Name)] = true
		p, err := subnetPrefix(*s)
		if err != nil {
			return err
		}
		if !inside(p, space) {
			return badRequest("NetcfgSubnetRangeOutsideVnet", "subnet %s prefix %s is not within the address space %s of the virtual network", s.Name, p, strings.Join(prefixStrings(space), ", "))
		}
		s.Properties.AddressPrefix, s.Properties.AddressPrefixes = p.String(), nil
		s.Properties.ServiceEndpoints, err = canonicalEndpoints(s.Properties.ServiceEndpoints)
		if err != nil {
			return err
		}
		prefixes = append(prefixes, p)
	}
	if err := noOverlapNamed(want, prefixes); err != nil {
		return err
	}
	for _, old := range existing {
		if names[strings.ToLower(old.Name)] {
			for i, s := range want {
				if strings.EqualFold(s.Name, old.Name) && !strings.EqualFold(prefixes[i].String(), old.Properties.AddressPrefix) {
					if pes, err := h.endpointsInSubnet(ctx, old.ID); err != nil {
						return err
					} else if len(pes) > 0 {
						return badRequest("InUseSubnetCannotBeUpdated", "subnet %s has private endpoint %s; its address prefix cannot change", old.Name, pes[0].ID)
					}
				}
			}
			continue
		}
		if pes, err := h.endpointsInSubnet(ctx, old.ID); err != nil {
			return err
		} else if len(pes) > 0 {
			return badRequest("InUseSubnetCannotBeDeleted", "subnet %s has private endpoint %s; delete it before removing the subnet", old.Name, pes[0].ID)
		}
	}
	return nil
}

func (h *Handler) replaceSubnets(ctx context.Context, want, existing []Subnet) error {
	versions := map[string]int64{}
	for _, s := range existing {
		versions[strings.ToLower(s.Name)] = parseVersion(s.Etag)
	}
	keep := map[string]bool{}
	for _, s := range want {
		keep[strings.ToLower(s.Name)] = true
		s.Etag = ""
		s.Properties.PrivateEndpoints = nil
		s.Properties.ProvisioningState = "Succeeded"
		if _, err := h.save(ctx, s.ID, typeSubnet, s, versions[strings.ToLower(s.Name)]); err != nil {
			return err
		}
	}
	for _, s := range existing {
		if !keep[strings.ToLower(s.Name)] {
			if err := h.Meta.DeleteResource(ctx, s.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

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
